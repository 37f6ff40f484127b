"""Report section: the methods appendix (formulas, thresholds, software, seeds, data files, provenance)."""

from __future__ import annotations

import pandas as pd
from dancerec.reports.sections.base import (
    Builder,
    DisplayTable,
    _kv_table,
    frame_table,
)
from markupsafe import Markup

FORMULAS: list[tuple[str, Markup]] = [
    (
        "Cronbach's alpha",
        Markup(
            "<i>α</i> = <i>k</i>/(<i>k</i> − 1) · (1 − Σ<i>σ</i>²<sub><i>i</i></sub> / <i>σ</i>²<sub><i>X</i></sub>)"
        ),
    ),
    (
        "Composite reliability",
        Markup(
            "CR = (Σ<i>λ</i><sub><i>i</i></sub>)² / ((Σ<i>λ</i><sub><i>i</i></sub>)² + Σ<i>θ</i><sub><i>i</i></sub>), "
            "standardised loadings <i>λ</i>, <i>θ</i><sub><i>i</i></sub> = 1 − <i>λ</i>²<sub><i>i</i></sub> "
            "(Fornell &amp; Larcker, 1981)"
        ),
    ),
    (
        "McDonald's omega (total)",
        Markup(
            "<i>ω</i> = <i>ψ</i>(Σ<i>λ</i><sub><i>i</i></sub>)² / 1′<b>S</b>1 (semTools::compRelSEM: "
            "unstandardised CFA loadings <i>λ</i>, factor variance <i>ψ</i>, observed item covariance "
            "matrix <b>S</b>)"
        ),
    ),
    (
        "Average variance extracted",
        Markup(
            "AVE = <i>ψ</i>Σ<i>λ</i>²<sub><i>i</i></sub> / Σ<i>s</i><sub><i>ii</i></sub> (semTools::AVE: "
            "unstandardised loadings <i>λ</i>, factor variance <i>ψ</i>, observed item variances "
            "<i>s</i><sub><i>ii</i></sub>; not the textbook mean of squared standardised loadings)"
        ),
    ),
    ("RMSEA", Markup("√(max(<i>χ</i>² − <i>df</i>, 0) / (<i>df</i> · <i>N</i>))")),
    ("Precision@K", Markup("|relevant ∩ top-<i>K</i>| / <i>K</i>")),
    ("Recall@K", Markup("|relevant ∩ top-<i>K</i>| / |relevant|")),
    (
        "NDCG@K",
        Markup(
            "Σ<sub><i>r</i>≤<i>K</i></sub> rel<sub><i>r</i></sub> / log<sub>2</sub>(<i>r</i> + 1), divided by its ideal value"
        ),
    ),
    (
        "Novelty@K",
        Markup(
            "mean of −log<sub>2</sub> <i>p</i>(<i>i</i>) over the list (self-information of item popularity)"
        ),
    ),
    (
        "Serendipity@K",
        Markup("share of the list that is relevant and not recommended by the popularity baseline"),
    ),
    ("Spearman's rho", Markup("Pearson correlation of the ranks (ties get average ranks)")),
    (
        "Holm adjustment",
        Markup("<i>p</i><sub>(<i>j</i>)</sub> · (<i>m</i> − <i>j</i> + 1), made monotone, capped at 1"),
    ),
    (
        "Linkage regression",
        Markup(
            "<i>y</i><sub><i>ug</i></sub> = <i>α</i><sub><i>g</i></sub> + Σ<i>β</i><sub><i>m</i></sub>"
            "(<i>z</i><sub><i>m,u</i></sub> − <i>z̄</i><sub><i>m,g</i></sub>) + <i>ε</i><sub><i>ug</i></sub>: "
            "group fixed effects <i>α</i><sub><i>g</i></sub>, metrics centred within groups (HC3 SEs), so "
            "<i>β</i> is a within-group association"
        ),
    ),
]

THRESHOLDS: list[tuple[str, str]] = [
    ("Cronbach's alpha, CR, omega", "≥ .70"),
    ("AVE", "≥ .50; √AVE above every inter-factor correlation (Fornell & Larcker, 1981)"),
    ("HTMT", "< .85 (strict) or < .90 (Henseler et al., 2015)"),
    ("CFI / TLI", "≥ .95 (Hu & Bentler, 1999); ≥ .90 acceptable"),
    ("RMSEA", "≤ .06 good, ≤ .08 acceptable"),
    ("SRMR", "≤ .08"),
    ("Measurement invariance", "ΔCFI ≤ .01 between nested models"),
    ("Multivariate outliers", "Mahalanobis distance, p < .001"),
    ("Significance", "α = .05, two-sided; adjusted p within each named family (Holm by default)"),
]


def _methods(b: Builder) -> None:
    d = b.data
    m = d.methods
    sec = b.section("methods", "Methods appendix")
    sec.sub("Formulas")
    b.table(
        sec,
        DisplayTable(
            caption="Formulas used",
            columns=["Quantity", "Definition"],
            rows=[[name, formula] for name, formula in FORMULAS],
            numeric=[False, False],
        ),
    )
    sec.sub("Thresholds")
    b.table(
        sec,
        DisplayTable(
            caption="Thresholds applied",
            columns=["Criterion", "Threshold"],
            rows=[list(t) for t in THRESHOLDS],
            numeric=[False, False],
        ),
    )
    if m.estimation:
        sec.sub("Estimation")
        sec.para(m.estimation)
    sec.sub("Software, seeds and settings")
    if m.software:
        b.table(
            sec,
            DisplayTable(
                caption="Software versions",
                columns=["Package", "Version"],
                rows=[[k, str(v)] for k, v in m.software.items()],
                numeric=[False, False],
            ),
        )
    pairs = [(k, str(v)) for k, v in {**m.seeds, **m.settings}.items()]
    if pairs:
        b.table(sec, _kv_table(pairs, "Seeds and settings"))
    sec.sub("Data files")
    if m.data_files is not None and not m.data_files.empty:
        b.table(
            sec,
            frame_table(
                m.data_files,
                [
                    ("path", "File", "text"),
                    ("kind", "Kind", "text"),
                    ("n_bytes", "Bytes", "int"),
                    ("sha256", "SHA-256", "text"),
                    ("recorded_at", "Recorded", "text"),
                ],
                "Input files and their checksums",
            ),
        )
    else:
        sec.para("No input files were recorded in this study (data generated in place).")
    if d.provenance:
        sec.sub("Stored and recomputed results")
        b.table(
            sec,
            frame_table(
                pd.DataFrame(d.provenance),
                [
                    ("part", "Part", "text"),
                    ("kind", "Result", "text"),
                    ("status", "Source", "text"),
                    ("key", "Key", "text"),
                ],
                "Where each analysis came from",
                note="stored: read from the study's stored results (same inputs and settings); computed: "
                "missing = none stored yet, stale = only results for other data or settings were stored.",
            ),
        )
    if d.skipped:
        sec.sub("Sections left out")
        for reason in d.skipped:
            sec.para(reason)
