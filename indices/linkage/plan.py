"""Planting a known offline → perceived link into a simulated study (for the demo and the checks)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.linkage._common import DEFAULT_K, metric_column, standardise

_SURPRISE_PATTERNS = re.compile(r"surpris|serendip|unexpect|意外|惊喜", re.IGNORECASE)


def find_surprise_dimension(instrument: Any) -> str | None:
    """The dimension whose items ask about surprise/serendipity (by wording or cited source), or None."""
    counts: dict[str, int] = {}
    for item in getattr(instrument, "items", []):
        if getattr(item, "attention_check", False):
            continue
        text = " ".join(str(getattr(item, attr, "") or "") for attr in ("id", "text_en", "text_zh", "source"))
        if _SURPRISE_PATTERNS.search(text):
            counts[item.dimension] = counts.get(item.dimension, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda d: counts[d])


def _eligible(
    tables: Mapping[str, pd.DataFrame], acc_col: str, min_test_items: int
) -> dict[str, pd.DataFrame]:
    """Per group: the users (index) with the accuracy metric and enough test items."""
    eligible: dict[str, pd.DataFrame] = {}
    for group, table in tables.items():
        if acc_col not in table.columns:
            raise ValueError(f"group {group!r}: per-user metrics have no {acc_col!r} column")
        frame = table.copy()
        frame["user_id"] = frame["user_id"].astype(str)
        frame = frame.drop_duplicates("user_id").set_index("user_id")
        if "n_test_items" in frame.columns:
            frame = frame[frame["n_test_items"].fillna(0) >= min_test_items]
        eligible[str(group)] = frame[frame[acc_col].notna()]
    return eligible


def plan_linked_respondents(
    per_user_metrics_by_group: Mapping[str, pd.DataFrame],
    *,
    n_per_group: int | None = None,
    effect: float = 0.5,
    surprise_effect: float | None = None,
    k: int = DEFAULT_K,
    accuracy_metric: str = "recall",
    surprise_metric: str = "serendipity",
    usefulness_dimension: str = "usefulness",
    surprise_dimension: str | None = "content",
    min_test_items: int = 1,
    seed: int = 0,
    id_prefix: str = "R",
) -> pd.DataFrame:
    """The respondent plan of a simulated study with a planted offline → perceived link.

    Each group is assigned distinct users of the interaction log who have per-user metrics in the run that
    group saw. Every respondent's latent usefulness is shifted by ``effect`` × their standardised
    ``recall@K`` and the surprise dimension by ``surprise_effect`` × their standardised
    ``serendipity@K`` (standardised over all planned respondents together, so groups whose recommender
    has higher recall also get a higher mean usefulness). ``effect=0`` (and ``surprise_effect=0``) is the
    switch that turns the link off.

    Returns a DataFrame indexed by ``respondent_id`` with columns ``group``, ``user_id`` and one
    latent-shift column per dimension touched (pass ``plan[["group", "user_id"]]`` as ``respondents``
    and ``plan.drop(columns=["group", "user_id"])`` as ``latent_shift`` to
    :func:`dancerec.survey.simulate.simulate_responses`).
    """
    if not per_user_metrics_by_group:
        raise ValueError("plan_linked_respondents needs at least one group's per-user metrics")
    surprise_effect = effect if surprise_effect is None else surprise_effect
    acc_col = metric_column(accuracy_metric, k)
    sur_col = metric_column(surprise_metric, k)
    rng = np.random.default_rng(seed)

    eligible = _eligible(per_user_metrics_by_group, acc_col, min_test_items)

    all_users = sorted(set().union(*(set(t.index) for t in eligible.values())))
    order = {u: i for i, u in enumerate(rng.permutation(np.asarray(all_users, dtype=object)))}
    if n_per_group is None:
        n_per_group = max(1, min(200, len(all_users) // len(eligible)))

    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    for group, frame in eligible.items():
        candidates = sorted((u for u in frame.index if u not in used), key=order.__getitem__)
        chosen = candidates[:n_per_group]
        if len(chosen) < n_per_group:
            raise ValueError(
                f"group {group!r}: only {len(chosen)} unused users with metrics, {n_per_group} requested"
            )
        used.update(chosen)
        for user in chosen:
            rows.append(
                {
                    "group": group,
                    "user_id": user,
                    "_acc": float(frame.at[user, acc_col]),
                    "_sur": float(frame.at[user, sur_col]) if sur_col in frame.columns else np.nan,
                }
            )
    plan = pd.DataFrame(rows)
    width = len(str(len(plan)))
    plan.index = pd.Index([f"{id_prefix}{i + 1:0{width}d}" for i in range(len(plan))], name="respondent_id")
    plan[usefulness_dimension] = effect * standardise(plan["_acc"])
    if surprise_dimension is not None:
        shift = surprise_effect * standardise(plan["_sur"].fillna(plan["_sur"].mean()))
        if surprise_dimension == usefulness_dimension:
            plan[usefulness_dimension] += shift
        else:
            plan[surprise_dimension] = shift
    return plan.drop(columns=["_acc", "_sur"])
