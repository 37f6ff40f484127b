"""Report sections: item analysis and reliability; factor structure (EFA, CFA, HTMT)."""

from __future__ import annotations

import pandas as pd
from dancerec.reports import apa, charts, diagrams, figures
from dancerec.reports.sections.base import (
    I_M,
    Builder,
    Section,
    _ci_cells,
    _fit_line,
    frame_table,
)
from markupsafe import Markup


def _reliability(b: Builder) -> None:
    d = b.data
    if d.item_analysis is None and d.reliability is None:
        return
    sec = b.section("reliability", "Item analysis and reliability")
    b.table(
        sec,
        frame_table(
            d.item_analysis,
            [
                ("item", "text"),
                ("dimension", "text"),
                ("n", "int"),
                ("mean", I_M, "num"),
                ("sd", "num"),
                ("skewness", "num"),
                ("kurtosis", "num"),
                ("floor_pct", "pct_points"),
                ("ceiling_pct", "pct_points"),
                ("item_total_r", "bounded"),
                ("alpha_if_deleted", "bounded"),
            ],
            "Item analysis",
            note=Markup(
                "<i>r</i><sub>it</sub> = corrected item–total correlation within the item's dimension."
            ),
        ),
    )
    rel = d.reliability
    if rel is not None and not rel.empty:
        rel = rel.copy()
        if {"alpha_ci_low", "alpha_ci_high"} <= set(rel.columns):
            rel["alpha_ci"] = _ci_cells(rel, "alpha_")
        b.table(
            sec,
            frame_table(
                rel,
                [
                    ("dimension", "text"),
                    ("n_items", "int"),
                    ("alpha", "bounded"),
                    ("alpha_ci", "95% CI", "text"),
                    ("alpha_std", "bounded"),
                    ("omega", "bounded"),
                    ("cr", "bounded"),
                    ("ave", "bounded"),
                ],
                "Reliability and convergent validity per dimension",
                note=Markup("Thresholds: <i>α</i> and CR ≥ .70, AVE ≥ .50 (Fornell &amp; Larcker, 1981)."),
            ),
        )


def _loadings_matrix(loadings: pd.DataFrame, value: str = "std") -> pd.DataFrame:
    col = value if value in loadings.columns else "estimate"
    return loadings.pivot_table(index="item", columns="factor", values=col, aggfunc="first", sort=False)


def _factors(b: Builder) -> None:
    d = b.data
    if d.efa is None and d.cfa is None and d.factorability is None:
        return
    sec = b.section("factors", "Factor structure")
    if d.factorability:
        f = d.factorability
        sec.para(
            Markup("Factorability: KMO = {}; Bartlett's test <i>χ</i>²({}) = {}, {}.").format(
                apa.bounded(f.get("kmo")),
                apa.num(f.get("bartlett_df"), 0),
                apa.num(f.get("bartlett_chi2")),
                Markup("<i>p</i>{}").format(apa.p_clause(f.get("bartlett_p"))[1:]),
            )
        )
    _efa_part(b, sec)
    _cfa_part(b, sec)
    _factor_correlations(b, sec)
    _htmt_part(b, sec)


def _efa_part(b: Builder, sec: Section) -> None:
    d = b.data
    if d.efa is None:
        return
    sec.sub("Exploratory factor analysis")
    sec.para(
        f"{d.efa.n_factors or d.efa.loadings.shape[1]} factors, {d.efa.method} extraction, "
        f"{d.efa.rotation} rotation. " + " ".join(d.efa.notes)
    )
    efa = d.efa.loadings.copy()
    efa.index.name = "item"
    frame = efa.reset_index()
    if d.efa.communalities is not None:
        frame["h2"] = frame["item"].map(d.efa.communalities)
    spec = [
        ("item", "text"),
        *[(c, str(c), "bounded") for c in efa.columns],
        ("h2", "bounded"),
    ]
    b.table(sec, frame_table(frame, spec, "EFA pattern loadings"))


def _cfa_part(b: Builder, sec: Section) -> None:
    d = b.data
    if d.cfa is None:
        return
    sec.sub("Confirmatory factor analysis")
    sec.para(Markup("Measurement model fit: {}.").format(_fit_line(d.cfa.fit)))
    for note in d.cfa.notes:
        sec.para(note)
    if d.cfa.loadings is not None and not d.cfa.loadings.empty:
        matrix = _loadings_matrix(d.cfa.loadings)
        fig = figures.loadings_heatmap(matrix)
        b.figure(
            sec,
            fig,
            "cfa-loadings",
            "Standardised CFA loadings (items × factors).",
            f"Heat map of standardised loadings of {matrix.shape[0]} items on {matrix.shape[1]} factors; "
            "darker blue is a higher loading.",
        )
        if diagrams.available():
            diagram = diagrams.measurement_graph(d.cfa.loadings)
            b.figure(
                sec,
                diagram,
                "cfa-diagram",
                "Measurement model: standardised loadings on the edges, R² (squared standardised "
                "loading) in the item boxes. " + diagram.legend(),
                f"Path diagram of the measurement model: {matrix.shape[1]} latent dimensions (ellipses) "
                f"with arrows to their {matrix.shape[0]} items (boxes).",
            )
        b.table(
            sec,
            frame_table(
                d.cfa.loadings,
                [
                    ("factor", "text"),
                    ("item", "text"),
                    ("estimate", "num"),
                    ("std", "bounded"),
                    ("se", "num"),
                    ("p", "p"),
                ],
                "CFA loadings",
            ),
        )


def _factor_correlations(b: Builder, sec: Section) -> None:
    """Latent correlations with 95% CIs as a lower-triangular matrix (cells: r [low, high])."""
    cfa = b.data.cfa
    matrix = None if cfa is None else cfa.factor_correlations
    n = None if cfa is None else cfa.fit.get("n")
    if matrix is None or matrix.shape[0] < 2 or not n:
        return
    pairs = charts.correlation_cis(matrix, int(n))
    cells = {
        (r.factor1, r.factor2): f"{apa.bounded(r.r)} {apa.ci(r.ci_low, r.ci_high)}"
        for r in pairs.itertuples()
    }
    names = list(matrix.columns)
    frame = pd.DataFrame(
        [[a] + [cells.get((a, b), "—" if a == b else "") for b in names[:-1]] for a in names],
        columns=["factor", *names[:-1]],
    )
    b.table(
        sec,
        frame_table(
            frame,
            [("factor", "", "text"), *[(c, str(c), "text") for c in names[:-1]]],
            "Factor correlations from the CFA, r [95% CI]",
            note=Markup(
                "Standardised latent correlations; 95% CI by Fisher's <i>z</i> with <i>N</i> = {} (an "
                "approximation: it treats each latent correlation like an observed one)."
            ).format(apa.integer(n)),
        ),
    )


def _htmt_part(b: Builder, sec: Section) -> None:
    d = b.data
    if d.htmt is None or d.htmt.empty:
        return
    frame = d.htmt.copy()
    frame.index.name = "dimension"
    frame = frame.reset_index()
    spec = [("dimension", "", "text"), *[(c, str(c), "bounded") for c in d.htmt.columns]]
    b.table(
        sec,
        frame_table(
            frame,
            spec,
            "Heterotrait–monotrait ratios (HTMT)",
            note="Values above .85 question the discriminant validity of the pair.",
        ),
    )
