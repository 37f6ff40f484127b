"""Group level: each group's run's offline metrics beside the group's perceived quality.

This is where the *between-group* association lives (groups saw different recommenders and may
answer differently): the group tests per dimension and the rank correlations across group means,
each a family with raw and adjusted p.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dancerec.indices.linkage._common import (
    DEFAULT_K,
    DEFAULT_METRICS,
    FEW_GROUPS,
    SUMMARY_ONLY_METRICS,
    metric_column,
)
from dancerec.indices.linkage.join import GroupRun
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA, add_adjusted
from scipy import stats

from dancerec.errors import UserError

TEST_COLUMNS = ["dimension", "test", "statistic", "df1", "df2", "p", "eta2", "omega2"]


@dataclass
class GroupLevelResult:
    """Offline metrics and perceived quality per group, the group tests and cross-group correlations."""

    table: (
        pd.DataFrame
    )  # one row per group: group, run_id, model, n, metric@K (+ CIs), dimension means (+ CIs)
    metrics: pd.DataFrame  # long: group, model, metric, k, mean, ci_low, ci_high
    dimensions: pd.DataFrame  # long: group, dimension, n, mean, sd, ci_low, ci_high
    tests: pd.DataFrame  # per dimension: test, statistic, df1, df2, p, effect size
    correlations: pd.DataFrame  # metric, dimension, n_groups, rho, p_exact
    n_groups: int
    caveat: str


def _mean_ci(values: pd.Series, level: float = 0.95) -> tuple[int, float, float, float, float]:
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def _exact_spearman_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided permutation p of Spearman's rho, exact over all orderings (used for ≤ 8 groups)."""
    rho = stats.spearmanr(x, y).statistic
    if not np.isfinite(rho):
        return math.nan
    count = total = 0
    for perm in itertools.permutations(range(len(y))):
        r = stats.spearmanr(x, y[list(perm)]).statistic
        count += bool(np.isfinite(r) and abs(r) >= abs(rho) - 1e-12)
        total += 1
    return count / total


def group_tests(
    scores: pd.DataFrame,
    dimensions: Sequence[str],
    group_col: str = "group",
    *,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """Per-dimension omnibus test of group differences (the indices subsystem's ``compare_groups``),
    adjusted across dimensions (family "group tests"). Empty with fewer than 2 groups."""
    from dancerec.indices.groups import compare_groups

    dims = [d for d in dimensions if d in scores]
    try:
        result = compare_groups(scores[dims], scores[group_col])
    except UserError:  # fewer than 2 groups: nothing to test (the group table still shows the means)
        return add_adjusted(pd.DataFrame(columns=TEST_COLUMNS), "group tests", adjust=adjust, alpha=alpha)
    tests = result.tests[[c for c in TEST_COLUMNS if c in result.tests]]
    return add_adjusted(tests, "group tests", adjust=adjust, alpha=alpha)


def _group_row(
    group: str, run: GroupRun | None, members: pd.DataFrame, dimensions: Sequence[str], metrics, k: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One group's table row (metrics with CIs, dimension means with CIs) and its long-form rows."""
    row: dict[str, Any] = {
        "group": group,
        "run_id": run.run_id if run else None,
        "model": run.model if run else None,
    }
    row["n"] = len(members)
    metric_rows, dim_rows = [], []
    if run is not None and not run.summary.empty:
        summary = run.summary[run.summary["k"].isna() | (run.summary["k"] == k)]
        for metric in metrics:
            hit = summary[summary["metric"] == metric]
            if hit.empty:
                continue
            rec = hit.iloc[0]
            col = metric_column(metric, k) if pd.notna(rec["k"]) else metric
            vals = {
                c: float(rec[c]) if c in rec and pd.notna(rec[c]) else math.nan
                for c in ("mean", "ci_low", "ci_high")
            }
            row[col], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = (
                vals["mean"],
                vals["ci_low"],
                vals["ci_high"],
            )
            metric_rows.append({"group": group, "model": run.model, "metric": col, **vals})
    for dim in dimensions:
        n, mean, sd, lo, hi = _mean_ci(members[dim]) if dim in members else (0, *(math.nan,) * 4)
        row[dim], row[f"{dim}_ci_low"], row[f"{dim}_ci_high"] = mean, lo, hi
        dim_rows.append(
            {"group": group, "dimension": dim, "n": n, "mean": mean, "sd": sd, "ci_low": lo, "ci_high": hi}
        )
    return row, metric_rows, dim_rows


def group_correlations(
    table: pd.DataFrame, metrics: Sequence[str], dimensions: Sequence[str], *, adjust: str = "holm"
) -> pd.DataFrame:
    """Spearman's rho across group means for every metric x dimension (exact permutation p for <= 8
    groups), adjusted over the whole metric x dimension family ("group-level rank correlations")."""
    rows = []
    for metric in metrics:
        for dim in dimensions:
            pair = table[[metric, dim]].dropna() if {metric, dim} <= set(table.columns) else None
            n = 0 if pair is None else len(pair)
            rho = p = math.nan
            if n >= 3 and pair[metric].nunique() > 1 and pair[dim].nunique() > 1:
                x, y = pair[metric].to_numpy(float), pair[dim].to_numpy(float)
                rho = float(stats.spearmanr(x, y).statistic)
                p = _exact_spearman_p(x, y) if n <= 8 else float(stats.spearmanr(x, y).pvalue)
            rows.append({"metric": metric, "dimension": dim, "n_groups": n, "rho": rho, "p": p})
    frame = pd.DataFrame(rows, columns=["metric", "dimension", "n_groups", "rho", "p"])
    return add_adjusted(frame, "group-level rank correlations", adjust=adjust)


def group_level(
    scores: pd.DataFrame,
    runs: Mapping[str, GroupRun],
    dimensions: Sequence[str],
    *,
    k: int = DEFAULT_K,
    metrics: Sequence[str] = DEFAULT_METRICS + SUMMARY_ONLY_METRICS,
    group_col: str = "group",
    adjust: str = "holm",
) -> GroupLevelResult:
    """Group table, group tests per dimension and cross-group rank correlations (each family adjusted).

    ``scores``: index respondent_id, a ``group`` column and one column per dimension. ``runs``: the run
    each group saw. Groups without a run still get their dimension means (metrics empty).
    """
    groups = sorted(set(scores[group_col].dropna().astype(str)) | set(runs))
    table_rows, metric_rows, dim_rows = [], [], []
    for group in groups:
        members = scores[scores[group_col].astype(str) == group]
        row, m_rows, d_rows = _group_row(group, runs.get(group), members, dimensions, metrics, k)
        table_rows.append(row)
        metric_rows += m_rows
        dim_rows += d_rows
    table = pd.DataFrame(table_rows)
    metrics_long = pd.DataFrame(
        metric_rows, columns=["group", "model", "metric", "mean", "ci_low", "ci_high"]
    )
    dims_long = pd.DataFrame(dim_rows, columns=["group", "dimension", "n", "mean", "sd", "ci_low", "ci_high"])
    linked = table.dropna(subset=["run_id"]) if "run_id" in table else table.iloc[0:0]
    metric_cols = list(dict.fromkeys(metrics_long["metric"]))
    return GroupLevelResult(
        table=table,
        metrics=metrics_long,
        dimensions=dims_long,
        tests=group_tests(scores, dimensions, group_col, adjust=adjust),
        correlations=group_correlations(linked, metric_cols, dimensions, adjust=adjust),
        n_groups=len(linked),
        caveat=few_groups_caveat(len(linked)),
    )


def few_groups_caveat(n_groups: int) -> str:
    """The honest reading of a correlation across ``n_groups`` points."""
    if n_groups < 3:
        return (
            f"Only {n_groups} group(s) are linked to a recommender run: no rank correlation across groups "
            "can be computed. Read the group table descriptively."
        )
    smallest = 2 / math.factorial(n_groups) if n_groups <= 8 else math.nan
    text = (
        f"Only {n_groups} groups: each cross-group correlation rests on {n_groups} points, so it is "
        "descriptive, not evidence."
    )
    if n_groups < FEW_GROUPS:
        text += (
            f" With {n_groups} groups the smallest attainable two-sided exact p is {smallest:.3f}, so no "
            "correlation across groups can be significant at .05; the user-level analysis is the test."
        )
    elif n_groups <= 8:
        text += f" (Exact permutation p-values; the smallest attainable is {smallest:.4f}.)"
    return text
