"""Every report table as CSV, one XLSX workbook (one sheet per table) and LaTeX (booktabs, APA style).

The cells are the report's own cells (already APA-formatted: no leading zero for statistics bounded by 1,
``< .001``, ``−`` for minus), so a table pasted into a paper reads exactly as in the report.

Spreadsheet safety: a cell beginning with ``=``, ``+``, ``-``, ``@``, tab or carriage return would be read
by Excel/LibreOffice as a formula (CSV/formula injection, e.g. through an item wording or a group name), so
such text cells get a leading apostrophe in both the CSV and the XLSX; XLSX cells that are plain numbers
are stored as numbers, everything else as text, never as a formula.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from dancerec.reports.sections.base import Builder, DisplayTable
from markupsafe import Markup

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TAG = re.compile(r"<[^>]+>")


@dataclass
class TablesExport:
    """What :func:`export_tables` wrote."""

    csv: list[Path] = field(default_factory=list)
    latex: list[Path] = field(default_factory=list)
    xlsx: Path | None = None
    names: list[str] = field(default_factory=list)  # one per table, in report order


def plain(text: object) -> str:
    """A header or cell without its HTML markup (``<i>p</i><sub>adj</sub>`` → ``p_adj``). Only
    :class:`~markupsafe.Markup` (written by the report) is markup; a plain ``str`` is user data, kept as is."""
    if not isinstance(text, Markup):
        return str(text)
    s = str(text)
    s = re.sub(r"<sub>(.*?)</sub>", r"_\1", s)
    s = re.sub(r"<sup>(.*?)</sup>", r"^\1", s)
    return html.unescape(_TAG.sub("", s))


def neutralise(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def number_or_text(text: str) -> float | int | str:
    """The cell as a number when it is one (APA ``.45``/``−1.20``/``318``), else neutralised text."""
    candidate = text.replace("\u2212", "-").replace(",", "") if text else text
    if candidate and re.fullmatch(r"-?(\d+|\d*\.\d+)", candidate):
        value = float(candidate)
        return int(value) if re.fullmatch(r"-?\d+", candidate) else value
    return neutralise(text)


def table_name(table: DisplayTable) -> str:
    """``table-07-cfa-loadings``: number and a slug of the caption (file names, sheet names)."""
    slug = re.sub(r"[^a-z0-9]+", "-", plain(table.caption).lower()).strip("-")[:40].strip("-")
    return f"table-{table.number:02d}-{slug or 'table'}"


def table_frame(table: DisplayTable) -> pd.DataFrame:
    """The table's cells as strings, headers without markup (blank headers named ``col<i>``)."""
    columns = [plain(c) or f"col{i + 1}" for i, c in enumerate(table.columns)]
    return pd.DataFrame([[plain(c) for c in row] for row in table.rows], columns=columns, dtype=object)


def report_tables(built: Builder) -> list[DisplayTable]:
    """Every numbered table of a built report, in report order."""
    return [b for sec in built.sections for b in sec.blocks if isinstance(b, DisplayTable)]


# -- LaTeX ------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_UNICODE = {
    "\u2212": "$-$",
    "\u2013": "--",
    "\u2014": "---",
    "<": "$<$",
    ">": "$>$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "→": r"$\rightarrow$",
    "←": r"$\leftarrow$",
    "√": r"$\surd$",
    "²": r"\textsuperscript{2}",
    "α": r"$\alpha$",
    "β": r"$\beta$",
    "χ": r"$\chi$",
    "Δ": r"$\Delta$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "ω": r"$\omega$",
    "ψ": r"$\psi$",
    "ρ": r"$\rho$",
    "σ": r"$\sigma$",
    "Σ": r"$\Sigma$",
    "θ": r"$\theta$",
    "ε": r"$\varepsilon$",
    "τ": r"$\tau$",
}


def latex_escape(text: str) -> str:
    """Plain text as LaTeX: specials escaped, Greek and symbols as math (compiles with pdflatex;
    Chinese wording needs xelatex with xeCJK)."""
    out = []
    for ch in text:
        out.append(_LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch) or ch)
    return "".join(out)


def latex_markup(text: object) -> str:
    """A header with the report's HTML markup (<i>, <sub>, <sup>, <b>) as LaTeX; plain ``str`` (user
    data such as a group name) is only escaped."""
    if not isinstance(text, Markup):
        return latex_escape(str(text))
    parts = re.split(r"(<[^>]+>)", str(text))
    out = []
    for part in parts:
        if not part:
            continue
        tag = re.fullmatch(r"<(/?)(\w+)[^>]*>", part)
        if tag:
            closing, name = tag.groups()
            opening = {"i": r"\textit{", "em": r"\textit{", "b": r"\textbf{", "sub": r"\textsubscript{"}
            opening["sup"] = r"\textsuperscript{"
            if name in opening:
                out.append("}" if closing else opening[name])
            continue
        out.append(latex_escape(html.unescape(part)))
    return "".join(out)


def to_latex(table: DisplayTable) -> str:
    """A ``table`` float with a booktabs tabular (APA: caption above, note below in a ``tablenotes``-free
    minipage, numbers right-aligned)."""
    align = "".join("r" if num else "l" for num in table.numeric)
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        f"\\caption{{{latex_markup(table.caption)}}}",
        f"\\label{{tab:{table_name(table)}}}",
        f"\\begin{{tabular}}{{@{{}}{align}@{{}}}}",
        "\\toprule",
        " & ".join(latex_markup(c) for c in table.columns) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(latex_markup(c) for c in row) + " \\\\" for row in table.rows]
    lines.append("\\bottomrule")
    lines.append("\\end{tabular}")
    if table.note:
        lines.append(f"\\par\\smallskip{{\\footnotesize\\textit{{Note.}} {latex_markup(table.note)}\\par}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def standalone_latex(tables: Iterable[DisplayTable]) -> str:
    """A compilable document holding ``tables`` (pdflatex; booktabs and textcomp)."""
    body = "\n".join(to_latex(t) for t in tables)
    return (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{textcomp}\n"
        "\\usepackage{booktabs}\n\\begin{document}\n" + body + "\\end{document}\n"
    )


# -- files --------------------------------------------------------------------------------------------
def _sheet_title(table: DisplayTable, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\']", " ", f"T{table.number:02d} {plain(table.caption)}")[:31].strip()
    title, i = base, 2
    while title in used:
        title, i = f"{base[:28]}~{i}", i + 1
    used.add(title)
    return title


def write_xlsx(tables: list[DisplayTable], path: Path) -> None:
    """One sheet per table: header row, then cells as numbers or (neutralised) text, never formulas."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(_sheet_title(table, used))
        frame = table_frame(table)
        sheet.append([neutralise(c) for c in frame.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in frame.itertuples(index=False):
            sheet.append([number_or_text(str(v)) for v in row])
        for row in sheet.iter_rows(min_row=1):
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, even if it looks like a formula
        caption_row = sheet.max_row + 2
        sheet.cell(
            caption_row, 1, neutralise(f"Table {table.number}. {plain(table.caption)}")
        ).data_type = "s"
        if table.note:
            sheet.cell(caption_row + 1, 1, neutralise("Note. " + plain(table.note))).data_type = "s"
    tmp = path.with_name(path.name + ".tmp")
    book.save(tmp)
    tmp.replace(path)


def export_tables(built: Builder, out_dir: Path) -> TablesExport:
    """Write ``<name>.csv`` and ``<name>.tex`` per table, ``tables.tex`` (a standalone document with all
    of them) and ``tables.xlsx`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = report_tables(built)
    result = TablesExport()
    for table in tables:
        name = table_name(table)
        result.names.append(name)
        frame = table_frame(table)
        csv_path = out_dir / f"{name}.csv"
        with open(csv_path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([neutralise(c) for c in frame.columns])
            writer.writerows([[neutralise(str(v)) for v in row] for row in frame.itertuples(index=False)])
        result.csv.append(csv_path)
        tex_path = out_dir / f"{name}.tex"
        tex_path.write_text(to_latex(table), encoding="utf-8")
        result.latex.append(tex_path)
    (out_dir / "tables.tex").write_text(standalone_latex(tables), encoding="utf-8")
    result.xlsx = out_dir / "tables.xlsx"
    write_xlsx(tables, result.xlsx)
    return result
