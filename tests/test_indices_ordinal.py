"""WLSMV (ordinal CFA/SEM) against lavaan 0.6.14 on psych's bfi, and against planted truth in a simulation.

Reference: tests/fixtures/R/ordinal/wlsmv_bfi.R (reverse-keyed bfi, listwise complete cases N = 2436 of 2800,
``cfa/sem(..., ordered = items, estimator = "WLSMV")``). Tolerances: 1e-3, 2e-3 for scaled statistics and
interval bounds (the issue's); the measured agreement is ~1e-5 or better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.ordinal import OrdinalFit, fit_wlsmv
from ordinal_data import FIVE_FACTORS, ITEMS, ORDINAL, bfi_items, r_values

from dancerec.errors import UserError

SEM_MODEL = FIVE_FACTORS + "\nN ~ C + E\nA ~ N\nN1 ~~ N2"


@pytest.fixture(scope="module")
def cfa_fit() -> OrdinalFit:
    return fit_wlsmv(bfi_items(), FIVE_FACTORS, ordered=ITEMS)


@pytest.fixture(scope="module")
def sem_fit() -> OrdinalFit:
    return fit_wlsmv(bfi_items(), SEM_MODEL)


def _measures(fit) -> dict[str, tuple[float, float]]:
    """lavaan name -> (ours, tolerance)."""
    f = fit.fit
    tight, loose = 1e-3, 2e-3
    return {
        "npar": (f.npar, 0),
        "df": (f.df, 0),
        "cfi": (f.cfi, tight),
        "tli": (f.tli, tight),
        "rmsea": (f.rmsea, tight),
        "srmr": (f.srmr, tight),
        "chisq.scaling.factor": (f.scaling_factor, loose),
        "cfi.scaled": (f.cfi_scaled, loose),
        "tli.scaled": (f.tli_scaled, loose),
        "rmsea.scaled": (f.rmsea_scaled, loose),
        "cfi.robust": (f.cfi_robust, loose),
        "tli.robust": (f.tli_robust, loose),
        "rmsea.robust": (f.rmsea_robust, loose),
    }


def test_bfi_cfa_fit_measures_match_lavaan(cfa_fit):
    ref = r_values("bfi_wlsmv_fit.csv")
    assert cfa_fit.n_used == ref["n"] == 2436 and cfa_fit.n_total == ref["n_total"] == 2800
    for name, (ours, tol) in _measures(cfa_fit).items():
        assert ours == pytest.approx(ref[name], abs=tol), name
    f = cfa_fit.fit
    # chi-square statistics: relative 1e-3 (they are in the thousands)
    assert f.chi2 == pytest.approx(ref["chisq"], rel=1e-3)
    assert f.chi2_scaled == pytest.approx(ref["chisq.scaled"], rel=2e-3)
    assert f.shift == pytest.approx(ref["shift.parameter"], rel=2e-3)
    assert f.baseline_chi2 == pytest.approx(ref["baseline.chisq"], rel=1e-3)
    assert f.baseline_chi2_scaled == pytest.approx(ref["baseline.chisq.scaled"], rel=2e-3)
    assert f.baseline_scaling_factor == pytest.approx(ref["baseline.chisq.scaling.factor"], abs=2e-3)
    for ours, key in [
        (f.rmsea_ci, ""),
        (f.rmsea_ci_scaled, ".scaled"),
        (f.rmsea_ci_robust, ".robust"),
    ]:
        assert ours[0] == pytest.approx(ref[f"rmsea.ci.lower{key}"], abs=2e-3)
        assert ours[1] == pytest.approx(ref[f"rmsea.ci.upper{key}"], abs=2e-3)


def test_issue_claim_scaled_cfi_above_ml(cfa_fit):
    """The issue: on bfi, WLSMV's scaled CFI is .824 against ML's .782 (ML CFI from lavaan, same data)."""
    ref = r_values("bfi_wlsmv_fit.csv")
    assert round(cfa_fit.fit.cfi_scaled, 3) == 0.824
    assert round(ref["ml_cfi"], 3) == 0.782


def _compare_params(fit, csv: str, thresholds: bool = True) -> None:
    ref = pd.read_csv(ORDINAL / csv)
    table = pd.concat([fit.params, fit.thresholds], ignore_index=True) if thresholds else fit.params
    m = table.merge(ref, on=["lhs", "op", "rhs"], how="inner", suffixes=("", "_r"))
    assert len(m) == len(table)  # every row of ours is in lavaan's table
    np.testing.assert_allclose(m["estimate"], m["est"], atol=1e-3)
    np.testing.assert_allclose(m["std"], m["std.all"], atol=1e-3)
    free = m["free"].to_numpy(bool)
    np.testing.assert_allclose(m.loc[free, "se"], m.loc[free, "se_r"], atol=1e-3)
    assert m.loc[~free, "se"].isna().all() and (m.loc[~free, "se_r"] == 0).all()


def test_bfi_cfa_parameters_match_lavaan(cfa_fit):
    _compare_params(cfa_fit, "bfi_wlsmv_params.csv")
    assert len(cfa_fit.thresholds) == 125
    r2 = pd.read_csv(ORDINAL / "bfi_wlsmv_r2.csv").set_index("item")["r2"]
    np.testing.assert_allclose(cfa_fit.r2[r2.index], r2, atol=1e-3)
    assert set(cfa_fit.params.columns) >= {
        "kind",
        "lhs",
        "op",
        "rhs",
        "label",
        "free",
        "estimate",
        "std",
        "se",
        "z",
        "p",
    }


def test_bfi_sem_with_latent_regressions_matches_lavaan(sem_fit):
    ref = r_values("bfi_wlsmv_sem_fit.csv")
    for name, (ours, tol) in _measures(sem_fit).items():
        assert ours == pytest.approx(ref[name], abs=tol), name
    assert sem_fit.fit.chi2_scaled == pytest.approx(ref["chisq.scaled"], rel=2e-3)
    _compare_params(sem_fit, "bfi_wlsmv_sem_params.csv", thresholds=False)
    r2 = pd.read_csv(ORDINAL / "bfi_wlsmv_sem_r2.csv").set_index("item")["r2"]
    np.testing.assert_allclose(sem_fit.r2[r2.index], r2, atol=1e-3)


def _simulate(loadings: np.ndarray, phi: float, n: int, seed: int) -> pd.DataFrame:
    """Two correlated factors, 4 items each, cut into 5 ordered categories (planted truth)."""
    rng = np.random.default_rng(seed)
    eta = rng.multivariate_normal([0, 0], [[1, phi], [phi, 1]], size=n)
    lam = np.zeros((8, 2))
    lam[:4, 0] = loadings[:4]
    lam[4:, 1] = loadings[4:]
    ystar = eta @ lam.T + rng.standard_normal((n, 8)) * np.sqrt(1 - lam.sum(axis=1) ** 2)
    cuts = np.array([-1.5, -0.5, 0.3, 1.2])
    return pd.DataFrame(np.searchsorted(cuts, ystar) + 1, columns=[f"y{i}" for i in range(1, 9)])


def test_planted_standardised_loadings_are_recovered_and_true_model_fits():
    loadings = np.array([0.8, 0.7, 0.6, 0.5, 0.75, 0.65, 0.55, 0.45])
    data = _simulate(loadings, 0.3, 4000, seed=3)
    fit = fit_wlsmv(data, {"F1": ["y1", "y2", "y3", "y4"], "F2": ["y5", "y6", "y7", "y8"]})
    std = fit.params.loc[fit.params["kind"] == "loading", "std"].to_numpy()
    assert np.max(np.abs(std - loadings)) < 0.05
    cov = fit.params.query("kind == 'covariance'")["std"].item()
    assert abs(cov - 0.3) < 0.05
    # the null: the true model should not be rejected (scaled-shifted test, one seed, deterministic)
    assert fit.fit.pvalue_scaled > 0.01
    assert fit.fit.cfi_scaled > 0.99


def test_misspecified_model_is_rejected():
    """One factor for two-factor data (factor correlation .3): the scaled test must reject clearly."""
    loadings = np.array([0.8, 0.7, 0.6, 0.5, 0.75, 0.65, 0.55, 0.45])
    data = _simulate(loadings, 0.3, 4000, seed=4)
    fit = fit_wlsmv(data, {"F": [f"y{i}" for i in range(1, 9)]})
    assert fit.fit.pvalue_scaled < 1e-6
    assert fit.fit.rmsea_scaled > 0.05


def test_describe_names_estimator_and_sample(cfa_fit):
    text = cfa_fit.describe()
    assert "WLSMV" in text and "2436 complete cases of 2800" in text and "listwise" in text


def test_unsupported_models_and_bad_data_are_refused():
    data = bfi_items(complete=True).iloc[:400]
    with pytest.raises(UserError, match="observed variable"):
        fit_wlsmv(data, FIVE_FACTORS + "\nA ~ O1")
    with pytest.raises(UserError, match="not listed in 'ordered'"):
        fit_wlsmv(data, FIVE_FACTORS, ordered=ITEMS[:-1])
    bad = data.astype(object)
    bad.iloc[3, 0] = "often"
    with pytest.raises(UserError, match="non-numeric"):
        fit_wlsmv(bad, FIVE_FACTORS)


def test_report_views_and_json(cfa_fit):
    import json

    loadings = cfa_fit.loadings
    assert (
        list(loadings.columns) == ["factor", "item", "estimate", "std", "se", "z", "p"]
        and len(loadings) == 25
    )
    resid = cfa_fit.residual_correlations
    np.testing.assert_allclose(np.diag(resid), 0, atol=1e-12)
    rows, cols = np.tril_indices(25, -1)
    srmr = np.sqrt(np.sum(resid.to_numpy()[rows, cols] ** 2) / (300 + 25))
    assert srmr == pytest.approx(cfa_fit.fit.srmr, rel=1e-12)  # SRMR from the residuals, by hand
    table = cfa_fit.fit_table().set_index("index")["value"]
    assert table["CFI scaled"] == cfa_fit.fit.cfi_scaled
    payload = json.loads(json.dumps(cfa_fit.to_json()))
    assert payload["fit"]["cfi_robust"] == pytest.approx(cfa_fit.fit.cfi_robust)
    assert len(payload["thresholds"]) == 125 and payload["n_used"] == 2436


def test_mixed_categories_binary_items_and_missing_answers_match_lavaan():
    """Binary, 3- and 5-category items together, 12 missing answers (listwise: N = 588 of 600), a well
    fitting model (RMSEA at its zero bound): fixtures/R/ordinal/make_sim_mixed.py + wlsmv_bfi.R."""
    data = pd.read_csv(ORDINAL / "sim_mixed.csv")
    fit = fit_wlsmv(data, "F1 =~ y1 + y2 + y3 + y4\nF2 =~ y5 + y6 + y7")
    ref = r_values("sim_mixed_fit.csv")
    assert fit.n_used == ref["n"] == 588 and fit.n_total == 600
    for name, (ours, tol) in _measures(fit).items():
        assert ours == pytest.approx(ref[name], abs=tol), name
    assert fit.fit.chi2 == pytest.approx(ref["chisq"], abs=1e-3)
    assert fit.fit.chi2_scaled == pytest.approx(ref["chisq.scaled"], abs=2e-3)
    assert fit.fit.rmsea_ci_robust[0] == pytest.approx(ref["rmsea.ci.lower.robust"], abs=2e-3)
    assert fit.fit.rmsea_ci_robust[1] == pytest.approx(ref["rmsea.ci.upper.robust"], abs=2e-3)
    _compare_params(fit, "sim_mixed_params.csv")


def test_equality_constraint_and_fixed_covariance_match_lavaan():
    """A label used twice (b*N2 + b*N3) is one parameter; 'A ~~ 0*O' fixes a covariance at zero."""
    model = FIVE_FACTORS.replace("N =~ N1 + N2 + N3", "N =~ N1 + b*N2 + b*N3") + "\nA ~~ 0*O"
    fit = fit_wlsmv(bfi_items(), model)
    ref = r_values("bfi_wlsmv_con_fit.csv")
    assert fit.fit.npar == ref["npar"] and fit.fit.df == ref["df"]
    assert fit.fit.chi2 == pytest.approx(ref["chisq"], rel=1e-3)
    assert fit.fit.chi2_scaled == pytest.approx(ref["chisq.scaled"], rel=2e-3)
    for name in ("cfi.scaled", "tli.scaled", "cfi.robust", "rmsea.scaled", "rmsea.robust"):
        assert getattr(fit.fit, name.replace(".", "_")) == pytest.approx(ref[name], abs=2e-3), name
    assert fit.fit.srmr == pytest.approx(ref["srmr"], abs=1e-3)
    _compare_params(fit, "bfi_wlsmv_con_params.csv", thresholds=False)
    n2, n3 = fit.params.query("lhs == 'N' and rhs in ['N2', 'N3']")["estimate"]
    assert n2 == n3


def test_robust_indices_are_nan_when_sigma_is_not_positive_definite(cfa_fit):
    """lavaan returns NA for the robust indices when Sigma* (or R) is not positive definite."""
    from dancerec.indices._ordinal_stats import ordinal_fit_indices

    s = cfa_fit.sample
    nth = s.n_thresholds
    gamma = s.gamma[nth:, nth:]
    bad = cfa_fit.sigma.copy()
    bad[0, 1] = bad[1, 0] = 1.5  # a correlation above 1: indefinite
    delta = cfa_fit.model.jacobian(cfa_fit.x)
    out = ordinal_fit_indices(s.corr, bad, 1 / np.diag(gamma), delta, gamma, s.n, cfa_fit.fit.npar, nth)
    assert np.isnan(out.cfi_robust) and np.isnan(out.rmsea_robust) and np.isnan(out.rmsea_ci_robust[0])
    assert np.isfinite(out.cfi_scaled)
