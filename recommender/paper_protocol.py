"""The source paper's own test: balanced labelled pairs from behaviour scores (issue 15, "both protocols").

The paper does not rank all items. It labels test interactions by their behaviour score — positive when
the score is at least ``positive_threshold`` (default 4: the user's top two play quintiles, or any
praise/collect), negative when below ``negative_threshold`` (default 2: the bottom play quintile) — and
asks whether a model separates the two. Definitions used here (the paper leaves them open):

- **pairs**: per user, the positives and negatives among their *test* interactions, balanced by drawing
  ``m = min(#pos, #neg)`` of each without replacement (seeded); users with ``m = 0`` are left out. With
  ``fill_unobserved=True`` a user short of negatives is topped up with items they never interacted with
  (train or test), which is what the project's labels do for training; the default (False) keeps the
  paper's "interacted but barely played" negatives only.
- **accuracy**: per user, the top ``m`` of the ``2m`` candidates by score are called positive (the
  balanced threshold, so models with uncalibrated scores compare fairly); share of correct calls, pooled
  over all pairs.
- **auc**: per-user ROC AUC (ties count one half), averaged over users; **auc_pooled**: one AUC over all
  pairs (meaningful only for models whose scores are comparable across users, e.g. probabilities).
- **precision@L / recall@L**: rank each user's ``2m`` candidates by score; hits in the top ``L`` divided
  by ``min(L, 2m)`` (precision) or by ``m`` (recall); averaged over users. Lengths default to 5, 10, 20.

Ties in scores are broken by the item index (lower first) everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dancerec.errors import UserError

from .base import Recommender, TrainData


def labelled_pairs(
    test: pd.DataFrame,
    n_items: int,
    *,
    positive_threshold: float = 4.0,
    negative_threshold: float = 2.0,
    fill_unobserved: bool = False,
    exclude: dict[int, np.ndarray] | None = None,
    seed: int = 42,
) -> pd.DataFrame:
    """Balanced ``user, item, label`` rows from test interactions with a ``score`` column."""
    for col in ("user", "item", "score"):
        if col not in test.columns:
            raise UserError(f"paper protocol: the test interactions lack the column {col!r}")
    rng = np.random.default_rng([seed, 31337])
    out = []
    frame = test.sort_values(["user", "item"], kind="stable")
    for u, g in frame.groupby("user", sort=True):
        items, scores = g["item"].to_numpy(np.int64), g["score"].to_numpy(float)
        pos, neg = items[scores >= positive_threshold], items[scores < negative_threshold]
        if fill_unobserved and len(neg) < len(pos):
            seen = np.zeros(n_items, dtype=bool)
            seen[items] = True
            if exclude is not None and int(u) in exclude:
                seen[exclude[int(u)]] = True
            pool = np.flatnonzero(~seen)
            extra = rng.choice(pool, size=min(len(pos) - len(neg), len(pool)), replace=False)
            neg = np.concatenate([neg, np.sort(extra)])
        m = min(len(pos), len(neg))
        if m == 0:
            continue
        pos = np.sort(rng.choice(pos, size=m, replace=False))
        neg = np.sort(rng.choice(neg, size=m, replace=False))
        out.append(
            pd.DataFrame({"user": int(u), "item": np.concatenate([pos, neg]), "label": [1] * m + [0] * m})
        )
    if not out:
        return pd.DataFrame({"user": [], "item": [], "label": []}, dtype=np.int64)
    return pd.concat(out, ignore_index=True)


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC with ties counted one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def pair_metrics(pairs: pd.DataFrame, lengths: Sequence[int] = (5, 10, 20)) -> pd.DataFrame:
    """The paper-protocol metrics from ``user, item, label, score`` rows (module docstring)."""
    rows: dict[str, list[float]] = {"accuracy": [], "auc": []}
    for k in lengths:
        rows[f"precision@{k}"], rows[f"recall@{k}"] = [], []
    correct = total = 0
    for _, g in pairs.sort_values(["user", "item"], kind="stable").groupby("user", sort=True):
        s, y = g["score"].to_numpy(float), g["label"].to_numpy(int)
        order = np.argsort(-s, kind="stable")  # ties: lower item first (rows sorted by item)
        ranked = y[order]
        m = int(y.sum())
        called = np.zeros(len(y), dtype=int)
        called[order[:m]] = 1
        correct += int((called == y).sum())
        total += len(y)
        rows["auc"].append(_auc(s, y))
        for k in lengths:
            hits = int(ranked[:k].sum())
            rows[f"precision@{k}"].append(hits / min(k, len(y)))
            rows[f"recall@{k}"].append(hits / m)
    n_users = pairs["user"].nunique()
    records = [("accuracy", None, correct / total if total else float("nan"))]
    records.append(("auc", None, float(np.nanmean(rows["auc"])) if rows["auc"] else float("nan")))
    records.append(("auc_pooled", None, _auc(pairs["score"].to_numpy(float), pairs["label"].to_numpy(int))))
    for k in lengths:
        for name in ("precision", "recall"):
            vals = rows[f"{name}@{k}"]
            records.append((name, k, float(np.mean(vals)) if vals else float("nan")))
    frame = pd.DataFrame(records, columns=["metric", "k", "value"])
    frame["k"] = frame["k"].astype("Int64")
    frame["n_users"] = n_users
    frame["n_pairs"] = len(pairs)
    return frame


def paper_protocol(
    model: Recommender,
    train: TrainData,
    test: pd.DataFrame,
    *,
    lengths: Sequence[int] = (5, 10, 20),
    positive_threshold: float = 4.0,
    negative_threshold: float = 2.0,
    fill_unobserved: bool = False,
    seed: int = 42,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Evaluate a fitted ``model`` by the paper's protocol on ``test`` (``user, item, score`` rows).

    Returns a tidy DataFrame ``metric, k, value, n_users, n_pairs`` (``k`` empty for accuracy/AUC).
    ``train`` gives the item count and, with ``fill_unobserved``, the items a user already has.
    """
    exclude = None
    if fill_unobserved:
        m = train.matrix.tocsr()
        exclude = {u: m.indices[m.indptr[u] : m.indptr[u + 1]] for u in range(m.shape[0])}
    pairs = labelled_pairs(
        test,
        train.n_items,
        positive_threshold=positive_threshold,
        negative_threshold=negative_threshold,
        fill_unobserved=fill_unobserved,
        exclude=exclude,
        seed=seed,
    )
    if pairs.empty:
        raise UserError(
            "paper protocol: no test user has both a positive (score >= "
            f"{positive_threshold}) and a negative (score < {negative_threshold}) interaction"
        )
    users = np.unique(pairs["user"].to_numpy(np.int64))
    where = np.searchsorted(users, pairs["user"].to_numpy(np.int64))
    scores = np.empty(len(pairs), dtype=np.float64)
    items = pairs["item"].to_numpy(np.int64)
    for lo in range(0, len(users), batch_size):
        block = np.asarray(model.score(users[lo : lo + batch_size]), dtype=np.float64)
        sel = (where >= lo) & (where < lo + batch_size)
        scores[sel] = block[where[sel] - lo, items[sel]]
    return pair_metrics(pairs.assign(score=scores), lengths)
