"""Report section addition: per-user accuracy-vs-satisfaction scatters as small multiples, appended to the
linkage section (one panel per offline metric × primary dimension, fit line, ρ and adjusted p in the title).

Kept apart from ``linkage.py`` so that module's ``_linkage`` can be replaced whole by the linkage work.
"""

from __future__ import annotations

import math

import pandas as pd
from dancerec.reports import charts
from dancerec.reports.sections.base import Builder, Section

#: Dimensions shown in the scatter grid when present (else the first two of the linkage).
PRIMARY_DIMENSIONS = ("usefulness", "experience")
#: Adjusted-p columns of the linkage correlations, in order of preference, with the label shown.
ADJUSTED_P = (("p_adj", "adjusted"), ("p_holm", "Holm-adjusted"))
#: How ``p_adj`` was adjusted, by the linkage's ``adjust`` setting.
ADJUSTMENT_LABELS = {"holm": "Holm-adjusted", "bh": "Benjamini–Hochberg-adjusted", "none": "unadjusted"}


def _primary(dimensions: list[str]) -> list[str]:
    found = [d for d in PRIMARY_DIMENSIONS if d in dimensions]
    return found or dimensions[:2]


def _linkage_section(b: Builder) -> Section | None:
    return next((s for s in b.sections if s.anchor == "linkage"), None)


def scatter_panels(link) -> tuple[list[tuple[str, str]], list[str], str | None]:
    """The (metric, dimension) panels, their titles (ρ, adjusted p, n) and the adjustment named."""
    joined, cors = link.joined, link.correlations
    metrics = [m for m in link.metrics if m in joined.columns]
    dims = [d for d in _primary(list(link.dimensions)) if d in joined.columns]
    adj = next(((c, label) for c, label in ADJUSTED_P if c in cors.columns), (None, None))
    if adj[0] == "p_adj":
        adj = ("p_adj", ADJUSTMENT_LABELS.get(str(getattr(link, "adjust", "")), "adjusted"))
    pairs, titles = [], []
    for metric in metrics:
        for dim in dims:
            row = cors[(cors["metric"] == metric) & (cors["dimension"] == dim)]
            if row.empty:
                continue
            r = row.iloc[0]
            p_adj = float(r[adj[0]]) if adj[0] and pd.notna(r[adj[0]]) else None
            n = int(r["n"]) if "n" in r and pd.notna(r["n"]) else int(joined[[metric, dim]].dropna().shape[0])
            rho = float(r["rho"]) if pd.notna(r["rho"]) else math.nan
            pairs.append((metric, dim))
            titles.append(charts.scatter_title(rho, p_adj, n))
    return pairs, titles, adj[1]


def _columns(pairs: list[tuple[str, str]]) -> int:
    """Panels per row: each metric's dimensions side by side (two metrics a row for two dimensions)."""
    n_dims = len(dict.fromkeys(d for _, d in pairs))
    return 2 * n_dims if n_dims <= 2 else n_dims


def _user_scatter(b: Builder) -> None:
    link = b.data.linkage
    sec = _linkage_section(b)
    if link is None or sec is None or link.joined is None or link.joined.empty or link.correlations.empty:
        return
    pairs, titles, adjustment = scatter_panels(link)
    if not pairs:
        return
    how = (
        f"p_adj: {adjustment} over the whole family of user-level correlations"
        if adjustment
        else "no adjusted p available, so none is shown"
    )
    b.figure(
        sec,
        charts.user_scatter_grid(link.joined, pairs, titles, ncols=_columns(pairs)),
        "user-scatter-grid",
        f"Per-user offline metric against the respondent's score, one panel per metric × primary dimension, "
        f"with the pooled least-squares line; panel titles give the within-group Spearman ρ of the "
        f"correlation table (the between-group part is tested at the group level), {how}, and n. Scores "
        "jittered vertically for visibility.",
        f"{len(pairs)} small scatter plots of per-user offline metrics ({', '.join(dict.fromkeys(m for m, _ in pairs))}) "
        f"against perceived-quality scores.",
    )
