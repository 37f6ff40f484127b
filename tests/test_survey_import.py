"""Import: round trips for every format, hand-made platform fixtures, mapping, idempotence, conflicts."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from dancerec.survey.importer import (
    ImportOptions,
    import_file,
    parse_duration,
    parse_timestamp,
    validate_file,
)
from dancerec.survey.instrument import load_instrument
from dancerec.survey.simulate import simulate_responses
from dancerec.survey.store import list_imports, load_flags, load_quarantine, load_responses
from dancerec.survey.writers import DEFAULT_SUFFIX, WRITE_FORMATS, write_responses

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


def snapshot(study) -> dict[str, list[tuple]]:
    """Every row of every survey table (timestamps included): equal snapshots = unchanged store."""
    with study.read() as con:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


@pytest.fixture(scope="module")
def simulated():
    sim = simulate_responses(INST, n=30, seed=11, careless_rate=0.1, missing_rate=0.05)
    r = sim.responses.copy()
    r["user_id"] = pd.array([f"u{i}" if i % 4 else pd.NA for i in range(len(r))], dtype="string")
    return r


@pytest.mark.parametrize("fmt", WRITE_FORMATS)
def test_round_trip_every_format(study, tmp_path, simulated, fmt):
    path = write_responses(simulated, INST, tmp_path / f"export{DEFAULT_SUFFIX[fmt]}", fmt)
    report = import_file(study, path)
    expected_layout = {"tsv": "csv", "xlsx": "csv"}.get(fmt, fmt)
    assert report.format == expected_layout
    assert report.n_new == len(simulated) and not report.unmapped_columns and not report.missing_items
    got = load_responses(study)
    want = simulated
    if fmt == "googleforms":  # no respondent ids (row numbers) and no completion time in Google Forms
        assert list(got.index) == [f"r{i}" for i in range(2, len(want) + 2)]
        got.index = want.index
        want = want.assign(duration_s=np.nan)
    got = got.loc[want.index]
    np.testing.assert_array_equal(got[INST.item_ids].to_numpy(float), want[INST.item_ids].to_numpy(float))
    assert got["group"].tolist() == want["group"].tolist()
    assert got["user_id"].fillna("-").tolist() == want["user_id"].fillna("-").tolist()
    np.testing.assert_array_equal(got["duration_s"].to_numpy(float), want["duration_s"].to_numpy(float))
    assert (got["submitted_at"] == want["submitted_at"]).all()


def test_text_answers_round_trip_in_both_languages(study, tmp_path, simulated):
    wjx = write_responses(simulated, INST, tmp_path / "wjx_text.csv", "wjx", answers="text")
    assert "非常同意" in wjx.read_bytes().decode("gbk")
    qx = write_responses(simulated.iloc[:0], INST, tmp_path / "empty.csv", "qualtrics")
    assert qx.exists()
    import_file(study, wjx)
    got = load_responses(study).loc[simulated.index]
    np.testing.assert_array_equal(
        got[INST.item_ids].to_numpy(float), simulated[INST.item_ids].to_numpy(float)
    )


@pytest.mark.parametrize(
    ("name", "encoding", "filtered"),
    [("qualtrics_3header.csv", "utf-8-sig", [6, 7]), ("qualtrics_legacy_2header.csv", "utf-8", [5, 6])],
)
def test_qualtrics_fixture_filters_previews_and_unfinished(study, name, encoding, filtered):
    report = import_file(study, FIXTURES / name)
    assert (report.format, report.encoding) == ("qualtrics", encoding)
    assert [f["row"] for f in report.filtered] == filtered
    assert (report.n_rows, report.n_filtered, report.n_valid) == (5, 2, 3)
    assert "Survey Preview" in report.filtered[0]["reason"] and "unfinished" in report.filtered[1]["reason"]
    assert report.unmapped_columns == ["Q4_TEXT"]
    assert report.meta_columns["group"] == "condition" and report.meta_columns["user_id"] == "uid"
    assert report.item_columns["CON1"] == "Q1_1" and report.item_columns["FUN4"] == "Q2"
    got = load_responses(study)
    assert got.index.tolist() == ["R_1abcDEF", "R_2ghiJKL", "R_5fastZZ"]
    assert got.loc["R_1abcDEF", ["CON1", "CON2", "CON3", "CON4", "CON5", "FUN4", "ATT1"]].tolist() == [
        5,
        4,
        3,
        4,
        5,
        2,
        2,
    ]
    assert np.isnan(got.loc["R_2ghiJKL", "CON3"])
    assert got.loc["R_2ghiJKL", "duration_s"] == 240
    assert got.loc["R_1abcDEF", "submitted_at"] == pd.Timestamp("2026-03-02 10:05:01")
    assert got["user_id"].tolist() == ["u17", "u18", "u21"]
    assert got["CNF1"].isna().all()  # items the survey did not ask stay missing
    assert load_flags(study).loc["R_5fastZZ", "attention"]  # ATT1 answered "Strongly agree"


@pytest.mark.parametrize(
    ("name", "encoding", "rows"),
    [
        (
            "wjx_text_gbk.csv",
            "gb18030",
            {"1": ([5, 4, 3, 4, 5, 2], "A", "1001", 185.0), "2": ([2, 1, None, 2, 2, 4], "A", "1002", 240.0),
             "3": ([4, 4, 4, 4, 4, 5], "C", "1003", 95.0)},
        ),
        (
            "wjx_codes_utf8.csv",
            "utf-8-sig",
            {"11": ([5, 4, 3, 4, 5, 2], "B", "2001", 125.0), "12": ([2, None, None, 2, 1, 5], "B", "2002", 300.0)},
        ),
    ],
)  # fmt: skip
def test_wenjuanxing_fixtures(study, name, encoding, rows):
    report = import_file(study, FIXTURES / name)
    assert (report.format, report.encoding) == ("wjx", encoding)
    assert report.meta_columns == {
        "respondent_id": "序号", "submitted_at": "提交答卷时间", "duration_s": "所用时间",
        "group": "1、组别", "user_id": "2、用户ID",
    }  # fmt: skip
    assert report.unmapped_columns == ["9、您通常在哪些场景听舞曲？"]  # multi-select ┋ column, reported
    assert "来自IP" in report.platform_columns
    got = load_responses(study)
    items = ["CON1", "CON2", "CON3", "CON4", "CON5", "EOU4"]
    for rid, (values, group, user, seconds) in rows.items():
        assert [None if np.isnan(v) else v for v in got.loc[rid, items]] == values
        assert (got.loc[rid, "group"], got.loc[rid, "user_id"], got.loc[rid, "duration_s"]) == (
            group,
            user,
            seconds,
        )


def test_surveymonkey_limesurvey_googleforms_long_fixtures(study):
    sm = import_file(study, FIXTURES / "surveymonkey_2header.csv")
    assert sm.format == "surveymonkey"
    ls = import_file(study, FIXTURES / "limesurvey_codes.csv", ImportOptions(id_prefix="ls-"))
    assert ls.format == "limesurvey" and [f["row"] for f in ls.filtered] == [3]
    gf = import_file(study, FIXTURES / "googleforms.csv", ImportOptions(id_prefix="gf-"))
    assert gf.format == "googleforms" and gf.unmapped_columns == ["Which features did you use?"]
    lf = import_file(study, FIXTURES / "long_format.csv")
    assert lf.format == "long"
    got = load_responses(study)
    assert got.loc["11800000001", ["CON1", "EOU4", "CNF2"]].tolist() == [4, 1, 4]
    assert got.loc["11800000001", "duration_s"] == 400  # End Date − Start Date
    assert got.loc["ls-1", ["CON1", "CON2", "CON3", "CON4", "CON5", "EOU4"]].tolist() == [5, 4, 3, 4, 5, 2]
    assert got.loc["ls-1", "duration_s"] == 300.5 and "ls-2" not in got.index
    assert got.loc["gf-r3", ["CON1", "CON4", "EOU4"]].tolist() == [2, 3, 4]
    assert got.loc["gf-r2", "submitted_at"] == pd.Timestamp("2026-03-02 10:00:00")
    assert got.loc["p1", ["CON1", "CON2", "FUN4"]].tolist() == [5, 4, 2] and got.loc["p2", "group"] == "B"
    assert np.isnan(got.loc["p2", "CON2"])


def test_mapping_file_and_group_option(study, tmp_path):
    report = import_file(
        study, FIXTURES / "custom_headers.tsv", ImportOptions(mapping=FIXTURES / "custom_mapping.csv")
    )
    assert report.item_columns == {"CON1": "taste", "CON4": "novelty", "EOU4": "confusing"}
    assert report.ignored_columns == ["notes"] and report.meta_columns == {
        "respondent_id": "pid",
        "group": "arm",
    }
    got = load_responses(study)
    assert got.loc["x1", ["CON1", "CON4", "EOU4"]].tolist() == [4, 5, 1] and got.loc["x2", "group"] == "B"
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\npid = "respondent_id"\ntaste = "con1"\nnovelty = "CON4"\n', encoding="utf-8")
    report = validate_file(
        FIXTURES / "custom_headers.tsv", instrument=INST, options=ImportOptions(mapping=toml, group="Z")
    )
    assert report.item_columns == {"CON1": "taste", "CON4": "novelty"} and report.ok
    assert set(report.unmapped_columns) == {"confusing", "notes"}  # reported, not dropped silently
    bad = tmp_path / "bad.csv"
    bad.write_text("column,target\ntaste,NOPE\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown mapping target 'NOPE'"):
        validate_file(FIXTURES / "custom_headers.tsv", instrument=INST, options=ImportOptions(mapping=bad))


def test_reimport_is_idempotent_and_conflicts_need_replace(study, tmp_path, simulated):
    path = write_responses(simulated, INST, tmp_path / "a.csv", "csv")
    first = import_file(study, path)
    assert first.n_new == 30 and first.import_id == 1
    before = snapshot(study)
    again = import_file(study, path)
    assert again.already_present and again.n_unchanged == 30 and again.n_new == 0
    assert snapshot(study) == before
    # the same data in another format is also already present
    assert import_file(study, write_responses(simulated, INST, tmp_path / "a.sav", "sav")).already_present
    changed = simulated.copy()
    rid = changed.index[3]
    changed.loc[rid, "CON2"] = 1 if changed.loc[rid, "CON2"] != 1 else 2
    path2 = write_responses(changed, INST, tmp_path / "b.csv", "csv")
    with pytest.raises(InputError) as exc:
        import_file(study, path2)
    err = exc.value
    assert (err.row, err.column) == (5, "CON2") and rid in err.problem and "--replace" in str(err)
    assert snapshot(study) == before
    replaced = import_file(study, path2, ImportOptions(replace=True))
    assert (replaced.n_replaced, replaced.n_new, replaced.n_unchanged) == (1, 0, 29)
    assert load_responses(study).loc[rid, "CON2"] == changed.loc[rid, "CON2"]
    assert len(list_imports(study)) == 2


def test_failed_import_rolls_back_everything(study, tmp_path, simulated, monkeypatch):
    import_file(study, write_responses(simulated.iloc[:10], INST, tmp_path / "a.csv", "csv"))
    before = snapshot(study)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full while flagging")

    monkeypatch.setattr("dancerec.survey.importer.refresh_flags", boom)
    with pytest.raises(RuntimeError):
        import_file(study, write_responses(simulated.iloc[10:], INST, tmp_path / "b.csv", "csv"))
    assert snapshot(study) == before


def test_pseudonymise_ids(study, tmp_path, simulated):
    path = write_responses(simulated.iloc[:5], INST, tmp_path / "a.csv", "csv")
    import_file(study, path, ImportOptions(pseudonymise=True))
    got = load_responses(study)
    assert got.index.tolist() == [study.pseudonymise(r) for r in simulated.index[:5]]
    raw_users = simulated["user_id"].iloc[:5]
    assert got["user_id"].fillna("-").tolist() == [
        "-" if pd.isna(u) else study.pseudonymise(u) for u in raw_users
    ]
    assert not set(simulated.index) & set(got.index)
    assert import_file(study, path, ImportOptions(pseudonymise=True)).already_present


def test_quarantine_keeps_good_rows_and_lists_bad_ones(study, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "respondent_id,group,CON1,CON2,CON3\n"
        "a,A,1,2,3\n"
        "b,A,9,2,3\n"  # out of scale
        "c,A,2,lots,3\n"  # junk
        "a,A,1,2,3\n"  # duplicate id
        "d,A,4,4\n"  # ragged
        "e,B,5,4,3\n",
        encoding="utf-8",
    )
    report = import_file(study, path, ImportOptions(on_invalid="quarantine"))
    assert report.n_new == 2 and report.n_quarantined == 4
    assert load_responses(study).index.tolist() == ["a", "e"]
    q = load_quarantine(study)
    assert q["row"].tolist() == [3, 4, 5, 6]
    assert q["column"].tolist()[:3] == ["CON1", "CON2", "respondent_id"]
    assert (
        "out-of-scale value '9'" in q["reason"].iloc[0]
        and "unrecognised answer 'lots'" in q["reason"].iloc[1]
    )
    assert (
        "duplicate respondent id 'a' (first at row 2)" in q["reason"].iloc[2]
        and "ragged row" in q["reason"].iloc[3]
    )
    assert json.loads(q["raw"].iloc[0])["CON1"] == "9"
    before = snapshot(study)
    assert import_file(study, path, ImportOptions(on_invalid="quarantine")).already_present
    assert snapshot(study) == before


def test_exclude_flagged_in_load_responses(study, tmp_path):
    sim = simulate_responses(INST, n=120, seed=3, careless_rate=0.15)
    import_file(study, write_responses(sim.responses, INST, tmp_path / "s.csv", "csv"))
    flags = load_flags(study)
    assert list(flags.columns) == ["longstring", "low_irv", "speeder", "attention", "mahalanobis", "missing"]
    assert flags.index.tolist() == load_responses(study).index.tolist()
    kept = load_responses(study, exclude_flagged=["speeder", "longstring"])
    expected = flags.index[~(flags["speeder"] | flags["longstring"])]
    assert kept.index.tolist() == expected.tolist() and 0 < len(kept) < 120
    assert len(load_responses(study, exclude_flagged="all")) == int((~flags.any(axis=1)).sum())
    with pytest.raises(UserError, match="unknown quality flag"):
        load_responses(study, exclude_flagged=["nope"])


def test_sav_value_labels_and_user_missing(study, tmp_path):
    df = pd.DataFrame({"respondent_id": ["s1", "s2"], "CON1": [0.0, 4.0], "CON2": [3.0, 99.0]})
    path = tmp_path / "coded.sav"
    labels = {
        0.0: "Strongly disagree",
        1.0: "Disagree",
        2.0: "Neither agree nor disagree",
        3.0: "Agree",
        4.0: "Strongly agree",
    }
    pyreadstat.write_sav(
        df,
        str(path),
        variable_value_labels={"CON1": labels, "CON2": labels | {99.0: "Refused"}},
        missing_ranges={"CON2": [99.0]},
    )
    report = import_file(study, path, ImportOptions(group="A"))
    assert report.format == "sav"
    got = load_responses(study)
    assert got.loc["s1", "CON1"] == 1 and got.loc["s2", "CON1"] == 5  # codes 0..4 → anchors 1..5
    assert got.loc["s1", "CON2"] == 4 and np.isnan(got.loc["s2", "CON2"])
    assert got["group"].tolist() == ["A", "A"]


def test_encoding_override_and_format_override(study, tmp_path):
    copy = tmp_path / "export.txt"
    shutil.copy(FIXTURES / "wjx_text_gbk.csv", copy)
    report = validate_file(copy, instrument=INST, options=ImportOptions(encoding="gbk", format="wjx"))
    assert (report.encoding, report.format, report.n_valid) == ("gbk", "wjx", 3)


def test_cell_parsers():
    assert (
        parse_duration("120秒") == 120
        and parse_duration("2分5秒") == 125
        and parse_duration("00:02:05") == 125
    )
    assert parse_duration("1h 2m") == 3720 and parse_duration(" 95 ") == 95
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert parse_timestamp("2026/3/5 下午2:03:04") == pd.Timestamp("2026-03-05 14:03:04")
    assert parse_timestamp("2026-03-05T06:00:00Z") == pd.Timestamp("2026-03-05 06:00:00")
    assert parse_timestamp("2026年3月5日 9:00") == pd.Timestamp("2026-03-05 09:00:00")


def test_study_with_its_own_seven_point_instrument(tmp_path):
    study = Study.init(tmp_path / "s7", instrument=str(FIXTURES / "likert7.toml"))
    path = tmp_path / "seven.csv"
    path.write_text(
        "respondent_id,J1,J2,I felt bored.,E1,E2,E3\nq1,7,Completely agree,2,Neutral,1,4\n", encoding="utf-8"
    )
    import_file(study, path, ImportOptions(group="G"))
    got = load_responses(study)
    assert list(got.columns[4:]) == ["J1", "J2", "J3", "E1", "E2", "E3"]
    assert got.loc["q1", ["J1", "J2", "J3", "E1", "E2", "E3"]].tolist() == [7, 7, 2, 4, 1, 4]
    bad = tmp_path / "eight.csv"
    bad.write_text("respondent_id,J1\nq2,8\n", encoding="utf-8")
    with pytest.raises(InputError, match="out-of-scale value '8'") as exc:
        import_file(study, bad)
    assert exc.value.expected.startswith("an integer from 1 to 7")


def test_qualtrics_layout_inside_an_xlsx_workbook(study, tmp_path, simulated):
    csv_path = write_responses(simulated.iloc[:8], INST, tmp_path / "q.csv", "qualtrics", answers="text")
    wb = openpyxl.Workbook()
    ws = wb.active
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            ws.append(row)
    xlsx = tmp_path / "qualtrics.xlsx"
    wb.save(xlsx)
    report = import_file(study, xlsx)
    assert (report.container, report.format, report.n_new) == ("xlsx", "qualtrics", 8)
    got = load_responses(study).loc[simulated.index[:8]]
    np.testing.assert_array_equal(
        got[INST.item_ids].to_numpy(float), simulated.iloc[:8][INST.item_ids].to_numpy(float)
    )
