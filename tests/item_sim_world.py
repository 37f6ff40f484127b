"""A simulated world with planted item-similarity structure (clusters of co-consumed items).

Items fall into ``n_clusters`` clusters; each user likes one or two clusters and draws most of their
items from them (the rest uniformly), so "items consumed together are similar" is the truth an
item-similarity model should recover. ``clusters=False`` gives the null world (all items uniform).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import TrainData


def item_sim_split(
    n_users: int = 300,
    n_items: int = 240,
    n_clusters: int = 12,
    per_user: int = 20,
    noise: float = 0.1,
    clusters: bool = True,
    seed: int = 0,
) -> tuple[TrainData, sp.csr_matrix]:
    """``(train, test)``: a per-user random 80/20 split of the simulated interactions."""
    rng = np.random.default_rng(seed)
    cluster = np.arange(n_items) % n_clusters
    rows_train, rows_test = [], []
    for u in range(n_users):
        if clusters:
            liked = rng.choice(n_clusters, size=rng.integers(1, 3), replace=False)
            pool = np.flatnonzero(np.isin(cluster, liked))
            n_noise = rng.binomial(per_user, noise)
            items = np.unique(
                np.concatenate(
                    [
                        rng.choice(pool, size=min(per_user - n_noise, len(pool)), replace=False),
                        rng.choice(n_items, size=n_noise, replace=False),
                    ]
                )
            )
        else:
            items = rng.choice(n_items, size=per_user, replace=False)
        items = rng.permutation(items)
        n_test = max(1, round(0.2 * len(items)))
        rows_test += [(u, int(i)) for i in items[:n_test]]
        rows_train += [(u, int(i), float(rng.integers(1, 6))) for i in items[n_test:]]
    inter = pd.DataFrame(rows_train, columns=["user", "item", "score"])
    matrix = sp.csr_matrix(
        (inter["score"].to_numpy(np.float32), (inter["user"], inter["item"])), shape=(n_users, n_items)
    )
    test = pd.DataFrame(rows_test, columns=["user", "item"])
    test_m = sp.csr_matrix(
        (np.ones(len(test), np.float32), (test["user"], test["item"])), shape=(n_users, n_items)
    )
    train = TrainData(
        matrix=matrix,
        interactions=inter,
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=np.array([f"i{i}" for i in range(n_items)]),
        seed=seed,
    )
    return train, test_m
