"""The report's "Design sensitivity" subsection shows what ``design_sensitivity`` computed for the linkage."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from dancerec.indices.linkage.planning import design_sensitivity
from dancerec.reports import apa
from dancerec.reports.build import DisplayTable, Heading, build_sections
from dancerec.reports.render import write_report
from markupsafe import escape

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S


@pytest.fixture(scope="module")
def data():
    return S.report_data(n_per_group=40)


def _sensitivity_blocks(builder):
    """The blocks under the linkage section's "Design sensitivity" heading."""
    (linkage,) = [s for s in builder.sections if s.anchor == "linkage"]
    titles = [getattr(b, "title", None) for b in linkage.blocks]
    start = titles.index("Design sensitivity")
    end = next(i for i in range(start + 1, len(titles)) if isinstance(linkage.blocks[i], Heading))
    return linkage.blocks[start + 1 : end]


def test_sensitivity_table_has_the_numbers_design_sensitivity_computes(data):
    table, _ = design_sensitivity(data.linkage)
    assert len(table) == 3  # pre-registered rho, exploratory rho, group f: this design has all three
    table, sentence = design_sensitivity(data.linkage)
    (para, shown) = _sensitivity_blocks(build_sections(data))
    assert para == ("p", sentence) and isinstance(shown, DisplayTable)
    assert [row[0] for row in shown.rows] == list(table["analysis"])
    assert [row[1] for row in shown.rows] == [apa.integer(t) for t in table["tests"]]
    assert [row[2] for row in shown.rows] == [apa.integer(n) for n in table["n"]]
    assert [row[-1] for row in shown.rows] == [apa.num(v) for v in table["minimum_detectable"]]
    # alpha per test is alpha / tests (Bonferroni step), shown to two significant digits
    for row, a, m in zip(shown.rows, table["alpha_per_test"], table["tests"], strict=True):
        assert a == pytest.approx(data.linkage.alpha / m)
        assert float("0" + row[3]) == pytest.approx(a, rel=0.05)


def test_html_report_has_the_subsection_and_the_sentence(data, tmp_path):
    out = tmp_path / "report.html"
    write_report(data, out)
    text = out.read_text(encoding="utf-8")
    _, sentence = design_sensitivity(data.linkage)
    assert "Design sensitivity" in text
    assert str(escape(sentence)) in text
    # the sentence names the exploratory family's minimum detectable rho, which must be larger than the
    # single pre-registered test's (a stricter alpha per test needs a larger effect)
    table, _ = design_sensitivity(data.linkage)
    pre, expl = table["minimum_detectable"].iloc[0], table["minimum_detectable"].iloc[1]
    assert 0 < pre < expl < 1
    assert f"{expl:.2f}" in sentence
