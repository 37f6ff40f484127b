"""Behaviour scores recomputed from the training part only (issue 15, finding 7).

The study stores each interaction's comprehensive behaviour score computed over the whole log, so a
training item's play *quintile* depends on how many plays the same user's *test* items had. The
relation models (and FISM) weight history items by that score, so they recompute it from the
training interactions alone with the same rule (:func:`dancerec.recommender.data.behaviour_scores`).
Logs without play counts, ratings or dance scores keep their stored scores (nothing to leak).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from .base import TrainData
from .data import behaviour_scores

_SOURCES = ("plays", "rating", "dance_score")


def train_only_scores(train: TrainData) -> TrainData:
    """``train`` with ``score`` (and the matrix values) recomputed on the training rows only."""
    inter = train.interactions
    if not any(c in inter.columns and inter[c].notna().any() for c in _SOURCES):
        return train
    columns = [c for c in inter.columns if c != "score"]
    frame = inter[columns].copy()
    # behaviour_scores partitions by user_id; the internal user index identifies the user here.
    frame["user_id"] = frame["user"].astype(np.int64)
    scores = behaviour_scores(frame).to_numpy(np.float32)
    new = inter.copy()
    new["score"] = scores
    matrix = sp.csr_matrix(
        (scores, (new["user"].to_numpy(np.int64), new["item"].to_numpy(np.int64))),
        shape=train.matrix.shape,
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return dataclasses.replace(train, matrix=matrix, interactions=new)
