"""The relation-learning network (source paper §3): PyTorch modules only, no data handling.

Pieces and the standard component chosen where the paper leaves a gap:

- **Field embeddings** (:class:`FieldEmbedding`): one token per feature field (see ``fields.py``).
- **User encoder** (:class:`UserEncoder`): AutoInt (Song et al. 2019): ``user_layers`` interacting
  layers (multi-head self-attention over the field tokens with a residual projection and ReLU), then a
  linear layer on the flattened tokens gives the user code ``u`` (size ``hidden``).
- **Music encoder** (:class:`MusicEncoder`): the same interacting layer, but the item's field tokens
  attend over the *combined* user and item tokens (personalised coding): queries come from the item
  tokens, keys/values from [user tokens; item tokens]. The user tokens are context and are not updated,
  which is what lets full ranking precompute them per user (a transformer decoder's cross+self
  attention, merged into one softmax). ``personalised=False`` drops the user tokens (the ablation).
  A linear layer on the flattened item tokens gives the code ``h`` (history items and the target).
- **Relation module** (:class:`Relation`): ``r_j = sigmoid(h_j^T W h_target)`` with one learned ``W``
  (``bilinear``, the paper's choice), ``dot`` (``W = I``), or ``mlp`` (a deeper module on
  ``[h_j, h_t, h_j*h_t]``, which the paper found worse).
- **Estimated target feature** ``e = Σ_j s_j r_j h_j / Σ_j s_j r_j`` (behaviour score × relation).
- **Output**: ``Y = sigmoid(linear([u, e, h_target]))``, ``X = max_j r_j``, prediction ``(X+Y)/2``
  (``maxpool=False``: ``Y`` alone).

Every part except the attention of the target item's tokens over the user tokens depends on the user
or on the item only; :meth:`RelationNet.score_grid` precomputes those parts and, for the ``bilinear``
and ``dot`` relations, folds ``W`` and the code projection into per-user matrices so a (user, item)
pair costs a few hundred multiply-adds (see ``score_grid``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from dancerec.errors import UserError

from .fields import EncodedFields, FieldSchema, Side

RELATIONS = ("bilinear", "dot", "mlp")


@dataclass
class NetConfig:
    """Architecture hyper-parameters (defaults: the paper's hidden size 128)."""

    hidden: int = 128
    embed_dim: int = 16
    heads: int = 2
    user_layers: int = 2
    music_layers: int = 1
    relation: str = "bilinear"
    personalised: bool = True
    maxpool: bool = True

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise UserError(f"relation must be one of {', '.join(RELATIONS)}, not {self.relation!r}")
        if self.embed_dim % self.heads:
            raise UserError(f"embed_dim ({self.embed_dim}) must be divisible by heads ({self.heads})")
        for name in ("hidden", "embed_dim", "heads", "music_layers"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1")
        if self.user_layers < 0:
            raise UserError("user_layers must be at least 0")

    def to_dict(self) -> dict:
        return asdict(self)


class FieldEmbedding(nn.Module):
    """Embeds one side's encoded fields into tokens ``(..., n_fields, dim)``.

    All categorical-like fields share one table with per-field offsets (one lookup per batch); tags are
    mean-pooled (a row without tags takes the field's row 0); linear fields scale a learned vector.
    """

    def __init__(self, schema: FieldSchema, side: Side, dim: int) -> None:
        super().__init__()
        groups = schema.grouped(side)
        cat_card = [f.cardinality for f in groups["cat"]]
        tag_card = [f.cardinality for f in groups["tags"]]
        self.n_cat, self.n_lin, self.n_tag = len(cat_card), len(groups["lin"]), len(tag_card)
        self.register_buffer("cat_offsets", _offsets(cat_card), persistent=False)
        self.register_buffer("tag_offsets", _offsets(tag_card), persistent=False)
        # Only the tables a side uses exist (DDP requires every parameter to get a gradient).
        self.cat = nn.Embedding(sum(cat_card), dim) if cat_card else None
        self.tag = nn.Embedding(sum(tag_card), dim) if tag_card else None
        self.lin = nn.Parameter(torch.empty(self.n_lin, dim)) if self.n_lin else None
        for weight in (self.cat, self.tag, self.lin):
            if weight is not None:
                nn.init.normal_(weight if isinstance(weight, nn.Parameter) else weight.weight, std=0.1)

    @property
    def n_tokens(self) -> int:
        return self.n_cat + self.n_lin + self.n_tag

    def forward(self, x: EncodedFields) -> Tensor:
        parts = []
        if self.n_cat:
            parts.append(self.cat(x.cat + self.cat_offsets))
        if self.n_lin:
            parts.append(x.lin.unsqueeze(-1) * self.lin)
        if self.n_tag:
            ids = x.tags + self.tag_offsets.unsqueeze(-1)
            emb = self.tag(ids)
            mask = (x.tags > 0).unsqueeze(-1).to(emb.dtype)
            count = mask.sum(-2)
            pooled = (emb * mask).sum(-2) / count.clamp(min=1.0)
            none = self.tag(self.tag_offsets)
            parts.append(torch.where(count > 0, pooled, none))
        return torch.cat(parts, dim=-2)


def _repeat(x: Tensor, n: int) -> Tensor:
    """``(B, ...) -> (B, n, ...)`` view."""
    return x.unsqueeze(1).expand(x.shape[0], n, *x.shape[1:])


def _offsets(cards: list[int]) -> Tensor:
    return (
        torch.tensor([0, *cards[:-1]], dtype=torch.long).cumsum(0)
        if cards
        else torch.zeros(0, dtype=torch.long)
    )


class InteractingLayer(nn.Module):
    """AutoInt's interacting layer: multi-head self-attention over field tokens, residual, ReLU.

    With ``context`` given (personalised coding) the tokens attend over ``[context; tokens]``; the
    context keys/values and the token-only parts broadcast over leading dimensions, so a grid of users
    ``(U, 1, ...)`` against items ``(1, I, ...)`` never materialises the concatenation.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.residual = nn.Linear(dim, dim, bias=False)

    def _split(self, x: Tensor) -> Tensor:  # (..., n, d) -> (..., heads, n, head_dim)
        return x.unflatten(-1, (self.heads, self.head_dim)).transpose(-3, -2)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Per-token projections (query, key, value split into heads; residual)."""
        return (
            self._split(self.query(x)),
            self._split(self.key(x)),
            self._split(self.value(x)),
            self.residual(x),
        )

    def project_context(self, c: Tensor) -> tuple[Tensor, Tensor]:
        return self._split(self.key(c)), self._split(self.value(c))

    def attend(
        self, proj: tuple[Tensor, Tensor, Tensor, Tensor], context: tuple[Tensor, Tensor] | None = None
    ) -> Tensor:
        q, k, v, res = proj
        scale = 1.0 / math.sqrt(self.head_dim)
        if context is not None and context[0].shape[:-2] == q.shape[:-2]:
            # Same leading shape (training batches): one concatenated softmax is fastest.
            k, v = torch.cat([context[0], k], dim=-2), torch.cat([context[1], v], dim=-2)
            context = None
        s_self = (q @ k.transpose(-1, -2)) * scale
        if context is None:
            out = torch.softmax(s_self, dim=-1) @ v
        else:
            # Broadcast grid (users × items): never materialise the per-pair concatenation.
            kc, vc = context
            s_ctx = (q @ kc.transpose(-1, -2)) * scale
            top = torch.maximum(s_self.amax(-1, keepdim=True), s_ctx.amax(-1, keepdim=True))
            e_self, e_ctx = torch.exp(s_self - top), torch.exp(s_ctx - top)
            norm = e_self.sum(-1, keepdim=True) + e_ctx.sum(-1, keepdim=True)
            out = (e_self @ v + e_ctx @ vc) / norm
        out = out.transpose(-3, -2).flatten(-2)
        return torch.relu(out + res)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        ctx = self.project_context(context) if context is not None else None
        return self.attend(self.project(x), ctx)

    # ----- full ranking: every user × every item -----------------------------------------------
    # Layout: the item axis is innermost ("slot" = token a, then item i), so every per-pair
    # elementwise pass runs over long contiguous rows and the final fold is one GEMM with the
    # item axis as its long side. Measured on CPU, this is several times faster than putting the
    # 8-wide head dimension last.
    def grid_items(self, x: Tensor) -> dict[str, Tensor]:
        """Item-only parts of attention over ``[context; items]`` for items ``x`` ``(I, n, d)``.

        The items' self-attention logits do not depend on the user, so their max ``m``, the
        unnormalised values ``a = Σ exp(s - m) v`` and mass ``zsum = Σ exp(s - m)`` are computed once;
        :meth:`attend_grid` adds the user tokens' share with a log-sum-exp rescaling.
        Shapes: ``q`` (H, dh, n, I); ``m``, ``zsum`` (H, 1, n, I); ``a``, ``res`` (H, 1, n, dh, I).
        """
        q, k, v, res = self.project(x)  # (I, H, n, dh), res (I, n, d)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        m = s.amax(-1, keepdim=True)
        e = torch.exp(s - m)
        res = res.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)  # (I, H, n, dh)
        return {
            "q": q.permute(1, 3, 2, 0).contiguous(),
            "m": m[..., 0].permute(1, 2, 0).unsqueeze(1).contiguous(),
            "zsum": e.sum(-1).permute(1, 2, 0).unsqueeze(1).contiguous(),
            "a": (e @ v).permute(1, 2, 3, 0).unsqueeze(1).contiguous(),
            "res": res.permute(1, 2, 3, 0).unsqueeze(1).contiguous(),
        }

    def attend_grid(self, items: dict[str, Tensor], context: tuple[Tensor, Tensor] | None) -> Tensor:
        """Output tokens ``(H, U, n, dh, I)`` for users' context ``(U, H, n_u, dh)`` × items.

        One GEMM per head gives every item-query × user-key logit; nothing per pair is concatenated,
        and the one per-pair tensor is updated in place.
        """
        a, res = items["a"], items["res"]
        if context is None:
            return torch.relu(a / items["zsum"].unsqueeze(3) + res)  # (H, 1, n, dh, I)
        heads, _, n, dh, n_items = a.shape
        kc, vc = context
        n_users, _, n_ctx, _ = kc.shape
        kh = kc.permute(1, 0, 2, 3).reshape(heads, n_users * n_ctx, dh)
        s = (kh @ items["q"].reshape(heads, dh, n * n_items)).view(heads, n_users, n_ctx, n, n_items)
        s.mul_(1.0 / math.sqrt(dh))
        top = torch.maximum(s.amax(2), items["m"])  # (H, U, n, I)
        e = s.sub_(top.unsqueeze(2)).exp_()
        alpha = (items["m"] - top).exp_()
        inv = e.sum(2).addcmul_(alpha, items["zsum"]).reciprocal_()  # 1 / softmax mass
        e.mul_(inv.unsqueeze(2))
        # out = res + (alpha / mass) a + Σ_b e_b vc_b, one in-place pass per user token.
        out = torch.addcmul(res, alpha.mul_(inv).unsqueeze(3), a)  # (H, U, n, dh, I)
        vch = vc.permute(1, 0, 2, 3)  # (H, U, n_u, dh)
        for b in range(n_ctx):
            out.addcmul_(e[:, :, b].unsqueeze(3), vch[:, :, b, None, :, None])
        return out.relu_()


def _tokens(grid_out: Tensor) -> Tensor:
    """``(H, U, n, dh, I)`` → ``(U, I, n, H*dh)`` (the token layout of the training path)."""
    heads, n_users, n, dh, n_items = grid_out.shape
    return grid_out.permute(1, 4, 2, 0, 3).reshape(n_users, n_items, n, heads * dh)


class UserEncoder(nn.Module):
    """AutoInt over the user's field tokens → user code."""

    def __init__(self, n_tokens: int, cfg: NetConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            InteractingLayer(cfg.embed_dim, cfg.heads) for _ in range(cfg.user_layers)
        )
        self.out = nn.Linear(n_tokens * cfg.embed_dim, cfg.hidden)

    def forward(self, tokens: Tensor) -> Tensor:
        for layer in self.layers:
            tokens = layer(tokens)
        return self.out(tokens.flatten(-2))


class MusicEncoder(nn.Module):
    """Item tokens attending over [user tokens; item tokens] → personalised item code."""

    def __init__(self, n_tokens: int, cfg: NetConfig) -> None:
        super().__init__()
        self.personalised = cfg.personalised
        self.layers = nn.ModuleList(
            InteractingLayer(cfg.embed_dim, cfg.heads) for _ in range(cfg.music_layers)
        )
        self.out = nn.Linear(n_tokens * cfg.embed_dim, cfg.hidden)

    def context(self, user_tokens: Tensor) -> list[tuple[Tensor, Tensor]] | None:
        """Per-layer keys/values of the user tokens (depend on the user only)."""
        if not self.personalised:
            return None
        return [layer.project_context(user_tokens) for layer in self.layers]

    def flat(
        self,
        item_tokens: Tensor,
        context: list[tuple[Tensor, Tensor]] | None,
        first: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    ) -> Tensor:
        """Flattened output tokens ``z`` (the code is ``out(z)``); ``first`` = precomputed layer-0
        projections of the item tokens."""
        x = item_tokens
        for n, layer in enumerate(self.layers):
            proj = first if (n == 0 and first is not None) else layer.project(x)
            x = layer.attend(proj, context[n] if context is not None else None)
        return x.flatten(-2)

    def forward(self, item_tokens: Tensor, user_tokens: Tensor | None) -> Tensor:
        context = self.context(user_tokens) if user_tokens is not None else None
        return self.out(self.flat(item_tokens, context))


class Relation(nn.Module):
    """Relation logits between history codes ``(..., K, h)`` and a target code ``(..., h)``."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.kind = cfg.relation
        h = cfg.hidden
        if self.kind == "bilinear":
            self.weight = nn.Parameter(torch.empty(h, h))
            nn.init.normal_(self.weight, std=1.0 / h)
        elif self.kind == "mlp":
            self.mlp = nn.Sequential(
                nn.Linear(3 * h, h), nn.ReLU(), nn.Linear(h, h // 2), nn.ReLU(), nn.Linear(h // 2, 1)
            )

    @property
    def is_linear(self) -> bool:
        """True when the logit is ``query(h_j) · h_target`` (lets scoring fold it per user)."""
        return self.kind in ("bilinear", "dot")

    def query(self, history: Tensor) -> Tensor:
        """``g_j`` with ``logit_j = g_j · h_target`` (bilinear: ``h_j^T W``; dot: ``h_j``)."""
        return history @ self.weight if self.kind == "bilinear" else history

    def forward(self, history: Tensor, target: Tensor) -> Tensor:
        if self.is_linear:
            return (self.query(history) * target.unsqueeze(-2)).sum(-1)
        history, t = torch.broadcast_tensors(history, target.unsqueeze(-2))
        return self.mlp(torch.cat([history, t, history * t], dim=-1)).squeeze(-1)


@dataclass
class Batch:
    """One training batch: users (B), history items (B, K) with scores and mask, targets (B)."""

    user: EncodedFields
    history: EncodedFields
    history_score: Tensor
    history_mask: Tensor
    target: EncodedFields


class RelationNet(nn.Module):
    """The whole relation-learning model; ``forward`` returns the prediction in [0, 1]."""

    def __init__(self, schema: FieldSchema, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.user_embed = FieldEmbedding(schema, "user", cfg.embed_dim)
        self.item_embed = FieldEmbedding(schema, "item", cfg.embed_dim)
        self.user_encoder = UserEncoder(self.user_embed.n_tokens, cfg)
        self.music_encoder = MusicEncoder(self.item_embed.n_tokens, cfg)
        self.relation = Relation(cfg)
        self.output = nn.Linear(3 * cfg.hidden, 1)

    # ----- training path -----------------------------------------------------------------
    def forward(self, batch: Batch) -> Tensor:
        return self.parts(batch)["prediction"]

    def parts(self, batch: Batch) -> dict[str, Tensor]:
        """Prediction and its pieces (relation scores ``r``, ``X``, ``Y``) for a batch."""
        user_tokens = self.user_embed(batch.user)
        user_code = self.user_encoder(user_tokens)
        context = self.music_encoder.context(user_tokens)
        n_hist = batch.history_mask.shape[-1]
        hist_context = (
            [(_repeat(k, n_hist), _repeat(v, n_hist)) for k, v in context] if context is not None else None
        )
        history = self.music_encoder.out(
            self.music_encoder.flat(self.item_embed(batch.history), hist_context)
        )
        target = self.music_encoder.out(self.music_encoder.flat(self.item_embed(batch.target), context))
        r = torch.sigmoid(self.relation(history, target))
        mask = batch.history_mask.to(r.dtype)
        weight = batch.history_score.clamp(min=0.0) * r * mask
        estimate = (weight.unsqueeze(-1) * history).sum(-2) / weight.sum(-1, keepdim=True).clamp(min=1e-8)
        y = torch.sigmoid(self.output(torch.cat([user_code, estimate, target], dim=-1)).squeeze(-1))
        x = (r * mask).amax(-1)
        prediction = (x + y) / 2 if self.cfg.maxpool else y
        return {"prediction": prediction, "r": r, "x": x, "y": y}

    # ----- full-ranking path ---------------------------------------------------------------
    @torch.no_grad()
    def precompute_items(self, items: EncodedFields) -> dict[str, Tensor]:
        """Item-only parts: field tokens and the first music layer's item-only attention terms."""
        tokens = self.item_embed(items)
        return {"tokens": tokens, "grid": self.music_encoder.layers[0].grid_items(tokens)}

    @torch.no_grad()
    def precompute_users(
        self, users: EncodedFields, history: EncodedFields, history_score: Tensor, history_mask: Tensor
    ) -> dict:
        """User-only parts: user code, context keys/values, history codes and folded output weights."""
        user_tokens = self.user_embed(users)
        user_code = self.user_encoder(user_tokens)
        context = self.music_encoder.context(user_tokens)
        n_hist = history_mask.shape[-1]
        hist_context = (
            [(_repeat(k, n_hist), _repeat(v, n_hist)) for k, v in context] if context is not None else None
        )
        hist = self.music_encoder.out(self.music_encoder.flat(self.item_embed(history), hist_context))
        h = self.cfg.hidden
        w = self.output.weight[0]
        w_user, w_est, w_target = w[:h], w[h : 2 * h], w[2 * h :]
        out = self.music_encoder.out
        pre = {
            "context": context,
            "history": hist,
            "weight": history_score.clamp(min=0.0) * history_mask.to(hist.dtype),
            "mask": history_mask.to(hist.dtype),
            "bias": user_code @ w_user + self.output.bias[0],  # (U,)
            "est": hist @ w_est,  # (U, K): the estimate enters Y only through w_est · h_j
            "c": w_target @ out.weight,  # (F,): w_target · h_target = c · z + c0
            "c0": w_target @ out.bias,
        }
        if self.relation.is_linear:
            g = self.relation.query(hist)  # (U, K, h)
            pre["A"] = g @ out.weight  # (U, K, F): logit_j = A_j · z + g_j · b
            pre["g"] = g @ out.bias  # (U, K)
            # [A; c] reordered to attend_grid's layout: (H, U, K+1, n*dh)
            layer = self.music_encoder.layers[0]
            both = torch.cat([pre["A"], pre["c"].expand(len(g), 1, -1)], dim=1)  # (U, K+1, F)
            n_tok = both.shape[-1] // self.cfg.embed_dim
            both = both.view(len(g), both.shape[1], n_tok, layer.heads, layer.head_dim)
            pre["A_heads"] = both.permute(3, 0, 1, 2, 4).reshape(layer.heads, len(g), both.shape[1], -1)
        return pre

    @torch.no_grad()
    def score_grid(self, users: dict, items: dict, item_index: slice) -> Tensor:
        """Predictions ``(U, I)`` for precomputed users × a slice of precomputed items.

        Per pair only the target's attention over the user tokens and the folded output run:
        with ``z`` the flattened target tokens, ``logit_j = A_j · z + g_j`` and
        ``w_target · h_target = c · z + c0`` (``A``, ``g``, ``c`` precomputed, one batched GEMM over
        heads), so the code ``h_target`` and ``W`` are never applied per pair (bilinear/dot relations).
        """
        grid = {key: value[..., item_index].contiguous() for key, value in items["grid"].items()}
        context = users["context"]
        enc = self.music_encoder
        x = enc.layers[0].attend_grid(grid, context[0] if context is not None else None)  # (H, U|1, n, dh, I)
        k = users["weight"].shape[1]
        if len(enc.layers) == 1 and self.relation.is_linear:
            heads, n_u, n, dh, n_items = x.shape
            both = (users["A_heads"] @ x.view(heads, n_u, n * dh, n_items)).sum(0)  # (U, K+1, I)
            logits = both[:, :k].transpose(1, 2) + users["g"].unsqueeze(1)  # (U, I, K)
            target_part = both[:, k] + users["c0"]
        else:
            x = _tokens(x)
            if len(enc.layers) > 1:
                ctx = (
                    [(k_.unsqueeze(1), v_.unsqueeze(1)) for k_, v_ in context]
                    if context is not None
                    else None
                )
                for n, layer in enumerate(enc.layers[1:], start=1):
                    x = layer.attend(layer.project(x), ctx[n] if ctx is not None else None)
            z = x.flatten(-2)  # (U|1, I, F)
            if self.relation.is_linear:
                logits = z @ users["A"].transpose(1, 2) + users["g"].unsqueeze(1)  # (U, I, K)
            else:
                logits = self.relation(users["history"].unsqueeze(1), enc.out(z))
            target_part = z @ users["c"] + users["c0"]
        r = torch.sigmoid(logits)
        weight = users["weight"].unsqueeze(1) * r
        estimate = (weight * users["est"].unsqueeze(1)).sum(-1) / weight.sum(-1).clamp(min=1e-8)
        y = torch.sigmoid(users["bias"].unsqueeze(1) + estimate + target_part)
        if not self.cfg.maxpool:
            return y
        x_part = (r * users["mask"].unsqueeze(1)).amax(-1)
        return (x_part + y) / 2
