"""The built-in instrument and instrument validation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from dancerec.survey.instrument import (
    InstrumentError,
    builtin_instruments,
    load_instrument,
    normalise_text,
    validate_instrument,
)
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures" / "survey"
runner = CliRunner()


def test_builtin_dance_music_30_structure():
    inst = load_instrument("dance-music-30")
    assert "dance-music-30" in builtin_instruments()
    assert inst.dimensions == [
        "content", "functionality", "page_design", "ease_of_use",
        "usefulness", "confidence", "experience", "risk",
    ]  # fmt: skip
    structure = inst.dimension_items()
    sizes = {d: len(ids) for d, ids in structure.items()}
    assert sizes == {
        "content": 5, "functionality": 4, "page_design": 3, "ease_of_use": 4,
        "usefulness": 4, "confidence": 3, "experience": 4, "risk": 3,
    }  # fmt: skip
    assert sum(sizes.values()) == 30
    assert (inst.scale_min, inst.scale_max) == (1, 5)
    ids = [it.id for it in inst.items]
    assert len(ids) == len(set(ids))
    for d in inst.dimensions:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", d)
    for it in inst.items:
        assert it.text_en.strip() and it.text_zh.strip() and it.source.strip()
        assert re.search(r"[\u4e00-\u9fff]", it.text_zh), it.id
    # two reverse-keyed items, none in risk (risk is scored as risk); the attention check is unscored
    assert inst.reverse_items == ["FUN4", "EOU4"]
    assert inst.dimension("risk").valence == "negative"
    assert [it.id for it in inst.attention_items] == ["ATT1"]
    assert inst.item("ATT1").expected == 2
    assert all("ATT1" not in v for v in structure.values())
    assert "ATT1" in inst.dimension_items(include_attention=True)["experience"]
    # anchors 1..5 in both languages; text answers resolve in either language
    assert [a.value for a in inst.anchors] == [1, 2, 3, 4, 5]
    assert inst.anchor_lookup[normalise_text("Strongly agree")] == 5
    assert inst.anchor_lookup[normalise_text("非常不同意")] == 1
    assert inst.cfa_syntax().splitlines()[0] == "content =~ CON1 + CON2 + CON3 + CON4 + CON5"


def test_wording_mentions_surprise_and_browsing_habits():
    inst = load_instrument("dance-music-30")
    texts = {it.id: it.text_en.lower() for it in inst.items}
    assert "surprised" in texts["CON5"]
    assert inst.item("PGD2").dimension == "page_design" and "browse" in texts["PGD2"]


def test_normalise_text_folds_width_numbering_and_punctuation():
    assert normalise_text("12、推荐的歌曲（好）。") == normalise_text("推荐的歌曲(好)")
    assert normalise_text("Q3. The SONGS, varied!") == "thesongsvaried"
    assert normalise_text("第5题: 同意") == "同意"


def test_user_instrument_with_seven_points_loads():
    inst = load_instrument(FIXTURES / "likert7.toml")
    assert (inst.name, inst.scale_min, inst.scale_max, inst.n_points) == ("tiny-7", 1, 7, 7)
    assert inst.dimension_items() == {"joy": ["J1", "J2", "J3"], "effort": ["E1", "E2", "E3"]}
    assert validate_instrument(FIXTURES / "likert7.toml") == []


def test_bad_instrument_lists_every_problem_with_location():
    problems = validate_instrument(FIXTURES / "bad_instrument.toml")
    text = "\n".join(str(p) for p in problems)
    assert "scale_max (1) must be greater than scale_min (5)" in text
    assert "'Good Dim' must be a snake_case identifier" in text
    assert "duplicate item id 'Q1'" in text
    assert "unknown dimension 'nonexistent'" in text
    assert "wording 'en' is missing or empty" in text
    assert "dimension 'quality' has 2 scored item(s); at least 3" in text
    # locations: file:line plus the table entry
    dup = next(p for p in problems if "duplicate item id" in p.problem)
    assert re.search(r"bad_instrument\.toml:\d+ \[\[items\]\] #2 \(id 'Q1'\)", dup.location)
    with pytest.raises(InstrumentError) as exc:
        load_instrument(FIXTURES / "bad_instrument.toml")
    assert len(exc.value.problems) == len(problems) >= 6


def test_unknown_instrument_name_is_a_user_error():
    with pytest.raises(UserError, match="not a built-in instrument"):
        load_instrument("no-such-scale")


def test_cli_instrument_show_and_validate(tmp_path):
    out = tmp_path / "inst.json"
    shown = runner.invoke(app, ["survey", "instrument", "show", "dance-music-30", "--json", str(out)])
    assert shown.exit_code == 0, shown.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert len(payload["items"]) == 31 and payload["scale_max"] == 5
    ok = runner.invoke(app, ["survey", "instrument", "validate", str(FIXTURES / "likert7.toml")])
    assert ok.exit_code == 0 and "ok:" in ok.output
    bad = runner.invoke(app, ["survey", "instrument", "validate", str(FIXTURES / "bad_instrument.toml")])
    assert bad.exit_code == 1
    assert "duplicate item id 'Q1'" in bad.stderr and "unknown dimension" in bad.stderr
    assert "Traceback" not in bad.output
