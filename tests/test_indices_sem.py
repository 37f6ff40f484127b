"""Structural models: recovery of planted paths, indirect effects with seeded CIs, observed covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.estimation import estimate
from dancerec.indices.sem import default_sem_syntax, default_structural_syntax, fit_sem
from dancerec.indices.simulate import latent_covariance, simulate_sem

from dancerec.errors import UserError

SIZES = {"content": 5, "functionality": 4, "page_design": 3, "ease_of_use": 4, "usefulness": 4, "confidence": 3,
         "experience": 4, "risk": 3}  # fmt: skip
STRUCTURE = {d: [f"{d}_{i + 1}" for i in range(k)] for d, k in SIZES.items()}
# the default structural model with planted standardised coefficients
PATHS = {
    ("ease_of_use", "functionality"): 0.40,
    ("ease_of_use", "page_design"): 0.30,
    ("usefulness", "ease_of_use"): 0.35,
    ("usefulness", "content"): 0.35,
    ("usefulness", "functionality"): 0.15,
    ("risk", "ease_of_use"): -0.25,
    ("risk", "content"): -0.35,
    ("confidence", "usefulness"): 0.40,
    ("confidence", "content"): 0.20,
    ("confidence", "risk"): -0.20,
    ("experience", "usefulness"): 0.30,
    ("experience", "confidence"): 0.30,
    ("experience", "ease_of_use"): 0.15,
    ("experience", "risk"): -0.15,
}
rng = np.random.default_rng(11)
LOADINGS = {i: float(rng.uniform(0.6, 0.85)) for its in STRUCTURE.values() for i in its}


@pytest.fixture(scope="module")
def big():
    return simulate_sem(STRUCTURE, 2000, loadings=LOADINGS, paths=PATHS, exo_corr=0.3, seed=5)


@pytest.fixture(scope="module")
def big_fit(big):
    return fit_sem(big.items, default_sem_syntax(STRUCTURE), ci="none")


def test_planted_paths_loadings_and_r2_are_recovered(big_fit, big):
    """N = 2000, continuous answers. Tolerances are about 3 standard errors (the paths' sampling SD over
    seeds 0-5 was .01-.05): each standardised path within .10 and their mean absolute error below .03;
    loadings within .05; R^2 within .08."""
    res = big_fit
    assert res.converged
    assert res.problems == []
    paths = res.paths.set_index(["lhs", "rhs"])["std"]
    assert len(paths) == len(PATHS)
    errors = [paths[key] - planted for key, planted in PATHS.items()]
    for key, err in zip(PATHS, errors, strict=True):
        assert abs(err) < 0.10, key
    assert np.mean(np.abs(errors)) < 0.03
    lo = res.loadings.set_index("item")["std"]
    for item, planted in LOADINGS.items():
        assert lo[item] == pytest.approx(planted, abs=0.05), item
    # planted R^2 = 1 - residual variance (every factor has variance 1)
    _, resid = latent_covariance(list(STRUCTURE), PATHS, 0.3)
    r2 = res.r2.set_index("variable")["r2"]
    for dim, psi in resid.items():
        assert r2[dim] == pytest.approx(1 - psi, abs=0.08), dim
    # the model is true: close fit
    assert res.fit.cfi > 0.99
    assert res.fit.rmsea < 0.03


def test_indirect_effects_defined_in_the_default_model(big_fit):
    ind = big_fit.indirect.set_index("name")
    planted = {
        "content_via_usefulness_to_experience": 0.35 * 0.30,
        "functionality_via_ease_of_use_to_usefulness": 0.40 * 0.35,
        "content_via_risk_to_experience": -0.35 * -0.15,
    }
    assert set(ind.index) == set(planted)
    paths = big_fit.paths.set_index(["lhs", "rhs"])["std"]
    # the std indirect effect is the product of the std paths
    assert ind.at["content_via_usefulness_to_experience", "std"] == pytest.approx(
        paths[("usefulness", "content")] * paths[("experience", "usefulness")], rel=1e-9
    )
    for name, value in planted.items():
        assert ind.at[name, "std"] == pytest.approx(value, abs=0.04), name


def test_standardised_estimates_agree_with_semopy(big_fit):
    """Second implementation: our std.all from the model matrices vs semopy's inspect(std_est=True)."""
    model = big_fit.fitted.model
    ins = model.inspect(std_est=True)
    reg = ins[(ins["op"] == "~") & ins["lval"].isin(SIZES) & ins["rval"].isin(SIZES)]
    ours = big_fit.paths.set_index(["lhs", "rhs"])["std"]
    for r in reg.itertuples():
        assert ours[(r.lval, r.rval)] == pytest.approx(float(r._5), abs=1e-9)


@pytest.fixture(scope="module")
def small():
    # a mediation model small enough to bootstrap in a test
    st = {"x": ["x1", "x2", "x3"], "m": ["m1", "m2", "m3"], "y": ["y1", "y2", "y3"]}
    paths = {("m", "x"): 0.5, ("y", "m"): 0.4, ("y", "x"): 0.1}
    sim = simulate_sem(st, 400, loadings=0.8, paths=paths, seed=2)
    syntax = "x =~ x1 + x2 + x3\nm =~ m1 + m2 + m3\ny =~ y1 + y2 + y3\nm ~ a*x\ny ~ b*m + x\nab := a*b"
    return sim.items, syntax


def test_bootstrap_ci_is_seeded_and_covers_the_planted_effect(small):
    data, syntax = small
    a = fit_sem(data, syntax, ci="bootstrap", n_boot=60, seed=3)
    b = fit_sem(data, syntax, ci="bootstrap", n_boot=60, seed=3)
    c = fit_sem(data, syntax, ci="bootstrap", n_boot=60, seed=4)
    pd.testing.assert_frame_equal(a.indirect, b.indirect)
    assert not a.indirect.equals(c.indirect)
    row = a.indirect.iloc[0]
    assert row["name"] == "ab"
    assert row["std_ci_low"] < 0.20 < row["std_ci_high"]
    assert row["std_ci_low"] < row["std"] < row["std_ci_high"]
    assert a.n_resamples == 60
    # the model is restored after resampling: the point estimates are unchanged
    ref = fit_sem(data, syntax, ci="none")
    assert a.paths["estimate"].to_numpy() == pytest.approx(ref.paths["estimate"].to_numpy(), abs=1e-10)
    assert a.fit.chi2 == pytest.approx(ref.fit.chi2, abs=1e-10)


def test_bootstrap_refits_match_a_full_refit(small):
    """Warm-started resample fits reach the optimum a fresh semopy fit finds on the same resample."""
    data, syntax = small
    res = fit_sem(data, syntax, ci="bootstrap", n_boot=1, seed=9)
    idx = np.random.default_rng(9).integers(0, len(data), len(data))
    fresh = fit_sem(data.iloc[idx].reset_index(drop=True), syntax, ci="none")
    assert res.indirect.at[0, "ci_low"] == pytest.approx(fresh.indirect.at[0, "estimate"], abs=1e-5)


def test_monte_carlo_ci_and_chains(small):
    data, syntax = small
    res = fit_sem(data, syntax, ci="montecarlo", n_boot=2000, seed=1, indirect=[("x", "m", "y")])
    ind = res.indirect.set_index("name")
    assert list(ind.index) == ["ab", "x -> m -> y"]
    # the chain and the labelled definition are the same effect
    assert ind.at["x -> m -> y", "std"] == pytest.approx(ind.at["ab", "std"], rel=1e-12)
    assert ind.at["ab", "std_ci_low"] < ind.at["ab", "std"] < ind.at["ab", "std_ci_high"]
    assert res.ci_method == "montecarlo"
    with pytest.raises(UserError, match="no path"):
        fit_sem(data, syntax, ci="none", indirect=[("y", "m", "x")])


def test_observed_exogenous_covariates_are_fixed_x():
    """Latent factors regressed on observed per-user metrics (the linkage analysis)."""
    gen = np.random.default_rng(4)
    n = 800
    metric = gen.standard_normal(n)
    other = 0.3 * metric + gen.standard_normal(n)
    f = 0.5 * metric + np.sqrt(1 - 0.25) * gen.standard_normal(n)
    data = pd.DataFrame({f"q{i}": 0.8 * f + 0.6 * gen.standard_normal(n) for i in range(4)})
    data["ndcg"] = metric
    data["recall"] = other
    res = fit_sem(data, "quality =~ q0 + q1 + q2 + q3\nquality ~ ndcg + recall", ci="none")
    p = len(data.columns)
    # fixed.x: the covariates' 3 (co)variances are neither free parameters nor data moments
    assert res.fit.df == p * (p + 1) // 2 - 3 - res.fit.npar
    paths = res.paths.set_index("rhs")
    assert paths.at["ndcg", "std"] == pytest.approx(0.5 * np.std(metric) / 1.0, abs=0.06)
    assert abs(paths.at["recall", "std"]) < 0.08
    assert paths.at["ndcg", "p"] < 1e-6
    # the implied covariance of the covariates equals their sample covariance
    fm = res.fitted
    xs = [fm.observed.index("ndcg"), fm.observed.index("recall")]
    assert fm.sigma[np.ix_(xs, xs)] == pytest.approx(fm.s[np.ix_(xs, xs)], abs=1e-10)


def test_default_structural_model_and_its_errors():
    text = default_structural_syntax()
    assert "ease_of_use ~" in text and ":=" in text
    syntax = default_sem_syntax(STRUCTURE)
    assert syntax.startswith("content =~ content_1")
    with pytest.raises(UserError, match="does not have: usefulness"):
        default_sem_syntax({k: v for k, v in STRUCTURE.items() if k != "usefulness"})
    with pytest.raises(UserError, match="CI method"):
        fit_sem(pd.DataFrame(), "f =~ a + b + c", ci="jackknife")


def test_estimate_reports_nonconvergence_honestly(big):
    # one iteration of SLSQP cannot converge: the result says so instead of pretending
    from dancerec.indices.estimation import Estimator

    fm = estimate(big.items, {d: STRUCTURE[d] for d in ("content", "risk")}, estimator=Estimator(maxiter=1))
    assert not fm.converged
    assert any("did not converge" in p for p in fm.problems)


PD_LABELLED = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
ind := a*b
"""


def test_political_democracy_bootstrap_counts_failed_resamples_instead_of_crashing():
    # regression: every seed used to end in "LinAlgError: Singular matrix" from an unguarded inverse
    from dancerec.indices.estimation import MLObjective
    from semopy.examples import political_democracy

    data = political_democracy.get_data()
    res = fit_sem(data, PD_LABELLED, ci="bootstrap", n_boot=40, seed=1)
    assert res.n_resamples + res.n_failed == 40
    assert res.n_resamples >= 30
    row = res.indirect.iloc[0]
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    if res.n_failed:
        assert any("resamples failed" in p for p in res.problems)
    # the guarded objective: a singular Sigma gives +inf instead of raising
    fm = res.fitted
    obj = MLObjective(fm.model, fm.s)
    bad = fm.model.param_vals.copy() * 0.0
    f, g = obj(bad)
    assert f == np.inf and np.all(g == 0)


def _pd_reference():
    import re
    from pathlib import Path

    folder = Path(__file__).parent / "fixtures" / "R" / "sem_syntax"
    src = (folder / "sem_syntax.R").read_text()
    models = {m: re.search(m + r' = "(.*?)"', src, re.S).group(1) for m in ("equal", "defined")}
    return folder, models, pd.read_csv(folder / "fit.csv"), pd.read_csv(folder / "params.csv")


@pytest.mark.parametrize(
    ("run", "model", "missing"),
    [("equal_ml", "equal", False), ("defined_ml", "defined", False), ("defined_fiml", "defined", True),
     ("equal_fiml", "equal", True)],
)  # fmt: skip
def test_political_democracy_labels_equalities_and_fiml_match_lavaan(run, model, missing):
    from semopy.examples import political_democracy

    folder, models, fits, params = _pd_reference()
    data = pd.read_csv(folder / "pd_missing.csv") if missing else political_democracy.get_data()
    res = fit_sem(data, models[model], ci="none")
    ref = fits[fits["run"] == run].set_index("measure")["value"]
    f = res.fit
    assert (f.df, f.npar, f.n) == (ref["df"], ref["npar"], ref["nobs"])
    assert f.missing == ("fiml" if missing else "listwise")
    for key, mine in {"chisq": f.chi2, "cfi": f.cfi, "tli": f.tli, "rmsea": f.rmsea, "srmr": f.srmr,
                      "logl": f.loglik, "bic": f.bic, "baseline.chisq": f.baseline_chi2}.items():  # fmt: skip
        assert mine == pytest.approx(ref[key], abs=1e-3), key
    p = params[params["run"] == run].copy()
    p["rhs"] = p["rhs"].fillna("")
    p = p.set_index(["lhs", "op", "rhs"])
    j = res.params.set_index(["lhs", "op", "rhs"]).join(
        p[["est", "se", "std_all"]].add_suffix("_r"), how="inner"
    )
    assert len(j) >= 34
    assert np.abs(j["estimate"] - j["est_r"]).max() < 1e-3
    assert np.abs(j["std"] - j["std_all_r"]).max() < 1e-3  # incl. residual covariances (residual SDs)
    se = j.dropna(subset=["se_r"])
    se = se[se["se_r"] > 0]
    assert np.abs(se["se"] - se["se_r"]).max() < 1e-3
    defined = p[p.index.get_level_values("op") == ":="]
    for row in res.indirect.itertuples():
        r = defined[defined.index.get_level_values("lhs") == row.name].iloc[0]
        assert row.estimate == pytest.approx(r["est"], abs=1e-3)
        assert row.std == pytest.approx(r["std_all"], abs=1e-3)
        assert row.se_delta == pytest.approx(r["se"], abs=1e-3)  # delta method, lavaan's := SE


def test_std_lv_identification_matches_lavaan():
    from semopy.examples import political_democracy

    _, models, fits, params = _pd_reference()
    res = fit_sem(political_democracy.get_data(), models["defined"], ci="none", std_lv=True)
    ref = fits[fits["run"] == "defined_stdlv"].set_index("measure")["value"]
    assert res.fit.chi2 == pytest.approx(ref["chisq"], abs=1e-3)
    assert (res.fit.df, res.fit.npar) == (ref["df"], ref["npar"])
    p = params[params["run"] == "defined_stdlv"].copy()
    p["rhs"] = p["rhs"].fillna("")
    p = p.set_index(["lhs", "op", "rhs"])
    j = res.params.set_index(["lhs", "op", "rhs"]).join(p[["est", "se"]].add_suffix("_r"), how="inner")
    assert np.abs(j["estimate"] - j["est_r"]).max() < 1e-3
    assert j.loc[("ind60", "=~", "x1"), "se"] == pytest.approx(j.loc[("ind60", "=~", "x1"), "se_r"], abs=1e-3)
    # every loading free, every latent (residual) variance fixed at 1
    assert res.params.loc[res.params["op"] == "=~", "free"].all()
    var = res.params[(res.params["kind"] == "variance")]
    assert (var["estimate"] == 1.0).all() and not var["free"].any()
    defined = p[p.index.get_level_values("op") == ":="].reset_index().set_index("lhs")
    for row in res.indirect.itertuples():
        r = defined.loc[row.name]
        assert row.estimate == pytest.approx(r["est"], abs=1e-3)
        assert row.se_delta == pytest.approx(r["se"], abs=1e-3)


def test_equality_constraint_operator_equals_shared_labels_in_lavaan():
    from semopy.examples import political_democracy

    _, models, fits, _ = _pd_reference()
    # lavaan's tutorial model written with six labels and three a == b constraints
    text = models["equal"].replace("a*y6", "a2*y6").replace("b*y7", "b2*y7").replace("c*y8", "c2*y8")
    text += "\na == a2\nb == b2\nc2 == c"
    res = fit_sem(political_democracy.get_data(), text, ci="none")
    ref = fits[fits["run"] == "equal_ml"].set_index("measure")["value"]
    assert res.fit.chi2 == pytest.approx(ref["chisq"], abs=1e-3)
    assert (res.fit.df, res.fit.npar) == (ref["df"], ref["npar"])


def test_free_intercepts_give_lavaans_mean_structure():
    from semopy.examples import holzinger39

    hs = holzinger39.get_data()
    base = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    plain = fit_sem(hs, base, ci="none")
    means = fit_sem(hs, base + "\nx1 ~ 1", ci="none")
    assert means.fit.chi2 == pytest.approx(plain.fit.chi2, abs=1e-9)
    # lavaan cfa(..., meanstructure = TRUE): npar 30, AIC 7535.490, BIC 7646.703 (HS tutorial)
    assert means.fit.npar == 30
    assert means.fit.aic == pytest.approx(7535.490, abs=1e-3)
    assert means.fit.bic == pytest.approx(7646.703, abs=1e-3)
    icp = means.params[means.params["op"] == "~1"].set_index("lhs")
    assert icp.at["x1", "estimate"] == pytest.approx(hs["x1"].mean())
    assert icp.at["x1", "se"] == pytest.approx(0.067, abs=5e-4)


def test_fiml_with_observed_covariates_matches_lavaan_fixed_x():
    # tests/fixtures/R/sem_syntax/fixedx.R: complete covariates x1, x2; incomplete indicators
    folder = _pd_reference()[0]
    data = pd.read_csv(folder / "fixedx_data.csv")
    model = "dem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8\ndem60 ~ x1 + x2\ndem65 ~ dem60 + x1"
    res = fit_sem(data, model, ci="none")
    ref = pd.read_csv(folder / "fixedx_fit.csv").set_index("measure")["value"]
    f = res.fit
    assert f.missing == "fiml" and (f.n, f.npar, f.df) == (ref["nobs"], ref["npar"], ref["df"])
    mine = {"chisq": f.chi2, "cfi": f.cfi, "tli": f.tli, "rmsea": f.rmsea, "srmr": f.srmr, "logl": f.loglik,
            "aic": f.aic, "bic": f.bic, "baseline.chisq": f.baseline_chi2}  # fmt: skip
    for key, value in mine.items():
        assert value == pytest.approx(ref[key], abs=1e-3), key  # logL leaves the covariates out, as lavaan
    p = pd.read_csv(folder / "fixedx_params.csv")
    p["rhs"] = p["rhs"].fillna("")
    p = p.set_index(["lhs", "op", "rhs"])
    j = res.params.set_index(["lhs", "op", "rhs"]).join(p.add_suffix("_r"), how="inner")
    assert len(j) == 32  # incl. the intercepts nu (not the implied means)
    assert np.abs(j["estimate"] - j["est_r"]).max() < 1e-3
    assert np.abs(j["std"] - j["std_all_r"]).max() < 1e-3
    assert np.nanmax(np.abs(j["se"] - j["se_r"])) < 1e-3


def test_complete_data_loglik_leaves_fixed_covariates_out_as_lavaan():
    from semopy.examples import political_democracy

    model = "dem60 =~ y1 + y2 + y3 + y4\ndem65 =~ y5 + y6 + y7 + y8\ndem60 ~ x1 + x2\ndem65 ~ dem60 + x1"
    res = fit_sem(political_democracy.get_data(), model, ci="none")
    # lavaan 0.6.14 sem(model, PoliticalDemocracy): logl -1323.580, aic 2687.161, npar 20, chisq 68.085
    assert res.fit.loglik == pytest.approx(-1323.580, abs=1e-3)
    assert res.fit.aic == pytest.approx(2687.161, abs=1e-3)
    assert res.fit.chi2 == pytest.approx(68.085, abs=1e-3)


def test_cli_sem_bootstrap_on_political_democracy_exits_0_and_reports_failures(tmp_path):
    import json

    from semopy.examples import political_democracy
    from typer.testing import CliRunner

    from dancerec.cli.main import app

    political_democracy.get_data().to_csv(tmp_path / "pd.csv", index=False)
    (tmp_path / "pd.lav").write_text(PD_LABELLED, encoding="utf-8")
    out = tmp_path / "sem.json"
    args = ["indices", "sem", "--data", str(tmp_path / "pd.csv"), "--model", str(tmp_path / "pd.lav"),
            "--ci", "bootstrap", "--bootstrap", "40", "--seed", "1", "--json", str(out)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    ind = payload["indirect"][0]
    assert ind["name"] == "ind" and ind["ci"][0] < ind["estimate"] < ind["ci"][1]
    assert ind["se_delta"] == pytest.approx(0.355422, abs=1e-3)  # lavaan's delta-method SE of a*b
