"""`dancerec report` reads stored results: the second report on an unchanged study recomputes nothing and
is identical; changed data make the stored results stale; --format picks the files written."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.cli.report import report_targets
from dancerec.errors import UserError
from dancerec.results import list_results

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
from study import make_study

runner = CliRunner()


def test_report_targets_from_out_and_format(tmp_path):
    assert report_targets(Path("r.html"), None) == [Path("r.html")]
    assert report_targets(Path("d/r.pdf"), None) == [Path("d/r.pdf")]
    assert report_targets(Path("d/r"), None) == [Path("d/r.html"), Path("d/r.pdf")]
    assert report_targets(Path("r.html"), "html,pdf") == [Path("r.html"), Path("r.pdf")]
    assert report_targets(Path("r.v2"), "pdf") == [Path("r.v2.pdf")]
    assert report_targets(Path("r"), "html,") == [Path("r.html")]
    with pytest.raises(UserError, match="must be html or pdf"):
        report_targets(Path("r.txt"), None)
    for bad in ("docx", ",", "html,tex"):
        with pytest.raises(UserError, match="--format takes"):
            report_targets(Path("r"), bad)


def _report(root: Path, out: Path, *extra: str):
    args = ["report", "--study", str(root), "--out", str(out), "--n-boot", "100", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def _without_provenance(html: str) -> str:
    return re.sub(r"<td>(stored|computed: [a-z ]+)</td>", "<td>?</td>", html)


@pytest.mark.slow
def test_second_report_reuses_stored_results_and_is_identical(tmp_path):
    root = tmp_path / "study"
    study = make_study(root)
    first = _report(root, tmp_path / "a", "--format", "html")
    assert "computed now: indices.battery (missing), recommender.compare (missing), link (missing)" in first
    assert set(list_results(study)["kind"]) == {"indices.battery", "recommender.compare", "link"}
    second = _report(root, tmp_path / "b.html", "--tables", str(tmp_path / "tables"))
    assert "stored results reused: indices.battery, recommender.compare, link" in second
    assert f"tables (CSV, XLSX, LaTeX): {tmp_path / 'tables'}" in second
    n_tables = int(re.search(r"(\d+) tables", second).group(1))
    assert len(list((tmp_path / "tables").glob("table-*.csv"))) == n_tables
    assert len(list((tmp_path / "tables").glob("table-*.tex"))) == n_tables
    assert (tmp_path / "tables" / "tables.xlsx").is_file()
    assert "computed now" not in second
    a = (tmp_path / "a.html").read_text(encoding="utf-8")
    b = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert "Where each analysis came from" in b and "<td>stored</td>" in b
    strip_time = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
    assert strip_time.sub("", _without_provenance(a)) == strip_time.sub("", _without_provenance(b))

    # one answer changes: every result that read the survey is stale, the offline comparison is not
    with study.transaction() as con:
        con.execute(
            # always a different value (6 - value leaves a 3 unchanged, and the first row depends on the
            # study's random pseudonymisation secret)
            "UPDATE survey_answer SET value = CASE WHEN value = 5 THEN 4 ELSE value + 1 END "
            "WHERE (respondent_id, item_id) IN "
            "(SELECT respondent_id, item_id FROM survey_answer WHERE value IS NOT NULL ORDER BY ALL LIMIT 1)"
        )
    third = _report(root, tmp_path / "c.html")
    assert "stored results reused: recommender.compare" in third
    assert "computed now: indices.battery (stale), link (stale)" in third
    # --no-stored computes everything and stores nothing
    n_stored = len(list_results(study))
    fourth = _report(root, tmp_path / "d.html", "--no-stored")
    assert "not stored" in fourth and len(list_results(study)) == n_stored


def test_a_result_that_cannot_be_stored_is_still_used(study):
    from dancerec.reports.collect import _stored
    from dancerec.reports.data import ReportData

    data = ReportData(title="t", study_name="s", generated="now")
    handle = object()
    fp = {"x": 1}
    got = _stored(data, study, "Part", "kind.x", fp, {}, lambda: {"model": handle})
    assert got["model"] is handle
    assert data.provenance[0]["status"].startswith("computed: not stored (cannot store a object")
    assert list_results(study).empty
    ok = _stored(data, study, "Part", "kind.y", fp, {"a": 1}, lambda: {"v": 2})
    again = _stored(data, study, "Part", "kind.y", fp, {"a": 1}, lambda: {"v": 3})
    assert ok == again == {"v": 2}
    assert [p["status"] for p in data.provenance[1:]] == ["computed: missing", "stored"]
