"""The contract every recommender meets: fit on training interactions, score items for users.

The evaluation harness only calls :meth:`Recommender.fit` and :meth:`Recommender.score`, so
baselines and the relation model plug in the same way (scikit-learn style: parameters in
``__init__``, learned state in attributes ending with ``_``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

FitProgress = Callable[[int, int, str], None]
"""``progress(completed, total, status)``: what every ``fit`` may call, e.g. once per epoch.

``total`` 0 means the amount of work is unknown (a closed-form fit calls it once, ``(1, 1, "")``,
when done). The CLI turns it into a progress bar; the library never prints.
"""


@dataclass
class TrainData:
    """Training interactions on internal integer indices, plus optional side features.

    ``matrix`` is a users × items CSR matrix whose non-zeros are the training interactions
    (value: behaviour score, or 1.0 for implicit data). ``interactions`` holds the same rows in
    long form (columns ``user``, ``item`` as internal indices, ``score``, and whatever else the
    log has: ``timestamp``, ``plays``, ``praise``, ``collect``, ``kind``, ``label``).
    ``user_features`` / ``item_features`` are indexed by internal index (0..n-1) when present.
    """

    matrix: sp.csr_matrix
    interactions: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_features: pd.DataFrame | None = None
    item_features: pd.DataFrame | None = None
    seed: int = 42

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]


class Recommender(ABC):
    """Base class: ``fit(train) -> self`` then ``score(users) -> (len(users), n_items)`` array.

    Higher scores rank first. ``score`` must be vectorised (a matrix product or batched forward pass,
    never a Python loop over items); the harness masks training items and takes the top K.
    """

    name: ClassVar[str]
    search_space: ClassVar[dict[str, list]] = {}
    """Values ``dancerec recommender tune`` tries per parameter (empty: nothing to tune)."""
    fresh_scores: ClassVar[bool] = False
    """True when ``score`` returns a new float32 array on every call, which the harness may then mask in
    place instead of copying (a copy of 1,024 users × 17,632 items is 72 MB per batch)."""

    @abstractmethod
    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> Recommender: ...

    @abstractmethod
    def score(self, users: np.ndarray) -> np.ndarray: ...

    def get_params(self) -> dict:
        """Constructor parameters (recorded with every evaluation run)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    # Added by the harness (additive): what `dancerec recommender train` saves and `recommend` loads.
    def get_state(self) -> dict:
        """Learned state to save: attributes ending in ``_`` (numpy arrays, sparse matrices, numbers).

        Models holding other objects (a torch module) override this and :meth:`set_state`.
        """
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def set_state(self, state: dict) -> Recommender:
        """Restore what :meth:`get_state` returned (on an instance built with the same parameters)."""
        for key, value in state.items():
            setattr(self, key, value)
        return self
