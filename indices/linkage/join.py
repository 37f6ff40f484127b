"""Joining respondents to the per-user metrics of the run their group saw, counting every failed link."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dancerec.indices.linkage._common import DEFAULT_K, DEFAULT_METRICS, metric_column


@dataclass
class GroupRun:
    """What the linkage needs of one evaluation run (duck-typed from the recommender's EvaluationRun)."""

    run_id: str
    model: str
    summary: pd.DataFrame  # metric, k, mean, ci_low, ci_high
    per_user: pd.DataFrame  # user_id, n_test_items, metric@K columns

    @classmethod
    def from_run(cls, run: Any) -> GroupRun:
        summary = run.summary if run.summary is not None else pd.DataFrame()
        coverage = getattr(run, "coverage", None) or {}
        if coverage and ("metric" not in summary or not (summary["metric"] == "coverage").any()):
            extra = pd.DataFrame(
                [{"metric": "coverage", "k": int(k), "mean": float(v)} for k, v in coverage.items()]
            )
            summary = pd.concat([summary, extra], ignore_index=True) if len(summary) else extra
        return cls(
            run_id=str(run.run_id),
            model=str(run.model),
            summary=summary,
            per_user=run.per_user if run.per_user is not None else pd.DataFrame(columns=["user_id"]),
        )


@dataclass
class MissingLinks:
    """Every respondent, user and group that could not be linked, by reason (nothing dropped silently)."""

    n_respondents: int = 0
    n_linked: int = 0
    no_group: int = 0
    group_without_run: dict[str, int] = field(default_factory=dict)
    no_user_id: int = 0
    user_without_metrics: int = 0
    too_few_test_items: int = 0
    no_scores: int = 0
    runs_without_respondents: list[str] = field(default_factory=list)
    id_matching: str = "raw"  # "raw" or "pseudonymised": how respondents' user ids met the log's ids

    def table(self) -> pd.DataFrame:
        """One row per reason with its count (the report's missing-link table)."""
        rows = [
            ("respondents", self.n_respondents),
            ("linked to a user with metrics", self.n_linked),
            ("no study group", self.no_group),
            ("group not mapped to a run", sum(self.group_without_run.values())),
            ("no user_id", self.no_user_id),
            ("user_id not in the run's per-user metrics", self.user_without_metrics),
            ("too few test items", self.too_few_test_items),
            ("no dimension scores", self.no_scores),
        ]
        out = pd.DataFrame(rows, columns=["reason", "n"])
        if self.group_without_run:
            detail = ", ".join(f"{g} ({n})" for g, n in sorted(self.group_without_run.items()))
            out.loc[out["reason"] == "group not mapped to a run", "reason"] += f": {detail}"
        if self.runs_without_respondents:
            out.loc[len(out)] = [
                "mapped groups with no respondents: " + ", ".join(self.runs_without_respondents),
                len(self.runs_without_respondents),
            ]
        return out


def _per_user_table(runs: Mapping[str, GroupRun], metric_cols: list[str]) -> pd.DataFrame:
    """Every run's per-user metrics stacked, tagged with the group that saw the run."""
    parts = []
    for group, run in runs.items():
        pu = run.per_user
        if pu is None or pu.empty:
            continue
        keep = ["user_id", *[c for c in ("n_test_items", *metric_cols) if c in pu.columns]]
        part = pu[keep].copy()
        part["user_id"] = part["user_id"].astype(str)
        part["group"] = str(group)
        part["model"] = run.model
        part["run_id"] = run.run_id
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["user_id", "group", "model", "run_id"])
    return pd.concat(parts, ignore_index=True)


def join_users(
    respondents: pd.DataFrame,
    scores: pd.DataFrame,
    runs: Mapping[str, GroupRun],
    dimensions: Sequence[str],
    *,
    k: int = DEFAULT_K,
    metrics: Sequence[str] = DEFAULT_METRICS,
    pseudonymise: Callable[[str], str] | None = None,
    min_test_items: int = 1,
    group_col: str = "group",
) -> tuple[pd.DataFrame, MissingLinks]:
    """Per-user table: each respondent's dimension scores beside the per-user metrics of their group's run.

    ``respondents``: index respondent_id with ``group`` and ``user_id`` (NA when not linked). When
    ``pseudonymise`` is given and the respondents' ids match the log's ids better after hashing them,
    the hashed ids are used (the survey may have stored pseudonymised user ids). Returns the joined
    table (index respondent_id; group, user_id, model, run_id, n_test_items, ``metric@K`` columns,
    dimension columns) and the count of every link that failed.
    """
    missing = MissingLinks(n_respondents=len(respondents))
    frame = respondents[[group_col, "user_id"]].join(
        scores[[d for d in dimensions if d in scores]], how="left"
    )
    frame = frame.rename(columns={group_col: "group"})
    has_group = frame["group"].notna()
    missing.no_group = int((~has_group).sum())
    frame = frame[has_group].copy()
    frame["group"] = frame["group"].astype(str)
    mapped = frame["group"].isin(list(runs))
    missing.group_without_run = {
        str(g): int(n) for g, n in frame.loc[~mapped, "group"].value_counts().items()
    }
    missing.runs_without_respondents = sorted(set(runs) - set(frame["group"]))
    frame = frame[mapped]
    has_user = frame["user_id"].notna() & (frame["user_id"].astype(str).str.strip() != "")
    missing.no_user_id = int((~has_user).sum())
    frame = frame[has_user].copy()
    frame["user_id"] = frame["user_id"].astype(str)

    metric_cols = [metric_column(m, k) for m in metrics]
    per_user = _per_user_table(runs, metric_cols)

    if pseudonymise is not None and len(per_user):
        survey_ids = set(frame["user_id"])
        raw_hits = len(survey_ids & set(per_user["user_id"]))
        hashed = per_user["user_id"].map(pseudonymise)
        if len(survey_ids & set(hashed)) > raw_hits:
            per_user = per_user.assign(user_id=hashed)
            missing.id_matching = "pseudonymised"

    joined = (
        frame.reset_index()
        .merge(per_user, on=["group", "user_id"], how="left", indicator=True)
        .set_index(frame.index.name or "respondent_id")
    )
    found = joined["_merge"] == "both"
    missing.user_without_metrics = int((~found).sum())
    joined = joined[found].drop(columns="_merge")
    if "n_test_items" in joined.columns:
        enough = joined["n_test_items"].fillna(0) >= min_test_items
        missing.too_few_test_items = int((~enough).sum())
        joined = joined[enough]
    dim_present = [d for d in dimensions if d in joined.columns]
    scored = joined[dim_present].notna().any(axis=1) if dim_present else pd.Series(False, index=joined.index)
    missing.no_scores = int((~scored).sum())
    joined = joined[scored]
    missing.n_linked = len(joined)
    lead = ["group", "user_id", "model", "run_id", "n_test_items"]
    cols = [c for c in lead if c in joined.columns]
    cols += [c for c in metric_cols if c in joined.columns] + dim_present
    return joined[cols], missing
