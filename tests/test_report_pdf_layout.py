"""PDF layout, checked on the drawn objects (pdfplumber): nothing past the margins, no near-empty page,
header rows repeated on every page of a long table, no row stranded alone on a page."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pdfplumber
import pytest
from dancerec.reports.data import ReportData
from dancerec.reports.pdf_layout import layout_problems
from dancerec.reports.render import write_report

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S


def _pdf_from_html(body: str, path: Path) -> Path:
    from weasyprint import HTML

    css = "@page { size: A4; margin: 2cm 2cm 2.2cm; } body { font-family: 'DejaVu Sans'; }"
    HTML(string=f"<html><head><style>{css}</style></head><body>{body}</body></html>").write_pdf(path)
    return path


def test_the_checker_sees_content_past_the_margin_and_near_empty_pages(tmp_path):
    wide = _pdf_from_html(
        "<div style='width: 24cm; border-top: 1px solid black'>wide</div>", tmp_path / "w.pdf"
    )
    assert any("beyond the side margins" in p for p in layout_problems(wide))
    stranded = _pdf_from_html(
        "<p>first page</p><p style='break-before: page'>one stranded line</p>", tmp_path / "e.pdf"
    )
    assert any("page 2: near-empty" in p for p in layout_problems(stranded))
    fine = _pdf_from_html("<h2>1. A section</h2><p>short but a section of its own</p>", tmp_path / "f.pdf")
    assert layout_problems(fine) == []


@pytest.mark.slow
def test_the_report_pdf_has_no_layout_problems(tmp_path):
    out = tmp_path / "report.pdf"
    result = write_report(S.report_data(n_per_group=40), out, fmt="pdf")
    assert result.n_pages >= 15
    assert layout_problems(out) == []


def test_long_tables_repeat_their_header_and_strand_no_row(tmp_path):
    groups = [f"group {i:03d}" for i in range(140)]
    data = ReportData(
        title="long table",
        study_name="layout",
        generated="2026-01-01 00:00 UTC",
        respondents=pd.DataFrame({"group": groups, "n_total": 10, "n_excluded": 1, "n_analysed": 9}),
    )
    out = tmp_path / "long.pdf"
    write_report(data, out, fmt="pdf")
    assert layout_problems(out) == []
    pages_with_rows = []
    with pdfplumber.open(out) as pdf:
        for page in pdf.pages:
            text = page.extract_text() or ""
            rows = [g for g in groups if g in text]
            if rows:
                pages_with_rows.append((text, rows))
    assert len(pages_with_rows) >= 3  # the table spans pages
    assert sum(len(r) for _, r in pages_with_rows) == len(groups)
    for text, rows in pages_with_rows:
        assert "Respondents Excluded Analysed" in text.replace("\n", " ")  # header on every page
        assert len(rows) >= 2  # no orphan or widow row
