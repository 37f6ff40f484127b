"""Experiments around the relation model: the paper's tuning sweep and the cold-start slices.

- :func:`sweep` reproduces the paper's tuning figures (hidden size, learning rate, batch size), one
  parameter at a time around the defaults (the paper's figures vary one at a time) or as a full grid,
  scored by precision/recall@K. By default it scores on a validation split carved out of the training
  data (``splits.holdout``), never on the test set; ``on_test=True`` reproduces the paper's figures on
  the test split and is labelled so.
- :func:`zero_shot_items` and :func:`few_shot_users` build the two cold-start slices from a split and
  evaluate any registered models on them with the harness's full-ranking ``evaluate``.

Zero-shot items: a seeded share of the catalogue is made *new*: all of its training interactions are
removed (models see only the items' features), and each model ranks those new items only (the other
items are excluded, so a model that cannot score new items is at chance level); the relevant items are
the user's train and test interactions with them.

Few-shot users: a seeded share of the evaluated users keep only 1–5 of their training items (the number
drawn uniformly per user); their test items are unchanged. Metrics are reported per number of kept items.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from dancerec.errors import UserError

from .base import FitProgress, Recommender, TrainData
from .evaluate import evaluate
from .registry import make_model
from .splits import Split, holdout

PAPER_GRID: dict[str, list] = {
    "hidden": [32, 64, 128, 256],
    "lr": [0.001, 0.01, 0.1, 0.5],
    "batch_size": [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
}


def _with_interactions(data: TrainData, frame: pd.DataFrame) -> TrainData:
    frame = frame.reset_index(drop=True)
    matrix = sp.csr_matrix(
        (
            frame["score"].to_numpy(np.float32),
            (frame["user"].to_numpy(np.int64), frame["item"].to_numpy(np.int64)),
        ),
        shape=data.matrix.shape,
    )
    return TrainData(
        matrix, frame, data.user_ids, data.item_ids, data.user_features, data.item_features, data.seed
    )


# ----- the tuning sweep ----------------------------------------------------------------------------------


def sweep_configs(grid: Mapping[str, Sequence], base: Mapping, mode: str = "one-at-a-time") -> list[dict]:
    """Parameter sets: each grid value with the others at ``base`` (``one-at-a-time``) or the product."""
    if mode == "grid":
        keys = list(grid)
        return [
            {**base, **dict(zip(keys, combo, strict=True))} for combo in itertools.product(*grid.values())
        ]
    if mode != "one-at-a-time":
        raise UserError(f"sweep mode must be 'one-at-a-time' or 'grid', not {mode!r}")
    out: list[dict] = []
    for key, values in grid.items():
        for value in values:
            cfg = {**base, key: value}
            if cfg not in out:
                out.append(cfg)
    return out


def sweep(
    data: Split | TrainData,
    grid: Mapping[str, Sequence] | None = None,
    *,
    base: Mapping | None = None,
    mode: str = "one-at-a-time",
    k: int = 10,
    on_test: bool = False,
    validation_frac: float = 0.2,
    progress: Callable[[int, int, dict], None] | None = None,
) -> pd.DataFrame:
    """Fit the relation model for each parameter set; one row per set with precision/recall@``k``.

    ``data`` is a :class:`Split` (its train part is used, the test part only with ``on_test``) or the
    training data alone. Rows: the swept parameters, ``precision``, ``recall``, ``ndcg``, ``train_s``,
    ``epochs_run``, ``scored_on`` (``validation`` or ``test``).
    """
    grid = dict(PAPER_GRID if grid is None else grid)
    base = dict(base or {})
    train = data.train if isinstance(data, Split) else data
    if on_test:
        if not isinstance(data, Split):
            raise UserError("sweeping on the test set needs a split with a test part")
        fit_data, score_data, scored_on = train, data.test, "test"
    else:
        val = holdout(train, "random", test_frac=validation_frac, seed=train.seed)
        fit_data, score_data, scored_on = val.train, val.test, "validation"
    configs = sweep_configs(grid, base, mode)
    rows = []
    for n, cfg in enumerate(configs):
        if progress is not None:
            progress(n, len(configs), cfg)
        model = make_model("relation", **cfg)
        started = time.perf_counter()
        model.fit(fit_data)
        train_s = time.perf_counter() - started
        ev = evaluate(model, fit_data, score_data, (k,), curve_max_k=k, n_bootstrap=0, model_name="relation")
        rows.append(
            {
                **{key: cfg.get(key, model.get_params()[key]) for key in grid},
                "precision": ev.mean("precision", k),
                "recall": ev.mean("recall", k),
                "ndcg": ev.mean("ndcg", k),
                "train_s": train_s,
                "epochs_run": len(model.training_log),
                "scored_on": scored_on,
                "k": k,
            }
        )
    if progress is not None:
        progress(len(configs), len(configs), {})
    return pd.DataFrame(rows)


def plot_sweep(result: pd.DataFrame, path: str | Path, base: Mapping | None = None) -> Path:
    """One panel per swept parameter (others at their base values): precision and recall@K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [c for c in ("hidden", "lr", "batch_size") if c in result.columns]
    params += [
        c
        for c in result.columns
        if c not in params
        and c not in ("precision", "recall", "ndcg", "train_s", "epochs_run", "scored_on", "k")
    ]
    fig, axes = plt.subplots(1, len(params), figsize=(4.2 * len(params), 3.4), squeeze=False)
    k = int(result["k"].iloc[0])
    for ax, param in zip(axes[0], params, strict=True):
        frame = result
        for other in params:
            if other != param and base and other in base:
                frame = frame[frame[other] == base[other]]
        frame = frame.sort_values(param)
        x = np.arange(len(frame))
        ax.plot(x, frame["precision"], marker="o", label=f"precision@{k}")
        ax.plot(x, frame["recall"], marker="s", label=f"recall@{k}")
        ax.set_xticks(x, [f"{v:g}" for v in frame[param]], rotation=45 if len(x) > 5 else 0)
        ax.set_xlabel(param)
        ax.grid(alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"relation model sweep (scored on {result['scored_on'].iloc[0]})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# ----- cold start ------------------------------------------------------------------------------------------


class OnlyItems(Recommender):
    """Wraps a fitted model so that only ``items`` can be recommended (others score −inf)."""

    def __init__(self, model: Recommender, items: np.ndarray, n_items: int) -> None:
        self.model = model
        self.items = np.asarray(items, dtype=np.int64)
        self.n_items = n_items

    @property
    def name(self) -> str:  # type: ignore[override]
        return getattr(self.model, "name", type(self.model).__name__)

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> OnlyItems:
        self.model.fit(train, progress=progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        if hasattr(self.model, "score_items"):
            out[:, self.items] = self.model.score_items(users, self.items)
        else:
            out[:, self.items] = np.asarray(self.model.score(users), dtype=np.float32)[:, self.items]
        return out

    def get_params(self) -> dict:
        return self.model.get_params()


@dataclass
class ColdStartResult:
    """Per-model summaries of one cold-start slice and the per-user metrics behind them."""

    slice: str
    summary: pd.DataFrame  # model, [group], metric, k, mean
    per_user: dict[str, pd.DataFrame]
    info: dict


def _fit(name: str, params: Mapping, train: TrainData) -> tuple[Recommender, float]:
    model = make_model(name, **dict(params))
    started = time.perf_counter()
    model.fit(train)
    return model, time.perf_counter() - started


def zero_shot_items(
    split: Split,
    models: Mapping[str, Mapping],
    *,
    share: float = 0.1,
    k_list: Sequence[int] = (10, 20),
    seed: int = 42,
) -> ColdStartResult:
    """Make ``share`` of the items new (no training interactions) and rank only those for each user."""
    if not 0 < share < 1:
        raise UserError(f"the share of new items must be between 0 and 1, got {share}")
    train, test = split.train, split.test
    rng = np.random.default_rng([seed, 31337])
    seen = np.flatnonzero(np.asarray((train.matrix != 0).sum(axis=0)).ravel() > 0)
    new = np.sort(rng.choice(seen, size=max(1, round(share * len(seen))), replace=False))
    is_new = np.zeros(train.n_items, dtype=bool)
    is_new[new] = True
    tr = train.interactions
    keep = ~is_new[tr["item"].to_numpy(np.int64)]
    train_warm = _with_interactions(train, tr[keep])
    moved = pd.concat([tr[~keep], test.interactions[is_new[test.interactions["item"].to_numpy(np.int64)]]])
    # relevant: interactions with new items of users who still have training items
    has_train = np.diff(train_warm.matrix.indptr) > 0
    moved = moved[has_train[moved["user"].to_numpy(np.int64)]].drop_duplicates(["user", "item"])
    if moved.empty:
        raise UserError("no user interacted with the new items; use a larger share")
    test_new = _with_interactions(test, moved)
    summary, per_user = [], {}
    for name, params in models.items():
        model, train_s = _fit(name, params, train_warm)
        model_n = OnlyItems(model, new, train.n_items)
        ev = evaluate(
            model_n, train_warm, test_new, k_list, curve_max_k=max(k_list), n_bootstrap=200, model_name=name
        )
        per_user[name] = ev.per_user
        for row in ev.summary.itertuples():
            if row.metric in ("precision", "recall", "ndcg", "hit_rate"):
                summary.append(
                    {"model": name, "metric": row.metric, "k": row.k, "mean": row.mean, "train_s": train_s}
                )
    info = {
        "n_new_items": len(new),
        "n_candidates": len(new),
        "n_users": int(test_new.matrix.getnnz(axis=1).astype(bool).sum()),
        "n_relevant": int(test_new.matrix.nnz),
        "chance_recall": {int(k): min(1.0, k / len(new)) for k in k_list},
    }
    return ColdStartResult("zero-shot items", pd.DataFrame(summary), per_user, info)


def few_shot_users(
    split: Split,
    models: Mapping[str, Mapping],
    *,
    share: float = 0.3,
    max_items: int = 5,
    k_list: Sequence[int] = (10, 20),
    seed: int = 42,
) -> ColdStartResult:
    """A share of the evaluated users keep only 1..``max_items`` training items; metrics per count."""
    train, test = split.train, split.test
    rng = np.random.default_rng([seed, 27182])
    evaluated = split.test_users
    deg = np.diff(train.matrix.indptr)
    candidates = evaluated[deg[evaluated] > max_items]
    if len(candidates) == 0:
        raise UserError(f"no evaluated user has more than {max_items} training items to thin out")
    chosen = np.sort(rng.choice(candidates, size=max(1, round(share * len(candidates))), replace=False))
    keep_n = dict(
        zip(chosen.tolist(), rng.integers(1, max_items + 1, size=len(chosen)).tolist(), strict=True)
    )
    tr = train.interactions.reset_index(drop=True)
    order = rng.permutation(len(tr))
    shuffled = tr.iloc[order]
    rank = shuffled.groupby("user").cumcount().to_numpy()
    limit = shuffled["user"].map(keep_n).to_numpy(dtype=float)
    drop = np.isfinite(limit) & (rank >= np.nan_to_num(limit, nan=np.inf))
    thinned = _with_interactions(train, shuffled[~drop].sort_index())
    is_chosen = np.zeros(train.n_users, dtype=bool)
    is_chosen[chosen] = True
    test_few = _with_interactions(
        test, test.interactions[is_chosen[test.interactions["user"].to_numpy(np.int64)]]
    )
    summary, per_user = [], {}
    for name, params in models.items():
        model, train_s = _fit(name, params, thinned)
        ev = evaluate(
            model, thinned, test_few, k_list, curve_max_k=max(k_list), n_bootstrap=200, model_name=name
        )
        per_user[name] = ev.per_user
        frame = ev.per_user
        for n_items, grp in frame.groupby("n_train_items"):
            for metric in ("precision", "recall", "ndcg", "hit_rate"):
                for k in k_list:
                    summary.append(
                        {
                            "model": name,
                            "n_train_items": int(n_items),
                            "n_users": len(grp),
                            "metric": metric,
                            "k": k,
                            "mean": float(grp[f"{metric}@{k}"].mean()),
                            "train_s": train_s,
                        }
                    )
    info = {"n_users": len(chosen), "max_items": max_items}
    return ColdStartResult("few-shot users", pd.DataFrame(summary), per_user, info)
