"""The relation-learning recommender (source paper §3–4) behind the harness's ``Recommender`` interface.

``RelationRecommender(**params).fit(train).score(users)`` — parameters in ``__init__`` (scikit-learn
style), learned state in attributes ending with ``_``. The network lives in ``relation_net.py``, the
training loop and checkpoints in ``relation_train.py``, the feature fields in ``fields.py``.

Inference: each user is represented by the ``inference_history`` (default: ``history``) items with the
highest behaviour scores in the training data (ties: lower item index) — a deterministic stand-in for the
random sample used in training.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dancerec.errors import UserError

from .base import Recommender, TrainData
from .behaviour import train_only_scores
from .fields import EncodedFields, FieldOptions, FieldSchema
from .relation_net import NetConfig, RelationNet
from .relation_train import (
    CHECKPOINT_FORMAT,
    HistoryIndex,
    LoopConfig,
    LoopState,
    Prepared,
    Reporter,
    RichReporter,
    fingerprint,
    load_checkpoint,
    prepare,
    save_checkpoint,
    score_users,
    state_from_dict,
    state_to_dict,
    train_loop,
)


class RelationRecommender(Recommender):
    """Relation-learning recommender: AutoInt user encoder, personalised music encoder, relation module.

    Defaults follow the paper (hidden 128, Adam lr 0.01, batch 600, history 5). ``relation`` is
    ``bilinear`` (one learned W), ``dot`` or ``mlp``; ``personalised=False`` and ``maxpool=False`` are the
    ablations. ``checkpoint`` (a path) is written after every epoch; with ``resume=True`` an existing
    checkpoint for the same data is continued. ``seed=None`` takes ``TrainData.seed``.

    This is the paper's model reproduced as described; it is **not a competitive ranker** (Last.fm-2k
    NDCG@10 .069 against EASE's .233, issue 15). ``relation-rank`` (:mod:`.relation_rank`) is the
    ranking variant; see docs/relation-ranking.md.
    """

    name: ClassVar[str] = "relation"
    #: a small grid for ``dancerec recommender tune`` around the paper's settings
    search_space: ClassVar[dict[str, list]] = {
        "lr": [0.001, 0.003, 0.01],
        "hidden": [64, 128],
        "history": [5, 10],
        "personalised": [True, False],
    }

    def __init__(
        self,
        hidden: int = 128,
        embed_dim: int = 16,
        heads: int = 2,
        user_layers: int = 2,
        music_layers: int = 1,
        relation: str = "bilinear",
        personalised: bool = True,
        maxpool: bool = True,
        history: int = 5,
        inference_history: int | None = None,
        lr: float = 0.01,
        batch_size: int = 600,
        epochs: int = 20,
        weight_decay: float = 0.0,
        patience: int = 3,
        validation: float = 0.1,
        val_k: int = 10,
        val_users: int = 1000,
        neg_ratio: float = 1.0,
        id_dropout: float = 0.1,
        positive_threshold: float | None = None,
        negative_threshold: float | None = None,
        use_ids: bool = True,
        derived: bool = True,
        numeric: str = "bucket",
        n_buckets: int = 10,
        max_tags: int = 10,
        min_tag_count: int = 2,
        max_pairs: int = 1 << 16,
        checkpoint: str | None = None,
        resume: bool = False,
        progress: bool = False,
        threads: int | None = 1,
        seed: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.embed_dim = embed_dim
        self.heads = heads
        self.user_layers = user_layers
        self.music_layers = music_layers
        self.relation = relation
        self.personalised = personalised
        self.maxpool = maxpool
        self.history = history
        self.inference_history = inference_history
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation = validation
        self.val_k = val_k
        self.val_users = val_users
        self.neg_ratio = neg_ratio
        self.id_dropout = id_dropout
        self.positive_threshold = positive_threshold
        self.negative_threshold = negative_threshold
        self.use_ids = use_ids
        self.derived = derived
        self.numeric = numeric
        self.n_buckets = n_buckets
        self.max_tags = max_tags
        self.min_tag_count = min_tag_count
        self.max_pairs = max_pairs
        self.checkpoint = checkpoint
        self.resume = resume
        self.progress = progress
        self.threads = threads
        self.seed = seed

    # ----- configuration pieces --------------------------------------------------------------
    def net_config(self) -> NetConfig:
        return NetConfig(**{f.name: getattr(self, f.name) for f in fields(NetConfig)})

    def loop_config(self, seed: int) -> LoopConfig:
        values = {f.name: getattr(self, f.name) for f in fields(LoopConfig) if f.name != "seed"}
        return LoopConfig(**values, seed=seed)

    def field_options(self) -> FieldOptions:
        return FieldOptions(
            use_ids=self.use_ids,
            derived=self.derived,
            numeric=self.numeric,
            n_buckets=self.n_buckets,
            max_tags=self.max_tags,
            min_tag_count=self.min_tag_count,
        )

    def _validate(self) -> None:
        for name in ("history", "batch_size", "epochs", "val_k"):
            if getattr(self, name) < 1:
                raise UserError(f"relation model: {name} must be at least 1 (got {getattr(self, name)})")
        if not 0 <= self.validation < 1:
            raise UserError(f"relation model: validation must be in [0, 1) (got {self.validation})")
        if self.lr <= 0:
            raise UserError(f"relation model: lr must be positive (got {self.lr})")
        self.net_config()

    # ----- fit / score -------------------------------------------------------------------------
    def fit(
        self,
        train: TrainData,
        *,
        progress: Callable[[int, int, str], None] | None = None,
        reporter: Reporter | None = None,
    ) -> RelationRecommender:
        """Train on ``train`` (early stopping on a validation share of it); see ``relation_train``.

        ``progress(epoch, epochs, status)`` is called after every epoch (the shared model contract);
        ``reporter`` is the richer per-batch hook. Behaviour scores are recomputed from ``train`` alone
        (:func:`.behaviour.train_only_scores`), so no test interaction shapes a training weight.

        Training runs with ``threads`` intra-op threads (default 1; ``None`` keeps torch's setting):
        the per-batch tensors are small, so extra threads gain little, and on a machine whose cores are
        busy their barriers made training 5-20x slower in our measurements. Use DDP to train on more cores.
        """
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(int(self.threads))
        if progress is not None and reporter is None:
            reporter = _ProgressReporter(progress, self.epochs, self.val_k)
        try:
            return self._fit(train_only_scores(train), reporter)
        finally:
            torch.set_num_threads(previous)

    def _fit(self, train: TrainData, reporter: Reporter | None) -> RelationRecommender:
        self._validate()
        seed = int(train.seed if self.seed is None else self.seed)
        cfg = self.loop_config(seed)
        self.schema_ = FieldSchema.fit(
            train.matrix, train.user_features, train.item_features, self.field_options()
        )
        self.data_ = prepare(
            train,
            self.schema_,
            cfg,
            positive_threshold=self.positive_threshold,
            negative_threshold=self.negative_threshold,
        )
        self.user_ids_ = np.asarray(train.user_ids)
        self.item_ids_ = np.asarray(train.item_ids)
        self.fingerprint_ = fingerprint(train.matrix)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = RelationNet(self.schema_, self.net_config())
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        state = LoopState()
        if self.checkpoint and self.resume and Path(self.checkpoint).exists():
            state = self._restore(load_checkpoint(self.checkpoint), optimizer)
        # Inside an initialised process group (torchrun or ddp.fit_distributed) train data-parallel;
        # only rank 0 reports progress and writes checkpoints.
        distributed = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if distributed else 0
        wrapper = DistributedDataParallel(self.net_) if distributed else None
        if reporter is None and self.progress and rank == 0:
            reporter = RichReporter(self.val_k)
        writes = bool(self.checkpoint) and rank == 0
        self.state_ = train_loop(
            self.net_,
            self.data_,
            cfg,
            optimizer=optimizer,
            state=state,
            reporter=reporter if rank == 0 else None,
            on_epoch=self._save_epoch if writes else None,
            ddp=wrapper,
        )
        self.net_.eval()
        if writes:
            self._save_epoch(self.net_, optimizer, self.state_)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        """Scores ``(len(users), n_items)`` from full ranking (higher = better)."""
        self._check_fitted()
        users = np.asarray(users, dtype=np.int64)
        if users.size and (users.min() < 0 or users.max() >= self.data_.n_users):
            raise UserError(f"user indices must be in 0..{self.data_.n_users - 1}")
        return score_users(
            self.net_, self.data_, users, self.data_.full_history, self._k_inference, max_pairs=self.max_pairs
        )

    def score_items(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Scores of ``users`` × a subset of ``items`` (cold-start slices rank new items only)."""
        self._check_fitted()
        return score_users(
            self.net_,
            self.data_,
            np.asarray(users, dtype=np.int64),
            self.data_.full_history,
            self._k_inference,
            max_pairs=self.max_pairs,
            items=np.asarray(items, dtype=np.int64),
        )

    @property
    def _k_inference(self) -> int:
        return int(self.inference_history or self.history)

    @property
    def training_log(self):
        """Per-epoch loss, validation recall and seconds (a DataFrame)."""
        import pandas as pd

        self._check_fitted()
        return pd.DataFrame([asdict(e) for e in self.state_.log])

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise UserError("the relation model is not fitted yet (call fit or load a checkpoint)")

    # ----- checkpoints ----------------------------------------------------------------------------
    def _payload(self, optimizer: torch.optim.Optimizer | None, state: LoopState) -> dict:
        d = self.data_
        return {
            "format": CHECKPOINT_FORMAT,
            "params": self.get_params(),
            "net": self.net_config().to_dict(),
            "fields": self.schema_.to_state(),
            "weights": self.net_.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "loop": state_to_dict(state),
            "fingerprint": self.fingerprint_,
            "data": {
                "users": d.users.to_state(),
                "items": d.items.to_state(),
                "history": {
                    "indptr": torch.from_numpy(d.full_history.indptr),
                    "items": torch.from_numpy(d.full_history.items),
                    "scores": torch.from_numpy(d.full_history.scores),
                },
                "user_ids": [str(u) for u in self.user_ids_],
                "item_ids": [str(i) for i in self.item_ids_],
            },
        }

    def _save_epoch(self, net: RelationNet, optimizer: torch.optim.Optimizer, state: LoopState) -> None:
        save_checkpoint(self.checkpoint, self._payload(optimizer, state))

    def _restore(self, payload: dict, optimizer: torch.optim.Optimizer) -> LoopState:
        if payload["fingerprint"] != self.fingerprint_:
            raise UserError(f"{self.checkpoint}: checkpoint was trained on different data; cannot resume")
        if payload["net"] != self.net_config().to_dict():
            raise UserError(f"{self.checkpoint}: checkpoint has a different architecture; cannot resume")
        self.net_.load_state_dict(payload["weights"])
        if payload.get("optimizer") is not None:
            optimizer.load_state_dict(payload["optimizer"])
        return state_from_dict(payload["loop"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write a self-contained checkpoint (weights, config, vocabularies, encoded data) for scoring."""
        self._check_fitted()
        path = Path(path)
        state = state_from_dict({**state_to_dict(self.state_), "best_state": None})
        save_checkpoint(path, self._payload(None, state))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> RelationRecommender:
        """A fitted model from :meth:`save` or a training checkpoint (read with ``weights_only=True``)."""
        payload = load_checkpoint(path)
        params = {k: v for k, v in payload["params"].items() if k in cls().get_params()}
        model = cls(**params)
        model.schema_ = FieldSchema.from_state(payload["fields"])
        model.net_ = RelationNet(model.schema_, NetConfig(**payload["net"]))
        model.net_.load_state_dict(payload["weights"])
        model.net_.eval()
        data = payload["data"]
        hist = data["history"]
        history = HistoryIndex(hist["indptr"].numpy(), hist["items"].numpy(), hist["scores"].numpy())
        users = EncodedFields.from_state(data["users"])
        items = EncodedFields.from_state(data["items"])
        n_users, n_items = len(users), len(items)
        empty = np.zeros(0, dtype=np.int64)
        model.data_ = Prepared(
            users=users,
            items=items,
            history=history,
            full_history=history,
            pos_u=empty,
            pos_i=empty,
            neg_u=empty,
            neg_i=empty,
            train_keys=empty,
            val_matrix=None,
            n_users=n_users,
            n_items=n_items,
        )
        model.user_ids_ = np.asarray(data["user_ids"])
        model.item_ids_ = np.asarray(data["item_ids"])
        model.fingerprint_ = str(payload["fingerprint"])
        model.state_ = state_from_dict(payload["loop"])
        return model


class _ProgressReporter(Reporter):
    """Adapts the ``progress(completed, total, status)`` callback to the per-epoch reporter hook."""

    def __init__(self, progress: Callable[[int, int, str], None], epochs: int, k: int) -> None:
        self.progress, self.epochs, self.k = progress, epochs, k

    def epoch(self, entry) -> None:
        val = "–" if entry.val_recall is None else f"{entry.val_recall:.4f}"
        self.progress(entry.epoch + 1, self.epochs, f"loss {entry.loss:.4f} val recall@{self.k} {val}")
