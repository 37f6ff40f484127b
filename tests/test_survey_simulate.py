"""The simulator: determinism, the planted model is what comes out, hooks, truth files, demo step."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dancerec.survey.instrument import load_instrument
from dancerec.survey.scoring import score_dimensions
from dancerec.survey.simulate import (
    STRUCTURAL_PATHS,
    PlantedTruth,
    planted_structure,
    simulate_responses,
    truth_path,
)
from dancerec.survey.store import load_responses
from rich.console import Console
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.demo import DemoContext, simulate_survey
from dancerec.errors import UserError

INST = load_instrument("dance-music-30")
runner = CliRunner()


def test_same_seed_same_data_other_seed_other_data():
    a = simulate_responses(INST, n=50, seed=4)
    b = simulate_responses(INST, n=50, seed=4)
    c = simulate_responses(INST, n=50, seed=5)
    pd.testing.assert_frame_equal(a.responses, b.responses)
    pd.testing.assert_frame_equal(a.truth.latent_scores, b.truth.latent_scores)
    assert not a.responses[INST.item_ids].equals(c.responses[INST.item_ids])


def test_layout_matches_load_responses_contract():
    r = simulate_responses(INST, n=20, seed=1).responses
    assert r.index.name == "respondent_id"
    assert list(r.columns) == ["group", "user_id", "duration_s", "submitted_at", *INST.item_ids]
    values = r[INST.item_ids].to_numpy(dtype=float)
    assert set(np.unique(values[~np.isnan(values)])) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_implied_latent_correlations_match_a_monte_carlo_estimate():
    """Analytic (I−B)⁻¹Ψ(I−B)⁻ᵀ against the sample correlation of 20 000 simulated latent vectors."""
    sim = simulate_responses(INST, n=20000, groups=["only"], seed=2, careless_rate=0, missing_rate=0)
    truth = sim.truth
    np.testing.assert_allclose(np.diag(truth.factor_correlations), 1.0, atol=1e-12)
    empirical = np.corrcoef(truth.latent_scores.to_numpy(), rowvar=False)
    np.testing.assert_allclose(empirical, truth.factor_correlations.to_numpy(), atol=0.03)
    # a structural path can be read back by regression: experience on its four predictors
    lat = truth.latent_scores
    preds = ["usefulness", "confidence", "ease_of_use", "risk"]
    coef, *_ = np.linalg.lstsq(
        np.column_stack([lat[preds], np.ones(len(lat))]), lat["experience"], rcond=None
    )
    planted = {rhs: c for lhs, rhs, c in STRUCTURAL_PATHS if lhs == "experience"}
    np.testing.assert_allclose(coef[:4], [planted[p] for p in preds], atol=0.03)


def test_planted_structure_hand_case():
    # x exogenous, y = 0.5 x + e: var(y) = 0.25 + ψ = 1 → ψ = 0.75, cov(x, y) = 0.5
    _, psi, implied = planted_structure(["x", "y"], [("y", "x", 0.5)], {})
    assert psi[1, 1] == pytest.approx(0.75)
    np.testing.assert_allclose(implied, [[1, 0.5], [0.5, 1]])
    with pytest.raises(UserError, match="cycle"):
        planted_structure(["x", "y"], [("y", "x", 0.5), ("x", "y", 0.2)], {})


def test_group_quality_shifts_latent_means_through_the_model():
    sim = simulate_responses(
        INST,
        n=6000,
        groups=["low", "high"],
        seed=3,
        group_quality={"low": -0.5, "high": 0.5},
        careless_rate=0,
    )
    means = sim.truth.group_latent_means
    assert means.loc["high", "content"] - means.loc["low", "content"] == pytest.approx(1.0)
    # total effects of a unit content shift, by hand from STRUCTURAL_PATHS:
    # usefulness 0.35; risk −0.35; confidence 0.40·0.35 + 0.20 − 0.20·(−0.35) = 0.41
    gap = means.loc["high"] - means.loc["low"]
    assert gap["usefulness"] == pytest.approx(0.35)
    assert gap["risk"] == pytest.approx(-0.35)
    assert gap["confidence"] == pytest.approx(0.41)
    assert gap["functionality"] == gap["ease_of_use"] == 0
    lat = sim.truth.latent_scores.groupby(sim.responses["group"]).mean()
    np.testing.assert_allclose(
        lat.loc[["low", "high"]].to_numpy(), means.loc[["low", "high"]].to_numpy(), atol=0.06
    )
    scores = score_dimensions(sim.responses, INST).groupby(sim.responses["group"]).mean()
    assert scores.loc["high", "content"] > scores.loc["low", "content"] + 0.4
    assert scores.loc["high", "risk"] < scores.loc["low", "risk"]  # content lowers perceived risk


def test_respondents_and_latent_shift_hooks():
    plan = pd.DataFrame(
        {"group": ["A"] * 400 + ["B"] * 400, "user_id": [f"u{i}" for i in range(800)]},
        index=pd.Index([f"resp{i}" for i in range(800)], name="respondent_id"),
    )
    shift = pd.DataFrame({"content": np.r_[np.zeros(400), np.ones(400)]}, index=plan.index)
    sim = simulate_responses(
        INST, seed=9, respondents=plan, latent_shift=shift, group_quality={"A": 0, "B": 0}
    )
    r = sim.responses
    assert r.index.tolist() == plan.index.tolist()
    assert r["group"].tolist() == plan["group"].tolist() and r["user_id"].tolist() == plan["user_id"].tolist()
    lat = sim.truth.latent_scores
    diff = lat.loc[r["group"] == "B", "content"].mean() - lat.loc[r["group"] == "A", "content"].mean()
    assert diff == pytest.approx(1.0, abs=0.15)
    # "added" shifts stay on the shifted dimension; "propagated" ones reach usefulness (path 0.35)
    assert (
        abs(lat.loc[r["group"] == "B", "usefulness"].mean() - lat.loc[r["group"] == "A", "usefulness"].mean())
        < 0.15
    )
    prop = simulate_responses(
        INST,
        seed=9,
        respondents=plan,
        latent_shift=shift,
        propagate_shift=True,
        group_quality={"A": 0, "B": 0},
    )
    lp = prop.truth.latent_scores
    gap = lp.loc[r["group"] == "B", "usefulness"].mean() - lp.loc[r["group"] == "A", "usefulness"].mean()
    assert gap == pytest.approx(0.35, abs=0.15) and prop.truth.latent_shift_mode == "propagated"
    with pytest.raises(UserError, match="not dimensions"):
        simulate_responses(
            INST, seed=1, respondents=plan, latent_shift=shift.rename(columns={"content": "joy"})
        )


def test_careless_and_missing_rates():
    sim = simulate_responses(INST, n=4000, seed=8, careless_rate=0.1, missing_rate=0.05)
    kind = sim.truth.careless
    assert (kind != "").mean() == pytest.approx(0.1, abs=0.015)
    attentive = sim.responses.loc[kind == "", [it.id for it in INST.scored_items]]
    assert attentive.isna().to_numpy().mean() == pytest.approx(0.05, abs=0.005)
    assert (sim.responses.loc[kind == "", "ATT1"] == 2).all()
    straight = sim.responses.loc[kind == "straightliner", INST.item_ids]
    assert (straight.nunique(axis=1) == 1).all()


def test_truth_saves_and_loads(tmp_path):
    sim = simulate_responses(INST, n=30, seed=1)
    path = sim.truth.save(tmp_path / "t.json")
    back = PlantedTruth.load(path)
    pd.testing.assert_frame_equal(back.loadings, sim.truth.loadings)
    np.testing.assert_allclose(back.factor_correlations.to_numpy(), sim.truth.factor_correlations.to_numpy())
    np.testing.assert_allclose(back.latent_scores.to_numpy(), sim.truth.latent_scores.to_numpy())
    assert "experience ~ usefulness + confidence + ease_of_use + risk" in back.lavaan_syntax()
    assert json.loads(path.read_text(encoding="utf-8"))["seed"] == 1
    loadings = sim.truth.loadings.set_index("item")["loading"]
    assert (
        loadings["FUN4"] < 0 < loadings["FUN1"]
        and 0.65 <= loadings.abs().min()
        and loadings.abs().max() <= 0.85
    )


def test_cli_simulate_writes_file_and_truth(tmp_path):
    out = tmp_path / "sim.sav"
    result = runner.invoke(
        app,
        [
            "survey",
            "simulate",
            "--n",
            "40",
            "--groups",
            "X,Y",
            "--seed",
            "3",
            "--format",
            "sav",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.exists() and truth_path(out).exists()
    truth = json.loads(truth_path(out).read_text(encoding="utf-8"))
    assert truth["groups"] == ["X", "Y"] and truth["n"] == 40
    bad = runner.invoke(app, ["survey", "simulate", "--out", str(tmp_path / "x.csv"), "--quality", "A=high"])
    assert bad.exit_code == 1 and "not a number" in bad.stderr


def test_cli_simulate_into_a_study(study):
    result = runner.invoke(app, ["survey", "simulate", "--n", "60", "--study", str(study.root)])
    assert result.exit_code == 0, result.output
    assert len(load_responses(study)) == 60
    again = runner.invoke(
        app, ["survey", "simulate", "--n", "30", "--id-prefix", "S", "--study", str(study.root)]
    )
    assert again.exit_code == 0, again.output
    ids = load_responses(study).index
    assert len(ids) == 90 and ids[-1] == "S0030"


def test_demo_step_default_and_with_a_respondent_plan(study):
    ctx = DemoContext(study=study, out=Console(quiet=True))
    simulate_survey(ctx)
    assert ctx.data["survey_instrument"] == "dance-music-30"
    assert isinstance(ctx.data["survey_truth"], PlantedTruth)
    responses = load_responses(study)
    assert len(responses) == 600 and set(responses["group"]) == {"A", "B", "C"}
    for key in ("survey: Qualtrics export", "survey: 问卷星 export (GBK)", "survey: planted truth"):
        assert ctx.outputs[key].exists()
    assert ctx.outputs["survey: 问卷星 export (GBK)"].read_bytes().decode("gbk").startswith("序号")


def test_demo_step_uses_the_respondent_plan(tmp_path):
    from dancerec.workspace import Study

    study = Study.init(tmp_path / "plan", seed=5)
    plan = pd.DataFrame(
        {"group": ["svd"] * 30 + ["relation"] * 30, "user_id": [str(1000 + i) for i in range(60)],
         "content": np.linspace(-1, 1, 60)},
        index=pd.Index([f"p{i:03d}" for i in range(60)], name="respondent_id"),
    )  # fmt: skip
    ctx = DemoContext(study=study, out=Console(quiet=True), data={"respondent_plan": plan})
    simulate_survey(ctx)
    got = load_responses(study)
    assert sorted(got.index) == sorted(plan.index)
    assert got.loc[plan.index, "user_id"].tolist() == plan["user_id"].tolist()
    np.testing.assert_allclose(
        ctx.data["survey_truth"].latent_scores["content"].to_numpy() - plan["content"].to_numpy(),
        simulate_responses(
            INST,
            seed=5,
            respondents=plan[["group", "user_id"]],
            group_quality={"svd": 0.0, "relation": 0.0},  # the demo plants only the plan's shifts
        ).truth.latent_scores["content"],
    )
