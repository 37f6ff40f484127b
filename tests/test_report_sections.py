"""The report's added tables and figures: group means with CIs, all runs with the unseen better run,
post-hoc methods named, the AVE formula computed, per-user scatter panels, the Likert legend inside."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.groups import compare_groups
from dancerec.reports import charts, figures
from dancerec.reports.render import write_report
from dancerec.reports.sections.groups import _posthoc_note, _tests_note
from dancerec.reports.sections.linkage_figures import scatter_panels
from dancerec.reports.sections.offline import better_unseen_run
from matplotlib.backends.backend_agg import FigureCanvasAgg
from scipy import stats
from statsmodels.stats.weightstats import DescrStatsW

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S


@pytest.fixture(scope="module")
def data():
    return S.report_data(n_per_group=40)


@pytest.fixture(scope="module")
def html(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("sections") / "report.html"
    write_report(data, out)
    return out.read_text(encoding="utf-8")


def test_group_mean_cis_match_statsmodels():
    rng = np.random.default_rng(1)
    scores = pd.DataFrame(
        {"a": rng.normal(3, 1, 90), "b": rng.normal(2, 0.5, 90), "group": np.repeat(["x", "y", "z"], 30)}
    )
    scores.loc[3, "a"] = np.nan  # a missing score is dropped, n shrinks
    table = charts.mean_ci_table(scores, ["a", "b"])
    assert len(table) == 6
    for _, row in table.iterrows():
        x = scores.loc[scores["group"] == row["group"], row["dimension"]].dropna()
        low, high = DescrStatsW(x.to_numpy()).tconfint_mean(alpha=0.05)
        assert row["n"] == len(x)
        assert row["ci_low"] == pytest.approx(low, rel=1e-10) and row["ci_high"] == pytest.approx(
            high, rel=1e-10
        )
    assert table.loc[(table["group"] == "x") & (table["dimension"] == "a"), "n"].item() == 29


def test_group_means_figure_in_report(html):
    assert re.search(r'<figure id="fig\d\d-group-means">', html)
    assert "Mean dimension score per group with 95% confidence intervals" in html


def test_every_run_listed_and_the_better_unseen_run_noted(data, html):
    found = better_unseen_run(data.runs, "ndcg@10")
    assert found is not None and found[0]["model"] == "als" and found[1]["model"] == "ease"
    assert "A run no group saw scores higher on ndcg@10: als (run-als" in html
    table = html[html.index("Evaluation runs (all runs in the study)") :]
    table = table[: table.index("</table>")]
    assert table.count('<tr class="highlight">') == 3 and "run-als" in table
    # no note when the best run was shown
    shown_best = data.runs.assign(**{"ndcg@10": [0.1, 0.2, 0.3, 0.05]})
    assert better_unseen_run(shown_best, "ndcg@10") is None
    assert better_unseen_run(data.runs.assign(shown=False), "ndcg@10") is None  # no group map


def test_posthoc_method_named_in_every_group_comparison_note():
    rng = np.random.default_rng(2)
    scores = pd.DataFrame({"a": rng.normal(0, 1, 120), "b": rng.normal(0, 1, 120)})
    scores["group"] = np.repeat(["g1", "g2", "g3"], 40)
    result = compare_groups(scores, "group")
    methods = set(result.posthoc["method"])
    assert methods and methods <= {"Tukey HSD", "Games-Howell", "Dunn (Holm)"}
    note = str(_posthoc_note(result.posthoc))
    for m in methods:
        assert m in note
    tests_note = str(
        _tests_note(result.tests.reset_index() if "dimension" not in result.tests else result.tests)
    )
    assert "not adjusted across dimensions" in tests_note
    for dim, m in zip(result.tests.reset_index()["dimension"], result.tests["posthoc"], strict=True):
        assert f"{dim}: {m}" in tests_note


def test_ave_formula_shown_is_the_one_computed(html):
    from dancerec.indices.reliability import DEFINITIONS

    assert "semTools::AVE" in DEFINITIONS["ave"]  # what indices computes ...
    assert "semTools::AVE" in html and "observed item variances" in html  # ... is what the report shows
    assert "AVE = Σ<i>λ</i>²<sub><i>i</i></sub> / <i>k</i>" not in html  # not the textbook version


def test_user_scatter_panels_carry_rho_and_adjusted_p(data, html):
    link = data.linkage
    pairs, titles, adjustment = scatter_panels(link)
    assert adjustment == "Holm-adjusted" and len(pairs) == len(link.metrics) * 1  # usefulness only
    cors = link.correlations.set_index(["metric", "dimension"])
    for (metric, dim), title in zip(pairs, titles, strict=True):
        row = cors.loc[(metric, dim)]
        p_adj = figures.apa.p_clause(row["p_adj" if "p_adj" in row.index else "p_holm"]).removeprefix("p ")
        assert title == f"ρ = {figures.apa.bounded(row['rho'])}, n = {int(row['n'])}\np_adj {p_adj}"
    assert "one panel per metric × primary dimension" in html


def test_likert_legend_stays_inside_the_figure_even_with_long_anchors():
    rng = np.random.default_rng(3)
    items = [f"Q{i}" for i in range(6)]
    responses = pd.DataFrame(rng.integers(1, 8, (50, 6)), columns=items)
    anchors = [
        f"{v} {t}"
        for v, t in enumerate(
            [
                "Strongly disagree",
                "Disagree",
                "Somewhat disagree",
                "Neither agree nor disagree",
                "Somewhat agree",
                "Agree",
                "Strongly agree",
            ],
            start=1,
        )
    ]
    fig = figures.likert_bars(responses, items, 1, 7, anchors=anchors)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    bbox = fig.bbox
    legends = fig.legends
    assert legends, "the legend is a figure legend"
    extent = legends[0].get_window_extent(renderer)
    assert extent.x0 >= bbox.x0 - 0.5 and extent.x1 <= bbox.x1 + 0.5
    assert extent.y0 >= bbox.y0 - 0.5 and extent.y1 <= bbox.y1 + 0.5
    for ax in fig.axes:  # and it does not cover the bars
        assert not extent.overlaps(ax.get_window_extent(renderer))


def test_factor_correlation_cis_match_scipy_pearsonr():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(150, 3))
    x[:, 1] += 0.6 * x[:, 0]
    x[:, 2] -= 0.4 * x[:, 1]
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    table = charts.correlation_cis(frame.corr(), n=150)
    assert list(zip(table["factor1"], table["factor2"], strict=True)) == [("b", "a"), ("c", "a"), ("c", "b")]
    for row in table.itertuples():
        ref = stats.pearsonr(frame[row.factor1], frame[row.factor2])
        ci = ref.confidence_interval(0.95)
        assert row.r == pytest.approx(ref.statistic, abs=1e-12)
        assert row.ci_low == pytest.approx(ci.low, abs=1e-10) and row.ci_high == pytest.approx(
            ci.high, abs=1e-10
        )


def test_factor_correlation_table_in_report(html):
    assert "Factor correlations from the CFA, r [95% CI]" in html
    low, high = charts.correlation_cis(pd.DataFrame([[1, 0.45], [0.45, 1]]), n=180).iloc[0][
        ["ci_low", "ci_high"]
    ]
    assert f".45 {figures.apa.ci(low, high)}" in html


def test_an_unchanged_figure_keeps_its_png(tmp_path):
    def draw(scale):
        table = charts.mean_ci_table(
            pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * scale, "group": ["x", "x", "y", "y"] * scale}), ["a"]
        )
        return charts.group_means_ci(table)

    first = figures.export(draw(1), "fig", "c", "a", tmp_path)
    stamp = first.png_path.stat().st_mtime_ns
    again = figures.export(draw(1), "fig", "c", "a", tmp_path)
    assert again.standalone == first.standalone and again.png_path.stat().st_mtime_ns == stamp
    changed = figures.export(draw(2), "fig", "c", "a", tmp_path)
    assert changed.standalone != first.standalone
    assert changed.svg_path.read_text(encoding="utf-8") == changed.standalone
    assert changed.png_path.stat().st_mtime_ns != stamp
