"""The study planner against closed forms (Fisher z for a rank correlation, statsmodels' FTestAnovaPower
for the group test) within Monte-Carlo error, its null, its CLI, and design sensitivity."""

from __future__ import annotations

import json
import math

import pytest
from dancerec.indices.linkage import run_linkage
from dancerec.indices.linkage.planning import (
    design_sensitivity,
    loading_for,
    plan_power,
    simulate_design,
    spearman_power,
)
from dancerec.indices.linkage.sem import metrics_sem
from dancerec.indices.linkage.simulate import simulate_linked_study, simulate_sem_design
from statsmodels.stats.power import FTestAnovaPower
from typer.testing import CliRunner

from dancerec.cli.main import app

runner = CliRunner()
N_SIMS = 250
REL = 0.8


def test_loadings_give_the_asked_reliability():
    lam = loading_for(0.8, 4)
    assert 4 * lam**2 / (4 * lam**2 + (1 - lam**2)) == pytest.approx(0.8)
    joined, _ = simulate_design(
        n_groups=1, n_per_group=20000, rho=0.5, f=0.0, reliability=REL, n_dimensions=1, normal_metrics=True
    )
    # the observed score correlates rho * sqrt(reliability) with the metric
    assert joined["recall@10"].corr(joined["usefulness"]) == pytest.approx(0.5 * math.sqrt(REL), abs=0.02)


@pytest.mark.slow
def test_simulated_power_matches_closed_forms():
    n, rho, f = 40, 0.25, 0.25
    result = plan_power(
        n_groups=3,
        n_per_group=(n,),
        rho=(rho,),
        f=f,
        reliability=REL,
        n_dimensions=1,
        n_sims=N_SIMS,
        normal_metrics=True,
        seed=1,
    )
    table = result.table.set_index("analysis")["power"]
    mc = 3.5 * math.sqrt(0.25 / N_SIMS)  # 3.5 Monte-Carlo SE at the worst case p = .5
    conf = spearman_power(rho * math.sqrt(REL), 3 * n, 0.05, n_covariates=2)
    assert table["user correlation, confirmatory (1 test)"] == pytest.approx(conf, abs=mc)
    group = FTestAnovaPower().power(effect_size=f * math.sqrt(REL), nobs=3 * n, alpha=0.05, k_groups=3)
    assert table["group test (1 dimensions, holm)"] == pytest.approx(group, abs=mc)
    # the exploratory family (6 metrics x 1 dimension, Holm) costs power
    assert (
        table["user correlation, exploratory (6 tests, holm)"]
        < table["user correlation, confirmatory (1 test)"]
    )


@pytest.mark.slow
def test_no_effect_means_power_equals_alpha():
    result = plan_power(n_per_group=(40,), rho=(0.0,), f=0.0, n_dimensions=2, n_sims=N_SIMS, seed=2)
    for row in result.table.itertuples():
        assert row.ci_low <= 0.05 + 0.02 and row.power <= 0.1, row.analysis


def test_plan_cli_writes_table_figure_and_json(tmp_path):
    out, fig = tmp_path / "plan.json", tmp_path / "power.svg"
    args = ["link", "plan", "--n", "20,40", "--rho", "0.3", "--n-sims", "5", "--dimensions", "2"]
    result = runner.invoke(app, [*args, "--figure", str(fig), "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert len(payload["power"]) == 2 * 3 and payload["settings"]["n_sims"] == 5
    assert fig.read_text().lstrip().startswith("<?xml")
    bad = runner.invoke(app, ["link", "plan", "--rho", "1.5"])
    assert bad.exit_code == 1 and "--rho" in bad.stderr
    bad = runner.invoke(app, ["link", "plan", "--n", "ten"])
    assert bad.exit_code == 1 and "comma list of numbers" in bad.stderr


def test_design_sensitivity_inverts_the_closed_forms():
    result = run_linkage(simulate_linked_study(scenario="off", n_per_group=60, seed=3), n_boot=0, sem=False)
    table, sentence = design_sensitivity(result, reliability=REL)
    rows = table.set_index("analysis")
    n, m = result.missing.n_linked, int(rows.at["user correlation, exploratory family", "tests"])
    for label, tests in (
        ("user correlation, pre-registered", 1),
        ("user correlation, exploratory family", m),
    ):
        mde = rows.at[label, "minimum_detectable"]
        assert spearman_power(mde, n, 0.05 / tests, n_covariates=2) == pytest.approx(0.8, abs=1e-6)
    f = rows.at["group test, per dimension", "minimum_detectable"]
    nobs = int(result.group.table["n"].sum())
    assert FTestAnovaPower().power(effect_size=f, nobs=nobs, alpha=0.05 / 8, k_groups=3) == pytest.approx(
        0.8, abs=1e-4
    )
    assert (
        rows.at["user correlation, pre-registered", "minimum_detectable"]
        < rows.at["user correlation, exploratory family", "minimum_detectable"]
    )
    assert "80% power" in sentence and f"{n} linked respondents in 3 groups" in sentence


SEM_PREDICTORS = ["recall@10", "novelty@10", "serendipity@10"]


@pytest.mark.parametrize("rho", [0.0, 0.4])
def test_sem_design_plants_rho_as_the_standardised_path(rho):
    # Likert answers from the survey simulator; the SEM of `link` recovers the planted within-group
    # correlation as the standardised recall -> usefulness path (the other metrics carry no link)
    items, structure, metrics, group = simulate_sem_design(
        n_groups=2, n_per_group=1500, rho=rho, f=0.5, seed=4
    )
    assert items.shape == (3000, 30) and (group.value_counts() == 1500).all()
    sem = metrics_sem(items, structure, metrics[SEM_PREDICTORS], group=group, seed=0)
    paths = sem.paths.set_index(["metric", "dimension"])
    assert paths.at[("recall@10", "usefulness"), "std"] == pytest.approx(rho, abs=0.05)
    assert abs(paths.at[("novelty@10", "usefulness"), "std"]) < 0.05


def test_sem_path_power_is_high_for_a_large_effect_and_near_alpha_without_one():
    result = plan_power(n_per_group=(60,), rho=(0.0, 0.5), n_dimensions=2, n_sims=10, sem=True, seed=5)
    sem = result.table[result.table["analysis"].str.startswith("SEM path")].set_index("rho")
    assert list(sem.index) == [0.0, 0.5] and (sem["n_failed"] == 0).all()
    assert sem["analysis"].iloc[0] == "SEM path (24 paths, holm)"  # 3 predictors x 8 dimensions
    assert sem.at[0.5, "power"] >= 0.8 and sem.at[0.0, "power"] <= 0.2
    assert (sem["ci_low"] <= sem["power"] + 1e-12).all() and (sem["power"] <= sem["ci_high"] + 1e-12).all()
    assert result.settings["sem"] is True
    # default: no SEM row (it is slower)
    plain = plan_power(n_per_group=(20,), rho=(0.3,), n_dimensions=2, n_sims=2)
    assert not plain.table["analysis"].str.startswith("SEM").any()


def test_sem_path_fit_failure_counts_as_a_miss():
    # 3 x 20 respondents are too few for the 30-item SEM: every study fails, power 0, reported as failed
    result = plan_power(n_per_group=(20,), rho=(0.5,), n_dimensions=2, n_sims=2, sem=True)
    row = result.table[result.table["analysis"].str.startswith("SEM path")].iloc[0]
    assert row["power"] == 0 and row["n_failed"] == 2


def test_plan_cli_sem_option(tmp_path):
    out = tmp_path / "plan.json"
    args = ["link", "plan", "--n", "60", "--rho", "0.5", "--n-sims", "3", "--dimensions", "2", "--sem"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    analyses = [row["analysis"] for row in payload["power"]]
    assert "SEM path (24 paths, holm)" in analyses and payload["settings"]["sem"] is True
