"""Turn :class:`~dancerec.reports.data.ReportData` into the report's sections: numbered tables (APA-formatted
strings), numbered figures (inline SVG + files) and paragraphs.

User data (item wording, group names, model names, file paths) stays plain ``str`` all the way to the
template, where Jinja2's autoescaping escapes it; only markup written here (statistic symbols in italics,
formulas) is ``Markup``. Paragraphs that mix both use ``Markup(...).format(...)``, which escapes arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from dancerec.reports import apa, figures
from dancerec.reports.data import ReportData
from dancerec.reports.figures import ExportedFigure
from markupsafe import Markup

Text = str | Markup
I_P, I_M, I_SD, I_N, I_R = (Markup(f"<i>{s}</i>") for s in ("p", "M", "SD", "n", "r"))
I_RHO = Markup("<i>ρ</i>")
I_BETA = Markup("<i>β</i>")


@dataclass
class DisplayTable:
    """A numbered table: caption above, formatted cells, an optional note below (APA layout)."""

    caption: Text
    columns: list[Text]
    rows: list[list[str]]
    numeric: list[bool]
    note: Text | None = None
    number: int = 0
    anchor: str = ""
    wide: bool = False


@dataclass
class Heading:
    """A subsection heading (h3), listed in the table of contents."""

    title: str
    anchor: str


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Any] = field(default_factory=list)  # Text paragraphs, DisplayTable, ExportedFigure, Heading

    def para(self, text: Text) -> None:
        self.blocks.append(("p", text))

    def sub(self, title: str) -> None:
        self.blocks.append(
            Heading(title, f"{self.anchor}-{len([b for b in self.blocks if isinstance(b, Heading)]) + 1}")
        )


# ----------------------------------------------------------------------------------------------
# column formatting
# ----------------------------------------------------------------------------------------------
Formatter = Callable[[Any], str]
FMT: dict[str, Formatter] = {
    "num": apa.num,
    "num3": lambda v: apa.num(v, 3),
    "bounded": apa.bounded,
    "bounded3": lambda v: apa.bounded(v, 3),
    "p": apa.p_value,
    "int": apa.integer,
    "pct": apa.percent,
    "text": lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v),
    "bool": lambda v: "yes" if bool(v) and v is not pd.NA else "no",
}


def frame_table(
    frame: pd.DataFrame, spec: Sequence[tuple[str, Text, str]], caption: Text, note: Text | None = None
) -> DisplayTable | None:
    """A table from ``frame`` with columns ``spec`` = (column, header, format); missing columns skipped."""
    if frame is None or frame.empty:
        return None
    spec = [s for s in spec if s[0] in frame.columns]
    if not spec:
        return None
    rows = [[FMT[kind](row[col]) for col, _, kind in spec] for _, row in frame.iterrows()]
    return DisplayTable(
        caption=caption,
        columns=[header for _, header, _ in spec],
        rows=rows,
        numeric=[kind not in ("text", "bool") for _, _, kind in spec],
        note=note,
        wide=len(spec) > 7,
    )


def _ci_cells(
    frame: pd.DataFrame, prefix: str = "", digits: int = 2, *, leading_zero: bool = False
) -> list[str]:
    """APA interval cells from the ``{prefix}ci_low`` / ``{prefix}ci_high`` columns of ``frame``."""
    return [
        apa.ci(lo, hi, digits, leading_zero=leading_zero)
        for lo, hi in zip(frame[prefix + "ci_low"], frame[prefix + "ci_high"], strict=True)
    ]


def _kv_table(pairs: Sequence[tuple[Text, str]], caption: Text, note: Text | None = None) -> DisplayTable:
    return DisplayTable(
        caption=caption,
        columns=["", "value"],
        rows=[[k, v] for k, v in pairs],
        numeric=[False, True],
        note=note,
    )


def _fit_line(fit: dict[str, Any]) -> Markup:
    """χ²(df) = …, p …, CFI = …, TLI = …, RMSEA = … [90% CI], SRMR = … (APA running text)."""
    parts = []
    if fit.get("chi2") is not None:
        parts.append(
            Markup("<i>χ</i>²({}) = {}, <i>p</i> {}").format(
                apa.num(fit.get("df"), 0),
                apa.num(fit.get("chi2")),
                apa.p_clause(fit.get("pvalue")).removeprefix("p "),
            )
        )
    for key, label in (("cfi", "CFI"), ("tli", "TLI")):
        if fit.get(key) is not None:
            parts.append(f"{label} = {apa.bounded(fit[key], 3)}")
    if fit.get("rmsea") is not None:
        text = f"RMSEA = {apa.bounded(fit['rmsea'], 3)}"
        ci = fit.get("rmsea_ci")
        if ci and len(ci) == 2 and all(v is not None for v in ci):
            text += f", 90% CI {apa.ci(ci[0], ci[1], 3)}"
        parts.append(text)
    if fit.get("srmr") is not None:
        parts.append(f"SRMR = {apa.bounded(fit['srmr'], 3)}")
    if fit.get("n") is not None:
        parts.append(Markup("<i>N</i> = {}").format(apa.integer(fit["n"])))
    return Markup(", ").join(parts)


# ----------------------------------------------------------------------------------------------
class Builder:
    """Collects sections, numbering tables and figures as they are added."""

    def __init__(self, data: ReportData, figures_dir: Path | None) -> None:
        self.data = data
        self.figures_dir = figures_dir
        self.sections: list[Section] = []
        self.n_tables = 0
        self.n_figures = 0
        self.figures: list[ExportedFigure] = []

    def section(self, anchor: str, title: str) -> Section:
        sec = Section(anchor, title)
        self.sections.append(sec)
        return sec

    def table(self, sec: Section, table: DisplayTable | None) -> None:
        if table is None:
            return
        self.n_tables += 1
        table.number = self.n_tables
        table.anchor = f"table-{self.n_tables}"
        sec.blocks.append(table)

    def figure(self, sec: Section, fig: Any, slug: str, caption: str, alt: str) -> None:
        self.n_figures += 1
        slug = f"fig{self.n_figures:02d}-{slug}"
        exported = figures.export(fig, slug, caption, alt, self.figures_dir)
        exported.number = self.n_figures  # type: ignore[attr-defined]
        self.figures.append(exported)
        sec.blocks.append(exported)


# ----------------------------------------------------------------------------------------------
def _overview(b: Builder) -> None:
    d = b.data
    sec = b.section("overview", "Study overview")
    facts = []
    if d.instrument_name:
        n_items = 0 if d.items is None else len(d.items)
        scale = f", {d.scale[0]}–{d.scale[1]} Likert scale" if d.scale else ""
        facts.append(
            Markup("Instrument <b>{}</b>: {} items in {} dimensions{}.").format(
                d.instrument_name, n_items, len(d.dimensions), scale
            )
        )
    if d.respondents is not None and not d.respondents.empty:
        total = int(d.respondents["n_total"].sum())
        analysed = int(d.respondents["n_analysed"].sum())
        facts.append(
            Markup("{} respondents in {} groups; {} analysed after exclusions{}.").format(
                apa.integer(total),
                len(d.respondents),
                apa.integer(analysed),
                Markup(" (excluded: {})").format(", ".join(d.excluded_flags)) if d.excluded_flags else "",
            )
        )
    if d.runs is not None and not d.runs.empty:
        facts.append(
            Markup("{} offline evaluation run(s) of {} model(s).").format(
                len(d.runs), d.runs["model"].nunique() if "model" in d.runs else len(d.runs)
            )
        )
    if d.linkage is not None:
        facts.append(
            Markup("Groups linked to recommender runs: {}.").format(
                ", ".join(f"{g} → {r}" for g, r in d.linkage.group_map.items())
            )
        )
    for fact in facts:
        sec.para(fact)
    if not facts:
        sec.para("This study has no survey responses or evaluation runs yet.")
    b.table(
        sec,
        frame_table(
            d.respondents,
            [
                ("group", "Group", "text"),
                ("n_total", "Respondents", "int"),
                ("n_excluded", "Excluded", "int"),
                ("n_analysed", "Analysed", "int"),
            ],
            "Respondents per study group",
        ),
    )
    b.table(
        sec,
        frame_table(
            d.exclusions,
            [
                ("flag", "Quality flag", "text"),
                ("n", "Flagged", "int"),
                ("percent", "% of respondents", "pct"),
                ("excluded", "Excluded from analysis", "bool"),
            ],
            "Data-quality flags",
            note="Flags are stored per respondent, never deleted; only the flags marked as excluded remove "
            "respondents from the analyses below.",
        ),
    )


def _items(b: Builder) -> None:
    d = b.data
    if d.items is None or d.items.empty:
        return
    sec = b.section("items", "Instrument and item distributions")
    spec = [
        ("id", "Item", "text"),
        ("dimension", "Dimension", "text"),
        ("text_en", "Wording (English)", "text"),
        ("text_zh", "Wording (Chinese)", "text"),
        ("reverse", "Reverse-keyed", "bool"),
    ]
    table = frame_table(
        d.items,
        spec,
        "Items of the instrument",
        note="Reverse-keyed items are recoded (min + max − x) before scoring and modelling.",
    )
    b.table(sec, table)
    if d.responses is not None and d.scale:
        item_ids = [i for i in d.items["id"] if i in d.responses.columns]
        if item_ids:
            labels = {row["id"]: f"{row['id']} · {row['dimension']}" for _, row in d.items.iterrows()}
            fig = figures.likert_bars(
                d.responses, item_ids, d.scale[0], d.scale[1], labels=labels, anchors=d.anchors
            )
            b.figure(
                sec,
                fig,
                "likert",
                "Distribution of answers per item (diverging stacked bars; the neutral "
                "category straddles zero).",
                f"Diverging stacked bar chart of the answers to {len(item_ids)} items on a "
                f"{d.scale[0]} to {d.scale[1]} scale; bars extending right show agreement, left disagreement.",
            )


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
                ("item", "Item", "text"),
                ("dimension", "Dimension", "text"),
                ("n", I_N, "int"),
                ("mean", I_M, "num"),
                ("sd", I_SD, "num"),
                ("skew", "Skew", "num"),
                ("kurtosis", "Kurtosis", "num"),
                ("floor", "Floor", "pct"),
                ("ceiling", "Ceiling", "pct"),
                ("citc", Markup("<i>r</i><sub>it</sub>"), "bounded"),
                ("alpha_if_deleted", Markup("<i>α</i> if deleted"), "bounded"),
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
                    ("dimension", "Dimension", "text"),
                    ("n_items", "Items", "int"),
                    ("alpha", Markup("<i>α</i>"), "bounded"),
                    ("alpha_ci", "95% CI", "text"),
                    ("alpha_std", Markup("<i>α</i><sub>std</sub>"), "bounded"),
                    ("omega", Markup("<i>ω</i>"), "bounded"),
                    ("cr", "CR", "bounded"),
                    ("ave", "AVE", "bounded"),
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
    if d.efa is not None:
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
            ("item", "Item", "text"),
            *[(c, str(c), "bounded") for c in efa.columns],
            ("h2", Markup("<i>h</i>²"), "bounded"),
        ]
        b.table(sec, frame_table(frame, spec, "EFA pattern loadings"))
    if d.cfa is not None:
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
            b.table(
                sec,
                frame_table(
                    d.cfa.loadings,
                    [
                        ("factor", "Factor", "text"),
                        ("item", "Item", "text"),
                        ("estimate", "Estimate", "num"),
                        ("std", I_BETA, "bounded"),
                        ("se", "SE", "num"),
                        ("p", I_P, "p"),
                    ],
                    "CFA loadings",
                ),
            )
    if d.htmt is not None and not d.htmt.empty:
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


def _sem(b: Builder) -> None:
    d = b.data
    if d.sem is None or d.sem.paths is None or d.sem.paths.empty:
        return
    sec = b.section("structural", "Structural model")
    sec.para(Markup("Structural model fit: {}.").format(_fit_line(d.sem.fit)))
    for note in d.sem.notes:
        sec.para(note)
    fig = figures.path_diagram(d.sem.paths)
    b.figure(
        sec,
        fig,
        "path-diagram",
        "Structural model with standardised path coefficients "
        "(* p < .05, ** p < .01, *** p < .001; dashed = not significant).",
        f"Path diagram of {len(d.sem.paths)} structural paths between the perceived-quality dimensions.",
    )
    paths = d.sem.paths.copy()
    paths["path"] = paths["rval"].astype(str) + " → " + paths["lval"].astype(str)
    b.table(
        sec,
        frame_table(
            paths,
            [
                ("path", "Path", "text"),
                ("estimate", "Estimate", "num"),
                ("std", I_BETA, "bounded"),
                ("se", "SE", "num"),
                ("p", I_P, "p"),
            ],
            "Structural paths",
        ),
    )
    if d.sem.r2:
        frame = pd.DataFrame({"outcome": list(d.sem.r2), "r2": list(d.sem.r2.values())})
        b.table(
            sec,
            frame_table(
                frame,
                [("outcome", "Outcome", "text"), ("r2", Markup("<i>R</i>²"), "bounded")],
                "Variance explained",
            ),
        )
    if d.sem.indirect is not None and not d.sem.indirect.empty:
        ind = d.sem.indirect.copy()
        ind["ci"] = _ci_cells(ind)
        b.table(
            sec,
            frame_table(
                ind,
                [
                    ("effect", "Indirect effect", "text"),
                    ("estimate", "Estimate", "num"),
                    ("ci", d.sem.indirect_ci, "text"),
                ],
                "Indirect effects",
            ),
        )


def _groups(b: Builder) -> None:
    d = b.data
    if d.group_descriptives is None and d.group_tests is None and d.invariance is None:
        return
    sec = b.section("groups", "Group comparisons")
    desc = d.group_descriptives
    if desc is not None and not desc.empty:
        cells = desc.assign(
            cell=[f"{apa.num(m)} ({apa.num(s)})" for m, s in zip(desc["mean"], desc["sd"], strict=True)]
        )
        wide = cells.pivot_table(
            index="dimension", columns="group", values="cell", aggfunc="first", sort=False
        )
        wide = wide.reindex([x for x in d.dimensions if x in wide.index] or list(wide.index)).reset_index()
        spec = [("dimension", "Dimension", "text"), *[(g, str(g), "text") for g in wide.columns[1:]]]
        table = frame_table(wide, spec, Markup("Dimension scores per group, <i>M</i> (<i>SD</i>)"))
        if table:
            table.numeric = [False] + [True] * (len(spec) - 1)
        b.table(sec, table)
    tests = d.group_tests
    if tests is not None and not tests.empty:
        b.table(
            sec,
            frame_table(
                tests,
                [
                    ("dimension", "Dimension", "text"),
                    ("test", "Test", "text"),
                    ("statistic", "Statistic", "num"),
                    ("df1", Markup("<i>df</i><sub>1</sub>"), "num"),
                    ("df2", Markup("<i>df</i><sub>2</sub>"), "num"),
                    ("p", I_P, "p"),
                    ("eta2", Markup("<i>η</i>²"), "bounded3"),
                    ("omega2", Markup("<i>ω</i>²"), "bounded3"),
                ],
                "Tests of group differences per dimension",
            ),
        )
    if d.invariance is not None and not d.invariance.empty:
        b.table(
            sec,
            frame_table(
                d.invariance,
                [
                    ("level", "Model", "text"),
                    ("chi2", Markup("<i>χ</i>²"), "num"),
                    ("df", Markup("<i>df</i>"), "int"),
                    ("cfi", "CFI", "bounded3"),
                    ("rmsea", "RMSEA", "bounded3"),
                    ("delta_chi2", Markup("Δ<i>χ</i>²"), "num"),
                    ("delta_p", Markup("<i>p</i>"), "p"),
                    ("delta_cfi", "ΔCFI", "bounded3"),
                    ("delta_rmsea", "ΔRMSEA", "bounded3"),
                    ("holds", "Holds", "bool"),
                ],
                "Measurement invariance across groups",
                note="A level holds when ΔCFI ≥ −.010 and ΔRMSEA ≤ .015 against the previous level; group "
                "means are comparable once scalar invariance holds.",
            ),
        )
    if d.posthoc is not None and not d.posthoc.empty:
        b.table(
            sec,
            frame_table(
                d.posthoc,
                [
                    ("dimension", "Dimension", "text"),
                    ("group1", "Group", "text"),
                    ("group2", "vs", "text"),
                    ("diff", "Difference", "num"),
                    ("p_adj", Markup("<i>p</i><sub>adj</sub>"), "p"),
                    ("d", Markup("<i>d</i>"), "num"),
                ],
                "Post-hoc pairwise comparisons",
            ),
        )


def _offline(b: Builder) -> None:
    d = b.data
    if d.curves is None and d.metric_table is None:
        return
    sec = b.section("offline", "Offline recommender results")
    if d.runs is not None and not d.runs.empty:
        b.table(
            sec,
            frame_table(
                d.runs,
                [
                    ("run_id", "Run", "text"),
                    ("model", "Model", "text"),
                    ("split", "Split", "text"),
                    ("seed", "Seed", "text"),
                ],
                "Evaluation runs",
            ),
        )
    if d.curves is not None and not d.curves.empty:
        fig = figures.precision_recall_curves(d.curves)
        models = ", ".join(dict.fromkeys(d.curves["model"].astype(str)))
        b.figure(
            sec,
            fig,
            "precision-recall",
            "Precision and recall over recommendation-list length K = 1..50 "
            "per model (full ranking over all unseen items).",
            f"Two line charts of precision and recall against list length K for the models {models}.",
        )
    mt = d.metric_table
    if mt is not None and not mt.empty:
        mt = mt.copy()
        mt["metric_k"] = [
            f"{m}@{int(k)}" if pd.notna(k) else str(m) for m, k in zip(mt["metric"], mt["k"], strict=True)
        ]
        mt["ci"] = _ci_cells(mt, digits=3, leading_zero=True)
        if "p_holm" in mt.columns:
            mt["sig"] = [apa.stars(p) for p in mt["p_holm"]]
        note = "95% bootstrap confidence intervals over users."
        if d.baseline:
            note += (
                f" p: paired test across users against {d.baseline}, Holm-adjusted "
                "(* p < .05, ** p < .01, *** p < .001)."
            )
        b.table(
            sec,
            frame_table(
                mt,
                [
                    ("model", "Model", "text"),
                    ("metric_k", "Metric", "text"),
                    ("mean", "Mean", "num3"),
                    ("ci", "95% CI", "text"),
                    ("p_holm", Markup("<i>p</i><sub>Holm</sub>"), "p"),
                    ("sig", "", "text"),
                ],
                "Offline metrics per model",
                note=note,
            ),
        )


def _linkage(b: Builder) -> None:
    link = b.data.linkage
    if link is None:
        return
    from dancerec.indices.linkage.multiplicity import family_note

    sec = b.section("linkage", "Offline metrics and perceived quality")
    k = link.k
    p_adj_head = Markup("<i>p</i><sub>adj</sub>")

    def starred(frame: pd.DataFrame) -> pd.DataFrame:  # "*" only for adjusted p < alpha
        return frame.assign(sig=["*" if bool(v) else "" for v in frame["significant"].fillna(False)])

    if link.primary is not None and not link.primary.empty:
        sec.sub("Confirmatory (pre-registered) hypotheses")
        b.table(
            sec,
            frame_table(
                starred(link.primary).assign(ci=lambda f: _ci_cells(f)),
                [
                    ("metric", "Offline metric", "text"),
                    ("dimension", "Dimension", "text"),
                    ("n", I_N, "int"),
                    ("rho", I_RHO, "bounded"),
                    ("ci", "95% CI", "text"),
                    ("p", I_P, "p"),
                    ("p_adj", p_adj_head, "p"),
                    ("sig", "", "text"),
                ],
                "Pre-registered hypotheses: within-group Spearman correlations, their own family",
                note=family_note(link.primary, link.alpha)
                + " Every other test in this section is exploratory.",
            ),
        )
    sec.para(
        Markup(
            "Each study group was shown one recommender run; each respondent linked to a user of the "
            "interaction log receives that user's offline metrics at <i>K</i> = {} under the run their group "
            "saw (Knijnenburg et al., 2012: objective system aspects → subjective system aspects → "
            "experience)."
        ).format(k)
    )
    gl = link.group
    sec.sub("Group level")
    table = gl.table.copy()
    metric_cols = [c for c in table.columns if "@" in c and not c.endswith(("_ci_low", "_ci_high"))]
    for col in metric_cols:
        table[col + "_fmt"] = [
            f"{apa.num(m, 3)} {apa.ci(lo, hi, 3, leading_zero=True)}" if pd.notna(m) else apa.MISSING
            for m, lo, hi in zip(
                table[col], table.get(col + "_ci_low"), table.get(col + "_ci_high"), strict=True
            )
        ]
    b.table(
        sec,
        frame_table(
            table,
            [
                ("group", "Group", "text"),
                ("model", "Model", "text"),
                ("n", I_N, "int"),
                *[(c + "_fmt", c, "text") for c in metric_cols],
            ],
            "Offline metrics of the run each group saw, mean [95% CI]",
        ),
    )
    dims = [x for x in link.dimensions if x in table.columns]
    for dim in dims:
        table[dim + "_fmt"] = [
            f"{apa.num(m)} {apa.ci(lo, hi, leading_zero=True)}"
            for m, lo, hi in zip(table[dim], table[dim + "_ci_low"], table[dim + "_ci_high"], strict=True)
        ]
    b.table(
        sec,
        frame_table(
            table,
            [("group", "Group", "text"), *[(x + "_fmt", x, "text") for x in dims]],
            "Perceived quality per group, mean [95% CI]",
        ),
    )
    sec.para(gl.caveat)
    corr = gl.correlations.dropna(subset=["rho"])
    if not corr.empty:
        focus = corr[corr["metric"].str.startswith(("recall", "serendipity", "ndcg", "precision"))]
        b.table(
            sec,
            frame_table(
                focus if not focus.empty else corr,
                [
                    ("metric", "Offline metric", "text"),
                    ("dimension", "Dimension", "text"),
                    ("n_groups", "Groups", "int"),
                    ("rho", I_RHO, "bounded"),
                    ("p", Markup("<i>p</i><sub>exact</sub>"), "p"),
                    ("p_adj", p_adj_head, "p"),
                ],
                "Rank correlations across groups (descriptive)",
                note=Markup(
                    "Spearman's <i>ρ</i> over group means; exact permutation <i>p</i> for ≤ 8 groups. {}"
                ).format(family_note(corr, link.alpha)),
            ),
        )
    recall = f"recall@{k}"
    x_col = recall if recall in gl.table.columns else (metric_cols[0] if metric_cols else None)
    y_dim = "usefulness" if "usefulness" in dims else (dims[0] if dims else None)
    if x_col and y_dim and gl.table[[x_col, y_dim]].dropna().shape[0] >= 2:
        fig = figures.scatter_fit(
            gl.table,
            x_col,
            y_dim,
            label="group",
            xerr=(f"{x_col}_ci_low", f"{x_col}_ci_high"),
            yerr=(f"{y_dim}_ci_low", f"{y_dim}_ci_high"),
            xlabel=f"{x_col} of the group's run",
            ylabel=f"mean {y_dim}",
        )
        b.figure(
            sec,
            fig,
            "group-scatter",
            f"Group means of perceived {y_dim} against the {x_col} of the "
            "recommender each group saw, with 95% CIs and the least-squares line.",
            f"Scatter plot with one labelled point per group: {x_col} on the x axis, mean {y_dim} on the y axis.",
        )

    joined = link.joined
    sec.sub("User level (within groups, exploratory)")
    if joined is None or joined.empty or link.correlations.empty:
        sec.para(
            "No respondent could be linked to a user with per-user metrics, so there is no user-level "
            "analysis; see the missing links below."
        )
    else:
        sec.para(
            Markup(
                "{} respondents linked to a user with metrics (ids matched {}); {}. Every user-level "
                "estimate is a within-group association: metrics are centred on their group's mean and "
                "the group enters as fixed effects, so the difference between groups (which saw different "
                "recommenders) is reported at group level above, not here."
            ).format(apa.integer(len(joined)), link.missing.id_matching, link.n_statement())
        )
        if x_col in joined.columns and y_dim:
            fig = figures.scatter_fit(
                joined, x_col, y_dim, xlabel=f"per-user {x_col}", ylabel=f"{y_dim} score", jitter=0.04
            )
            b.figure(
                sec,
                fig,
                "user-scatter",
                f"Per-user {x_col} against the respondent's {y_dim} score "
                "(scores jittered vertically for visibility) with the least-squares line.",
                f"Scatter plot of {len(joined)} respondents: per-user {x_col} against their {y_dim} score.",
            )
        cors = starred(link.correlations)
        cors["ci"] = _ci_cells(cors)
        b.table(
            sec,
            frame_table(
                cors,
                [
                    ("metric", "Offline metric", "text"),
                    ("dimension", "Dimension", "text"),
                    ("n", I_N, "int"),
                    ("rho", I_RHO, "bounded"),
                    ("ci", "95% CI", "text"),
                    ("p", I_P, "p"),
                    ("p_adj", p_adj_head, "p"),
                    ("sig", "", "text"),
                ],
                "Within-group Spearman correlations of per-user offline metrics with perceived quality",
                note=Markup(
                    "Ranks within each group (pooled within-group <i>ρ</i>); percentile bootstrap CIs "
                    "resampled within groups ({} resamples). {}"
                ).format(link.settings.get("n_boot", ""), family_note(cors, link.alpha)),
            ),
        )
        regs = link.regressions
        if regs is not None and not regs.empty:
            regs = starred(regs)
            regs["ci"] = _ci_cells(regs, leading_zero=True)
            methods = ", ".join(sorted(set(regs["method"])))
            notes = sorted({n for n in regs["note"] if n})
            note = Markup(
                "Predictors centred on their group's mean and divided by the pooled within-group SD; "
                "<i>β</i> also divides by the score's SD. Method: {}; group as {}. {}"
            ).format(
                methods,
                "random intercept" if "mixedlm" in methods else "fixed effect",
                family_note(regs, link.alpha),
            )
            if notes:
                note = note + Markup(" Notes: {}.").format("; ".join(notes))
            b.table(
                sec,
                frame_table(
                    regs,
                    [
                        ("dimension", "Dimension", "text"),
                        ("term", "Predictor", "text"),
                        ("estimate", Markup("<i>b</i>"), "num"),
                        ("ci", "95% CI", "text"),
                        ("beta", I_BETA, "bounded"),
                        ("p", I_P, "p"),
                        ("p_adj", p_adj_head, "p"),
                        ("sig", "", "text"),
                        ("n", I_N, "int"),
                    ],
                    "Regression of each dimension score on per-user offline metrics, within groups",
                    note=note,
                ),
            )
        sem = link.sem
        if sem is None and link.settings.get("sem_note"):
            sec.para("Structural model: " + str(link.settings["sem_note"]) + ".")
        if sem is not None and not sem.paths.empty:
            sec.sub("Structural model: offline metrics → perceived quality")
            sec.para(
                Markup(
                    "Observed per-user metrics (centred on their group's mean) as exogenous predictors of "
                    "the latent dimensions, with the group as dummy covariates (fixed effects); fit: {}. "
                    "Estimated with {}; N used = {} of {} linked respondents."
                ).format(_fit_line(sem.fit), sem.backend, apa.integer(sem.n), apa.integer(sem.n_total))
            )
            paths = sem.paths.rename(columns={"dimension": "lval", "metric": "rval"})
            strongest = (
                paths.loc[paths.groupby("lval")["std"].apply(lambda s: s.abs().idxmax())]
                if len(paths) > 12
                else paths
            )
            fig = figures.path_diagram(strongest, observed=list(paths["rval"].unique()))
            b.figure(
                sec,
                fig,
                "metrics-sem",
                "Offline metrics (boxes) predicting latent perceived-quality dimensions "
                "(ellipses), standardised coefficients"
                + (" (strongest path per dimension)" if len(paths) > 12 else "")
                + ".",
                f"Path diagram from {paths['rval'].nunique()} offline metrics to "
                f"{paths['lval'].nunique()} latent dimensions.",
            )
            b.table(
                sec,
                frame_table(
                    starred(sem.paths),
                    [
                        ("metric", "Offline metric", "text"),
                        ("dimension", "Dimension", "text"),
                        ("estimate", "Estimate", "num"),
                        ("std", I_BETA, "bounded"),
                        ("se", "SE", "num"),
                        ("p", I_P, "p"),
                        ("p_adj", p_adj_head, "p"),
                        ("sig", "", "text"),
                    ],
                    "SEM paths from offline metrics to latent dimensions (within groups)",
                    note="; ".join(sem.notes) + ". " + family_note(sem.paths, link.alpha),
                ),
            )
    sec.sub("Missing links")
    b.table(
        sec,
        frame_table(
            link.missing.table(),
            [("reason", "Respondents / links", "text"), ("n", I_N, "int")],
            "Links that could not be made (nothing is dropped silently)",
        ),
    )
    sec.sub("How the linkage was tested")
    sec.para(link.methods_text())


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
            "CR = (Σ<i>λ</i><sub><i>i</i></sub>)² / ((Σ<i>λ</i><sub><i>i</i></sub>)² + Σ<i>θ</i><sub><i>i</i></sub>)"
        ),
    ),
    (
        "Average variance extracted",
        Markup("AVE = Σ<i>λ</i>²<sub><i>i</i></sub> / <i>k</i> (standardised loadings)"),
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
        "Mixed model",
        Markup(
            "<i>y</i><sub><i>ug</i></sub> = <i>β</i><sub>0</sub> + Σ<i>β</i><sub><i>m</i></sub><i>z</i><sub><i>m,u</i></sub> + <i>u</i><sub><i>g</i></sub> + <i>ε</i><sub><i>ug</i></sub>, <i>u</i><sub><i>g</i></sub> ~ N(0, <i>τ</i>²)"
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
    ("Significance", "α = .05, two-sided; Holm-adjusted within each family of tests"),
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
    if d.skipped:
        sec.sub("Sections left out")
        for reason in d.skipped:
            sec.para(reason)


def build_sections(data: ReportData, figures_dir: Path | None = None) -> Builder:
    """All sections that have data, in report order, with tables and figures numbered."""
    b = Builder(data, figures_dir)
    for part in (_overview, _items, _reliability, _factors, _sem, _groups, _offline, _linkage, _methods):
        part(b)
    return b
