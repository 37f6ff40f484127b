"""User level: within-group rank correlations of per-user metrics with perceived quality.

Respondents in different groups saw different recommenders, and the groups may differ in how they
answer for reasons unrelated to any one user's metrics. A pooled Spearman correlation would mix that
between-group difference into what reads as a per-user association (a null link shuffled within groups
then looks "significant"). So each respondent's metric and score are ranked *within their group*, the
ranks centred on the group's mean rank and scaled by the group's size, and the Pearson correlation of
these within-group ranks is reported (a pooled within-group Spearman's rho; with one group it is
Spearman's rho). Its p-value is the partial-correlation t test with ``n - G - 1`` degrees of freedom
(the group means are G - 1 extra parameters). Under a null link the within-group ranks are independent
permutations in every group, so the test holds whatever the groups' means are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA, add_adjusted
from scipy import stats

COLUMNS = ["metric", "dimension", "n", "n_groups", "rho", "ci_low", "ci_high", "p"]
FAMILY = "user-level correlations (within groups)"


def within_group_ranks(values: np.ndarray, codes: np.ndarray, axis: int = -1) -> np.ndarray:
    """Average ranks within each group code, centred on the group's mean rank, divided by its size.

    ``values`` may carry leading batch dimensions (bootstrap resamples along axis 0); ``codes`` labels
    the last axis.
    """
    out = np.empty(values.shape, dtype=float)
    for code in np.unique(codes):
        cols = codes == code
        ranks = stats.rankdata(values[..., cols], axis=axis)
        n_g = cols.sum()
        out[..., cols] = (ranks - (n_g + 1) / 2) / n_g
    return out


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation along the last axis (inputs already centred within groups)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=-1) / np.sqrt((x**2).sum(axis=-1) * (y**2).sum(axis=-1))


def within_spearman(x: np.ndarray, y: np.ndarray, codes: np.ndarray) -> tuple[float, float]:
    """(rho, two-sided p) of the pooled within-group Spearman correlation."""
    rx, ry = within_group_ranks(x, codes), within_group_ranks(y, codes)
    rho = float(_pearson_rows(rx, ry))
    df = len(x) - len(np.unique(codes)) - 1
    if not np.isfinite(rho) or df < 1:
        return math.nan, math.nan
    if abs(rho) >= 1:
        return rho, 0.0
    t = rho * math.sqrt(df / (1 - rho**2))
    return rho, float(2 * stats.t.sf(abs(t), df))


def _stratified_indices(codes: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` x n resampling indices drawn with replacement within each group (positions kept)."""
    idx = np.empty((n_boot, len(codes)), dtype=int)
    for code in np.unique(codes):
        pos = np.flatnonzero(codes == code)
        idx[:, pos] = pos[rng.integers(0, len(pos), size=(n_boot, len(pos)))]
    return idx


def bootstrap_ci(
    x: np.ndarray, y: np.ndarray, codes: np.ndarray, *, n_boot: int, level: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile CI of the within-group rho from paired resamples stratified by group."""
    if n_boot < 1:
        return math.nan, math.nan
    idx = _stratified_indices(codes, n_boot, rng)
    rho = _pearson_rows(within_group_ranks(x[idx], codes), within_group_ranks(y[idx], codes))
    rho = rho[np.isfinite(rho)]
    if not len(rho):
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(rho, [tail, 100 - tail])
    return float(lo), float(hi)


def user_correlations(
    joined: pd.DataFrame,
    metrics: Sequence[str],
    dimensions: Sequence[str],
    *,
    group_col: str = "group",
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
) -> pd.DataFrame:
    """Within-group Spearman's rho of each per-user metric with each dimension score.

    Percentile bootstrap CI (``n_boot`` paired resamples within groups, seeded; 0 skips it), raw ``p``
    and ``p_adj`` over the whole metric x dimension family. Columns: metric, dimension, n (respondents
    with both values), n_groups, rho, ci_low, ci_high, p, p_adj, family, adjust, significant.
    """
    rng = np.random.default_rng(seed)
    groups = joined[group_col] if group_col in joined else pd.Series("all", index=joined.index)
    rows = []
    for metric in metrics:
        for dim in dimensions:
            if metric not in joined or dim not in joined:
                continue
            pair = pd.DataFrame({"x": joined[metric], "y": joined[dim], "g": groups.astype(str)}).dropna()
            codes = pd.factorize(pair["g"])[0]
            x, y = pair["x"].to_numpy(float), pair["y"].to_numpy(float)
            rho = lo = hi = p = math.nan
            if len(pair) >= 4 and np.ptp(x) > 0 and np.ptp(y) > 0:
                rho, p = within_spearman(x, y, codes)
                if np.isfinite(rho):
                    lo, hi = bootstrap_ci(x, y, codes, n_boot=n_boot, level=level, rng=rng)
            rows.append(
                {
                    "metric": metric,
                    "dimension": dim,
                    "n": len(pair),
                    "n_groups": len(np.unique(codes)),
                    "rho": rho,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p": p,
                }
            )
    return add_adjusted(pd.DataFrame(rows, columns=COLUMNS), FAMILY, adjust=adjust, alpha=alpha)
