"""Training the relation network: data preparation, per-epoch sampling, the loop, checkpoints.

Per epoch (seeded by ``(seed, epoch)``, so a resumed run draws exactly what a straight run draws):

- rows = positives (label 1, or score ≥ the positive threshold, or every interaction) + explicit
  negatives (label 0 / score below the negative threshold) + items the user never interacted with,
  sampled uniformly until negatives balance the positives (``neg_ratio``);
- each row gets ``history`` items of its user sampled afresh without replacement (never the target),
  with their behaviour scores; users with fewer items get a padded, masked history;
- id dropout: with probability ``id_dropout`` the user's and the target's id field is replaced by id 0,
  the embedding cold users and new items get (DropoutNet-style, Volkovs et al. 2017), so zero-shot items
  are ranked from their other features.

Early stopping watches recall@``val_k`` on a validation split carved from the training data (a share of
each user's items); the best epoch's weights are kept. A checkpoint holds only tensors and plain data
(weights, optimiser state, config, field vocabularies, encoded features, the training history), so it
loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import Tensor, nn

from dancerec.errors import UserError

from .base import TrainData
from .fields import EncodedFields, FieldSchema
from .relation_net import Batch, RelationNet

CHECKPOINT_FORMAT = "dancerec.relation/1"


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


# ----- scoring -----------------------------------------------------------------------------------------


@torch.no_grad()
def score_users(
    net: RelationNet,
    data: Prepared,
    users: np.ndarray,
    history: HistoryIndex,
    k: int,
    *,
    max_pairs: int = 1 << 16,
    user_batch: int = 64,
    items: np.ndarray | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """Full-ranking scores ``(len(users), n_items)`` (float32), batched over users and items.

    Item-only parts are computed once, user-only parts once per user batch, and each tile of at most
    ``max_pairs`` (user, item) pairs runs only the pair-dependent attention and folded output, so
    memory stays bounded whatever the catalogue size (defaults: 64 users × 1,024 items per tile,
    which kept the tile's tensors in cache in our measurements).

    Parallelism is over user batches (``workers`` threads, default ``torch.get_num_threads()``) with
    single-threaded torch ops inside: the per-tile ops are too small for intra-op threads, whose
    barriers made scoring several times slower on a busy 2-core machine. Every score is computed by
    the same single-threaded kernels whatever the number of workers, so results do not change.
    """
    was_training = net.training
    net.eval()
    item_index = torch.arange(data.n_items) if items is None else torch.as_tensor(items, dtype=torch.long)
    item_pre = net.precompute_items(data.items.take(item_index))
    n_items = len(item_index)
    # Pair-dependent memory per pair: ~F floats for the folded relations; the MLP relation and
    # extra music layers hold K x 3h or per-pair projections, so their tiles are smaller.
    cost = 1 if net.relation.is_linear else max(1, k * 3 * net.cfg.hidden // 64)
    cost = max(cost, 4 * (len(net.music_encoder.layers) - 1))
    out = np.empty((len(users), n_items), dtype=np.float32)
    user_batch = max(1, min(user_batch, max_pairs))
    users = np.asarray(users, dtype=np.int64)

    def run(start: int) -> None:
        chunk = users[start : start + user_batch]
        hist, score, mask = history.top(chunk, k)
        with torch.no_grad():
            pre = net.precompute_users(
                data.users.take(torch.from_numpy(chunk)),
                data.items.take(torch.from_numpy(hist)),
                torch.from_numpy(score),
                torch.from_numpy(mask),
            )
            step = max(1, max_pairs // cost // len(chunk))
            for lo in range(0, n_items, step):
                hi = min(n_items, lo + step)
                out[start : start + len(chunk), lo:hi] = net.score_grid(pre, item_pre, slice(lo, hi)).numpy()

    starts = list(range(0, len(users), user_batch))
    threads = torch.get_num_threads()
    workers = min(len(starts), threads if workers is None else max(1, workers))
    torch.set_num_threads(1)
    try:
        if workers <= 1:
            for start in starts:
                run(start)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(run, starts))
    finally:
        torch.set_num_threads(threads)
        net.train(was_training)
    return out


def recall_at_k(
    net: RelationNet, data: Prepared, k: int, users: np.ndarray, history_k: int, *, exclude: sp.csr_matrix
) -> tuple[float, int]:
    """Sum of recall@k over ``users`` against ``data.val_matrix`` (training items masked), and count."""
    val = data.val_matrix
    if val is None or len(users) == 0:
        return 0.0, 0
    scores = score_users(net, data, users, data.history, history_k)
    ex = exclude[users]
    scores[ex.nonzero()] = -np.inf
    top = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    total = 0.0
    for row, u in enumerate(users):
        relevant = val.indices[val.indptr[u] : val.indptr[u + 1]]
        total += np.isin(top[row], relevant).sum() / len(relevant)
    return float(total), len(users)


# ----- the loop -------------------------------------------------------------------------------------------


@dataclass
class EpochLog:
    epoch: int
    loss: float
    val_recall: float | None
    seconds: float


@dataclass
class LoopState:
    """What a checkpoint needs to resume: next epoch, best weights and the early-stopping counters."""

    epoch: int = 0  # epochs completed
    best_epoch: int = -1
    best_score: float = -np.inf
    bad_epochs: int = 0
    stopped: bool = False
    best_state: dict | None = None
    log: list[EpochLog] = field(default_factory=list)


class Reporter:
    """Progress hooks (the default does nothing); see :class:`RichReporter`."""

    def start(self, epochs: int, batches: int) -> None: ...
    def batch(self, loss: float) -> None: ...
    def epoch(self, entry: EpochLog) -> None: ...
    def stop(self) -> None: ...


class RichReporter(Reporter):
    """A transient rich progress bar on stderr showing batches, loss and validation recall@K."""

    def __init__(self, k: int) -> None:
        self.k = k
        self._progress = None
        self._task = None
        self._epoch = 0
        self._recall = "–"

    def start(self, epochs: int, batches: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("relation epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("loss {task.fields[loss]} · val recall@{task.fields[k]} {task.fields[recall]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=epochs * batches, epoch=1, loss="–", recall="–", k=self.k
        )

    def batch(self, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=f"{loss:.4f}")

    def epoch(self, entry: EpochLog) -> None:
        if self._progress is not None:
            recall = "–" if entry.val_recall is None else f"{entry.val_recall:.4f}"
            self._progress.update(self._task, epoch=entry.epoch + 2, recall=recall)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _validation_users(data: Prepared, cfg: LoopConfig) -> np.ndarray:
    if data.val_matrix is None:
        return np.zeros(0, dtype=np.int64)
    users = np.flatnonzero(np.diff(data.val_matrix.indptr) > 0)
    if len(users) > cfg.val_users:
        users = np.sort(np.random.default_rng([cfg.seed, 104729]).choice(users, cfg.val_users, replace=False))
    return users


def train_loop(
    net: RelationNet,
    data: Prepared,
    cfg: LoopConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    state: LoopState | None = None,
    reporter: Reporter | None = None,
    on_epoch: Callable[[RelationNet, torch.optim.Optimizer, LoopState], None] | None = None,
    ddp: nn.Module | None = None,
) -> LoopState:
    """Train ``net`` (or its DDP wrapper ``ddp``) from ``state`` until ``cfg.epochs`` or early stop.

    Under DDP each rank takes its share of every global batch, so one optimiser step sees the same
    ``batch_size`` rows as single-process training; validation recall is summed across ranks.
    """
    reporter = reporter or Reporter()
    state = state or LoopState()
    optimizer = optimizer or torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    model = ddp if ddp is not None else net
    rank, world = (dist.get_rank(), dist.get_world_size()) if ddp is not None else (0, 1)
    val_users = _validation_users(data, cfg)
    fit_matrix = sp.csr_matrix(
        (data.history.scores, data.history.items, data.history.indptr), shape=(data.n_users, data.n_items)
    )
    n_rows = len(data.pos_u) + max(len(data.neg_u), round(cfg.neg_ratio * len(data.pos_u)))
    reporter.start(cfg.epochs - state.epoch, max(1, -(-n_rows // cfg.batch_size)))
    loss_fn = nn.BCELoss()
    try:
        while state.epoch < cfg.epochs and not state.stopped:
            started = time.perf_counter()
            net.train()
            rows = sample_epoch(data, cfg, state.epoch)
            total, count = 0.0, 0
            for lo in range(0, len(rows), cfg.batch_size):
                index = np.arange(lo, min(lo + cfg.batch_size, len(rows)))
                if world > 1:
                    index = index[rank::world]
                batch, label = make_batch(data, rows, index)
                optimizer.zero_grad(set_to_none=True)
                prediction = model(batch).clamp(1e-7, 1 - 1e-7)
                loss = loss_fn(prediction, label)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(index)
                count += len(index)
                reporter.batch(loss.item())
            val = None
            if len(val_users):
                mine = val_users[rank::world]
                summed, n = recall_at_k(
                    net, data, cfg.val_k, mine, cfg.inference_history or cfg.history, exclude=fit_matrix
                )
                if world > 1:
                    t = torch.tensor([summed, n, total, count], dtype=torch.float64)
                    dist.all_reduce(t)
                    summed, n, total, count = t.tolist()
                val = summed / max(n, 1)
            elif world > 1:
                t = torch.tensor([total, count], dtype=torch.float64)
                dist.all_reduce(t)
                total, count = t.tolist()
            entry = EpochLog(state.epoch, total / max(count, 1), val, time.perf_counter() - started)
            state.log.append(entry)
            if val is not None:
                if val > state.best_score + 1e-9:
                    state.best_score, state.best_epoch, state.bad_epochs = val, state.epoch, 0
                    state.best_state = copy.deepcopy(net.state_dict())
                else:
                    state.bad_epochs += 1
                    state.stopped = state.bad_epochs >= cfg.patience
            state.epoch += 1
            reporter.epoch(entry)
            if on_epoch is not None:
                on_epoch(net, optimizer, state)
    finally:
        reporter.stop()
    if state.best_state is not None:
        net.load_state_dict(state.best_state)
    return state


# ----- checkpoints -------------------------------------------------------------------------------------------


def fingerprint(matrix: sp.csr_matrix) -> str:
    """A short hash of the training matrix (refuses resuming on different data)."""
    m = sp.csr_matrix(matrix)
    h = hashlib.sha256()
    for part in (np.asarray(m.shape, np.int64), m.indptr.astype(np.int64), m.indices.astype(np.int64)):
        h.update(part.tobytes())
    h.update(m.data.astype(np.float32).tobytes())
    return h.hexdigest()[:16]


def state_to_dict(state: LoopState) -> dict:
    return {
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": float(state.best_score),
        "bad_epochs": state.bad_epochs,
        "stopped": state.stopped,
        "best_state": state.best_state,
        "log": [asdict(e) for e in state.log],
    }


def state_from_dict(d: dict) -> LoopState:
    return LoopState(
        epoch=int(d["epoch"]),
        best_epoch=int(d["best_epoch"]),
        best_score=float(d["best_score"]),
        bad_epochs=int(d["bad_epochs"]),
        stopped=bool(d["stopped"]),
        best_state=d.get("best_state"),
        log=[EpochLog(**e) for e in d.get("log", [])],
    )


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Write atomically (a temp file renamed over the target)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint safely (``weights_only=True``: tensors and plain containers only)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which and why
        raise UserError(
            f"{path}: not a readable relation-model checkpoint ({exc.__class__.__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path}: not a relation-model checkpoint (expected format {CHECKPOINT_FORMAT})")
    return payload
