"""Scoring against hand-computed values (reverse keying, proration, overall) and export."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.survey.instrument import load_instrument
from dancerec.survey.scoring import export_table, group_means_table, recode_reverse, score_dimensions

from dancerec.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "survey"
INST = load_instrument("dance-music-30")


def _frame(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    df = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=INST.item_ids).astype(float)
    df.index.name = "respondent_id"
    return df


def test_recode_reverse_is_min_plus_max_minus_x():
    df = _frame({"a": {"FUN4": 1, "EOU4": 5, "CON1": 1}, "b": {"FUN4": 2, "EOU4": np.nan, "CON1": 4}})
    out = recode_reverse(df, INST)
    assert out.loc["a", "FUN4"] == 5 and out.loc["a", "EOU4"] == 1 and out.loc["b", "FUN4"] == 4
    assert math.isnan(out.loc["b", "EOU4"])
    assert out.loc["a", "CON1"] == 1  # not reverse-keyed
    assert out.loc["a", "RSK1"] != out.loc["a", "RSK1"]  # risk items are not reverse-keyed (NaN stays)
    assert df.loc["a", "FUN4"] == 1  # input untouched


def test_score_dimensions_hand_computed():
    full = {
        # content 5 items: 5,4,3,4,5 -> 21/5 = 4.2
        "CON1": 5, "CON2": 4, "CON3": 3, "CON4": 4, "CON5": 5,
        # functionality: 4,3,2 and FUN4 = 2 (reverse -> 4): (4+3+2+4)/4 = 3.25
        "FUN1": 4, "FUN2": 3, "FUN3": 2, "FUN4": 2,
        "PGD1": 3, "PGD2": 4, "PGD3": 5,  # 4.0
        "EOU1": 5, "EOU2": 5, "EOU3": 4, "EOU4": 1,  # EOU4 -> 5: 19/4 = 4.75
        "USE1": 4, "USE2": 4, "USE3": 4, "USE4": 4,  # 4.0
        "CNF1": 3, "CNF2": 4, "CNF3": 2,  # 3.0
        "EXP1": 4, "EXP2": 5, "EXP3": 4, "EXP4": 3, "ATT1": 1,  # 4.0 (ATT1 never scored)
        "RSK1": 2, "RSK2": 1, "RSK3": 3,  # 2.0 (risk, not reversed)
    }  # fmt: skip
    partial = dict(full)
    # content: 4 of 5 answered (0.8 ≥ 2/3) -> (5+4+3+4)/4 = 4.0
    partial["CON5"] = np.nan
    # page design: 2 of 3 answered (exactly 2/3) -> (3+4)/2 = 3.5
    partial["PGD3"] = np.nan
    # functionality: 2 of 4 answered (0.5 < 2/3) -> missing
    partial["FUN1"] = partial["FUN2"] = np.nan
    # ease of use: 3 of 4 answered incl. reverse EOU4=1 -> (5+5+5)/3 = 5.0
    partial["EOU3"] = np.nan
    scores = score_dimensions(_frame({"full": full, "partial": partial}), INST)
    assert list(scores.columns) == [*INST.dimensions, "overall"]
    f = scores.loc["full"]
    expected = {
        "content": 4.2, "functionality": 3.25, "page_design": 4.0, "ease_of_use": 4.75,
        "usefulness": 4.0, "confidence": 3.0, "experience": 4.0, "risk": 2.0,
    }  # fmt: skip
    for dim, value in expected.items():
        assert f[dim] == pytest.approx(value), dim
    # overall: risk counted as 1 + 5 - 2 = 4 -> mean(4.2, 3.25, 4, 4.75, 4, 3, 4, 4) = 31.2 / 8
    assert f["overall"] == pytest.approx(31.2 / 8)
    p = scores.loc["partial"]
    assert p["content"] == pytest.approx(4.0)
    assert p["page_design"] == pytest.approx(3.5)
    assert math.isnan(p["functionality"])
    assert p["ease_of_use"] == pytest.approx(5.0)
    # overall over the 7 scored dimensions (7/8 ≥ 2/3): 4 + 3.5 + 5 + 4 + 3 + 4 + 4 = 27.5
    assert p["overall"] == pytest.approx(27.5 / 7)


def test_min_share_is_configurable_and_checked():
    row = {"CON1": 5, "CON2": 3}  # 2 of 5 content items
    df = _frame({"x": row})
    assert math.isnan(score_dimensions(df, INST).loc["x", "content"])
    assert score_dimensions(df, INST, min_share=0.4).loc["x", "content"] == pytest.approx(4.0)
    with pytest.raises(UserError):
        score_dimensions(df, INST, min_share=0)


def test_recode_false_means_already_recoded():
    df = _frame({"x": {"FUN1": 4, "FUN2": 4, "FUN3": 4, "FUN4": 4}})
    assert score_dimensions(df, INST).loc["x", "functionality"] == pytest.approx((4 + 4 + 4 + 2) / 4)
    assert score_dimensions(df, INST, recode=False).loc["x", "functionality"] == pytest.approx(4.0)


def test_seven_point_instrument_scores_with_its_own_bounds():
    inst = load_instrument(FIXTURES / "likert7.toml")
    df = pd.DataFrame(
        {"J1": [7.0], "J2": [6.0], "J3": [2.0], "E1": [3.0], "E2": [3.0], "E3": [np.nan]}, index=["r"]
    )
    s = score_dimensions(df, inst)
    assert s.loc["r", "joy"] == pytest.approx((7 + 6 + 6) / 3)  # J3: 1 + 7 - 2 = 6
    assert s.loc["r", "effort"] == pytest.approx(3.0)
    assert s.loc["r", "overall"] == pytest.approx((19 / 3 + (8 - 3)) / 2)  # effort has negative valence


def test_group_means_table():
    scores = pd.DataFrame({"content": [1.0, 3.0, 5.0]}, index=["a", "b", "c"])
    table = group_means_table(scores, pd.Series(["g1", "g1", "g2"], index=["a", "b", "c"]))
    assert table.to_dict("list") == {"group": ["g1", "g2"], "n": [2, 1], "content": [2.0, 5.0]}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_export_by_extension_round_trips(tmp_path, suffix):
    frame = pd.DataFrame(
        {"content": [4.2, np.nan], "group": ["A", "B"]}, index=pd.Index(["r1", "r2"], name="respondent_id")
    )
    path = export_table(frame, tmp_path / f"scores{suffix}")
    back = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".xlsx": pd.read_excel}[suffix](path)
    assert list(back.columns) == ["respondent_id", "content", "group"]
    assert back["content"].iloc[0] == pytest.approx(4.2) and pd.isna(back["content"].iloc[1])


def test_export_unknown_extension_is_user_error(tmp_path):
    with pytest.raises(UserError, match=r"use \.csv, \.parquet or \.xlsx"):
        export_table(pd.DataFrame({"a": [1]}), tmp_path / "x.json")
