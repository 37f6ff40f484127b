"""`--tables`: every report table as CSV, XLSX (a sheet per table, no formulas) and LaTeX (booktabs, APA)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dancerec.reports.build import build_sections
from dancerec.reports.export import (
    export_tables,
    latex_escape,
    number_or_text,
    plain,
    report_tables,
    table_frame,
    write_xlsx,
)
from dancerec.reports.sections.base import DisplayTable
from openpyxl import load_workbook

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    built = build_sections(S.report_data(n_per_group=30))
    out = tmp_path_factory.mktemp("tables")
    return built, export_tables(built, out), out


def test_every_table_in_all_three_formats(exported):
    built, result, out = exported
    tables = report_tables(built)
    assert len(tables) == built.n_tables >= 20
    assert len(result.csv) == len(result.latex) == len(tables) == len(set(result.names))
    book = load_workbook(result.xlsx)
    assert len(book.sheetnames) == len(tables)
    for table, csv_path, sheet_name in zip(tables, result.csv, book.sheetnames, strict=True):
        frame = table_frame(table)
        with open(csv_path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == len(table.rows) + 1 and len(rows[0]) == len(table.columns)
        for got, want in zip(rows[1:], frame.itertuples(index=False), strict=True):
            assert [g.removeprefix("'") for g in got] == [str(w) for w in want]
        sheet = book[sheet_name]
        assert sheet_name.startswith(f"T{table.number:02d}")
        for r, want in enumerate(frame.itertuples(index=False), start=2):
            for c, cell in enumerate(want, start=1):
                value = sheet.cell(r, c).value
                expected = number_or_text(str(cell))
                assert value == expected or (value is None and expected == "")
    text = (out / "tables.tex").read_text(encoding="utf-8")
    assert text.count("\\begin{table}") == len(tables)


def test_numbers_are_numbers_in_the_workbook():
    assert number_or_text(".45") == 0.45 and number_or_text("\u22121.20") == -1.2
    assert number_or_text("318") == 318 and number_or_text("1,024") == 1024
    assert number_or_text("< .001") == "< .001" and number_or_text("[.12, .45]") == "[.12, .45]"


def test_formula_like_cells_are_neutralised(tmp_path):
    evil = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain"]
    table = DisplayTable(
        caption="Evil", columns=["=cmd", "b"], rows=[[e, "1"] for e in evil], numeric=[False, True]
    )
    table.number = 1
    path = tmp_path / "t.xlsx"
    write_xlsx([table], path)
    sheet = load_workbook(path).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type in ("s", "n") for c in cells)  # never "f" (formula)
    values = [sheet.cell(r, 1).value for r in range(2, 2 + len(evil))]
    # (XML stores a carriage return as a line feed)
    assert values[:-1] == ["'" + e.replace("\r", "\n") for e in evil[:-1]] and values[-1] == "plain"
    assert sheet.cell(1, 1).value == "'=cmd"


def _unescaped(text: str, chars: str) -> list[str]:
    return re.findall(rf"(?<!\\)[{re.escape(chars)}]", text)


def test_latex_is_booktabs_apa_and_well_formed(exported):
    built, result, _ = exported
    for table, path in zip(report_tables(built), result.latex, strict=True):
        tex = path.read_text(encoding="utf-8")
        assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
        for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
            assert tex.count(rule) == 1
        body = tex[tex.index("\\toprule") : tex.index("\\bottomrule")]
        rows = [line for line in body.splitlines() if line.endswith("\\\\")]
        assert len(rows) == len(table.rows) + 1
        for line in rows:  # every row has exactly one cell per column
            assert len(_unescaped(line, "&")) == len(table.columns) - 1, line
        without_math = re.sub(r"\$[^$]*\$", "", tex)
        assert not _unescaped(without_math, "%#_^~"), path.name
        assert tex.count("{") - tex.count("\\{") == tex.count("}") - tex.count("\\}")
        assert not re.search(r"<[a-z/]", without_math)  # no HTML left over
        # APA: no leading zero for p values and correlations; p below .001 as "< .001"
        for col, header in enumerate(table.columns):
            if plain(header) in ("p", "p_adj", "p_Holm", "p_exact", "ρ", "r", "β"):
                for row in table.rows:
                    assert not re.match(r"[\u2212-]?0\.\d", row[col]), (table.caption, header, row[col])
                    assert not re.fullmatch(r"\.000|0", row[col])
    assert any("$<$ .001" in p.read_text(encoding="utf-8") for p in result.latex)


def test_latex_escape():
    assert latex_escape("a_b & 50% #1 {x} ~^\\") == (
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert latex_escape("\u2212.45, χ² < .001") == r"$-$.45, $\chi$\textsuperscript{2} $<$ .001"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex) installed")
def test_latex_compiles_standalone(tmp_path):
    tables = [
        t
        for t in report_tables(build_sections(S.report_data(n_per_group=30)))
        if "Items" not in str(t.caption)
    ]
    from dancerec.reports.export import standalone_latex

    (tmp_path / "t.tex").write_text(standalone_latex(tables), encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path, capture_output=True
    )
    assert run.returncode == 0, run.stdout[-2000:]
