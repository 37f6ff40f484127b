"""Issue 13, --pseudonymise: no raw identifier or personal field stored or printed, no mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dancerec.survey.importer import ImportOptions, import_file
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import InputError
from dancerec.workspace import Study

runner = CliRunner()
PERSONAL = [
    "alice@example.org",
    "bob@example.org",
    "carol@example.org",
    "192.168.7.21",
    "10.1.2.3",
    "172.16.0.9",
    "Alice Liddell",
    "Bob Builder",
    "Carol Danvers",
    "S2026001",
    "S2026002",
    "S2026003",
    "call me on 0170-5550123",
]
IDS = ["stud-alice-77", "stud-bob-88", "stud-carol-99"]
FILE = (
    "respondent_id,user_id,email,ip,name,student_no,comment,group,CON1,CON2\n"
    f"{IDS[0]},u-alice-1,alice@example.org,192.168.7.21,Alice Liddell,S2026001,fine,A,3,4\n"
    # bad answer and a free-text comment: quarantined
    f"{IDS[1]},u-bob-2,bob@example.org,10.1.2.3,Bob Builder,S2026002,call me on 0170-5550123,A,9,4\n"
    # the same id twice: quarantined as a duplicate, the message must not quote the raw id
    f"{IDS[2]},u-carol-3,carol@example.org,172.16.0.9,Carol Danvers,S2026003,ok,B,2,2\n"
    f"{IDS[2]},u-carol-3,carol@example.org,172.16.0.9,Carol Danvers,S2026003,ok,B,2,3\n"
)
SECRETS = [*PERSONAL, *IDS, "u-alice-1", "u-bob-2", "u-carol-3"]


def _dump(study: Study) -> str:
    """Every cell of every table of the study database, as one text."""
    with study.read() as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return "\n".join(repr(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


def test_pseudonymised_import_stores_and_prints_no_personal_data(study, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(FILE, encoding="utf-8")
    out_json = tmp_path / "import.json"
    res = runner.invoke(
        app,
        [
            *("survey", "import", str(path), "--study", str(study.root), "--pseudonymise"),
            *("--on-invalid", "quarantine", "--user-column", "user_id", "--json", str(out_json)),
        ],
    )
    assert res.exit_code == 0, res.output
    q_json = tmp_path / "q.json"
    res_q = runner.invoke(app, ["survey", "quarantine", "--study", str(study.root), "--json", str(q_json)])
    assert res_q.exit_code == 0
    texts = {
        "database": _dump(study),
        "import output": res.output,
        "import --json": out_json.read_text(encoding="utf-8"),
        "quarantine output": res_q.output,
        "quarantine --json": q_json.read_text(encoding="utf-8"),
    }
    for where, text in texts.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{where} leaks {leaked}"
    report = json.loads(texts["import --json"])
    assert report["n_new"] == 2 and report["n_quarantined"] == 2
    # what is kept: answers and the group, so the quarantine is still useful
    q = json.loads(texts["quarantine --json"])
    raws = [json.loads(r["raw"]) for r in q]
    assert all(set(r) <= {"respondent_id", "user_id", "group", "CON1", "CON2"} for r in raws)
    assert {r["CON1"] for r in raws} == {"9", "2"}


def test_pseudonymised_error_message_does_not_quote_the_raw_id(study, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(f"respondent_id,group,CON1\n{IDS[0]},A,3\n{IDS[0]},A,4\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_file(study, path, ImportOptions(pseudonymise=True))
    assert "duplicate respondent id" in str(err.value) and IDS[0] not in str(err.value)


@pytest.mark.parametrize("first", [True, False])
def test_mixing_raw_and_pseudonymised_imports_is_refused(study, tmp_path, first):
    path = tmp_path / "a.csv"
    path.write_text(f"respondent_id,group,CON1\n{IDS[0]},A,3\n{IDS[1]},A,4\n", encoding="utf-8")
    import_file(study, path, ImportOptions(pseudonymise=first))
    with pytest.raises(InputError, match="store the same people twice"):
        import_file(study, path, ImportOptions(pseudonymise=not first))
    with study.read() as con:
        assert con.execute("SELECT count(*) FROM survey_respondent").fetchone()[0] == 2
    # the same choice again is the ordinary idempotent re-import
    assert import_file(study, path, ImportOptions(pseudonymise=first)).already_present


def test_pseudonyms_are_stable_and_keyed(study, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(f"respondent_id,group,CON1\n{IDS[0]},A,3\n", encoding="utf-8")
    import_file(study, path, ImportOptions(pseudonymise=True))
    with study.read() as con:
        stored = con.execute("SELECT respondent_id FROM survey_respondent").fetchone()[0]
    assert stored == study.pseudonymise(IDS[0]) and len(stored) == 16
    other = Study.init(Path(tmp_path) / "other")
    assert other.pseudonymise(IDS[0]) != stored  # another study's secret gives another pseudonym
