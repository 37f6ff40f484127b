"""Figures of the harness: precision and recall against list length (the source paper's curves)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_curves(
    curves: pd.DataFrame, path: str | Path, metrics: tuple[str, ...] = ("precision", "recall")
) -> Path:
    """One panel per metric, one line per model, K = 1..50 on the x axis; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for model, frame in curves.groupby("model", sort=False):
            ax.plot(frame["k"], frame[metric], label=str(model), linewidth=1.6)
        ax.set_xlabel("list length K")
        ax.set_ylabel(f"{metric}@K")
        ax.grid(alpha=0.3)
    axes[0][0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
