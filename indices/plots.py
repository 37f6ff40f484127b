"""Figures for the indices results (matplotlib, Agg backend): scree/parallel analysis and group means."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from dancerec.indices.groups import GroupComparison
from dancerec.indices.parallel import ParallelAnalysis

# user data (group names such as "$x^$") is never matplotlib math text
matplotlib.rcParams["text.parse_math"] = False

__all__ = ["group_means_plot", "scree_plot"]


def _save(fig: plt.Figure, path: str | Path) -> Path:
    """Lay out, write as PNG (creating the folder) and close ``fig``."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def scree_plot(pa: ParallelAnalysis, path: str | Path) -> Path:
    """Observed eigenvalues against the random-data percentile (parallel analysis) and Kaiser's line."""
    t = pa.table
    pct = f"random_fa_p{pa.percentile:g}"
    pct_pca = f"random_pca_p{pa.percentile:g}"
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(t["position"], t["eigen_pca"], "o-", label="components (observed)")
    ax.plot(
        t["position"],
        t[pct_pca],
        "--",
        color="C0",
        alpha=0.6,
        label=f"components (random, p{pa.percentile:g})",
    )
    ax.plot(t["position"], t["eigen_fa"], "s-", color="C1", label="factors (observed, SMC)")
    ax.plot(t["position"], t[pct], "--", color="C1", alpha=0.6, label=f"factors (random, p{pa.percentile:g})")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="Kaiser: eigenvalue 1")
    ax.set_xlabel("factor / component")
    ax.set_ylabel("eigenvalue")
    ax.set_title(f"Parallel analysis: {pa.n_factors} factor(s), {pa.n_components} component(s)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def group_means_plot(result: GroupComparison, path: str | Path) -> Path:
    """Mean dimension score per group with 95% confidence intervals (t-based)."""
    from scipy import stats

    d = result.descriptives.dropna(subset=["mean"])
    dims = list(dict.fromkeys(d["dimension"]))
    groups = list(dict.fromkeys(d["group"]))
    width = 0.8 / max(len(groups), 1)
    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(dims) + 2), 4.0))
    x = np.arange(len(dims))
    for k, g in enumerate(groups):
        sub = d[d["group"] == g].set_index("dimension").reindex(dims)
        half = sub["se"].to_numpy() * stats.t.ppf(0.975, np.maximum(sub["n"].to_numpy() - 1, 1))
        ax.errorbar(
            x + (k - (len(groups) - 1) / 2) * width, sub["mean"], yerr=half, fmt="o", capsize=3, label=g
        )
    ax.set_xticks(x, dims, rotation=30, ha="right")
    ax.set_ylabel("mean score (95% CI)")
    ax.set_title("Dimension scores by group")
    ax.legend(title="group", fontsize=8)
    return _save(fig, path)
