"""A small synthetic world with signal for the relation-model tests (no harness needed).

Users have a categorical and a numeric feature, items a genre, a tempo and tags; a user's taste for an
item is a function of both, so feature-based models can beat chance and new items are predictable
from their features alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import TrainData

GENRES = ["pop", "rock", "jazz", "house", "folk", "metal"]


def synthetic_world(n_users: int = 120, n_items: int = 200, per_user: int = 20, seed: int = 0):
    """Returns ``(interactions DataFrame(user, item, score), user_features, item_features)``."""
    rng = np.random.default_rng(seed)
    region = rng.integers(0, 3, n_users)
    age = rng.normal(30, 8, n_users)
    genre = rng.integers(0, len(GENRES), n_items)
    tempo = rng.normal(120, 20, n_items)
    taste = np.eye(len(GENRES))[(region * 2 + (age > 30)) % len(GENRES)] * 2.5 + rng.normal(
        0, 0.3, (n_users, len(GENRES))
    )
    pop = rng.pareto(2.0, n_items)
    pref = taste[:, genre] + 0.5 * np.log1p(pop)[None, :] - 0.01 * np.abs(tempo[None, :] - age[:, None] * 4)
    rows = []
    for u in range(n_users):
        p = np.exp(pref[u] - pref[u].max())
        p /= p.sum()
        items = rng.choice(n_items, size=per_user, replace=False, p=p)
        score = np.clip(np.round(1 + 4 * (pref[u, items] - pref[u].min()) / np.ptp(pref[u])), 1, 5)
        rows += [(u, int(i), float(s)) for i, s in zip(items, score, strict=True)]
    inter = pd.DataFrame(rows, columns=["user", "item", "score"])
    tags = [
        [GENRES[g], f"{GENRES[g]}-{'fast' if t > 120 else 'slow'}"] for g, t in zip(genre, tempo, strict=True)
    ]
    users = pd.DataFrame({"region": [f"r{r}" for r in region], "age": age})
    items_df = pd.DataFrame({"genre": [GENRES[g] for g in genre], "tempo": tempo, "tags": tags})
    return inter, users, items_df


def to_train(
    inter: pd.DataFrame,
    users: pd.DataFrame | None,
    items: pd.DataFrame | None,
    n_users: int,
    n_items: int,
    seed: int = 42,
) -> TrainData:
    matrix = sp.csr_matrix(
        (inter["score"].to_numpy(np.float32), (inter["user"].to_numpy(), inter["item"].to_numpy())),
        shape=(n_users, n_items),
    )
    return TrainData(
        matrix=matrix,
        interactions=inter.reset_index(drop=True),
        user_ids=np.array([f"u{u}" for u in range(n_users)]),
        item_ids=np.array([f"i{i}" for i in range(n_items)]),
        user_features=users,
        item_features=items,
        seed=seed,
    )


def split(inter: pd.DataFrame, share: float = 0.2, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user random split: ``share`` of each user's items go to test."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(inter), dtype=bool)
    for _, idx in inter.groupby("user").indices.items():
        n = max(1, round(share * len(idx)))
        test[rng.choice(idx, n, replace=False)] = True
    return inter[~test], inter[test]


def recall_at(scores: np.ndarray, train: pd.DataFrame, test: pd.DataFrame, k: int = 10) -> float:
    """Mean recall@k over test users with training items masked (a plain reference implementation)."""
    scores = scores.copy()
    scores[train["user"].to_numpy(), train["item"].to_numpy()] = -np.inf
    recalls = []
    for u, grp in test.groupby("user"):
        top = np.argsort(-scores[u], kind="stable")[:k]
        recalls.append(np.isin(grp["item"].to_numpy(), top).mean())
    return float(np.mean(recalls))
