"""Learned state and checkpoints of relation-rank / fism (split from relation_rank.py for its length).

``get_state`` / ``set_state`` serve the harness (``dancerec recommender train`` / ``recommend``);
``save`` / ``load`` write a self-contained checkpoint that loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from dancerec.errors import UserError

CHECKPOINT_FORMAT = "dancerec.relation-rank/1"


class CheckpointMixin:
    """State and checkpoint methods of :class:`~dancerec.recommender.relation_rank.RelationRank`."""

    def get_state(self) -> dict:
        weights = {f"net.{k}": v.detach().cpu().numpy().copy() for k, v in self.net_.state_dict().items()}
        return {
            "n_users_": self.n_users_,
            "n_items_": self.n_items_,
            "best_epochs_": self.best_epochs_,
            "history_": self.history_,
            **weights,
        }

    def set_state(self, state: dict):
        self.n_users_, self.n_items_ = int(state["n_users_"]), int(state["n_items_"])
        self.best_epochs_ = int(state["best_epochs_"])
        self.history_ = sp.csr_matrix(state["history_"], dtype=np.float32)
        from .relation_rank import ItemRelationNet  # the module that defines the net imports this one

        net = ItemRelationNet(
            self.n_users_,
            self.n_items_,
            int(self.dim),
            relation=self.relation,
            act=self.act,
            pool=self.pool,
            user_dim=bool(self.user_codes),
        )
        net.load_state_dict(
            {
                k.removeprefix("net."): torch.from_numpy(np.asarray(v))
                for k, v in state.items()
                if k.startswith("net.")
            }
        )
        self.net_ = net.eval()
        return self

    def save(self, path: str | Path) -> Path:
        """A self-contained checkpoint (parameters, weights, training history); loads with weights_only."""
        path = Path(path)
        h = self.history_.tocsr()
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": self.name,
            "params": self.get_params(),
            "shape": [self.n_users_, self.n_items_],
            "best_epochs": self.best_epochs_,
            "weights": {k: v.detach().cpu() for k, v in self.net_.state_dict().items()},
            "history": {
                "indptr": torch.from_numpy(h.indptr.astype(np.int64)),
                "indices": torch.from_numpy(h.indices.astype(np.int64)),
                "data": torch.from_numpy(h.data.astype(np.float32)),
            },
        }
        torch.save(payload, path)
        return path

    @classmethod
    def load(cls, path: str | Path):
        try:
            payload = torch.load(Path(path), weights_only=True)
        except Exception as exc:
            raise UserError(
                f"{path}: not a readable {cls.name} checkpoint ({exc.__class__.__name__})"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"{path}: not a {cls.name} checkpoint (format {CHECKPOINT_FORMAT} expected)")
        model = cls(**payload["params"])
        n_users, n_items = payload["shape"]
        hist = payload["history"]
        matrix = sp.csr_matrix(
            (hist["data"].numpy(), hist["indices"].numpy(), hist["indptr"].numpy()), shape=(n_users, n_items)
        )
        state = {f"net.{k}": v.numpy() for k, v in payload["weights"].items()}
        return model.set_state(
            {
                "n_users_": n_users,
                "n_items_": n_items,
                "best_epochs_": payload["best_epochs"],
                "history_": matrix,
                **state,
            }
        )
