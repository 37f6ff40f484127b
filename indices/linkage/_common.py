"""Names and small transforms shared by the linkage modules (no statistics here)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

#: offline metrics looked for at cut-off K in per-user tables and run summaries (``name@K`` columns)
DEFAULT_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "novelty", "serendipity", "diversity")
#: summary-only metrics (no per-user value) shown in the group table
SUMMARY_ONLY_METRICS: tuple[str, ...] = ("coverage",)
#: predictors of the per-dimension regressions and the SEM (precision and NDCG are near-collinear with
#: recall, so only recall stands for accuracy)
DEFAULT_PREDICTORS: tuple[str, ...] = ("recall", "novelty", "serendipity")
DEFAULT_K = 10
FEW_GROUPS = 5  # below this many groups the cross-group correlation cannot be significant at .05
#: what every user-level estimate measures (stated in tables, JSON and the methods text)
WITHIN_GROUP = (
    "within-group association: per-user metrics centred on their group's mean (group fixed effects), "
    "so differences between groups (which saw different recommenders) do not enter; the between-group "
    "part is reported at group level"
)


def metric_column(metric: str, k: int) -> str:
    """Name of a per-user metric column, e.g. ``recall@10``."""
    return f"{metric}@{k}"


def safe_name(column: str) -> str:
    """A variable name lavaan-style syntax and formulas accept (``recall@10`` → ``recall_at_10``)."""
    name = re.sub(r"\W+", "_", column.replace("@", "_at_")).strip("_")
    return name if not name[:1].isdigit() else f"v_{name}"


def standardise(values: pd.Series) -> pd.Series:
    """z-scores with the population SD (0 everywhere for a constant column)."""
    values = values.astype(float)
    sd = values.std(ddof=0)
    if not np.isfinite(sd) or sd == 0:
        return pd.Series(0.0, index=values.index)
    return (values - values.mean()) / sd


def group_centre(values: pd.Series, group: pd.Series) -> pd.Series:
    """``values`` minus their group's mean: what is left is the within-group variation only."""
    values = values.astype(float)
    return values - values.groupby(group.astype(str)).transform("mean")


def within_z(values: pd.Series, group: pd.Series) -> pd.Series:
    """Group-mean-centred values divided by their pooled within-group SD (per within-group SD units)."""
    centred = group_centre(values, group)
    if not centred.notna().any():
        return pd.Series(0.0, index=values.index)
    sd = float(np.sqrt(np.nanmean(centred.to_numpy(float) ** 2)))
    if not np.isfinite(sd) or sd == 0:
        return pd.Series(0.0, index=values.index)
    return centred / sd
