"""Figures reviewers ask for beyond the basics in :mod:`dancerec.reports.figures`: group means with 95%
confidence intervals per dimension (JASP's descriptives plot) and per-user accuracy-vs-satisfaction
scatters as small multiples (one panel per offline metric × dimension).

Each figure is a pure function of DataFrames; the statistics they draw come from small pure functions
here (``mean_ci_table``) so a test can compare them with a hand computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from dancerec.reports import apa
from dancerec.reports.figures import FULL_WIDTH, PALETTE, RASTERIZE_ABOVE, STYLE, _new
from matplotlib.figure import Figure
from scipy import stats


def mean_ci_table(
    scores: pd.DataFrame, dimensions: Sequence[str], group: str = "group", level: float = 0.95
) -> pd.DataFrame:
    """dimension, group, n, mean, sd, ci_low, ci_high: t-based CI of each group's mean score
    (mean ± t_{(1+level)/2, n−1} · sd/√n, sd with n − 1; missing scores dropped)."""
    rows = []
    for dim in dimensions:
        for name, values in scores.groupby(group, sort=False, dropna=False)[dim]:
            x = values.dropna().to_numpy(float)
            n = len(x)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n > 1 else math.nan
            half = float(stats.t.ppf((1 + level) / 2, n - 1) * sd / math.sqrt(n)) if n > 1 else math.nan
            rows.append(
                {
                    "dimension": dim,
                    "group": str(name),
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                }
            )
    return pd.DataFrame(rows, columns=["dimension", "group", "n", "mean", "sd", "ci_low", "ci_high"])


def correlation_cis(matrix: pd.DataFrame, n: int, level: float = 0.95) -> pd.DataFrame:
    """factor1, factor2, r, ci_low, ci_high for each pair below the diagonal: Fisher's z interval
    tanh(atanh r ± z_{(1+level)/2} / √(n − 3)), the interval ``scipy.stats.pearsonr`` gives."""
    names = list(matrix.columns)
    q = stats.norm.ppf((1 + level) / 2)
    rows = []
    for i, a in enumerate(names):
        for b in names[:i]:
            r = float(matrix.loc[a, b])
            half = q / math.sqrt(n - 3) if n > 3 else math.nan
            z = math.atanh(max(min(r, 1 - 1e-15), -1 + 1e-15))
            rows.append(
                {
                    "factor1": a,
                    "factor2": b,
                    "r": r,
                    "ci_low": math.tanh(z - half),
                    "ci_high": math.tanh(z + half),
                }
            )
    return pd.DataFrame(rows, columns=["factor1", "factor2", "r", "ci_low", "ci_high"])


def group_means_ci(table: pd.DataFrame, *, scale: tuple[int, int] | None = None) -> Figure:
    """One panel: dimensions along x, the groups side by side at each, mean with its 95% CI as error bar."""
    dims = list(dict.fromkeys(table["dimension"]))
    groups = list(dict.fromkeys(table["group"]))
    fig, axes = _new(FULL_WIDTH, 3.0)
    ax = axes[0]
    width = 0.7 / max(len(groups), 1)
    for i, name in enumerate(groups):
        part = table[table["group"] == name].set_index("dimension").reindex(dims)
        x = np.arange(len(dims)) - 0.35 + width * (i + 0.5)
        err = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.errorbar(
            x,
            part["mean"],
            yerr=np.abs(err),
            fmt="o",
            markersize=4,
            capsize=2.5,
            elinewidth=1,
            color=PALETTE[i % len(PALETTE)],
            label=name,
        )
    ax.set_xticks(np.arange(len(dims)), [d.replace("_", " ") for d in dims], rotation=30, ha="right")
    ax.set_ylabel("mean score (95% CI)")
    if scale:
        ax.set_ylim(scale[0], scale[1])
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.legend(loc="outside upper center", ncols=min(len(groups), 6), frameon=False, fontsize=7.5)
    return fig


def user_scatter_grid(
    joined: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    titles: Sequence[str],
    *,
    ncols: int = 3,
    jitter: float = 0.04,
    seed: int = 0,
) -> Figure:
    """Small multiples: per (metric, dimension) pair the per-user metric against the respondent's score,
    the least-squares line (scipy.stats.linregress) and ``titles`` (e.g. ρ and adjusted p) above."""
    n = len(pairs)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    with plt.rc_context(STYLE):
        fig = Figure(figsize=(FULL_WIDTH, 2.0 * nrows + 0.3), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    rng = np.random.default_rng(seed)
    for ax, (metric, dim), title in zip(axes, pairs, titles, strict=False):
        frame = joined[[metric, dim]].dropna()
        xs, ys = frame[metric].to_numpy(float), frame[dim].to_numpy(float)
        ax.scatter(
            xs,
            ys + rng.uniform(-jitter, jitter, len(ys)),
            s=5,
            alpha=0.35,
            color="#1b6ca8",
            edgecolor="none",
            rasterized=len(xs) > RASTERIZE_ABOVE,
        )
        if len(frame) >= 3 and np.ptp(xs) > 0:
            fit = stats.linregress(xs, ys)
            grid = np.linspace(xs.min(), xs.max(), 50)
            ax.plot(grid, fit.intercept + fit.slope * grid, color="#d1495b", linewidth=1.2)
        ax.set_title(title, fontsize=7.5 if ncols <= 3 else 6.8)
        ax.set_xlabel(metric, fontsize=7)
        ax.set_ylabel(dim.replace("_", " "), fontsize=7)
        ax.tick_params(labelsize=6.5)
        ax.grid(color="#eeeeee", linewidth=0.5)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig


def scatter_title(rho: float, p_adj: float | None, n: int) -> str:
    """``ρ = .21, n = 240`` over ``p_adj = .003`` (two short lines fit a narrow panel; no p when no
    adjusted p is available)."""
    text = f"ρ = {apa.bounded(rho)}, n = {n}"
    if p_adj is not None and math.isfinite(p_adj):
        text += f"\np_adj {apa.p_clause(p_adj).removeprefix('p ')}"
    return text
