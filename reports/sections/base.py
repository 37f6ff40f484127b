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
from dancerec.reports.diagrams import Diagram, export_diagram
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
    highlight: list[bool] = field(default_factory=list)  # rows shown in bold (e.g. runs a group saw)
    breakable: list[bool] = field(default_factory=list)  # columns with long tokens (checksums, ids)

    @property
    def keep_together(self) -> bool:
        """Short tables move whole to the next page rather than leave a stub of rows behind."""
        return len(self.rows) <= KEEP_TOGETHER_ROWS


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


#: Tables with at most this many rows are never split across pages (PDF).
KEEP_TOGETHER_ROWS = 10
#: A cell token longer than this (no spaces: a checksum, a run id, a path) may be broken anywhere.
LONG_TOKEN = 22


def _breakable(rows: list[list[str]], n_cols: int) -> list[bool]:
    return [any(len(tok) > LONG_TOKEN for row in rows for tok in str(row[i]).split()) for i in range(n_cols)]


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
    "pct_points": lambda v: apa.percent(v / 100 if isinstance(v, int | float) else None),  # 12.5 → 12.5%
    "text": lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v),
    "bool": lambda v: "yes" if bool(v) and v is not pd.NA else "no",
}


#: The one place where a column's display label lives (columns named as their subsystem names them).
#: A table spec entry (column, format) takes its header from here; (column, header, format) overrides
#: it where a table needs another wording.
LABELS: dict[str, Text] = {
    "dimension": "Dimension",
    "item": "Item",
    "factor": "Factor",
    "group": "Group",
    "model": "Model",
    "run_id": "Run",
    "split": "Split",
    "seed": "Seed",
    "test": "Test",
    "statistic": "Statistic",
    "method": "Method",
    "estimate": "Estimate",
    "se": "SE",
    "p": I_P,
    "std": I_BETA,
    "n": I_N,
    "sd": I_SD,
    "skewness": "Skew",
    "kurtosis": "Kurtosis",
    "floor_pct": "Floor",
    "ceiling_pct": "Ceiling",
    "item_total_r": Markup("<i>r</i><sub>it</sub>"),
    "alpha_if_deleted": Markup("<i>α</i> if deleted"),
    "n_items": "Items",
    "alpha": Markup("<i>α</i>"),
    "alpha_std": Markup("<i>α</i><sub>std</sub>"),
    "omega": Markup("<i>ω</i>"),
    "cr": "CR",
    "ave": "AVE",
    "eta2": Markup("<i>η</i>²"),
    "omega2": Markup("<i>ω</i>²"),
    "df1": Markup("<i>df</i><sub>1</sub>"),
    "df2": Markup("<i>df</i><sub>2</sub>"),
    "p_adj": Markup("<i>p</i><sub>adj</sub>"),
    "p_t_holm": Markup("<i>p</i><sub>Holm</sub>"),
    "mean_diff": "Difference",
    "cohens_d": Markup("<i>d</i>"),
    "r2": Markup("<i>R</i>²"),
    "h2": Markup("<i>h</i>²"),
    "chi2": Markup("<i>χ</i>²"),
    "df": Markup("<i>df</i>"),
    "cfi": "CFI",
    "rmsea": "RMSEA",
    "delta_chi2": Markup("Δ<i>χ</i>²"),
    "delta_cfi": "ΔCFI",
    "delta_rmsea": "ΔRMSEA",
    "holds": "Holds",
    "status": "Holds",
    "level": "Model",
}


def frame_table(
    frame: pd.DataFrame,
    spec: Sequence[tuple[str, str] | tuple[str, Text, str]],
    caption: Text,
    note: Text | None = None,
) -> DisplayTable | None:
    """A table from ``frame`` with columns ``spec`` = (column, format) — header from :data:`LABELS` —
    or (column, header, format); missing columns skipped."""
    if frame is None or frame.empty:
        return None
    spec = [(s[0], LABELS[s[0]], s[1]) if len(s) == 2 else s for s in spec]
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
        breakable=_breakable(rows, len(spec)),
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
        """Add a matplotlib figure or a Graphviz :class:`~dancerec.reports.diagrams.Diagram`."""
        self.n_figures += 1
        slug = f"fig{self.n_figures:02d}-{slug}"
        if isinstance(fig, Diagram):
            document, svg_path, png_path = export_diagram(fig, slug, self.figures_dir)
            exported = ExportedFigure(
                slug=slug,
                caption=caption,
                alt=alt,
                svg=figures.inline_svg(document, slug),
                standalone=document,
                svg_path=svg_path,
                png_path=png_path,
            )
        else:
            exported = figures.export(fig, slug, caption, alt, self.figures_dir)
        exported.number = self.n_figures  # type: ignore[attr-defined]
        self.figures.append(exported)
        sec.blocks.append(exported)


# ----------------------------------------------------------------------------------------------
