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


@pytest.mark.slow  # builds a study workspace (~10 s)
def test_linked_study_report_shows_design_sensitivity(tmp_path):
    """On a study workspace built like the demo (recorded runs, simulated survey, group map), the report's
    subsection holds the numbers ``design_sensitivity`` gives for the linkage the report itself used."""
    import test_link_study as T
    from dancerec.reports.collect import collect_report_data

    study = T._make_study(tmp_path / "study", T.EFFECT, pseudonymise=True)
    data = collect_report_data(study, n_boot=50, primary=["recall@10:usefulness"])
    table, sentence = design_sensitivity(data.linkage)
    assert table["n"].iloc[0] == data.linkage.missing.n_linked > 0
    out = tmp_path / "report.html"
    write_report(data, out)
    text = out.read_text(encoding="utf-8")
    section = text[text.index('id="linkage"') :]
    section = section[section.index(">Design sensitivity<") : section.index(">How the linkage was tested<")]
    assert str(escape(sentence)) in section
    for value in table["minimum_detectable"]:
        assert f'<td class="num">{apa.num(value)}</td>' in section
