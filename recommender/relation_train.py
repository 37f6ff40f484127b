"""Training the relation network: the loop, scoring, checkpoints (data preparation and per-epoch
sampling, by the rules below, are in :mod:`dancerec.recommender.relation_data`).

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
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch import nn

from dancerec.errors import UserError

from .relation_data import (
    EpochRows,
    HistoryIndex,
    LoopConfig,
    Prepared,
    make_batch,
    prepare,
    sample_epoch,
    sample_negatives,
    split_validation,
)
from .relation_net import RelationNet

__all__ = [
    "CHECKPOINT_FORMAT",
    "EpochLog",
    "EpochRows",
    "HistoryIndex",
    "LoopConfig",
    "LoopState",
    "Prepared",
    "Reporter",
    "RichReporter",
    "fingerprint",
    "load_checkpoint",
    "make_batch",
    "prepare",
    "recall_at_k",
    "sample_epoch",
    "sample_negatives",
    "save_checkpoint",
    "score_users",
    "split_validation",
    "state_from_dict",
    "state_to_dict",
    "train_loop",
]

CHECKPOINT_FORMAT = "dancerec.relation/1"


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


def _fit_epoch(
    model: nn.Module,
    data: Prepared,
    rows: EpochRows,
    optimizer: torch.optim.Optimizer,
    cfg: LoopConfig,
    reporter: Reporter,
    shard: tuple[int, int],
) -> tuple[float, int]:
    """One pass over the epoch's rows in global batches (this rank's share of each): (loss sum, rows)."""
    rank, world = shard
    loss_fn = nn.BCELoss()
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
    return total, count


def _all_reduce(values: list[float], world: int) -> list[float]:
    """``values`` summed over the DDP ranks (unchanged in a single process)."""
    if world <= 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _track_best(state: LoopState, net: RelationNet, val: float, patience: int) -> None:
    """Early stopping: keep the best epoch's weights, stop after ``patience`` epochs without gain."""
    if val > state.best_score + 1e-9:
        state.best_score, state.best_epoch, state.bad_epochs = val, state.epoch, 0
        state.best_state = copy.deepcopy(net.state_dict())
    else:
        state.bad_epochs += 1
        state.stopped = state.bad_epochs >= patience


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
    try:
        while state.epoch < cfg.epochs and not state.stopped:
            started = time.perf_counter()
            net.train()
            rows = sample_epoch(data, cfg, state.epoch)
            total, count = _fit_epoch(model, data, rows, optimizer, cfg, reporter, (rank, world))
            val = None
            if len(val_users):
                mine = val_users[rank::world]
                summed, n = recall_at_k(
                    net, data, cfg.val_k, mine, cfg.inference_history or cfg.history, exclude=fit_matrix
                )
                summed, n, total, count = _all_reduce([summed, n, total, count], world)
                val = summed / max(n, 1)
            else:
                total, count = _all_reduce([total, count], world)
            entry = EpochLog(state.epoch, total / max(count, 1), val, time.perf_counter() - started)
            state.log.append(entry)
            if val is not None:
                _track_best(state, net, val, cfg.patience)
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
