"""Finding 7: the relation models' behaviour scores come from the training part only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import TrainData
from dancerec.recommender.behaviour import train_only_scores


def _train(plays: list[float], stale: list[float]) -> TrainData:
    n = len(plays)
    inter = pd.DataFrame({"user": [0] * n, "item": list(range(n)), "plays": plays, "score": stale})
    matrix = sp.csr_matrix((np.array(stale, np.float32), ([0] * n, list(range(n)))), shape=(1, n))
    return TrainData(matrix, inter, np.array(["u"]), np.arange(n).astype(str))


def test_quintiles_recomputed_on_training_rows():
    # stale scores as if computed with heavier test items present; on the training rows alone the
    # per-user quintiles ceil(5 * cume_dist) of plays 10..50 are 1..5 (hand computation)
    out = train_only_scores(_train([30, 10, 50, 20, 40], [1, 1, 2, 1, 1]))
    assert out.interactions["score"].tolist() == [3, 1, 5, 2, 4]
    assert out.matrix.toarray().ravel().tolist() == [3, 1, 5, 2, 4]
    # ties share the higher quintile: plays (5, 5, 9, 9) -> cume_dist (.5, .5, 1, 1) -> 3, 3, 5, 5
    out = train_only_scores(_train([5, 5, 9, 9], [0, 0, 0, 0]))
    assert out.interactions["score"].tolist() == [3, 3, 5, 5]


def test_logs_without_plays_keep_their_scores():
    train = _train([np.nan, np.nan], [4, 2])
    assert train_only_scores(train) is train
