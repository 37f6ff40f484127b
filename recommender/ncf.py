"""NeuMF (He et al. 2017, "Neural Collaborative Filtering"): GMF and MLP towers fused by one output layer.

Trained with binary cross-entropy on the training interactions against ``n_negatives`` uniformly sampled
unobserved items per positive, re-sampled every epoch (the paper's protocol). Scoring all items for a
batch of users avoids a forward pass per (user, item) pair where it can: the GMF term is one matrix
product, and the first MLP layer splits into a user part and an item part that are computed once and
broadcast-added; only the deeper MLP layers run per pair, in chunks that bound memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch
from dancerec.recommender.base import Recommender, TrainData
from dancerec.recommender.baselines import binarize
from torch import nn


class NeuMFModule(nn.Module):
    def __init__(self, n_users: int, n_items: int, gmf_dim: int, mlp_layers: tuple[int, ...]) -> None:
        super().__init__()
        mlp_dim = mlp_layers[0] // 2
        self.gmf_user = nn.Embedding(n_users, gmf_dim)
        self.gmf_item = nn.Embedding(n_items, gmf_dim)
        self.mlp_user = nn.Embedding(n_users, mlp_dim)
        self.mlp_item = nn.Embedding(n_items, mlp_dim)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(mlp_layers):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(gmf_dim + mlp_layers[-1], 1)
        for emb in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(emb.weight, std=0.01)
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        nn.init.kaiming_uniform_(self.out.weight, a=1, nonlinearity="sigmoid")
        nn.init.zeros_(self.out.bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.mlp(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def score_all(self, users: torch.Tensor, pair_budget: int = 1 << 22) -> torch.Tensor:
        """Logits of every item for ``users`` (B × n_items) without materialising B·n_items embeddings twice."""
        n_items = self.gmf_item.num_embeddings
        w_gmf = self.out.weight[0, : self.gmf_item.embedding_dim]
        w_mlp = self.out.weight[0, self.gmf_item.embedding_dim :]
        gmf = (self.gmf_user(users) * w_gmf) @ self.gmf_item.weight.T  # B × n_items
        first, *rest = [m for m in self.mlp]
        d_user = self.mlp_user.embedding_dim
        user_part = self.mlp_user(users) @ first.weight[:, :d_user].T + first.bias  # B × h1
        item_part = self.mlp_item.weight @ first.weight[:, d_user:].T  # n_items × h1
        tail = nn.Sequential(*rest)
        out = torch.empty(len(users), n_items, device=gmf.device)
        step = max(1, pair_budget // max(1, n_items * first.out_features))
        for lo in range(0, len(users), step):
            h = user_part[lo : lo + step, None, :] + item_part[None, :, :]
            h = tail(h)  # starts with the ReLU of the first layer
            out[lo : lo + step] = h @ w_mlp
        return gmf + out + self.out.bias


class NeuMF(Recommender):
    """Neural matrix factorisation (GMF + MLP), PyTorch, CPU, deterministic for a seed."""

    name = "ncf"
    #: a small grid for ``dancerec recommender tune`` (RECH's tuner reads this attribute)
    search_space: ClassVar[dict[str, list]] = {
        "gmf_dim": [16, 32, 64],
        "lr": [0.001, 0.002, 0.005],
        "epochs": [5, 10, 20],
        "n_negatives": [4, 8],
    }

    def __init__(
        self,
        gmf_dim: int = 16,
        mlp_layers: tuple[int, ...] = (64, 32, 16),
        n_negatives: int = 4,
        epochs: int = 10,
        batch_size: int = 1024,
        lr: float = 0.002,
        weight_decay: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.gmf_dim = gmf_dim
        self.mlp_layers = tuple(mlp_layers)
        self.n_negatives = n_negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed

    def _build(self, n_users: int, n_items: int) -> NeuMFModule:
        return NeuMFModule(n_users, n_items, self.gmf_dim, self.mlp_layers)

    def fit(self, train: TrainData, *, progress: Callable[[int, int, str], None] | None = None) -> NeuMF:
        """Train; ``progress(epoch, epochs, "loss 0.1234")`` is called after every epoch."""
        # Small embedding model, small batches: one intra-op thread is as fast uncontended and avoids
        # OpenMP oversubscription collapsing throughput on a busy machine (measured 6 s vs 75 s for 2 epochs).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(train, progress)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, train: TrainData, progress: Callable[[int, int, str], None] | None) -> NeuMF:
        seed = train.seed if self.seed is None else self.seed
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        x = binarize(train.matrix).tocoo()
        n_users, n_items = x.shape
        self.n_users_, self.n_items_ = n_users, n_items
        module = self._build(n_users, n_items)
        opt = torch.optim.Adam(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        pos_u, pos_i = x.row.astype(np.int64), x.col.astype(np.int64)
        seen = np.sort(pos_u * n_items + pos_i)
        self.losses_ = np.zeros(self.epochs, dtype=np.float32)
        for epoch in range(self.epochs):
            neg_u = np.repeat(pos_u, self.n_negatives)
            neg_i = rng.integers(0, n_items, len(neg_u))
            for _ in range(5):  # resample the (rare) negatives that hit a training item
                hit = np.isin(neg_u * n_items + neg_i, seen, assume_unique=False)
                if not hit.any():
                    break
                neg_i[hit] = rng.integers(0, n_items, int(hit.sum()))
            users = np.concatenate([pos_u, neg_u])
            items = np.concatenate([pos_i, neg_i])
            labels = np.concatenate([np.ones(len(pos_u)), np.zeros(len(neg_u))]).astype(np.float32)
            perm = rng.permutation(len(users))
            users_t = torch.from_numpy(users[perm])
            items_t = torch.from_numpy(items[perm])
            labels_t = torch.from_numpy(labels[perm])
            total = 0.0
            module.train()
            for lo in range(0, len(perm), self.batch_size):
                sl = slice(lo, lo + self.batch_size)
                opt.zero_grad()
                loss = loss_fn(module(users_t[sl], items_t[sl]), labels_t[sl])
                loss.backward()
                opt.step()
                total += loss.item() * len(labels_t[sl])
            self.losses_[epoch] = total / len(perm)
            if progress is not None:
                progress(epoch + 1, self.epochs, f"loss {self.losses_[epoch]:.4f}")
        module.eval()
        self.module_ = module
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.module_.score_all(torch.as_tensor(np.asarray(users), dtype=torch.long)).numpy()

    def get_state(self) -> dict:
        state = {k: v.detach().numpy().copy() for k, v in self.module_.state_dict().items()}
        return {
            "n_users_": self.n_users_,
            "n_items_": self.n_items_,
            "losses_": self.losses_,
            **{f"module.{k}": v for k, v in state.items()},
        }

    def set_state(self, state: dict) -> NeuMF:
        self.n_users_, self.n_items_ = int(state["n_users_"]), int(state["n_items_"])
        self.losses_ = np.asarray(state["losses_"])
        module = self._build(self.n_users_, self.n_items_)
        module.load_state_dict(
            {
                k.removeprefix("module."): torch.from_numpy(np.asarray(v))
                for k, v in state.items()
                if k.startswith("module.")
            }
        )
        module.eval()
        self.module_ = module
        return self
