"""The HTML and PDF reports from a small fixture study (tests/fixtures/report/synthetic.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from dancerec.reports import figures
from dancerec.reports.render import write_report

from dancerec.errors import UserError

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed"
)


@pytest.fixture(scope="module")
def data():
    return S.report_data(n_per_group=40)


@pytest.fixture(scope="module")
def html_report(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = write_report(data, out)
    return result, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pdf_report(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf") / "study.pdf"
    result = write_report(data, out, fmt="pdf")
    return result, out


def test_html_is_self_contained(html_report):
    result, html = html_report
    assert result.format == "html" and result.n_figures >= 7 and result.n_tables >= 20
    assert "http://" not in html and "https://" not in html  # no remote resources, not even SVG namespaces
    assert not re.search(r"<script|<link\b|<iframe|@import|<img\b", html, re.I)
    assert '<meta name="viewport"' in html and "<style>" in html
    assert html.count("<svg") == result.n_figures  # figures inline
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate element ids across inline figures"
    # every figure has a caption and alt text
    assert html.count("<figcaption>") == result.n_figures
    assert len(re.findall(r'role="img" aria-label="[^"]{20,}"', html)) == result.n_figures


def test_user_data_is_escaped(html_report):
    _, html = html_report
    assert "The list &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; was useful &amp; fun" in html
    assert "推荐列表&lt;script&gt;很有用&lt;/script&gt;" in html
    assert "对照组 C &amp; &lt;b&gt;" in html  # a group name
    assert "/data/&lt;evil&gt;.csv" in html  # a data-file path
    assert "fixture &lt;study&gt;" in html
    for raw in ("<script", "对照组 C & <b>", "<evil>", "fixture <study>"):
        assert raw not in html


def test_sections_tables_and_apa_numbers(html_report, data):
    _, html = html_report
    for title in (
        "Study overview",
        "Item analysis and reliability",
        "Factor structure",
        "Structural model",
        "Group comparisons",
        "Offline recommender results",
        "Offline metrics and perceived quality",
        "Methods appendix",
        "Missing links",
        "Data files",
    ):
        assert title in html, title
    assert "&lt; .001" in html and "−" in html
    assert not re.search(
        r"<td class=\"num\">0\.\d{2,3}</td>",
        html.split("Methods appendix")[0].split("Offline recommender results")[0],
    ), "bounded statistics must not have a leading zero"
    assert "Only 3 groups" in html  # the few-groups caveat
    assert "CFI = .981" in html and "RMSEA = .034, 90% CI [.000, .056]" in html
    assert "ab" * 32 in html  # checksum listed
    assert "Measurement invariance across groups" in html and "scalar" in html


def test_figures_are_written_for_papers(html_report):
    result, _ = html_report
    svgs = [p for p in result.figures if p.suffix == ".svg"]
    pngs = [p for p in result.figures if p.suffix == ".png"]
    assert len(svgs) == len(pngs) == result.n_figures
    for svg in svgs:
        ET.parse(svg)  # well-formed standalone SVG
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_same_data_same_figure_markup(data):
    """Deterministic figures (fixed SVG id salt, no dates): the same data give byte-identical markup."""
    items = list(data.items["id"])

    def draw() -> str:
        fig = figures.likert_bars(data.responses, items, 1, 5)
        return figures.inline_svg(figures.svg_document(fig), "likert")

    assert draw() == draw()


def test_unknown_format_is_a_user_error(data, tmp_path):
    with pytest.raises(UserError, match="html or pdf"):
        write_report(data, tmp_path / "report.docx")


@needs_poppler
@pytest.mark.slow
def test_pdf_pages_toc_page_numbers_and_cjk(pdf_report, tmp_path):
    result, path = pdf_report
    assert path.read_bytes()[:5] == b"%PDF-"
    assert 10 <= result.n_pages <= 30
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == result.n_pages
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pages)

    def pdftotext(*pages: str) -> str:
        cmd = ["pdftotext", "-layout", *pages, str(path), "-"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    text = pdftotext()
    assert f"Page 1 of {result.n_pages}" in text and f"Page {result.n_pages} of {result.n_pages}" in text
    toc = pdftotext("-f", "1", "-l", "1")
    entries = re.findall(r"Methods appendix\s*\.+\s*(\d+)", toc)
    assert entries, "table of contents with page numbers"
    assert "Methods appendix" in pdftotext("-f", entries[0], "-l", entries[0])
    assert "关于推荐的陈述" in text and "对照组" in text  # Chinese wording rendered with a real font
    assert "<script>alert('x')</script>" in text  # shown as text, never run
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    if (
        shutil.which("fc-list")
        and "WenQuanYi" in subprocess.run(["fc-list"], capture_output=True, text=True).stdout
    ):
        assert "WenQuanYi" in fonts  # the CJK font that .ci/setup.sh installs is the one embedded
