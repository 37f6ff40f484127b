"""Data-parallel training of the relation model with PyTorch DDP (gloo backend, so it runs on CPU).

Two ways in:

- ``fit_distributed(model, train, world_size=2)`` spawns the processes itself
  (``torch.multiprocessing.spawn``; rendezvous through a temporary file) and returns the fitted model;
- ``torchrun --nproc_per_node 2 -m dancerec.recommender.ddp --data DIR --out model.pt`` for launching
  across machines; ``DIR`` is written by :func:`save_train_data` (``dancerec recommender relation-export``).

Every rank draws the same epoch (same seed), takes its share of each global batch and DDP averages the
gradients, so one optimiser step sees ``batch_size`` rows exactly as single-process training does.
Rank 0 writes the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.distributed as dist

from dancerec.errors import UserError

from .base import TrainData
from .relation import RelationRecommender

DATA_FILES = ("matrix.npz", "interactions.parquet", "meta.json")


def save_train_data(train: TrainData, folder: str | Path) -> Path:
    """Write ``train`` to ``folder`` (sparse matrix, Parquet tables, ids) for torchrun workers."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sp.save_npz(folder / "matrix.npz", sp.csr_matrix(train.matrix))
    train.interactions.to_parquet(folder / "interactions.parquet")
    for name in ("user_features", "item_features"):
        frame = getattr(train, name)
        if frame is not None:
            frame.reset_index(drop=True).to_parquet(folder / f"{name}.parquet")
    meta = {
        "user_ids": [str(u) for u in train.user_ids],
        "item_ids": [str(i) for i in train.item_ids],
        "seed": train.seed,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def load_train_data(folder: str | Path) -> TrainData:
    """Read what :func:`save_train_data` wrote."""
    folder = Path(folder)
    missing = [f for f in DATA_FILES if not (folder / f).exists()]
    if missing:
        raise UserError(f"{folder}: not a relation training-data folder (missing {', '.join(missing)})")
    meta = json.loads((folder / "meta.json").read_text())
    features = {}
    for name in ("user_features", "item_features"):
        path = folder / f"{name}.parquet"
        features[name] = pd.read_parquet(path) if path.exists() else None
    return TrainData(
        matrix=sp.csr_matrix(sp.load_npz(folder / "matrix.npz")),
        interactions=pd.read_parquet(folder / "interactions.parquet"),
        user_ids=np.asarray(meta["user_ids"]),
        item_ids=np.asarray(meta["item_ids"]),
        seed=int(meta["seed"]),
        **features,
    )


def _threads(world_size: int) -> int:
    return max(1, (os.cpu_count() or 1) // world_size)


def _worker(rank: int, world_size: int, init_file: str, params: dict, train: TrainData, out: str) -> None:
    torch.set_num_threads(_threads(world_size))
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    _fit_rank(params, train, out)


def _fit_rank(params: dict, train: TrainData, out: str) -> None:
    """This rank's part of the fit in an initialised process group; rank 0 writes ``out``."""
    try:
        model = RelationRecommender(**{**params, "checkpoint": None, "threads": None}).fit(train)
        if dist.get_rank() == 0:
            model.save(out)
        # Without this barrier a rank that finished first destroyed its gloo group while rank 0 was
        # still saving, and now and then died in C++ teardown ("terminate called without an active
        # exception", SIGABRT: 2 of 7 torchrun runs on a quiet 2-core machine).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def fit_distributed(
    model: RelationRecommender, train: TrainData, *, world_size: int = 2
) -> RelationRecommender:
    """Fit ``model``'s configuration on ``world_size`` local processes; returns the fitted model.

    ``model.checkpoint`` (if set) receives the final weights.
    """
    if world_size < 1:
        raise UserError("world_size must be at least 1")
    import torch.multiprocessing as mp

    params = model.get_params()
    with tempfile.TemporaryDirectory(prefix="dancerec-ddp-") as tmp:
        out = str(Path(tmp) / "model.pt")
        init_file = str(Path(tmp) / "rendezvous")
        mp.spawn(_worker, args=(world_size, init_file, params, train, out), nprocs=world_size, join=True)
        fitted = RelationRecommender.load(out)
    for key, value in params.items():
        setattr(fitted, key, value)
    if model.checkpoint:
        fitted.save(model.checkpoint)
    return fitted


def main(argv: list[str] | None = None) -> None:
    """``torchrun ... -m dancerec.recommender.ddp``: one rank of a distributed fit."""
    parser = argparse.ArgumentParser(prog="python -m dancerec.recommender.ddp", description=main.__doc__)
    parser.add_argument("--data", required=True, help="folder written by save_train_data")
    parser.add_argument("--out", required=True, help="checkpoint path written by rank 0")
    parser.add_argument("--params", default="{}", help="JSON object of RelationRecommender parameters")
    args = parser.parse_args(argv)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--params is not valid JSON: {exc}") from None
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(_threads(world_size))
    train = load_train_data(args.data)
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT
    _fit_rank(params, train, args.out)


if __name__ == "__main__":
    main()
