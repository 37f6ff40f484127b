"""Linking offline recommender metrics to perceived quality (the reason dancerec exists).

Three levels, following the user-experience framework of Knijnenburg et al. (2012, UMUAI 22):

* **group level** — each study group saw one recommender run: its offline metrics beside the group's
  mean perceived-quality scores, and a rank correlation across groups. With only as many points as
  groups this is descriptive; :func:`group_level` states the smallest p-value the design can reach.
* **user level** — each respondent linked to a ``user_id`` of the interaction log gets the per-user
  offline metrics of the run their group saw: Spearman correlations with bootstrap CIs and Holm-adjusted
  p (:func:`user_correlations`), a regression per dimension with the group as a random effect
  (:func:`user_regressions`), and an SEM in which the objective metrics are observed exogenous
  variables predicting the latent perceived-quality dimensions (:func:`metrics_sem`).
* **missing links** — respondents without a user, users without metrics, groups without a run — are
  counted in :class:`MissingLinks`, never silently dropped.

:func:`plan_linked_respondents` builds the respondent plan that plants a known link into the simulated
study (better per-user recall → higher perceived usefulness; serendipity → surprise), so the analysis can
be checked for recovering it — and for finding nothing when the link is switched off.

The pure statistics take DataFrames; :func:`link_study` gathers them from a study workspace through the
survey, recommender and indices subsystems' public functions.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:  # pragma: no cover
    from dancerec.workspace import Study

#: offline metrics looked for at cut-off K in per-user tables and run summaries (``name@K`` columns)
DEFAULT_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "novelty", "serendipity", "diversity")
#: summary-only metrics (no per-user value) shown in the group table
SUMMARY_ONLY_METRICS: tuple[str, ...] = ("coverage",)
#: predictors of the per-dimension regressions and the SEM (precision and NDCG are near-collinear with
#: recall, so only recall stands for accuracy)
DEFAULT_PREDICTORS: tuple[str, ...] = ("recall", "novelty", "serendipity")
DEFAULT_K = 10
FEW_GROUPS = 5  # below this many groups the cross-group correlation cannot be significant at .05

_SURPRISE_PATTERNS = re.compile(r"surpris|serendip|unexpect|意外|惊喜", re.IGNORECASE)


def metric_column(metric: str, k: int) -> str:
    """Name of a per-user metric column, e.g. ``recall@10``."""
    return f"{metric}@{k}"


def safe_name(column: str) -> str:
    """A variable name lavaan-style syntax and formulas accept (``recall@10`` → ``recall_at_10``)."""
    name = re.sub(r"\W+", "_", column.replace("@", "_at_")).strip("_")
    return name if not name[:1].isdigit() else f"v_{name}"


# ----------------------------------------------------------------------------------------------
# planting the link (for the simulated study)
# ----------------------------------------------------------------------------------------------
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


def _standardise(values: pd.Series) -> pd.Series:
    values = values.astype(float)
    sd = values.std(ddof=0)
    if not np.isfinite(sd) or sd == 0:
        return pd.Series(0.0, index=values.index)
    return (values - values.mean()) / sd


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

    eligible: dict[str, pd.DataFrame] = {}
    for group, table in per_user_metrics_by_group.items():
        if acc_col not in table.columns:
            raise ValueError(f"group {group!r}: per-user metrics have no {acc_col!r} column")
        frame = table.copy()
        frame["user_id"] = frame["user_id"].astype(str)
        frame = frame.drop_duplicates("user_id").set_index("user_id")
        if "n_test_items" in frame.columns:
            frame = frame[frame["n_test_items"].fillna(0) >= min_test_items]
        frame = frame[frame[acc_col].notna()]
        eligible[str(group)] = frame

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
    plan[usefulness_dimension] = effect * _standardise(plan["_acc"])
    if surprise_dimension is not None:
        shift = surprise_effect * _standardise(plan["_sur"].fillna(plan["_sur"].mean()))
        if surprise_dimension == usefulness_dimension:
            plan[usefulness_dimension] += shift
        else:
            plan[surprise_dimension] = shift
    return plan.drop(columns=["_acc", "_sur"])


# ----------------------------------------------------------------------------------------------
# inputs and accounting
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# group level
# ----------------------------------------------------------------------------------------------
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


def _group_tests(scores: pd.DataFrame, dimensions: Sequence[str], group_col: str) -> pd.DataFrame:
    """Per-dimension test of group differences: the indices subsystem's, else Welch's ANOVA."""
    try:
        from dancerec.indices.groups import compare_groups  # type: ignore[attr-defined]
    except ImportError:
        compare_groups = None
    if compare_groups is not None:
        from dancerec.errors import UserError

        try:
            return _tests_from_compare_groups(compare_groups(scores[list(dimensions)], scores[group_col]))
        except UserError:
            pass  # e.g. a group too small for its tests: Welch's ANOVA below, named in the table
    from statsmodels.stats.oneway import anova_oneway

    rows = []
    for dim in dimensions:
        data = scores[[dim, group_col]].dropna()
        if data[group_col].nunique() < 2 or data.groupby(group_col)[dim].count().min() < 2:
            continue
        res = anova_oneway(data[dim].to_numpy(float), data[group_col].to_numpy(), use_var="unequal")
        rows.append(
            {
                "dimension": dim,
                "test": "Welch ANOVA",
                "statistic": float(res.statistic),
                "df1": float(res.df_num),
                "df2": float(res.df_denom),
                "p": float(res.pvalue),
            }
        )
    return pd.DataFrame(rows, columns=["dimension", "test", "statistic", "df1", "df2", "p"])


def _tests_from_compare_groups(result: Any) -> pd.DataFrame:
    """Normalise the indices subsystem's group comparison to dimension, test, statistic, df1, df2, p."""
    frame = getattr(result, "tests", None)
    if frame is None and isinstance(result, pd.DataFrame):
        frame = result
    if frame is None:
        raise TypeError("unrecognised compare_groups result")
    frame = frame.reset_index() if "dimension" not in frame.columns else frame
    keep = {
        "dimension": "dimension",
        "test": "test",
        "statistic": "statistic",
        "df1": "df1",
        "df_num": "df1",
        "df2": "df2",
        "df_denom": "df2",
        "p": "p",
        "pvalue": "p",
        "p_value": "p",
        "eta2": "eta2",
        "eta_sq": "eta2",
        "omega2": "omega2",
        "omega_sq": "omega2",
    }
    out = frame.rename(columns={k: v for k, v in keep.items() if k in frame.columns})
    cols = [c for c in dict.fromkeys(keep.values()) if c in out.columns]
    if not {"dimension", "p"} <= set(cols):
        raise TypeError("compare_groups result lacks dimension/p")
    return out[cols].reset_index(drop=True)


def group_level(
    scores: pd.DataFrame,
    runs: Mapping[str, GroupRun],
    dimensions: Sequence[str],
    *,
    k: int = DEFAULT_K,
    metrics: Sequence[str] = DEFAULT_METRICS + SUMMARY_ONLY_METRICS,
    group_col: str = "group",
) -> GroupLevelResult:
    """Group table and cross-group rank correlations.

    ``scores``: index respondent_id, a ``group`` column and one column per dimension. ``runs``: the run
    each group saw. Groups without a run still get their dimension means (metrics empty).
    """
    groups = sorted(set(scores[group_col].dropna().astype(str)) | set(runs))
    metric_rows, dim_rows, table_rows = [], [], []
    for group in groups:
        run = runs.get(group)
        row: dict[str, Any] = {
            "group": group,
            "run_id": run.run_id if run else None,
            "model": run.model if run else None,
        }
        members = scores[scores[group_col].astype(str) == group]
        row["n"] = len(members)
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
                {
                    "group": group,
                    "dimension": dim,
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
        table_rows.append(row)
    table = pd.DataFrame(table_rows)
    metrics_long = pd.DataFrame(
        metric_rows, columns=["group", "model", "metric", "mean", "ci_low", "ci_high"]
    )
    dims_long = pd.DataFrame(dim_rows, columns=["group", "dimension", "n", "mean", "sd", "ci_low", "ci_high"])
    tests = _group_tests(scores, [d for d in dimensions if d in scores], group_col)

    corr_rows = []
    linked = table.dropna(subset=["run_id"]) if "run_id" in table else table.iloc[0:0]
    metric_cols = list(dict.fromkeys(metrics_long["metric"]))
    for metric in metric_cols:
        for dim in dimensions:
            pair = linked[[metric, dim]].dropna() if {metric, dim} <= set(linked.columns) else None
            n = 0 if pair is None else len(pair)
            rho = p = math.nan
            if n >= 3 and pair[metric].nunique() > 1 and pair[dim].nunique() > 1:
                x, y = pair[metric].to_numpy(float), pair[dim].to_numpy(float)
                rho = float(stats.spearmanr(x, y).statistic)
                p = _exact_spearman_p(x, y) if n <= 8 else float(stats.spearmanr(x, y).pvalue)
            corr_rows.append({"metric": metric, "dimension": dim, "n_groups": n, "rho": rho, "p": p})
    correlations = pd.DataFrame(corr_rows, columns=["metric", "dimension", "n_groups", "rho", "p"])
    n_groups = len(linked)
    return GroupLevelResult(
        table=table,
        metrics=metrics_long,
        dimensions=dims_long,
        tests=tests,
        correlations=correlations,
        n_groups=n_groups,
        caveat=few_groups_caveat(n_groups),
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


# ----------------------------------------------------------------------------------------------
# user level
# ----------------------------------------------------------------------------------------------
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
    per_user_parts = []
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
        per_user_parts.append(part)
    per_user = (
        pd.concat(per_user_parts, ignore_index=True)
        if per_user_parts
        else pd.DataFrame(columns=["user_id", "group", "model", "run_id"])
    )

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


def _spearman_vectorised(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (Pearson on average ranks — identical to scipy.stats.spearmanr).

    scipy.stats.spearmanr does not take batched resamples, and scipy.stats.bootstrap calls the statistic
    once per batch, so this small vectorised form keeps 1,000 resamples × 48 pairs to a second or two.
    """
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def user_correlations(
    joined: pd.DataFrame,
    metrics: Sequence[str],
    dimensions: Sequence[str],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Spearman's rho of each per-user metric with each dimension score.

    Percentile bootstrap CI (``n_boot`` paired resamples of respondents, seeded) and Holm-adjusted p over
    the whole metric × dimension family. Columns: metric, dimension, n, rho, ci_low, ci_high, p, p_holm.
    """
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(seed)
    rows = []
    for metric in metrics:
        for dim in dimensions:
            if metric not in joined or dim not in joined:
                continue
            pair = joined[[metric, dim]].dropna()
            n = len(pair)
            rho = lo = hi = p = math.nan
            x, y = pair[metric].to_numpy(float), pair[dim].to_numpy(float)
            if n >= 4 and np.ptp(x) > 0 and np.ptp(y) > 0:
                res = stats.spearmanr(x, y)
                rho, p = float(res.statistic), float(res.pvalue)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    boot = stats.bootstrap(
                        (x, y),
                        _spearman_vectorised,
                        paired=True,
                        vectorized=True,
                        n_resamples=n_boot,
                        confidence_level=level,
                        method="percentile",
                        rng=rng,
                    )
                lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
            rows.append(
                {"metric": metric, "dimension": dim, "n": n, "rho": rho, "ci_low": lo, "ci_high": hi, "p": p}
            )
    out = pd.DataFrame(rows, columns=["metric", "dimension", "n", "rho", "ci_low", "ci_high", "p"])
    out["p_holm"] = math.nan
    ok = out["p"].notna()
    if ok.any():
        out.loc[ok, "p_holm"] = multipletests(out.loc[ok, "p"].to_numpy(), method="holm")[1]
    return out


REGRESSION_METHODS = ("mixedlm", "cluster", "fixed")


def user_regressions(
    joined: pd.DataFrame,
    dimensions: Sequence[str],
    predictors: Sequence[str],
    *,
    method: str = "mixedlm",
    group_col: str = "group",
) -> pd.DataFrame:
    """Per dimension: score ~ standardised per-user metrics, with the study group as a random intercept.

    ``method``: ``mixedlm`` (statsmodels MixedLM, REML, random intercept per group), ``cluster`` (OLS with
    cluster-robust errors by group) or ``fixed`` (OLS with group dummies and HC3 errors — the defensible
    choice with very few groups). Predictors are z-standardised over the joined users, so an estimate is
    the change in the dimension score per SD of the metric; ``beta`` also divides by the score's SD.
    When MixedLM cannot fit (singular random-effect variance), the dimension falls back to ``fixed`` and
    says so in ``note``. Columns: dimension, term, estimate, se, ci_low, ci_high, stat, p, beta, n,
    n_groups, method, converged, note.
    """
    import statsmodels.api as sm

    if method not in REGRESSION_METHODS:
        raise ValueError(f"method must be one of {', '.join(REGRESSION_METHODS)}, not {method!r}")
    preds = [p for p in predictors if p in joined.columns]
    columns = [
        "dimension",
        "term",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "stat",
        "p",
        "beta",
        "n",
        "n_groups",
        "method",
        "converged",
        "note",
    ]
    rows: list[dict[str, Any]] = []
    for dim in dimensions:
        if dim not in joined.columns or not preds:
            continue
        data = joined[[dim, group_col, *preds]].dropna()
        usable = [p for p in preds if data[p].std(ddof=0) > 0]
        n, n_groups = len(data), data[group_col].nunique()
        if n < len(usable) + 3 or not usable:
            continue
        X = pd.DataFrame({p: _standardise(data[p]) for p in usable}, index=data.index)
        y = data[dim].astype(float)
        sd_y = float(y.std(ddof=1))
        how, note, converged = method, "", True
        fitted = None
        if method == "mixedlm" and n_groups >= 2:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    model = sm.MixedLM(y, sm.add_constant(X), groups=data[group_col].astype(str))
                    fitted = model.fit(reml=True, method=["lbfgs", "powell"])
                    converged = bool(getattr(fitted, "converged", True))
                except (np.linalg.LinAlgError, ValueError) as exc:
                    fitted, note = None, f"MixedLM failed ({exc}); group fixed effects used"
            texts = " ".join(str(w.message).lower() for w in caught)
            if fitted is not None and ("boundary" in texts or "singular" in texts):
                note = f"group random-intercept variance estimated at the boundary (0) with {n_groups} groups"
            elif fitted is not None and "converge" in texts:
                note = "MixedLM reported convergence problems"
            if fitted is not None and not np.all(np.isfinite(fitted.bse[usable])):
                fitted, note = None, "MixedLM standard errors undefined; group fixed effects used"
            if fitted is None:
                how = "fixed"
        elif method == "mixedlm":
            how, note = "fixed", "only one group: ordinary least squares"
        if fitted is None:
            if how == "cluster" and n_groups >= 2:
                fitted = sm.OLS(y, sm.add_constant(X)).fit(
                    cov_type="cluster", cov_kwds={"groups": pd.factorize(data[group_col])[0]}
                )
                if n_groups < 10:
                    note = f"cluster-robust errors with only {n_groups} clusters are unreliable"
            else:
                dummies = pd.get_dummies(
                    data[group_col].astype(str), prefix="group", drop_first=True, dtype=float
                )
                fitted = sm.OLS(y, sm.add_constant(pd.concat([X, dummies], axis=1))).fit(cov_type="HC3")
                how = "fixed" if n_groups >= 2 else "ols"
        ci = fitted.conf_int()
        for term in usable:
            est = float(fitted.params[term])
            rows.append(
                {
                    "dimension": dim,
                    "term": term,
                    "estimate": est,
                    "se": float(fitted.bse[term]),
                    "ci_low": float(ci.loc[term].iloc[0]),
                    "ci_high": float(ci.loc[term].iloc[1]),
                    "stat": float(fitted.tvalues[term]),
                    "p": float(fitted.pvalues[term]),
                    "beta": est / sd_y if sd_y > 0 else math.nan,
                    "n": n,
                    "n_groups": n_groups,
                    "method": how,
                    "converged": converged,
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------------------------
# SEM: objective system aspects (observed) -> perceived quality (latent)
# ----------------------------------------------------------------------------------------------
@dataclass
class SemLinkResult:
    """The metrics → latent dimensions SEM: syntax, path estimates and fit."""

    syntax: str
    paths: pd.DataFrame  # dimension, metric, estimate, std, se, z, p
    fit: dict[str, float]
    n: int
    backend: str
    notes: list[str] = field(default_factory=list)


def sem_syntax(
    structure: Mapping[str, Sequence[str]], predictors: Sequence[str], dimensions: Sequence[str] | None = None
) -> str:
    """lavaan-style syntax: a factor per dimension, each regressed on the observed metrics.

    The residuals of the regressed factors covary freely (lavaan's ``auto.cov.y`` default for ``sem()``),
    so the model only adds the metric → dimension paths to the CFA.
    """
    dims = list(dimensions) if dimensions is not None else list(structure)
    lines = [f"{dim} =~ {' + '.join(structure[dim])}" for dim in dims]
    lines += [f"{dim} ~ {' + '.join(predictors)}" for dim in dims]
    lines += [f"{a} ~~ {b}" for a, b in itertools.combinations(dims, 2)]
    return "\n".join(lines)


def _fit_sem_backend(
    data: pd.DataFrame, syntax: str, *, seed: int
) -> tuple[pd.DataFrame, dict[str, float], str]:
    """Fit ``syntax`` and return (parameter table with lval, op, rval, estimate, std, se, z, p; fit; backend).

    Uses the indices subsystem's ``fit_sem`` when it exists (tight optimiser settings, lavaan-comparable
    fit indices); otherwise semopy directly with the same tight tolerance. This is the one place to swap.
    """
    try:
        from dancerec.indices.sem import fit_sem  # type: ignore[attr-defined]
    except ImportError:
        fit_sem = None
    if fit_sem is not None:
        try:
            result = fit_sem(data, syntax, ci="none", seed=seed)
            return _params_from_indices(result), _fit_from_indices(result), "dancerec.indices.sem.fit_sem"
        except (TypeError, AttributeError, KeyError):
            pass  # an interface this module does not know yet: fall back to semopy below
    import semopy

    model = semopy.Model(syntax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, solver="SLSQP", options={"ftol": 1e-10, "maxiter": 2000})
        est = model.inspect(std_est=True)
        fit_stats = semopy.calc_stats(model)
    table = pd.DataFrame(
        {
            "lval": est["lval"],
            "op": est["op"],
            "rval": est["rval"],
            "estimate": pd.to_numeric(est["Estimate"], errors="coerce"),
            "std": pd.to_numeric(est["Est. Std"], errors="coerce"),
            "se": pd.to_numeric(est["Std. Err"], errors="coerce"),
            "z": pd.to_numeric(est["z-value"], errors="coerce"),
            "p": pd.to_numeric(est["p-value"], errors="coerce"),
        }
    )
    row = fit_stats.iloc[0]
    fit = {
        "chi2": float(row["chi2"]),
        "df": float(row["DoF"]),
        "pvalue": float(row["chi2 p-value"]),
        "cfi": float(row["CFI"]),
        "tli": float(row["TLI"]),
        "rmsea": float(row["RMSEA"]),
    }
    return table, fit, f"semopy {semopy.__version__} (SLSQP, ftol 1e-10)"


def _params_from_indices(result: Any) -> pd.DataFrame:
    """The indices subsystem's SEM result as lval/op/rval/estimate/std/se/z/p rows."""
    for attr in ("parameters", "params", "estimates", "paths"):
        frame = getattr(result, attr, None)
        if isinstance(frame, pd.DataFrame) and {"lval", "op", "rval"} <= set(frame.columns):
            ren = {
                "Estimate": "estimate",
                "Est. Std": "std",
                "Std. Err": "se",
                "z-value": "z",
                "p-value": "p",
                "est": "estimate",
                "std_est": "std",
                "pvalue": "p",
            }
            frame = frame.rename(columns={k: v for k, v in ren.items() if k in frame.columns})
            for col in ("estimate", "std", "se", "z", "p"):
                if col not in frame.columns:
                    frame[col] = math.nan
            return frame[["lval", "op", "rval", "estimate", "std", "se", "z", "p"]]
    raise AttributeError("no parameter table with lval/op/rval in the SEM result")


def _fit_from_indices(result: Any) -> dict[str, float]:
    fit = getattr(result, "fit", None)
    source = fit if fit is not None else result
    out: dict[str, float] = {}
    for key in ("n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"):
        value = source.get(key) if isinstance(source, Mapping) else getattr(source, key, None)
        if isinstance(value, int | float | np.floating | np.integer):
            out[key] = float(value)
    return out


def metrics_sem(
    items: pd.DataFrame,
    structure: Mapping[str, Sequence[str]],
    exog: pd.DataFrame,
    *,
    dimensions: Sequence[str] | None = None,
    seed: int = 0,
) -> SemLinkResult:
    """SEM with the per-user metrics as observed exogenous variables predicting the latent dimensions.

    ``items``: reverse-recoded item answers (index respondent_id); ``structure``: dimension → items;
    ``exog``: per-user metric columns on the same index (z-standardised here, renamed to safe names).
    Listwise deletion of incomplete rows (counted in ``notes``). Paths: one row per dimension × metric.
    """
    dims = [d for d in (dimensions or list(structure)) if d in structure]
    used_items = sorted({i for d in dims for i in structure[d]})
    names = {c: safe_name(c) for c in exog.columns}
    z = pd.DataFrame({names[c]: _standardise(exog[c]) for c in exog.columns if exog[c].std(ddof=0) > 0})
    data = items[used_items].join(z, how="inner")
    n_all = len(data)
    data = data.dropna()
    notes = []
    if len(data) < n_all:
        notes.append(
            f"{n_all - len(data)} respondents with missing item answers or metrics left out (listwise)"
        )
    constant = [c for c in exog.columns if names[c] not in z.columns]
    if constant:
        notes.append("constant metric(s) left out: " + ", ".join(constant))
    syntax = sem_syntax(structure, list(z.columns), dims)
    table, fit, backend = _fit_sem_backend(data, syntax, seed=seed)
    back = {v: k for k, v in names.items()}
    paths = table[(table["op"] == "~") & table["lval"].isin(dims) & table["rval"].isin(z.columns)].copy()
    paths = paths.rename(columns={"lval": "dimension", "rval": "metric"}).drop(columns="op")
    paths["metric"] = paths["metric"].map(back)
    fit.setdefault("n", float(len(data)))
    return SemLinkResult(
        syntax=syntax,
        paths=paths.reset_index(drop=True),
        fit=fit,
        n=len(data),
        backend=backend,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------
# the whole linkage of a study
# ----------------------------------------------------------------------------------------------
@dataclass
class LinkageResult:
    """Everything ``dancerec link`` reports (``--json`` keys: groups, correlations, regressions, sem)."""

    k: int
    group_map: dict[str, str]
    group: GroupLevelResult
    joined: pd.DataFrame
    missing: MissingLinks
    correlations: pd.DataFrame  # user level
    regressions: pd.DataFrame
    sem: SemLinkResult | None
    dimensions: list[str]
    metrics: list[str]
    predictors: list[str]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "group_map": self.group_map,
            "groups": self.group.table,
            "group_tests": self.group.tests,
            "correlations": {
                "group_level": self.group.correlations,
                "group_level_caveat": self.group.caveat,
                "user_level": self.correlations,
            },
            "regressions": self.regressions,
            "sem": None
            if self.sem is None
            else {
                "n": self.sem.n,
                "backend": self.sem.backend,
                "fit": self.sem.fit,
                "paths": self.sem.paths,
                "syntax": self.sem.syntax,
                "notes": self.sem.notes,
            },
            "missing": {**self.missing.__dict__, "table": self.missing.table()},
            "settings": self.settings,
        }


def parse_group_map(pairs: Sequence[str]) -> dict[str, str]:
    """``["A=run1", "B=run2"]`` → ``{"A": "run1", "B": "run2"}`` (a clear error for anything else)."""
    from dancerec.errors import UserError

    mapping: dict[str, str] = {}
    for pair in pairs:
        group, sep, run = pair.partition("=")
        if not sep or not group.strip() or not run.strip():
            raise UserError(f"--map {pair!r}: expected GROUP=RUN_ID")
        mapping[group.strip()] = run.strip()
    return mapping


def save_group_map(study: Study, mapping: Mapping[str, str]) -> None:
    """Store the group → run map in ``study.toml`` ``[groups]`` (merged over what is there)."""
    study.config.groups = {**study.config.groups, **{str(g): str(r) for g, r in mapping.items()}}
    study.save_config()


def load_group_runs(study: Study, group_map: Mapping[str, str]) -> dict[str, GroupRun]:
    """Load each mapped run through the recommender's public ``load_run``; unknown runs are an error."""
    from dancerec.recommender.runs import list_runs, load_run  # type: ignore[import-not-found]

    from dancerec.errors import UserError

    known = list_runs(study)
    known_ids = set(known["run_id"].astype(str)) if "run_id" in known else set()
    unknown = {g: r for g, r in group_map.items() if str(r) not in known_ids}
    if unknown:
        listing = ", ".join(sorted(known_ids)) or "none (evaluate a recommender first)"
        bad = ", ".join(f"{g}={r}" for g, r in unknown.items())
        raise UserError(f"group map names unknown recommender run(s): {bad}; runs in this study: {listing}")
    return {str(g): GroupRun.from_run(load_run(study, str(r))) for g, r in group_map.items()}


def link_study(
    study: Study,
    *,
    group_map: Mapping[str, str] | None = None,
    k: int = DEFAULT_K,
    metrics: Sequence[str] = DEFAULT_METRICS,
    predictors: Sequence[str] = DEFAULT_PREDICTORS,
    exclude_flagged: Sequence[str] = (),
    n_boot: int = 1000,
    seed: int | None = None,
    regression: str = "mixedlm",
    sem: bool = True,
    min_test_items: int = 1,
) -> LinkageResult:
    """The whole linkage of a study: group level, user level (when respondents have user ids), SEM.

    ``group_map`` overrides/extends ``study.toml`` ``[groups]``. Responses, instrument and scores come
    from the survey subsystem, runs from the recommender's ``load_run``.
    """
    from dancerec.survey.instrument import load_instrument  # type: ignore[import-not-found]
    from dancerec.survey.scoring import recode_reverse, score_dimensions  # type: ignore[import-not-found]
    from dancerec.survey.store import load_responses  # type: ignore[import-not-found]

    from dancerec.errors import UserError

    seed = study.config.seed if seed is None else seed
    mapping = {**study.config.groups, **dict(group_map or {})}
    if not mapping:
        raise UserError(
            "no study group is mapped to a recommender run: add a groups table to study.toml "
            "or pass --map GROUP=RUN_ID (run ids: `dancerec recommender list`)"
        )
    instrument = load_instrument(study.config.instrument)
    responses = load_responses(study, exclude_flagged=tuple(exclude_flagged))
    if responses.empty:
        raise UserError("the study has no survey responses yet: import them with `dancerec survey import`")
    dims = list(instrument.dimensions)
    scores = score_dimensions(responses, instrument)
    scored = scores[dims].join(responses[["group"]])
    runs = load_group_runs(study, mapping)
    group = group_level(scored, runs, dims, k=k)

    respondents = (
        responses[["group", "user_id"]]
        if "user_id" in responses
        else responses[["group"]].assign(user_id=pd.NA)
    )
    joined, missing = join_users(
        respondents,
        scores,
        runs,
        dims,
        k=k,
        metrics=metrics,
        pseudonymise=study.pseudonymise,
        min_test_items=min_test_items,
    )
    metric_cols = [c for c in (metric_column(m, k) for m in metrics) if c in joined.columns]
    pred_cols = [c for c in (metric_column(p, k) for p in predictors) if c in joined.columns]
    correlations = pd.DataFrame(
        columns=["metric", "dimension", "n", "rho", "ci_low", "ci_high", "p", "p_holm"]
    )
    regressions = pd.DataFrame()
    sem_result = None
    if len(joined) >= 10:
        correlations = user_correlations(joined, metric_cols, dims, n_boot=n_boot, seed=seed)
        regressions = user_regressions(joined, dims, pred_cols, method=regression)
        if sem and pred_cols:
            items = recode_reverse(responses, instrument)
            structure = instrument.dimension_items(include_attention=False)
            sem_result = metrics_sem(items.loc[joined.index], structure, joined[pred_cols], seed=seed)
    return LinkageResult(
        k=k,
        group_map=dict(mapping),
        group=group,
        joined=joined,
        missing=missing,
        correlations=correlations,
        regressions=regressions,
        sem=sem_result,
        dimensions=dims,
        metrics=metric_cols,
        predictors=pred_cols,
        settings={
            "k": k,
            "n_boot": n_boot,
            "seed": seed,
            "regression": regression,
            "exclude_flagged": list(exclude_flagged),
            "min_test_items": min_test_items,
        },
    )


def plan_study_from_runs(
    study: Study,
    runs: Mapping[str, str],
    *,
    n_groups: int = 3,
    n_per_group: int | None = None,
    effect: float = 0.5,
    surprise_effect: float | None = None,
    k: int = DEFAULT_K,
    seed: int | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A respondent plan for a simulated user study on a study's evaluation runs, and its group map.

    ``runs``: model name (or any label) → run id, e.g. the demo's ``ctx.data["runs"]``. Up to ``n_groups``
    runs become groups ``A``, ``B``, … (MostPop first when present, so the weakest recommender is a group).
    The surprise dimension is the instrument's dimension holding the surprise items. Returns ``(plan,
    {group: run_id})``; the plan feeds ``simulate_responses(respondents=plan[["group", "user_id"]],
    latent_shift=plan.drop(columns=["group", "user_id"]))``.
    """
    from dancerec.recommender.runs import load_run  # type: ignore[import-not-found]

    seed = study.config.seed if seed is None else seed
    preferred = ["mostpop", "svd", "ease", "relation", "ncf", "als", "bpr", "itemknn", "userknn", "content"]
    labels = sorted(runs, key=lambda m: preferred.index(m) if m in preferred else len(preferred))[:n_groups]
    letters = [chr(ord("A") + i) for i in range(len(labels))]
    group_map = {g: str(runs[m]) for g, m in zip(letters, labels, strict=True)}
    per_user = {g: load_run(study, r).per_user for g, r in group_map.items()}
    surprise = "content"
    try:
        from dancerec.survey.instrument import load_instrument  # type: ignore[import-not-found]

        surprise = find_surprise_dimension(load_instrument(study.config.instrument)) or surprise
    except ImportError:
        pass
    plan = plan_linked_respondents(
        per_user,
        n_per_group=n_per_group,
        effect=effect,
        surprise_effect=surprise_effect,
        k=k,
        surprise_dimension=surprise,
        seed=seed,
    )
    return plan, group_map
