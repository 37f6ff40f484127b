"""Item-relation ranking models: FISM (the calibrator) and ``relation-rank`` (issue 15).

Both score a (user, target) pair from the user's *whole* training history H(u):

    y(u, t) = b_t + |H'|^-alpha * sum_{j in H'} w(s_uj) * r(p_j, q_t) [+ e_u . q_t]

with separate history codes ``p_j`` and target codes ``q_t`` (FISM's lesson: one shared code per item
learns poorly), ``w(s)`` a weight of the behaviour score (``none``: 1, ``score``: s / mean s, ``learned``:
a positive weight per score level), and H' = H(u) minus the target when the target is a training item.

- ``fism`` (Kabbur et al. 2013): r(p, q) = p . q, no user term.
- ``relation-rank``: the source paper's relation idea kept — a learned relation W between each history
  item and the target, r(p, q) = p^T W q (W starts at the identity), or sigma(p^T W q) (``act="sigmoid"``,
  the paper's form), pooled by mean (default) or max (the paper's); an optional user code e_u gives a
  multiplicative user-target term (the paper's personalisation, off by default).

With a linear relation and mean pooling the sum factorises: the user's aggregate sum_j w_j p_j is
computed once, so training and full ranking are matrix products. The other forms run per
(pair, history item) on padded histories.

Training (one engine for both): user-grouped batches; every training item of the batch's users is a
positive, with ``n_negatives`` uniform non-training items each (re-drawn every epoch); BCE, BPR or
sampled softmax; Adam with an exponential learning-rate decay; early stopping on NDCG@10 of a
validation split carved from the training data (seeded), then a refit on the whole training data for
the chosen number of epochs (``refit=True``). Device: CUDA when present (``device="auto"``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dancerec.errors import UserError

from .base import Recommender, TrainData
from .behaviour import train_only_scores
from .relation_rank_data import (
    _Histories,
    _keys,
    _negatives,
    _positions,
    _positives,
    _sorted,
    _val_users,
    ndcg_at_k,
)
from .relation_rank_opt import _compiled, _Optimiser, _SparseRows
from .relation_rank_state import CHECKPOINT_FORMAT, CheckpointMixin  # noqa: F401 - re-exported
from .relation_train import split_validation

N_LEVELS = 16  # behaviour score levels 0..15 (comprehensive score range 1-15)


class ItemRelationNet(nn.Module):
    """History codes P, target codes Q, item bias, relation W, optional user codes and score weights.

    ``sparse=True``: the id tables (P, Q, bias, E) are read through :class:`_SparseRows` in training,
    so their gradients are sparse (only the rows a batch touched) and :func:`tables` go to SparseAdam.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        *,
        relation: str,
        act: str,
        pool: str,
        user_dim: bool,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        self.relation, self.act, self.pool, self.sparse = relation, act, pool, sparse
        self.P = nn.Parameter(torch.randn(n_items + 1, dim) * 0.05)  # row n_items: padding
        self.Q = nn.Parameter(torch.randn(n_items, dim) * 0.05)
        self.bias = nn.Parameter(torch.zeros(n_items))
        self.W = None
        if relation == "bilinear":
            self.W = nn.Parameter(torch.eye(dim))
        elif relation == "diag":
            self.W = nn.Parameter(torch.ones(dim))
        self.E = nn.Parameter(torch.randn(n_users, dim) * 0.05) if user_dim else None
        self.level = nn.Parameter(torch.zeros(N_LEVELS))  # softplus(0) * const = 1 below
        with torch.no_grad():
            self.P[n_items].zero_()

    @property
    def factorises(self) -> bool:
        return self.act == "none" and self.pool in ("mean", "sum")

    def tables(self) -> list[nn.Parameter]:
        """The id tables (rows indexed by item or user): sparse gradients when ``sparse``."""
        return [t for t in (self.P, self.Q, self.bias, self.E) if t is not None]

    def take(self, table: Tensor, idx: Tensor) -> Tensor:
        """``table[idx]``; through :class:`_SparseRows` when the net is sparse and gradients are on."""
        if self.sparse and torch.is_grad_enabled():
            return _SparseRows.apply(table, idx)
        return table[idx]

    def target_codes(self, items: Tensor | None = None) -> Tensor:
        q = self.Q if items is None else self.take(self.Q, items)
        if self.W is None:
            return q
        return q * self.W if self.W.dim() == 1 else q @ self.W.T  # (W q) so that p^T W q = p . (W q)

    def weights(self, scores: Tensor, mode: str) -> Tensor:
        if mode == "none":
            return torch.ones_like(scores)
        if mode == "score":
            return scores
        levels = scores.round().clamp(0, N_LEVELS - 1).long()
        return F.softplus(self.level[levels]) / np.log(2.0)

    def aggregate(self, hist: Tensor, w: Tensor, mask: Tensor) -> Tensor:
        """Sum of w_j p_j over each row's history (B × d)."""
        return (
            ((self.take(self.P, hist) * (w * mask)[..., None]).sum(1))
            if hist.numel()
            else self.P.new_zeros(0)
        )

    def pair_relations(self, hist: Tensor, wq: Tensor) -> Tensor:
        """r(p_j, q_t) for every history item of every pair: (B × L)."""
        r = torch.einsum("bld,bd->bl", self.take(self.P, hist), wq)
        return torch.sigmoid(r) if self.act == "sigmoid" else r

    def pool_relations(self, r: Tensor, w: Tensor, mask: Tensor, norm: Tensor) -> Tensor:
        if self.pool == "max":
            return torch.where(mask, r * w, torch.full_like(r, -1e4)).amax(1).clamp_min(-1e3)
        return (r * w * mask).sum(1) * norm


class RelationRank(CheckpointMixin, Recommender):
    """Ranking variant of the relation model (see the module docstring); ``fism`` is its calibrator.

    Parameters: ``dim`` code size; ``relation`` ``bilinear`` (p^T W q, W full), ``diag`` (W diagonal) or
    ``dot`` (W = I); ``act`` ``none`` or
    ``sigmoid``; ``pool`` ``mean`` or ``max``; ``alpha`` the history-size normalisation exponent
    (mean pooling: |H|^-alpha); ``behaviour`` ``none|score|learned``; ``user_codes`` the personalised user
    term; ``loss`` ``bce|bpr|softmax``; ``n_negatives`` per positive; ``lr``, ``lr_decay`` (per epoch),
    ``weight_decay``; ``epochs`` (max), ``patience``, ``validation`` share, ``refit``; ``users_per_batch``;
    ``max_history`` (0: whole history; else the top-scored ``max_history`` items); ``device``; ``seed``.

    Opt-in speed options (off by default; the defaults' numbers do not depend on them): ``sparse`` — the
    id tables get sparse gradients and ``torch.optim.SparseAdam`` (lazy Adam: only the rows a batch
    touched are updated, so the numbers differ from the default Adam; dense parts keep Adam; no
    ``weight_decay``); ``compile`` — the batch loss runs through ``torch.compile`` (same maths; needs a
    working compiler toolchain for the CPU backend, else fit raises a UserError).
    """

    name: ClassVar[str] = "relation-rank"
    search_space: ClassVar[dict[str, list]] = {
        "dim": [32, 64, 128],
        "lr": [0.001, 0.003, 0.01],
        "n_negatives": [4, 8],
        "weight_decay": [0.0, 1e-6],
        "alpha": [0.5, 1.0],
    }

    def __init__(
        self,
        dim: int = 64,
        relation: str = "dot",
        act: str = "none",
        pool: str = "mean",
        alpha: float = 0.5,
        behaviour: str = "learned",
        user_codes: bool = False,
        loss: str = "bce",
        n_negatives: int = 4,
        lr: float = 0.003,
        lr_decay: float = 0.95,
        weight_decay: float = 0.0,
        epochs: int = 60,
        patience: int = 5,
        validation: float = 0.1,
        refit: bool = True,
        users_per_batch: int = 64,
        max_history: int = 0,
        val_users: int = 1000,
        threads: int | None = 1,
        device: str = "auto",
        seed: int | None = None,
        sparse: bool = False,
        compile: bool = False,
    ) -> None:
        self.dim = dim
        self.relation = relation
        self.act = act
        self.pool = pool
        self.alpha = alpha
        self.behaviour = behaviour
        self.user_codes = user_codes
        self.loss = loss
        self.n_negatives = n_negatives
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.patience = patience
        self.validation = validation
        self.refit = refit
        self.users_per_batch = users_per_batch
        self.max_history = max_history
        self.val_users = val_users
        self.threads = threads
        self.device = device
        self.seed = seed
        self.sparse = sparse
        self.compile = compile

    # ----- validation of parameters ------------------------------------------------------------------
    def _check(self) -> None:
        choices = {
            "relation": ("bilinear", "diag", "dot"),
            "act": ("none", "sigmoid"),
            "pool": ("mean", "max"),
            "behaviour": ("none", "score", "learned"),
            "loss": ("bce", "bpr", "softmax"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise UserError(
                    f"{self.name}: {key} must be one of {', '.join(allowed)} (got {getattr(self, key)!r})"
                )
        for key in ("dim", "n_negatives", "epochs", "users_per_batch"):
            if int(getattr(self, key)) < 1:
                raise UserError(f"{self.name}: {key} must be at least 1 (got {getattr(self, key)})")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise UserError(f"{self.name}: lr must be > 0 and lr_decay in (0, 1]")
        if not 0 <= self.validation < 1:
            raise UserError(f"{self.name}: validation must be in [0, 1) (got {self.validation})")
        if self.sparse and self.weight_decay:
            raise UserError(
                f"{self.name}: sparse=True has no weight decay for the id tables (SparseAdam has none); "
                f"use weight_decay=0 (got {self.weight_decay})"
            )

    def _device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # ----- fit -------------------------------------------------------------------------------------------------
    def fit(
        self, train: TrainData, *, progress: Callable[[int, int, str], None] | None = None
    ) -> RelationRank:
        """Train (early stopping on a validation carve-out, then refit); ``progress`` once per epoch."""
        self._check()
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        try:
            return self._fit(train_only_scores(train), progress)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, train: TrainData, progress: Callable[[int, int, str], None] | None) -> RelationRank:
        seed = int(train.seed if self.seed is None else self.seed)
        matrix = sp.csr_matrix(train.matrix, dtype=np.float32)
        matrix.sum_duplicates()
        if matrix.nnz == 0:
            raise UserError("the training data has no interactions")
        self.n_users_, self.n_items_ = matrix.shape
        self.log_: list[dict] = []
        epochs = int(self.epochs)
        self.best_epochs_ = epochs
        if self.validation > 0:
            fit_part, val_part = split_validation(matrix, self.validation, seed)
            if val_part.nnz:
                net, best, _ = self._train(fit_part, val_part, epochs, seed, progress, "validation")
                self.best_epochs_ = best
                self.val_ndcg_ = max((e["val_ndcg@10"] for e in self.log_), default=float("nan"))
                if not self.refit:
                    self._finish(net, fit_part)
                    return self
        net, _, _ = self._train(matrix, None, self.best_epochs_, seed, progress, "refit")
        self._finish(net, matrix)
        return self

    def _finish(self, net: ItemRelationNet, matrix: sp.csr_matrix) -> None:
        self.net_ = net.cpu().eval()
        self.history_ = matrix.astype(np.float32)

    def _train(
        self,
        matrix: sp.csr_matrix,
        val: sp.csr_matrix | None,
        epochs: int,
        seed: int,
        progress: Callable[[int, int, str], None] | None,
        phase: str,
    ) -> tuple[ItemRelationNet, int, float]:
        device = self._device()
        torch.manual_seed(seed)
        net = ItemRelationNet(
            *matrix.shape,
            int(self.dim),
            relation=self.relation,
            act=self.act,
            pool=self.pool,
            user_dim=bool(self.user_codes),
            sparse=bool(self.sparse),
        ).to(device)
        opt = _Optimiser(net, self.lr, self.lr_decay, self.weight_decay, sparse=bool(self.sparse))
        loss_fn = _compiled(self._loss_tensors) if self.compile else self._loss_tensors
        hist = _Histories(matrix, self.max_history)
        keys = _keys(matrix)
        val_users = _val_users(val, self.val_users, seed) if val is not None else None
        best, best_score, best_state, bad = epochs, -np.inf, None, 0
        for epoch in range(epochs):
            started = time.perf_counter()
            rng = np.random.default_rng([seed, epoch])
            loss = self._epoch(net, opt, matrix, hist, keys, rng, device, loss_fn)
            opt.decay()
            entry = {
                "phase": phase,
                "epoch": epoch + 1,
                "loss": loss,
                "seconds": time.perf_counter() - started,
            }
            status = f"{phase} loss {loss:.4f}"
            if val_users is not None:
                net.eval()
                score = ndcg_at_k(self._score_with(net, hist, val_users, device), matrix, val, val_users, 10)
                entry["val_ndcg@10"] = score
                status += f" val ndcg@10 {score:.4f}"
                if score > best_score + 1e-6:
                    best, best_score, bad = epoch + 1, score, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    bad += 1
            self.log_.append(entry)
            if progress is not None:
                progress(epoch + 1, epochs, status)
            if val_users is not None and bad >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        return net, best, best_score

    def _epoch(self, net, opt, matrix, hist, keys, rng, device, loss_fn=None) -> float:
        net.train()
        users = rng.permutation(np.flatnonzero(np.diff(matrix.indptr) > 0))
        total, count = 0.0, 0
        for lo in range(0, len(users), int(self.users_per_batch)):
            batch = users[lo : lo + int(self.users_per_batch)]
            pu, pi = _positives(matrix, batch)
            ni = _negatives(rng, np.repeat(pu, self.n_negatives), matrix.shape[1], keys)
            opt.zero_grad(set_to_none=True)
            loss = self._batch_loss(net, hist, batch, pu, pi, ni, device, loss_fn)
            loss.backward()
            opt.step()
            with torch.no_grad():
                net.P[-1].zero_()
            total += float(loss.detach()) * len(pu)
            count += len(pu)
        return total / max(count, 1)

    def _batch_loss(self, net, hist, batch, pu, pi, ni, device, loss_fn=None) -> Tensor:
        """The batch's loss: NumPy indices to device tensors here, the maths in :meth:`_loss_tensors`."""
        h, s, m = (torch.from_numpy(a).to(device) for a in hist.rows(batch))  # gathered once per batch
        npu = np.repeat(pu, self.n_negatives)
        pos = self._pair_index(batch, pu, pi, device)
        neg = self._pair_index(batch, npu, ni, device)
        return (loss_fn or self._loss_tensors)(net, h, s, m, *pos, *neg)

    @staticmethod
    def _pair_index(batch: np.ndarray, pu: np.ndarray, items: np.ndarray, device) -> tuple[Tensor, ...]:
        """(row of each pair's user in the batch, target item, user) as device tensors."""
        row = np.searchsorted(batch, pu) if _sorted(batch) else _positions(batch, pu)
        return tuple(torch.from_numpy(a).to(device) for a in (row, items, pu))

    def _loss_tensors(self, net, h, s, m, prow, pit, pu, nrow, nit, nu) -> Tensor:
        """BCE / BPR / sampled-softmax loss of positives (target left out of its history) and negatives."""
        pos = self._pair_logits(net, h, s, m, prow, pit, pu, exclude_target=True)
        neg = self._pair_logits(net, h, s, m, nrow, nit, nu, exclude_target=False)
        neg = neg.view(pos.shape[0], int(self.n_negatives))
        if self.loss == "bce":
            return F.binary_cross_entropy_with_logits(
                torch.cat([pos, neg.ravel()]),
                torch.cat([torch.ones_like(pos), neg.new_zeros(neg.numel())]),
            )
        if self.loss == "bpr":
            return -F.logsigmoid(pos[:, None] - neg).mean()
        logits = torch.cat([pos[:, None], neg], 1)
        return F.cross_entropy(logits, torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device))

    def _pair_scores(self, net, hist, batch, pu, items, device, *, exclude_target: bool) -> Tensor:
        """Logits of (pu[k], items[k]); the target is left out of its own history when it is in it."""
        h, s, m = (torch.from_numpy(a).to(device) for a in hist.rows(batch))
        row, it, u = self._pair_index(batch, pu, items, device)
        return self._pair_logits(net, h, s, m, row, it, u, exclude_target=exclude_target)

    def _pair_logits(self, net, h, s, m, row, it, u, *, exclude_target: bool) -> Tensor:
        """Logits from padded batch histories ``h, s, m`` and pair indices (tensors only: compilable)."""
        w = net.weights(s, self.behaviour)
        hh, ww, mm = h[row], w[row], m[row]
        if exclude_target:
            mm = mm & (hh != it[:, None])
        n = mm.sum(1).clamp_min(1).float()
        norm = n.pow(-self.alpha) if self.pool == "mean" else torch.ones_like(n)
        wq = net.target_codes(it)
        if net.factorises:
            agg = net.aggregate(h, w, m)[row]
            if exclude_target:
                agg = agg - (net.take(net.P, hh) * (ww * (m[row] & ~mm))[..., None]).sum(1)
            rel = (agg * wq).sum(1) * norm
        else:
            rel = net.pool_relations(net.pair_relations(hh, wq), ww, mm, norm)
        out = net.take(net.bias, it) + rel
        if net.E is not None:
            out = out + (net.take(net.E, u) * net.take(net.Q, it)).sum(1)
        return out

    # ----- scoring ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _score_with(self, net, hist, users: np.ndarray, device, chunk: int = 256) -> np.ndarray:
        net.eval()
        users = np.asarray(users, dtype=np.int64)
        out = np.empty((len(users), net.Q.shape[0]), dtype=np.float32)
        wq = net.target_codes()  # n_items × d
        for lo in range(0, len(users), chunk):
            sel = users[lo : lo + chunk]
            h, s, m = (torch.from_numpy(a).to(device) for a in hist.rows(sel))
            w = net.weights(s, self.behaviour)
            n = m.sum(1).clamp_min(1).float()
            norm = n.pow(-self.alpha) if self.pool == "mean" else torch.ones_like(n)
            if net.factorises:
                rel = (net.aggregate(h, w, m) * norm[:, None]) @ wq.T
            else:
                rel = self._pairwise_full(net, h, w, m, norm, wq)
            res = net.bias[None, :] + rel
            if net.E is not None:
                res = res + net.E[torch.from_numpy(sel).to(device)] @ net.Q.T
            out[lo : lo + len(sel)] = res.float().cpu().numpy()
        return out

    @staticmethod
    def _pairwise_full(net, h, w, m, norm, wq, item_chunk: int = 4096) -> Tensor:
        parts = []
        ph = net.P[h]  # c × L × d
        for lo in range(0, wq.shape[0], item_chunk):
            r = torch.einsum("cld,id->cil", ph, wq[lo : lo + item_chunk])
            if net.act == "sigmoid":
                r = torch.sigmoid(r)
            ww, mm = w[:, None, :], m[:, None, :]
            if net.pool == "max":
                parts.append(torch.where(mm, r * ww, torch.full_like(r, -1e4)).amax(2).clamp_min(-1e3))
            else:
                parts.append((r * ww * mm).sum(2) * norm[:, None])
        return torch.cat(parts, 1)

    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for ``users`` (full ranking; the harness masks training items)."""
        if not hasattr(self, "net_"):
            raise UserError(f"the {self.name} model is not fitted yet (call fit or load)")
        users = np.asarray(users, dtype=np.int64)
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            raise UserError(f"user indices must be in 0..{self.n_users_ - 1}")
        return self._score_with(
            self.net_, _Histories(self.history_, self.max_history), users, torch.device("cpu")
        )


class FISM(RelationRank):
    """FISM (Kabbur et al. 2013): y = b_t + |H|^-alpha sum_j w_j p_j . q_t, trained like relation-rank.

    The calibrator: the same batching, negatives, loss and full-ranking path as ``relation-rank``
    with the relation reduced to a dot product and no user term — what relation-rank adds is measured
    against it.
    """

    name: ClassVar[str] = "fism"
    search_space: ClassVar[dict[str, list]] = {
        "dim": [32, 64, 128],
        "lr": [0.001, 0.003, 0.01],
        "n_negatives": [4, 8],
        "alpha": [0.5, 1.0],
    }

    def __init__(self, dim: int = 64, alpha: float = 0.5, behaviour: str = "none", **kwargs) -> None:
        kwargs.setdefault("relation", "dot")
        super().__init__(dim=dim, alpha=alpha, behaviour=behaviour, **kwargs)

    def get_params(self) -> dict:
        return super().get_params()
