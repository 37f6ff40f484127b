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
from dancerec.indices.linkage.simulate import simulate_linked_study
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
