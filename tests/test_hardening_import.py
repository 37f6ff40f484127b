"""Issue 13, import side: nothing lost and nothing altered silently (one test per failure case)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from dancerec.survey.importer import ImportOptions, import_file, prepare_import
from dancerec.survey.instrument import load_instrument
from dancerec.survey.store import load_responses

from dancerec.errors import InputError

INST = load_instrument("dance-music-30")


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# -- every row accounted for ----------------------------------------------------------------------
def _rows(n: int, bad_at: int, bad: str) -> str:
    lines = ["respondent_id,group,comment,CON1,CON2"]
    for i in range(n):
        comment = bad if i == bad_at else "fine"
        lines.append(f"r{i},A,{comment},{1 + i % 5},{1 + (i + 1) % 5}")
    return "\n".join(lines) + "\n"


def test_unclosed_quote_in_free_text_is_an_error_naming_the_line(tmp_path):
    path = _write(tmp_path, "unclosed.csv", _rows(20, 3, '"Great tune'))
    with pytest.raises(InputError) as err:
        prepare_import(path, INST)
    assert "row 5" in str(err.value) and "never closed" in str(err.value)


def test_quote_closed_rows_later_does_not_merge_rows(tmp_path):
    # the quote opened in row r3 is closed in row r6's comment: 17 of 20 would be stored
    text = _rows(20, 3, '"Great tune').replace("r6,A,fine,", 'r6,A,fine",', 1)
    path = _write(tmp_path, "swallow.csv", text)
    with pytest.raises(InputError) as err:
        prepare_import(path, INST)
    assert "line 5" in str(err.value) and "look like rows" in str(err.value)


def test_quoted_multiline_free_text_still_reads(tmp_path):
    text = 'respondent_id,group,comment,CON1\nr1,A,"two\nlines, one comma",3\nr2,A,x,4\n'
    prep = prepare_import(_write(tmp_path, "ok.csv", text), INST)
    assert list(prep.responses.index) == ["r1", "r2"]
    assert prep.responses["CON1"].tolist() == [3.0, 4.0]


QUALTRICS_ONE_HEADER = (
    "StartDate,EndDate,Status,Progress,Finished,ResponseId,group,CON1,CON2\n"
    "2026-09-01 10:00:00,2026-09-01 10:05:00,0,100,True,R_1,A,1,2\n"
    "2026-09-01 11:00:00,2026-09-01 11:05:00,0,100,True,R_2,B,3,4\n"
)


def test_qualtrics_without_question_rows_keeps_respondent_one(tmp_path):
    prep = prepare_import(_write(tmp_path, "q.csv", QUALTRICS_ONE_HEADER), INST)
    assert prep.table.layout == "qualtrics"
    assert list(prep.responses.index) == ["R_1", "R_2"]
    assert any("no question-text row" in w for w in prep.warnings)


def test_forced_qualtrics_on_plain_csv_refuses_instead_of_dropping_row_two(tmp_path):
    path = _write(tmp_path, "plain.csv", "respondent_id,group,CON1,CON2\nr1,A,1,2\nr2,A,3,4\n")
    with pytest.raises(InputError) as err:
        prepare_import(path, INST, ImportOptions(format="qualtrics"))
    assert "row 2" in str(err.value) and "would be lost" in str(err.value)


def test_forced_surveymonkey_on_plain_csv_refuses(tmp_path):
    path = _write(tmp_path, "plain.csv", "respondent_id,group,CON1,CON2\nr1,A,1,2\nr2,A,3,4\n")
    with pytest.raises(InputError, match="row 2"):
        prepare_import(path, INST, ImportOptions(format="surveymonkey"))


# -- no silent value change -----------------------------------------------------------------------
SEVEN = "respondent_id,group,CON1,CON2\nr1,A,Agree,Somewhat agree\nr2,A,Strongly agree,Disagree\n"


def test_seven_point_labels_are_refused_naming_them(tmp_path):
    with pytest.raises(InputError) as err:
        prepare_import(_write(tmp_path, "seven.csv", SEVEN), INST)
    msg = str(err.value)
    assert "'Agree' and 'Somewhat agree'" in msg and "--scale-map" in msg


def test_scale_map_folds_explicitly_and_is_recorded(study, tmp_path):
    opts = ImportOptions(scale_map=(("Somewhat agree", 4),))
    import_file(study, _write(tmp_path, "seven.csv", SEVEN), opts)
    stored = load_responses(study)
    assert stored.loc["r1", ["CON1", "CON2"]].tolist() == [4.0, 4.0]
    with study.read() as con:
        options = json.loads(con.execute("SELECT options FROM survey_import").fetchone()[0])
    assert options["scale_map"] == [["Somewhat agree", 4]]


def _dated(tmp_path: Path, dates: list[str], name: str = "d.csv") -> Path:
    lines = ["respondent_id,group,submitted_at,CON1"] + [f"r{i},A,{d},3" for i, d in enumerate(dates)]
    return _write(tmp_path, name, "\n".join(lines) + "\n")


def test_ambiguous_day_month_dates_are_refused(tmp_path):
    with pytest.raises(InputError) as err:
        prepare_import(_dated(tmp_path, ["01/09/2026", "02/09/2026"]), INST)
    assert "--dayfirst" in str(err.value) and "row 2" in str(err.value)


@pytest.mark.parametrize("sep", ["/", "."])
def test_dayfirst_dates_read_as_day_first(tmp_path, sep):
    dates = [f"01{sep}09{sep}2026", f"02{sep}09{sep}2026"]
    prep = prepare_import(_dated(tmp_path, dates), INST, ImportOptions(date_order="dayfirst"))
    assert prep.responses["submitted_at"].tolist() == [pd.Timestamp("2026-09-01"), pd.Timestamp("2026-09-02")]
    prep = prepare_import(_dated(tmp_path, dates), INST, ImportOptions(date_order="monthfirst"))
    assert prep.responses["submitted_at"].tolist() == [pd.Timestamp("2026-01-09"), pd.Timestamp("2026-02-09")]


def test_day_first_detected_from_a_day_above_twelve(tmp_path):
    prep = prepare_import(_dated(tmp_path, ["01.09.2026 10:00", "13.09.2026 11:30"]), INST)
    assert prep.responses["submitted_at"].tolist() == [
        pd.Timestamp("2026-09-01 10:00"),
        pd.Timestamp("2026-09-13 11:30"),
    ]


def test_mixed_day_and_month_first_in_one_column_is_refused(tmp_path):
    with pytest.raises(InputError, match="sometimes day-first"):
        prepare_import(_dated(tmp_path, ["13/01/2026", "01/13/2026"]), INST)


def test_decimal_comma_in_semicolon_file(tmp_path):
    text = "respondent_id;group;duration_s;CON1\nr1;A;311,5;3\nr2;A;1200;4\n"
    prep = prepare_import(_write(tmp_path, "eu.csv", text), INST)
    assert prep.responses["duration_s"].tolist() == [311.5, 1200.0]


def test_comma_not_a_thousands_group_is_refused_in_comma_file(tmp_path):
    text = 'respondent_id,group,duration_s,CON1\nr1,A,"311,5",3\nr2,A,"1,200",4\n'
    prep = prepare_import(_write(tmp_path, "us.csv", text), INST, collect=True)
    assert [p.row for p in prep.problems] == [2]
    assert prep.responses["duration_s"].tolist() == [1200.0]


def test_windows_1252_latin_text_is_not_read_as_gb18030(tmp_path):
    text = "respondent_id,group,CON1\nr1,Hörer,3\nr2,Köln,4\nr3,München,5\n"
    prep = prepare_import(_write(tmp_path, "w.csv", text, "cp1252"), INST)
    assert prep.table.encoding == "cp1252"
    assert prep.responses["group"].tolist() == ["Hörer", "Köln", "München"]


def test_gbk_chinese_still_read_as_gb18030(tmp_path):
    text = "respondent_id,group,CON1\nr1,对照组,非常同意\nr2,实验组,不同意\n"
    prep = prepare_import(_write(tmp_path, "g.csv", text, "gbk"), INST)
    assert prep.table.encoding == "gb18030"
    assert prep.responses["group"].tolist() == ["对照组", "实验组"]
    assert prep.responses["CON1"].tolist() == [5.0, 2.0]


def test_xlsx_formula_without_cached_value_is_reported(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["respondent_id", "group", "CON1", "CON2"])
    ws.append(["r1", "A", 3, "=1+1"])  # openpyxl stores no cached value
    ws.append(["r2", "A", 4, 2])
    path = tmp_path / "f.xlsx"
    wb.save(path)
    prep = prepare_import(path, INST)
    assert any("D2" in w and "formula" in w for w in prep.warnings)


def test_invisible_and_bidi_characters_do_not_make_phantom_groups_or_ids(tmp_path):
    text = "respondent_id,group,CON1\nr1,A,3\nr2,A\u200b,4\nr\u202e3,\u2067A\u2069,5\n"
    prep = prepare_import(_write(tmp_path, "z.csv", text), INST)
    assert prep.responses["group"].tolist() == ["A", "A", "A"]
    assert list(prep.responses.index) == ["r1", "r2", "r3"]
    assert any("invisible" in w for w in prep.warnings)


def test_zero_width_duplicate_id_is_caught(tmp_path):
    text = "respondent_id,group,CON1\nr1,A,3\nr1\u200b,A,4\n"
    with pytest.raises(InputError, match="duplicate respondent id 'r1'"):
        prepare_import(_write(tmp_path, "d.csv", text), INST)


def test_two_files_numbering_respondents_from_one_point_to_id_prefix(study, tmp_path):
    a = _write(tmp_path, "wjx-a.csv", "序号,group,CON1\n1,A,3\n2,A,4\n")
    b = _write(tmp_path, "wjx-b.csv", "序号,group,CON1\n1,B,5\n2,B,1\n")
    import_file(study, a, ImportOptions(id_column="序号"))
    with pytest.raises(InputError) as err:
        import_file(study, b, ImportOptions(id_column="序号"))
    msg = str(err.value)
    assert "--id-prefix" in msg and "wjx-a.csv" in msg and "would overwrite" in msg
    import_file(study, b, ImportOptions(id_column="序号", id_prefix="b-"))
    stored = load_responses(study)
    assert sorted(stored.index) == ["1", "2", "b-1", "b-2"]
    assert stored.loc["1", "CON1"] == 3.0 and stored.loc["b-1", "CON1"] == 5.0


def test_flags_are_rewritten_only_where_they_changed(study, tmp_path):
    from dancerec.survey.store import write_changed_flags

    a = _write(tmp_path, "a.csv", "respondent_id,group,CON1,CON2,CON3\nr1,A,1,2,3\nr2,A,4,5,3\nr3,A,3,3,3\n")
    import_file(study, a)
    with study.read() as con:
        before = con.execute("SELECT * FROM survey_flag ORDER BY ALL").df()
    assert len(before) > 0
    with study.transaction() as con:
        con.register("_same", before)
        assert write_changed_flags(con, "_same") == (0, 0)  # nothing differs: nothing written
        changed = before.copy()
        changed.loc[0, "value"] = 99.0
        con.register("_one", changed)
        assert write_changed_flags(con, "_one") == (1, 1)
        con.unregister("_same")
        con.unregister("_one")


def test_survey_schema_v1_store_migrates_keeping_answers_and_flags(tmp_path):
    import duckdb
    from dancerec.survey.schema import MIGRATIONS

    from dancerec.workspace import CORE_MIGRATIONS, migrate, schema_versions

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    CORE_MIGRATIONS[0].run(con)
    MIGRATIONS[0].run(con)  # a study written before survey schema 2
    con.execute("INSERT INTO schema_version VALUES ('core', 1, now()), ('survey', 1, now())")
    con.execute("INSERT INTO survey_answer VALUES ('r1', 'CON1', 3), ('r1', 'CON2', 4)")
    con.execute("INSERT INTO survey_flag VALUES ('r1', 'speeder', false, 1.0, 0.33)")
    con.begin()
    changed = migrate(
        con, {"core": "dancerec.workspace:CORE_MIGRATIONS", "survey": "dancerec.survey.schema:MIGRATIONS"}
    )
    con.commit()
    assert changed == {"survey": (1, 2)} and schema_versions(con)["survey"] == 2
    assert con.execute("SELECT * FROM survey_answer ORDER BY item_id").fetchall() == [
        ("r1", "CON1", 3.0),
        ("r1", "CON2", 4.0),
    ]
    assert con.execute("SELECT flag, value FROM survey_flag").fetchall() == [("speeder", 1.0)]
    con.close()


def test_wide_read_back_equals_the_long_table_assembly(study, tmp_path):
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.store import _read_responses, assemble_responses
    from dancerec.survey.writers import write_responses

    sim = simulate_responses(INST, n=120, groups=("A", "B"), seed=3, missing_rate=0.1)
    import_file(study, write_responses(sim.responses, INST, tmp_path / "x.csv", "csv"))
    with study.read() as con:
        wide = _read_responses(con, INST)
        meta = con.execute(
            'SELECT respondent_id, grp AS "group", user_id, duration_s, submitted_at FROM survey_respondent '
            "ORDER BY import_id, source_row, respondent_id"
        ).df()
        long = con.execute("SELECT respondent_id, item_id, value FROM survey_answer").df()
    assert wide[INST.item_ids].isna().to_numpy().any()  # missing answers are part of the check
    pd.testing.assert_frame_equal(wide, assemble_responses(meta, long, INST))
