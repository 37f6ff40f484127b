"""Hyper-parameter tuning on a validation split carved from the training part (never the test part).

Protocol (``dancerec recommender tune``): the training part of a split is split again per user, at random
and seeded (:func:`dancerec.recommender.splits.holdout`, ``val_frac`` of each user's items; users with
fewer than 5 items stay wholly in the fitting part). Each candidate is fitted on the rest and ranked by
validation NDCG@10 (full ranking, training items excluded, mean over validation users). The candidates
are the model's ``search_space`` (or ``--space``): the whole grid when it has at most ``budget`` points,
otherwise ``budget`` points drawn from it without replacement (seeded random search over the grid).
Ties go to the earlier trial. The chosen parameters, the split, budget, seed and every trial's
validation score are stored in the versioned table ``rec_tuning`` (one row per tuning; the latest for a
model and split is what ``evaluate --tuned`` uses). The final model is refitted on the whole training part.

Grid/random search is written here (a few lines) rather than through Optuna: the spaces are small
discrete grids, and the budget must mean "exactly N fits" for a fair comparison between models.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from dancerec.recommender.base import FitProgress, TrainData

from dancerec.errors import UserError

METRIC = "ndcg@10"


def plain(value: Any) -> Any:
    """Python numbers, strings and lists from numpy scalars and tuples (JSON- and message-safe)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


@dataclass
class Tuning:
    """The result of :func:`tune_model`: every trial and the chosen parameters."""

    model: str
    space: dict[str, list]
    fixed: dict[str, Any]
    budget: int
    strategy: str  # "grid" (all points) or "random" (budget points of the grid)
    seed: int
    val_frac: float
    n_val_users: int
    trials: pd.DataFrame  # trial, <param>..., ndcg@10, fit_s
    best_params: dict[str, Any]
    best_score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "space": {k: plain(v) for k, v in self.space.items()},
            "fixed": {k: plain(v) for k, v in self.fixed.items()},
            "budget": self.budget,
            "strategy": self.strategy,
            "seed": self.seed,
            "val_frac": self.val_frac,
            "n_val_users": self.n_val_users,
            "metric": METRIC,
            "best_params": {k: plain(v) for k, v in self.best_params.items()},
            "best_score": self.best_score,
            "trials": json.loads(self.trials.to_json(orient="records")),
        }


def candidates(space: Mapping[str, Sequence], budget: int, seed: int) -> tuple[list[dict[str, Any]], str]:
    """The points to try: the full grid when it fits in ``budget``, else a seeded sample of it."""
    if budget < 1:
        raise UserError(f"the tuning budget must be at least 1 trial, got {budget}")
    keys = list(space)
    grid = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(space[k] for k in keys))]
    if len(grid) <= budget:
        return grid, "grid"
    picks = np.random.default_rng(seed).choice(len(grid), size=budget, replace=False)
    return [grid[i] for i in picks], "random"


def parse_space(items: Sequence[str] | None, models: Sequence[str]) -> dict[str, dict[str, list]]:
    """``--space model.param=v1,v2,...`` into {model: {param: [values]}} (values parsed as JSON)."""
    out: dict[str, dict[str, list]] = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        model, _, param = key.strip().rpartition(".")
        if not sep or not model or not param or not values.strip():
            raise UserError(f"--space {item!r}: expected MODEL.PARAM=V1,V2,... e.g. ease.l2=10,100,1000")
        if model not in models:
            raise UserError(f"--space {item!r}: model {model!r} is not among {', '.join(models)}")
        out.setdefault(model, {})[param] = [_value(v) for v in values.split(",") if v.strip()]
    return out


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()


def tune_model(
    name: str,
    train: TrainData,
    *,
    space: Mapping[str, Sequence] | None = None,
    fixed: Mapping[str, Any] | None = None,
    budget: int = 10,
    val_frac: float = 0.2,
    seed: int = 42,
    progress: FitProgress | None = None,
) -> Tuning:
    """Search ``name``'s parameters on a validation split of ``train``; see the module docstring."""
    from dancerec.recommender.evaluate import evaluate
    from dancerec.recommender.experiment import fit_model
    from dancerec.recommender.registry import MODELS, make_model
    from dancerec.recommender.splits import holdout

    if name not in MODELS:
        raise UserError(f"unknown model {name!r}")
    space = dict(space if space is not None else MODELS[name].search_space)
    if not space:
        raise UserError(f"model {name!r} has no search space; give one with --space {name}.PARAM=V1,V2,...")
    fixed = dict(fixed or {})
    points, strategy = candidates(space, budget, seed)
    val = holdout(train, "random", test_frac=val_frac, min_user_items=5, seed=seed)
    n_val_users = len(val.test_users)
    if n_val_users == 0:
        raise UserError("no user has enough training items (5) to hold some out for validation")
    rows = []
    for i, point in enumerate(points):
        model = make_model(name, **{**fixed, **point})
        fit_s = fit_model(model, val.train)
        ev = evaluate(model, val.train, val.test, (10,), curve_max_k=10, n_bootstrap=0, model_name=name)
        rows.append(
            {
                "trial": i + 1,
                **{k: plain(v) for k, v in point.items()},
                METRIC: ev.mean("ndcg", 10),
                "fit_s": fit_s,
            }
        )
        if progress is not None:
            progress(i + 1, len(points), f"best {max(r[METRIC] for r in rows):.4f}")
    trials = pd.DataFrame(rows)
    best = int(np.nanargmax(trials[METRIC].to_numpy(float)))  # first of any ties
    return Tuning(
        model=name,
        space={k: list(v) for k, v in space.items()},
        fixed=fixed,
        budget=budget,
        strategy=strategy,
        seed=seed,
        val_frac=val_frac,
        n_val_users=n_val_users,
        trials=trials,
        best_params={**fixed, **points[best]},
        best_score=float(trials[METRIC].iloc[best]),
    )


# --------------------------------------------------------------------------------------------
# the study store
# --------------------------------------------------------------------------------------------
def record_tuning(study, tuning: Tuning, *, split: str) -> str:
    """Store a tuning as a new version in ``rec_tuning``; returns its id."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    tuning_id = f"tune-{tuning.model}-{stamp}-{secrets.token_hex(3)}"
    payload = tuning.to_dict()
    with study.transaction() as con:
        con.execute(
            "INSERT INTO rec_tuning VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                tuning_id,
                tuning.model,
                split,
                json.dumps(payload["best_params"], sort_keys=True),
                METRIC,
                tuning.best_score,
                tuning.budget,
                tuning.strategy,
                int(tuning.seed),
                float(tuning.val_frac),
                tuning.n_val_users,
                json.dumps(payload["space"], sort_keys=True),
                json.dumps(payload["trials"]),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
    return tuning_id


def list_tunings(study) -> pd.DataFrame:
    """Every stored tuning (all versions), oldest first."""
    with study.read() as con:
        return con.execute("SELECT * FROM rec_tuning ORDER BY created_at, tuning_id").df()


def tuned_params(study, model: str, split: str) -> dict[str, Any]:
    """The parameters the latest tuning of ``model`` on ``split`` chose (what ``evaluate --tuned`` uses)."""
    with study.read() as con:
        row = con.execute(
            "SELECT params FROM rec_tuning WHERE model = ? AND split = ? "
            "ORDER BY created_at DESC, tuning_id DESC LIMIT 1",
            [model, split],
        ).fetchone()
    if row is None:
        raise UserError(
            f"no tuning of {model!r} on split {split!r}; run "
            f"`dancerec recommender tune --split {split} --models {model}` first"
        )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(row[0]).items()}
