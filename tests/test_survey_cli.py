"""The `dancerec survey` commands end to end (results on stdout/--json, errors exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.survey.instrument import load_instrument
from dancerec.survey.scoring import score_dimensions
from dancerec.survey.simulate import simulate_responses
from dancerec.survey.store import load_flags, load_responses
from dancerec.survey.writers import write_responses
from typer.testing import CliRunner

from dancerec.cli.main import app

FIXTURES = Path(__file__).parent / "fixtures" / "survey"
INST = load_instrument("dance-music-30")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def loaded(study, tmp_path):
    sim = simulate_responses(INST, n=90, seed=21, careless_rate=0.1)
    path = write_responses(sim.responses, INST, tmp_path / "q.csv", "qualtrics")
    result = run(
        "survey", "import", str(path), "--study", str(study.root), "--json", str(tmp_path / "imp.json")
    )
    assert result.exit_code == 0, result.output
    return study, sim


def test_import_json_and_repeat_message(loaded, tmp_path):
    study, _ = loaded
    report = json.loads((tmp_path / "imp.json").read_text(encoding="utf-8"))
    assert report["format"] == "qualtrics" and report["n_new"] == 90 and report["import_id"] == 1
    again = run("survey", "import", str(tmp_path / "q.csv"), "--study", str(study.root))
    assert again.exit_code == 0 and "already present" in again.output


def test_score_json_matches_library(loaded, tmp_path):
    study, sim = loaded
    out = tmp_path / "score.json"
    result = run("survey", "score", "--study", str(study.root), "--json", str(out))
    assert result.exit_code == 0 and "mean dimension scores per group" in result.output
    payload = json.loads(out.read_text(encoding="utf-8"))
    by_group = pd.DataFrame(payload["by_group"]).set_index("group")
    expected = score_dimensions(sim.responses, INST).groupby(sim.responses["group"]).mean()
    np.testing.assert_allclose(by_group.loc[expected.index, expected.columns].to_numpy(), expected.to_numpy())
    excl = run(
        "survey", "score", "--study", str(study.root), "--exclude-flagged", "speeder", "--json", str(out)
    )
    assert excl.exit_code == 0
    n_kept = len(json.loads(out.read_text(encoding="utf-8"))["respondents"])
    assert n_kept == int((~load_flags(study)["speeder"]).sum()) < 90
    bad = run("survey", "score", "--study", str(study.root), "--exclude-flagged", "slow")
    assert bad.exit_code == 1 and "unknown quality flag" in bad.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_export_by_extension(loaded, tmp_path, suffix):
    study, _ = loaded
    out = tmp_path / f"scores{suffix}"
    result = run("survey", "export", "--out", str(out), "--study", str(study.root), "--items")
    assert result.exit_code == 0, result.output
    frame = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".xlsx": pd.read_excel}[suffix](out)
    assert len(frame) == 90
    assert {"respondent_id", "group", "content", "overall", "flag_speeder", "CON1"} <= set(frame.columns)
    stored = load_responses(study)
    assert frame["respondent_id"].astype(str).tolist() == stored.index.tolist()
    np.testing.assert_array_equal(frame["CON1"].to_numpy(dtype=float), stored["CON1"].to_numpy(dtype=float))


def test_flags_command_recomputes_with_thresholds(loaded, tmp_path):
    study, _ = loaded
    default = int(load_flags(study)["longstring"].sum())
    out = tmp_path / "flags.json"
    result = run(
        "survey", "flags", "--longstring-share", "0.1", "--study", str(study.root), "--json", str(out)
    )
    assert result.exit_code == 0
    assert int(load_flags(study)["longstring"].sum()) > default  # a run of 3 now counts
    counts = pd.DataFrame(json.loads(out.read_text(encoding="utf-8"))["counts"]).set_index("flag")
    assert counts.loc["longstring", "threshold"] == 3
    # thresholds persist: a later import recomputes flags with them
    extra = write_responses(
        simulate_responses(INST, n=5, seed=1, id_prefix="Z").responses, INST, tmp_path / "z.csv"
    )
    assert run("survey", "import", str(extra), "--study", str(study.root)).exit_code == 0
    assert int(load_flags(study)["longstring"].sum()) > default


def test_quarantine_listing(study, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("respondent_id,CON1\na,1\nb,8\n", encoding="utf-8")
    result = run("survey", "import", str(path), "--study", str(study.root), "--on-invalid", "quarantine")
    assert result.exit_code == 0 and "1 quarantined" in result.output
    listing = run("survey", "quarantine", "--study", str(study.root), "--json", str(tmp_path / "q.json"))
    assert listing.exit_code == 0 and "out-of-scale" in listing.output
    q = json.loads((tmp_path / "q.json").read_text(encoding="utf-8"))
    assert q[0]["row"] == 3 and q[0]["respondent_id"] == "b"


def test_validate_without_a_study_uses_the_builtin_instrument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DANCEREC_STUDY", raising=False)
    out = tmp_path / "v.json"
    result = run("survey", "validate", str(FIXTURES / "wjx_text_gbk.csv"), "--json", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["dry_run"] and report["n_valid"] == 3 and report["encoding"] == "gb18030"


def test_score_on_an_empty_study_is_a_user_error(study):
    result = run("survey", "score", "--study", str(study.root))
    assert result.exit_code == 1 and "no responses stored yet" in result.stderr
