"""What the relation network's training loop feeds on: prepared arrays and the rows of each epoch.

:func:`prepare` encodes the user and item fields and builds the sampling pools (validation carved out
of each user's items); :func:`sample_epoch` draws one epoch's rows (the sampling rules are in
:mod:`dancerec.recommender.relation_train`, which re-exports every name here); :func:`make_batch`
gathers a batch of them as encoded tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import Tensor

from dancerec.errors import UserError

from .base import TrainData
from .fields import EncodedFields, FieldSchema
from .relation_net import Batch


@dataclass
class LoopConfig:
    """Optimisation settings (defaults from the paper: Adam, lr 0.01, batch 600, history 5)."""

    epochs: int = 20
    lr: float = 0.01
    batch_size: int = 600
    history: int = 5
    inference_history: int | None = None  # history items per user when scoring (None: = history)
    weight_decay: float = 0.0
    patience: int = 3
    validation: float = 0.1
    val_k: int = 10
    val_users: int = 1000
    neg_ratio: float = 1.0
    id_dropout: float = 0.1
    seed: int = 42


# ----- history index ----------------------------------------------------------------------------


@dataclass
class HistoryIndex:
    """Each user's scored items in CSR form (the pool history items are drawn from)."""

    indptr: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_matrix(cls, matrix: sp.csr_matrix) -> HistoryIndex:
        m = sp.csr_matrix(matrix, copy=True)
        m.sort_indices()
        return cls(m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float32))

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    def top(self, users: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` highest-scored items of each user (ties: lower item index), for inference."""
        out_items = np.zeros((len(users), k), dtype=np.int64)
        out_scores = np.zeros((len(users), k), dtype=np.float32)
        out_mask = np.zeros((len(users), k), dtype=bool)
        for row, u in enumerate(users):
            lo, hi = self.indptr[u], self.indptr[u + 1]
            order = np.lexsort((self.items[lo:hi], -self.scores[lo:hi]))[:k]
            n = len(order)
            out_items[row, :n] = self.items[lo:hi][order]
            out_scores[row, :n] = self.scores[lo:hi][order]
            out_mask[row, :n] = True
        return out_items, out_scores, out_mask

    def sample(
        self, rng: np.random.Generator, users: np.ndarray, targets: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``k`` items per row drawn without replacement from the row's user, never its target.

        Vectorised: each user's items are shuffled once, and each row reads a window of ``k + 1``
        consecutive positions from a random offset (wrapping), drops the target and keeps ``k``.
        """
        deg = self.degree
        shuffled = np.argsort(
            np.repeat(np.arange(len(deg)), deg) * 2.0 + rng.random(len(self.items)), kind="stable"
        )
        items, scores = self.items[shuffled], self.scores[shuffled]
        d = deg[users]
        offset = np.floor(rng.random(len(users)) * np.maximum(d, 1)).astype(np.int64)
        window = np.arange(k + 1)
        pos = self.indptr[users, None] + (offset[:, None] + window) % np.maximum(d, 1)[:, None]
        valid = window[None, :] < d[:, None]
        pos = np.where(valid, pos, 0)
        cand = items[pos]
        valid &= cand != targets[:, None]
        order = np.argsort(~valid, axis=1, kind="stable")[:, :k]
        mask = np.take_along_axis(valid, order, 1)
        hist = np.where(mask, np.take_along_axis(cand, order, 1), 0)
        score = np.where(mask, np.take_along_axis(scores[pos], order, 1), 0.0).astype(np.float32)
        return hist, score, mask


# ----- prepared data ------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Everything training and scoring need, as arrays/tensors on internal indices."""

    users: EncodedFields
    items: EncodedFields
    history: HistoryIndex  # pool for sampling during training (train minus validation)
    full_history: HistoryIndex  # all training items (inference)
    pos_u: np.ndarray
    pos_i: np.ndarray
    neg_u: np.ndarray
    neg_i: np.ndarray
    train_keys: np.ndarray  # sorted user * n_items + item of every training interaction
    val_matrix: sp.csr_matrix | None
    n_users: int
    n_items: int
    id_columns: dict[str, int] = field(default_factory=dict)  # side -> column of the id field in `cat`


def _labels(train: TrainData, positive_threshold: float | None, negative_threshold: float | None):
    """Boolean positive / explicit-negative masks over ``train.interactions`` rows."""
    inter = train.interactions
    score = inter["score"].to_numpy(float) if "score" in inter else np.ones(len(inter))
    if "label" in inter.columns:
        label = pd.to_numeric(inter["label"], errors="coerce").to_numpy(float)
        pos, neg = label == 1, label == 0
    else:
        pos = score >= positive_threshold if positive_threshold is not None else np.ones(len(inter), bool)
        neg = score < negative_threshold if negative_threshold is not None else np.zeros(len(inter), bool)
        pos &= ~neg
    return pos, neg


def split_validation(matrix: sp.csr_matrix, share: float, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out ``share`` of each user's items (at least one; users with < 3 items keep all)."""
    m = sp.csr_matrix(matrix)
    rng = np.random.default_rng([seed, 7919])
    deg = np.diff(m.indptr)
    held = np.zeros(m.nnz, dtype=bool)
    for u in np.flatnonzero(deg >= 3):
        lo, hi = m.indptr[u], m.indptr[u + 1]
        n = max(1, round(share * (hi - lo)))
        held[lo + rng.choice(hi - lo, size=n, replace=False)] = True
    rows = np.repeat(np.arange(m.shape[0]), deg)
    fit = sp.csr_matrix((m.data[~held], (rows[~held], m.indices[~held])), shape=m.shape)
    val = sp.csr_matrix((m.data[held], (rows[held], m.indices[held])), shape=m.shape)
    return fit, val


def prepare(
    train: TrainData,
    schema: FieldSchema,
    cfg: LoopConfig,
    *,
    positive_threshold: float | None = None,
    negative_threshold: float | None = None,
) -> Prepared:
    """Encode features and build the sampling pools (validation carved out when ``cfg.validation``)."""
    matrix = sp.csr_matrix(train.matrix, dtype=np.float32)
    if matrix.nnz == 0:
        raise UserError("the training data has no interactions")
    inter = train.interactions
    for col in ("user", "item"):
        if col not in inter.columns:
            raise UserError(f"training interactions lack the column {col!r}")
    pos, neg = _labels(train, positive_threshold, negative_threshold)
    if not pos.any():
        raise UserError("no positive training interactions (check the label column or positive threshold)")
    users = schema.encode(
        "user", train.n_users, matrix, train.user_features, known=np.diff(matrix.indptr) > 0
    )
    items = schema.encode(
        "item",
        train.n_items,
        matrix,
        train.item_features,
        known=np.bincount(matrix.indices, minlength=train.n_items) > 0,
    )
    full = HistoryIndex.from_matrix(matrix)
    val_matrix = None
    if cfg.validation > 0:
        fit_matrix, val_matrix = split_validation(matrix, cfg.validation, cfg.seed)
        if val_matrix.nnz == 0:
            val_matrix = None
            fit_matrix = matrix
    else:
        fit_matrix = matrix
    u = inter["user"].to_numpy(np.int64)
    i = inter["item"].to_numpy(np.int64)
    keep = np.ones(len(u), dtype=bool)
    if val_matrix is not None:
        v = val_matrix.tocoo()
        keep = ~np.isin(u * train.n_items + i, v.row.astype(np.int64) * train.n_items + v.col)
    groups = {side: schema.grouped(side)["cat"] for side in ("user", "item")}
    id_columns = {side: j for side, fs in groups.items() for j, f in enumerate(fs) if f.kind == "id"}
    return Prepared(
        users=users,
        items=items,
        history=HistoryIndex.from_matrix(fit_matrix),
        full_history=full,
        pos_u=u[pos & keep],
        pos_i=i[pos & keep],
        neg_u=u[neg & keep],
        neg_i=i[neg & keep],
        train_keys=np.unique(u * train.n_items + i),
        val_matrix=val_matrix,
        n_users=train.n_users,
        n_items=train.n_items,
        id_columns=id_columns,
    )


# ----- epoch sampling -------------------------------------------------------------------------------


@dataclass
class EpochRows:
    user: np.ndarray
    target: np.ndarray
    label: np.ndarray
    hist: np.ndarray
    hist_score: np.ndarray
    hist_mask: np.ndarray
    drop_user: np.ndarray
    drop_target: np.ndarray

    def __len__(self) -> int:
        return len(self.user)


def sample_negatives(
    rng: np.random.Generator, users: np.ndarray, n_items: int, train_keys: np.ndarray, rounds: int = 8
) -> np.ndarray:
    """Uniform items each user never interacted with in training; -1 where a user has none left.

    Rejection sampling for a few rounds, then an exact draw from each remaining user's complement
    (dense users would otherwise keep training items as "negatives").
    """

    def rejected(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        keys = u * n_items + i
        pos = np.searchsorted(train_keys, keys)
        return (pos < len(train_keys)) & (train_keys[np.minimum(pos, len(train_keys) - 1)] == keys)

    items = rng.integers(0, n_items, size=len(users))
    for _ in range(rounds):
        bad = rejected(users, items)
        if not bad.any():
            return items
        items[bad] = rng.integers(0, n_items, size=int(bad.sum()))
    bad = np.flatnonzero(rejected(users, items))
    for u in np.unique(users[bad]):
        rows = bad[users[bad] == u]
        lo, hi = np.searchsorted(train_keys, [u * n_items, (u + 1) * n_items])
        pool = np.setdiff1d(np.arange(n_items), train_keys[lo:hi] - u * n_items)
        items[rows] = rng.choice(pool, size=len(rows)) if len(pool) else -1
    return items


def sample_epoch(data: Prepared, cfg: LoopConfig, epoch: int) -> EpochRows:
    """The shuffled rows of one epoch, drawn from a generator seeded by ``(seed, epoch)``."""
    rng = np.random.default_rng([cfg.seed, epoch])
    n_pos = len(data.pos_u)
    n_sampled = max(0, round(cfg.neg_ratio * n_pos) - len(data.neg_u))
    neg_users = data.pos_u[rng.integers(0, n_pos, size=n_sampled)]
    neg_items = sample_negatives(rng, neg_users, data.n_items, data.train_keys)
    neg_users, neg_items = neg_users[neg_items >= 0], neg_items[neg_items >= 0]
    n_sampled = len(neg_items)
    user = np.concatenate([data.pos_u, data.neg_u, neg_users])
    target = np.concatenate([data.pos_i, data.neg_i, neg_items])
    label = np.concatenate([np.ones(n_pos), np.zeros(len(data.neg_u) + n_sampled)]).astype(np.float32)
    order = rng.permutation(len(user))
    user, target, label = user[order], target[order], label[order]
    hist, score, mask = data.history.sample(rng, user, target, cfg.history)
    drop = rng.random((2, len(user))) < cfg.id_dropout
    return EpochRows(user, target, label, hist, score, mask, drop[0], drop[1])


def make_batch(data: Prepared, rows: EpochRows, index: np.ndarray) -> tuple[Batch, Tensor]:
    """Gather encoded fields for the rows at ``index`` (applying id dropout)."""
    idx = torch.from_numpy(index)
    user = data.users.take(torch.from_numpy(rows.user)[idx])
    target = data.items.take(torch.from_numpy(rows.target)[idx])
    for side, enc, drop in (("user", user, rows.drop_user), ("item", target, rows.drop_target)):
        col = data.id_columns.get(side)
        if col is not None and drop[index].any():
            enc.cat = enc.cat.clone()
            enc.cat[torch.from_numpy(drop[index]), col] = 0
    batch = Batch(
        user=user,
        history=data.items.take(torch.from_numpy(rows.hist[index])),
        history_score=torch.from_numpy(rows.hist_score[index]),
        history_mask=torch.from_numpy(rows.hist_mask[index]),
        target=target,
    )
    return batch, torch.from_numpy(rows.label[index])
