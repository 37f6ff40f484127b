"""Chunked imports (issue 13, bounded memory): the file is read, checked and stored a few rows at a
time inside one transaction, and must give exactly what the whole-file import gave.

The reference (tests/fixtures/survey/chunked/reference.json) was written by the import code as it was
before chunking (commit 784b0c3), by make_reference.py in the same folder: a second implementation.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from dancerec.survey import import_store, readers_text
from dancerec.survey.importer import ImportOptions, import_file, validate_file
from dancerec.survey.instrument import load_instrument
from dancerec.survey.quality import compute_flags
from dancerec.survey.rowchecks import SeenIds
from dancerec.survey.store import _read_flag_rows, _read_responses, refresh_flags

from dancerec.errors import InputError
from dancerec.workspace import Study

INST = load_instrument("dance-music-30")
HERE = Path(__file__).parent / "fixtures" / "survey" / "chunked"
REFERENCE = json.loads((HERE / "reference.json").read_text(encoding="utf-8"))["cases"]
_spec = importlib.util.spec_from_file_location("make_reference", HERE / "make_reference.py")
make_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_reference)

STRADDLE = [name for name in REFERENCE if name.startswith("straddle")]
PARAMS = [(name, rows) for name in REFERENCE for rows in ((1, 3, 20_000) if name in STRADDLE else (2,))]


def _same_flags(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g[:3] == w[:3] and g[4] == w[4]  # respondent, flag, flagged, threshold
        if w[3] is None:
            assert g[3] is None
        else:
            assert math.isclose(g[3], w[3], rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize(("name", "chunk_rows"), PARAMS)
def test_chunked_import_stores_what_the_whole_file_import_stored(tmp_path, name, chunk_rows):
    case = REFERENCE[name]
    got = make_reference.run_case(case["file"], case["options"], tmp_path, chunk_rows=chunk_rows)
    assert got.get("error") == case.get("error")
    assert got.get("report") == case.get("report")
    assert got.get("again") == case.get("again")  # re-import: already present
    for table in ("respondents", "answers", "quarantine"):
        assert got["tables"][table] == case["tables"][table], table
    _same_flags(got["tables"]["flags"], case["tables"]["flags"])


def test_straddling_file_exercises_what_it_claims():
    """The straddle fixture really puts problems on both sides of 3-row chunk boundaries."""
    case = REFERENCE["straddle_quarantine"]
    rows = [p["row"] for p in case["report"]["problems"]]
    assert {r // 3 for r in rows} == {1, 2, 3, 4, 5}  # problems in five different 3-row chunks
    reasons = " ".join(p["problem"] for p in case["report"]["problems"])
    for what in ("duplicate respondent id 'r1' (first at row 2)", "ragged row", "missing respondent id"):
        assert what in reasons
    # 01/02/2026 (row 2) is read day-first only because of 13/02/2026 on row 8, two chunks later
    r1 = next(r for r in case["tables"]["respondents"] if r[0] == "r1")
    assert r1[4] == "2026-02-01T10:00:00"
    monthfirst = next(r for r in REFERENCE["straddle_monthfirst"]["tables"]["respondents"] if r[0] == "r1")
    assert monthfirst[4] == "2026-01-02T10:00:00"


def test_validate_in_chunks_reports_like_one_chunk(study):
    path = HERE / "straddle.csv"
    import_file(study, HERE / "sim_qualtrics.csv", ImportOptions(on_invalid="quarantine"))
    import_file(study, path, ImportOptions(on_invalid="quarantine", id_prefix="x"))
    opts = ImportOptions(on_invalid="quarantine", id_prefix="x", group="C")  # every stored one conflicts
    one = validate_file(path, options=opts, study=study, chunk_rows=10_000)
    tiny = validate_file(path, options=opts, study=study, chunk_rows=2)
    assert one.n_conflicts == 8 and one.n_quarantined == 8
    assert tiny == one


def _snapshot(study: Study) -> dict:
    with study.read() as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("survey_import", "survey_respondent", "survey_answer", "survey_quarantine", "survey_flag", "data_file")
        }  # fmt: skip


def _good_rows(n: int, start: int = 0) -> str:
    head = "respondent_id,group,CON1,CON2,CON3,CON4,CON5,EOU4\n"
    return head + "".join(f"n{i},A,{1 + i % 5},{1 + (i + 1) % 5},3,4,5,2\n" for i in range(start, start + n))


@pytest.fixture
def counted_inserts(monkeypatch):
    calls = []
    real = import_store.insert

    def spy(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(import_store, "insert", spy)
    return calls


def test_malformed_line_in_a_later_chunk_rolls_back_the_earlier_chunks(study, tmp_path, counted_inserts):
    import_file(study, HERE / "sim_surveymonkey.csv")
    before = _snapshot(study)
    path = tmp_path / "late.csv"
    path.write_text(_good_rows(10) + 'n99,A,"3,4,5,2,1,1\n', encoding="utf-8")  # quote never closed
    counted_inserts.clear()
    with pytest.raises(InputError, match="line 12"):
        import_file(study, path, chunk_rows=3)
    assert counted_inserts == [3, 3, 3]  # three chunks were written (then rolled back)
    assert _snapshot(study) == before


def test_failure_while_storing_a_later_chunk_leaves_the_store_unchanged(study, tmp_path, monkeypatch):
    import_file(study, HERE / "sim_surveymonkey.csv")
    before = _snapshot(study)
    path = tmp_path / "ok.csv"
    path.write_text(_good_rows(10), encoding="utf-8")
    real, calls = import_store.insert, []

    def fail_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(import_store, "insert", fail_third)
    with pytest.raises(OSError, match="disk full"):
        import_file(study, path, chunk_rows=3)
    assert len(calls) == 3 and _snapshot(study) == before
    monkeypatch.setattr(import_store, "insert", real)
    assert import_file(study, path, chunk_rows=3).n_new == 10  # and nothing half-stored blocks a retry


def test_conflict_in_the_last_chunk_refuses_the_whole_file(study, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(_good_rows(1, start=9), encoding="utf-8")
    import_file(study, first)
    before = _snapshot(study)
    path = tmp_path / "later.csv"
    path.write_text(_good_rows(10).replace("n9,A,5,1,", "n9,A,1,1,"), encoding="utf-8")  # n9 differs
    with pytest.raises(InputError, match="respondent 'n9' is already stored with different answers") as err:
        import_file(study, path, chunk_rows=3)
    assert err.value.row == 11
    assert _snapshot(study) == before
    report = import_file(study, path, ImportOptions(replace=True), chunk_rows=3)
    assert (report.n_new, report.n_replaced) == (9, 1)


def test_seen_ids_find_the_first_row_of_every_duplicate():
    rng = random.Random(4)
    ids = [f"id{rng.randrange(300)}" if rng.random() > 0.05 else "" for _ in range(1000)]
    want, first = [], {}
    for row, rid in enumerate(ids, start=2):
        want.append(first.get(rid) if rid else None)
        if rid and rid not in first:
            first[rid] = row
    seen, got, pos = SeenIds(), [], 0
    while pos < len(ids):
        step = rng.randrange(1, 40)
        got += seen.first_rows(ids[pos : pos + step], list(range(pos + 2, pos + step + 2))[: len(ids) - pos])
        pos += step
    assert got == want
    assert sum(r is not None for r in got) > 600  # plenty of duplicates, across and within batches


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_streamed_encoding_detection_does_not_depend_on_the_block_size(tmp_path, monkeypatch, block):
    monkeypatch.setattr(readers_text, "BLOCK", block)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,group\n1,Hörer\n2,Köln\n3,Größe\n".encode("cp1252"))
    chinese = tmp_path / "zh.csv"
    chinese.write_bytes("序号,组别\n1,对照组\n2,实验组\n".encode("gbk"))
    assert readers_text.detect_encoding(latin) == "cp1252"
    assert readers_text.detect_encoding(chinese) == "gb18030"
    assert readers_text.detect_encoding(HERE.parent / "wjx_text_gbk.csv") == "gb18030"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,group,x\n1,A,2\n2,B\xff,3\n")
    with pytest.raises(InputError) as err:
        readers_text.detect_encoding(bad, "utf-8")
    assert (err.value.row, err.value.column) == (3, "field 2") and "0xff" in str(err.value)


def test_flags_in_blocks_equal_flags_of_the_whole_sample(study, tmp_path):
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.writers import write_responses

    sim = simulate_responses(INST, n=300, groups=("A", "B"), seed=5, missing_rate=0.1)
    import_file(study, write_responses(sim.responses, INST, tmp_path / "x.csv", "csv"))
    with study.transaction() as con:
        whole = compute_flags(_read_responses(con, INST), INST).sort_values(["respondent_id", "flag"])
        for block in (7, 300, 1000):
            refresh_flags(con, INST, block=block)
            got = _read_flag_rows(con).sort_values(["respondent_id", "flag"])
            assert got["respondent_id"].tolist() == whole["respondent_id"].tolist()
            assert got["flagged"].tolist() == whole["flagged"].tolist()
            np.testing.assert_allclose(got["value"], whole["value"].astype(float), rtol=1e-9, atol=1e-12)
    maha = whole[whole["flag"] == "mahalanobis"]
    assert maha["value"].notna().all() and maha["flagged"].any()  # the sample-wide flag is exercised
