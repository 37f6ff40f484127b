"""The one survey-data loader: instrument resolved relative to the study folder, reverse-keying,
exclusions, scores and N used / N total; and every consumer (indices, linkage, report) going through it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from dancerec.indices import linkage as L
from dancerec.indices.sources import from_study
from dancerec.survey import NoSurveyData, load_survey
from dancerec.survey.instrument import load_instrument
from dancerec.survey.scoring import recode_reverse, score_dimensions
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.workspace import Study

sys.path.insert(0, str(Path(__file__).parent))
from test_link_study import _record_runs

runner = CliRunner()
pytestmark = pytest.mark.slow  # builds a study workspace and a report (~90 s together)
BUILT_IN = Path(__file__).parents[1] / "survey" / "instruments" / "dance-music-30.toml"


@pytest.fixture(scope="module")
def relative_study(tmp_path_factory) -> Study:
    """A study whose study.toml names its instrument as a file relative to the study folder."""
    from dancerec.survey.importer import ImportOptions, import_file
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.writers import write_responses

    root = tmp_path_factory.mktemp("rel") / "study"
    study = Study.init(root, name="relative", seed=5)
    (root / "instruments").mkdir()
    shutil.copy(BUILT_IN, root / "instruments" / "my-instrument.toml")
    study.config.instrument = "instruments/my-instrument.toml"  # relative to the study, not the cwd
    study.save_config()
    study = Study.open(root)
    runs = _record_runs(study)
    plan, group_map = L.plan_study_from_runs(study, runs, n_groups=3, n_per_group=60, effect=0.5)
    inst = load_instrument(root / "instruments" / "my-instrument.toml")
    shifts = [c for c in plan.columns if c in inst.dimensions]
    sim = simulate_responses(
        inst, seed=3, respondents=plan[["group", "user_id"]], latent_shift=plan[shifts], careless_rate=0.1
    )
    path = write_responses(sim.responses, inst, root / "export.csv", "csv")
    import_file(study, path, ImportOptions())
    L.save_group_map(study, group_map)
    return Study.open(root)


def test_loader_resolves_the_instrument_relative_to_the_study(relative_study, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # nothing named instruments/my-instrument.toml here
    survey = load_survey(relative_study)
    assert survey.n_total == survey.n_used == 180
    raw = survey.responses
    inst = survey.instrument
    # reverse-keying and scoring are the survey subsystem's own functions on the same rows
    items = [i for its in survey.structure.values() for i in its]
    pd.testing.assert_frame_equal(survey.items, recode_reverse(raw[items], inst))
    pd.testing.assert_frame_equal(survey.scores, score_dimensions(raw, inst))
    rev = inst.reverse_items[0]
    assert (survey.items[rev] + raw[rev] == inst.scale_min + inst.scale_max).all() or raw[rev].isna().any()
    assert survey.n_statement() == "N used = 180 of 180 respondents"


def test_loader_applies_exclusions_and_says_why(relative_study):
    from dancerec.survey.store import load_flags

    flags = load_flags(relative_study)
    survey = load_survey(relative_study, exclude_flagged="all")
    flagged = flags.any(axis=1)
    assert survey.n_total == 180 and survey.n_used == 180 - int(flagged.sum()) < 180
    assert set(survey.responses.index) == set(flags.index[~flagged])
    assert survey.excluded == {f: int(flags.loc[flagged, f].sum()) for f in flags.columns}
    assert f"{180 - survey.n_used} excluded by flag" in survey.n_statement()


def test_loader_on_an_empty_study_is_a_missing_data_error(study):
    with pytest.raises(NoSurveyData, match="no survey responses yet"):
        load_survey(study)


def test_indices_and_linkage_use_the_loader(relative_study, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    src = from_study(relative_study)
    survey = load_survey(relative_study)
    pd.testing.assert_frame_equal(src.items, survey.items)
    assert "N used = 180 of 180" in src.description
    result = L.link_study(relative_study, n_boot=0, sem=False)
    assert result.missing.n_respondents == 180 and result.missing.n_linked == 180
    assert result.settings["survey"] == "N used = 180 of 180 respondents"


def test_report_has_every_survey_section_with_a_relative_instrument(relative_study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "report.html"
    args = ["report", "--study", str(relative_study.root), "--out", str(out), "--n-boot", "50"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for title in (
        "Instrument and item distributions",
        "Item analysis and reliability",
        "Factor structure",
        "Structural model",
        "Group comparisons",
        "Offline metrics and perceived quality",
    ):
        assert title in html, title
    assert "left out" not in html
    # 180 respondents with 10% careless answers leave too few complete cases for a listwise 40-item
    # linkage SEM; FIML uses every linked respondent, and the report says so
    assert "the SEM was not fitted" not in html
    assert "FIML" in html
    # the methods appendix says which estimator was used and what the item distributions call for
    assert "Estimation" in html and "The model was estimated by maximum likelihood" in html


def test_report_fails_loudly_when_existing_data_cannot_be_analysed(relative_study, tmp_path):
    """A group map naming a run that does not exist: the linkage section cannot be built → exit 1."""
    broken = tmp_path / "broken"
    shutil.copytree(relative_study.root, broken)
    study = Study.open(broken)
    study.config.groups = {**study.config.groups, "A": "no-such-run"}
    study.save_config()
    result = runner.invoke(app, ["report", "--study", str(broken), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert "Linkage cannot be built" in result.stderr and "no-such-run" in result.stderr
    assert "Traceback" not in result.stderr
