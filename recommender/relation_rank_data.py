"""Data helpers of relation-rank / fism: padded user histories, positives, negatives, validation NDCG."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class _Histories:
    """Padded per-user histories (items, behaviour scores, mask) gathered for a batch of users."""

    def __init__(self, matrix: sp.csr_matrix, max_history: int = 0) -> None:
        m = sp.csr_matrix(matrix, dtype=np.float32)
        m.sort_indices()
        self.indptr, self.items, self.scores = m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data
        self.pad = m.shape[1]
        self.max_history = int(max_history)
        if self.max_history > 0:  # keep each user's top-scored items (ties: lower index)
            keep = np.zeros(len(self.items), dtype=bool)
            for u in range(m.shape[0]):
                lo, hi = self.indptr[u], self.indptr[u + 1]
                order = np.lexsort((self.items[lo:hi], -self.scores[lo:hi]))[: self.max_history]
                keep[lo + order] = True
            rows = np.repeat(np.arange(m.shape[0]), np.diff(self.indptr))
            sub = sp.csr_matrix((self.scores[keep], (rows[keep], self.items[keep])), shape=m.shape)
            sub.sort_indices()
            self.indptr, self.items, self.scores = (
                sub.indptr.astype(np.int64),
                sub.indices.astype(np.int64),
                sub.data,
            )

    def rows(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = self.indptr[users], self.indptr[users + 1]
        deg = hi - lo
        width = max(1, int(deg.max()) if len(deg) else 1)
        pos = lo[:, None] + np.arange(width)[None, :]
        mask = np.arange(width)[None, :] < deg[:, None]
        pos = np.where(mask, pos, 0)
        items = np.where(mask, self.items[pos] if len(self.items) else 0, self.pad)
        scores = np.where(mask, self.scores[pos] if len(self.scores) else 0, 0).astype(np.float32)
        return items.astype(np.int64), scores, mask


def _keys(matrix: sp.csr_matrix) -> np.ndarray:
    coo = matrix.tocoo()
    return np.sort(coo.row.astype(np.int64) * matrix.shape[1] + coo.col)


def _positives(matrix: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sub = matrix[users]
    deg = np.diff(sub.indptr)
    return np.repeat(users, deg).astype(np.int64), sub.indices.astype(np.int64)


def _negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, keys: np.ndarray) -> np.ndarray:
    """Uniform items each user has no training interaction with (a few rejection rounds)."""
    items = rng.integers(0, n_items, size=len(users))
    for _ in range(10):
        k = users * n_items + items
        pos = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        bad = keys[pos] == k
        if not bad.any():
            break
        items[bad] = rng.integers(0, n_items, size=int(bad.sum()))
    return items.astype(np.int64)


def _sorted(a: np.ndarray) -> bool:
    return bool(np.all(a[1:] >= a[:-1]))


def _positions(batch: np.ndarray, users: np.ndarray) -> np.ndarray:
    order = np.argsort(batch, kind="stable")
    return order[np.searchsorted(batch[order], users)]


def _val_users(val: sp.csr_matrix, n: int, seed: int) -> np.ndarray:
    users = np.flatnonzero(np.diff(val.indptr) > 0)
    if len(users) > n:
        users = np.sort(np.random.default_rng([seed, 104729]).choice(users, n, replace=False))
    return users


def ndcg_at_k(
    scores: np.ndarray, train: sp.csr_matrix, test: sp.csr_matrix, users: np.ndarray, k: int
) -> float:
    """Mean binary NDCG@k over ``users`` with training items excluded (validation metric)."""
    scores = scores.copy()
    tr = train[users]
    scores[np.repeat(np.arange(len(users)), np.diff(tr.indptr)), tr.indices] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
    te = (test[users] > 0).astype(np.float32).toarray() if sp.issparse(test) else test[users]
    gains = np.take_along_axis(te, top, 1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (gains * disc).sum(1)
    n_rel = np.minimum(te.sum(1), k).astype(int)
    idcg = np.cumsum(disc)[np.maximum(n_rel - 1, 0)] * (n_rel > 0)
    ok = n_rel > 0
    return float((dcg[ok] / idcg[ok]).mean()) if ok.any() else 0.0
