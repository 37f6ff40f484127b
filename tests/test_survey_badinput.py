"""Bad input: exit code 1, a message naming file, row and column, and an unchanged store."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from dancerec.survey.importer import ImportOptions, import_file, prepare_import
from dancerec.survey.instrument import load_instrument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import InputError, UserError
from dancerec.workspace import Study

FIXTURES = Path(__file__).parent / "fixtures" / "survey"
INST = load_instrument("dance-music-30")
TABLES = (
    "survey_import",
    "survey_respondent",
    "survey_answer",
    "survey_quarantine",
    "survey_flag",
    "data_file",
)
runner = CliRunner()
GOOD = "respondent_id,group,CON1,CON2,CON3\na,A,1,2,3\nb,A,4,5,3\n"


def snapshot(study: Study) -> dict[str, list[str]]:
    with study.read() as con:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


def cli_import(study: Study, path: Path, *extra: str):
    return runner.invoke(app, ["survey", "import", str(path), "--study", str(study.root), *extra])


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One study holding two respondents, shared by the cases that must leave it unchanged."""
    root = tmp_path_factory.mktemp("badinput")
    study = Study.init(root / "study", name="bad-input", seed=7)
    good = root / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    import_file(study, good)
    return study


@pytest.fixture
def seeded(study, tmp_path):
    """A fresh study holding the same two respondents (for tests that change the store)."""
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    import_file(study, good)
    return study


CASES = {
    # name: (file bytes, substrings the one-line error must contain)
    "out_of_scale": (
        b"respondent_id,group,CON1,CON2\nx1,A,3,4\nx2,A,7,4\n",
        ["row 3", "column 'CON1'", "out-of-scale value '7'", "expected an integer from 1 to 5"],
    ),
    "junk": (
        b"respondent_id,group,CON1,CON2\nx1,A,3,four-ish\n",
        ["row 2", "column 'CON2'", "unrecognised answer 'four-ish'", "Strongly disagree"],
    ),
    "fraction": (b"respondent_id,CON1\nx1,2.5\n", ["row 2", "column 'CON1'", "not a whole scale point"]),
    "duplicate_ids": (
        b"respondent_id,group,CON1\nx1,A,3\nx2,A,4\nx1,A,5\n",
        ["row 4", "column 'respondent_id'", "duplicate respondent id 'x1' (first at row 2)"],
    ),
    "missing_id": (b"respondent_id,CON1\n,3\n", ["row 2", "column 'respondent_id'", "missing respondent id"]),
    "empty": (b"", ["the file is empty"]),
    "blank": (b"  \r\n\r\n", ["the file is empty"]),
    "header_only": (b"respondent_id,CON1,CON2\n", ["row 2", "no data rows"]),
    "ragged": (
        b"respondent_id,group,CON1,CON2\nx1,A,3,4\nx2,A,3\n",
        ["row 3", "ragged row: 3 fields but the header has 4"],
    ),
    # 0x81 is undefined in Windows-1252 and starts no GB18030 character before a comma
    "latin1": (
        b"respondent_id,group,CON1\nx1,Gruppe A,3\nx2,Gruppe \x81,4\n",
        ["row 3", "field 2", "neither UTF-8, GBK/GB18030 nor Windows-1252", "--encoding"],
    ),
    "binary": (b"\x00\x01\x02binary\x00junk", ["NUL bytes", "row 1"]),
    "fake_xlsx": (b"PK\x03\x04respondent_id\r\n", ["not a readable XLSX workbook"]),  # found by hypothesis
    "legacy_xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ["legacy Excel .xls"]),
    "no_items": (b"name,age\nann,31\n", ["row 1", "no column maps to an item", "--mapping"]),
    "multi_select": (
        "respondent_id,CON1\nx1,1┋2\n".encode(),
        ["row 2", "column 'CON1'", "several answers joined with '┋'"],
    ),
    "bad_duration": (
        b"respondent_id,duration_s,CON1\nx1,quick,3\n",
        ["row 2", "column 'duration_s'", "not a duration"],
    ),
    "bad_date": (
        b"respondent_id,submitted_at,CON1\nx1,yesterday-ish,3\n",
        ["row 2", "column 'submitted_at'", "not a date/time"],
    ),
    "label_disagrees": (
        b"respondent_id,CON1\nx1,5 = Strongly disagree\n",
        ["row 2", "column 'CON1'", "disagrees with the label"],
    ),
    "two_columns_one_item": (
        b"respondent_id,CON1,The recommended songs match my taste in dance music.\nx1,3,4\n",
        ["row 1", "all map to 'CON1'"],
    ),
}


DRY_RUN_CASES = ("out_of_scale", "duplicate_ids", "ragged", "latin1", "empty")


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exit_1_names_row_and_column_and_leaves_store_unchanged(shared, tmp_path, name):
    content, needles = CASES[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(content)
    before = snapshot(shared)
    assert len(before["survey_respondent"]) == 2
    result = cli_import(shared, path)
    assert result.exit_code == 1, result.output
    message = result.stderr
    assert "Traceback" not in result.output
    assert str(path) in message.replace("\n", "")  # rich wraps long lines
    for needle in needles:
        assert needle in " ".join(message.split()), (needle, message)
    if name in DRY_RUN_CASES:  # the dry run finds the same problem and stores nothing either
        dry = runner.invoke(app, ["survey", "validate", str(path), "--study", str(shared.root)])
        assert dry.exit_code == 1 and "Traceback" not in dry.output
        assert needles[-1] in " ".join(dry.stderr.split())
    assert snapshot(shared) == before


def test_wrong_encoding_forced_on_a_gbk_file(shared):
    before = snapshot(shared)
    result = cli_import(shared, FIXTURES / "wjx_text_gbk.csv", "--encoding", "utf-8")
    assert result.exit_code == 1
    assert "row 1" in result.stderr and "not valid utf-8" in result.stderr
    assert snapshot(shared) == before


def test_conflict_is_exit_1_and_replace_fixes_it(seeded, tmp_path):
    path = tmp_path / "changed.csv"
    path.write_text(GOOD.replace("b,A,4,5,3", "b,A,4,1,3"), encoding="utf-8")
    before = snapshot(seeded)
    result = cli_import(seeded, path)
    assert result.exit_code == 1
    msg = " ".join(result.stderr.split())
    assert "row 3" in msg and "column 'CON2'" in msg and "already stored with different answers" in msg
    assert "--replace" in msg
    assert snapshot(seeded) == before
    assert cli_import(seeded, path, "--replace").exit_code == 0


def test_validate_lists_every_problem_and_quarantine_mode_passes(shared, tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("respondent_id,CON1,CON2\nx1,9,2\nx2,1,zz\nx3,2,2\n", encoding="utf-8")
    out = tmp_path / "report.json"
    result = runner.invoke(
        app, ["survey", "validate", str(path), "--study", str(shared.root), "--json", str(out)]
    )
    assert result.exit_code == 1 and "2 problem(s)" in " ".join(result.stderr.split())
    assert "out-of-scale" in result.output and "unrecognised answer 'zz'" in result.output
    ok = runner.invoke(
        app, ["survey", "validate", str(path), "--study", str(shared.root), "--on-invalid", "quarantine"]
    )
    assert ok.exit_code == 0 and "would import 1 respondent" in " ".join(ok.output.split())


def test_unknown_format_and_missing_file_are_user_errors(shared, tmp_path):
    assert cli_import(shared, tmp_path / "nope.csv").exit_code == 1
    good = tmp_path / "g.csv"
    good.write_text(GOOD, encoding="utf-8")
    result = cli_import(shared, good, "--format", "pdf")
    assert result.exit_code == 1 and "unknown format 'pdf'" in result.stderr
    result = cli_import(shared, good, "--on-invalid", "ignore")
    assert result.exit_code == 1 and "--on-invalid" in result.stderr


# -- property-based: malformed CSVs give clean errors, never a traceback --------------------------
CELLS = st.one_of(
    st.sampled_from(
        ["1", "2", "3", "4", "5", "", "0", "6", "-3", "x", "非常同意", "Agree", "3.5", "1┋2", '"', "NA"]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)
HEADERS = st.lists(
    st.sampled_from(
        ["respondent_id", "group", "CON1", "CON2", "FUN4", "ATT1", "duration_s", "submitted_at", "", "x"]
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def malformed_csv(draw) -> bytes:
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 2), max_size=6))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(st.sampled_from([",", ";", "\t"])))
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"])), errors="replace")
    if draw(st.booleans()):  # splice in raw bytes: broken encodings, NULs, stray quotes
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.binary(max_size=8)) + data[pos:]
    return data


@settings(max_examples=200, deadline=None)
@given(data=malformed_csv(), quarantine=st.booleans())
def test_property_malformed_csv_parses_or_fails_cleanly(tmp_path_factory, data, quarantine):
    """Reading, mapping and checking (everything before the store) on arbitrary broken CSV."""
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.csv"
    path.write_bytes(data)
    try:
        prepared = prepare_import(
            path, INST, ImportOptions(on_invalid="quarantine" if quarantine else "error")
        )
    except InputError as exc:
        assert exc.file is not None and str(exc)
    else:  # clean rows carry only in-scale answers
        items = prepared.responses[INST.item_ids].to_numpy(dtype=float)
        assert ((items[~np.isnan(items)] >= 1) & (items[~np.isnan(items)] <= 5)).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=malformed_csv())
def test_property_malformed_csv_into_the_store(shared, tmp_path, data):
    """Through the store: a failure leaves it exactly as it was."""
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    before = snapshot(shared)
    try:
        import_file(shared, path, ImportOptions())
    except UserError as exc:  # InputError is a UserError
        assert str(exc)
        assert snapshot(shared) == before
    else:  # a file that imports cleanly: drop it again so the shared study stays as the other tests expect
        with shared.transaction() as con:
            for t in ("survey_answer", "survey_respondent"):
                con.execute(f"DELETE FROM {t} WHERE respondent_id NOT IN ('a', 'b')")
            con.execute("DELETE FROM survey_import WHERE import_id > 1")
            con.execute("DELETE FROM survey_flag WHERE respondent_id NOT IN ('a', 'b')")


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=malformed_csv())
def test_property_malformed_csv_through_the_cli(study, tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    result = runner.invoke(app, ["survey", "import", str(path), "--study", str(study.root)])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("error: ") and str(path) in result.stderr.replace("\n", "")
