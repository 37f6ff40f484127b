"""CFA/SEM estimation against lavaan's published results and bad-input handling.

References (lavaan 0.6, ML, ``likelihood = "normal"``, marker-variable identification):
- Holzinger & Swineford (1939) three-factor CFA: lavaan tutorial "A first example: CFA"
  (https://lavaan.ugent.be/tutorial/cfa.html) and ``fitMeasures(fit)``.
- Bollen's Political Democracy SEM: lavaan tutorial "SEM" (https://lavaan.ugent.be/tutorial/sem.html).
Both data sets ship with semopy and are identical to lavaan's copies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.sem import fit_sem
from semopy.examples import holzinger39, political_democracy

from dancerec.errors import UserError

HS_MODEL = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""


@pytest.fixture(scope="module")
def hs():
    return holzinger39.get_data()


@pytest.fixture(scope="module")
def hs_fit(hs):
    return fit_cfa(hs, HS_MODEL)


def test_hs1939_global_fit_matches_lavaan_to_the_third_decimal(hs_fit):
    f = hs_fit.fit
    assert f.n == 301
    assert f.df == 24
    assert f.npar == 21
    assert f.chi2 == pytest.approx(85.306, abs=5e-4)
    assert f.cfi == pytest.approx(0.931, abs=5e-4)
    assert f.tli == pytest.approx(0.896, abs=5e-4)
    assert f.rmsea == pytest.approx(0.092, abs=5e-4)
    assert f.rmsea_ci[0] == pytest.approx(0.071, abs=5e-4)
    assert f.rmsea_ci[1] == pytest.approx(0.114, abs=5e-4)
    assert f.srmr == pytest.approx(0.065, abs=5e-4)
    assert f.loglik == pytest.approx(-3737.745, abs=5e-4)
    assert f.aic == pytest.approx(7517.490, abs=5e-4)
    assert f.bic == pytest.approx(7595.339, abs=5e-4)
    # finer lavaan digits (fitMeasures): chi2 85.3055, CFI .93056, TLI .89584, RMSEA .09212, SRMR .06521
    assert f.chi2 == pytest.approx(85.3055, abs=1e-4)
    assert f.cfi == pytest.approx(0.93056, abs=1e-5)
    assert f.tli == pytest.approx(0.89584, abs=1e-5)
    assert f.srmr == pytest.approx(0.06521, abs=1e-5)
    # lavaan: gfi .943, baseline chi2 918.852 on 36 df
    assert f.gfi == pytest.approx(0.943, abs=5e-4)
    assert f.baseline_chi2 == pytest.approx(918.852, abs=5e-4)
    assert f.baseline_df == 36
    assert hs_fit.converged
    assert hs_fit.problems == []


def test_hs1939_estimates_match_lavaan(hs_fit):
    lo = hs_fit.loadings.set_index("item")
    std = [0.7719, 0.4236, 0.5811, 0.8516, 0.8551, 0.8380, 0.5695, 0.7230, 0.6650]
    assert lo["std"].to_numpy() == pytest.approx(std, abs=5e-5)
    est = {"x2": 0.554, "x3": 0.729, "x5": 1.113, "x6": 0.926, "x8": 1.180, "x9": 1.082}
    se = {"x2": 0.100, "x3": 0.109, "x5": 0.065, "x6": 0.055, "x8": 0.165, "x9": 0.151}
    for item in est:
        assert lo.at[item, "estimate"] == pytest.approx(est[item], abs=5e-4)
        assert lo.at[item, "se"] == pytest.approx(se[item], abs=5e-4)
    assert np.isnan(lo.at["x1", "se"])  # the marker is fixed
    p = hs_fit.params.set_index(["lhs", "op", "rhs"])["estimate"]
    cov = {("visual", "textual"): 0.408, ("visual", "speed"): 0.262, ("textual", "speed"): 0.173}
    for (a, b), v in cov.items():
        assert p[(a, "~~", b)] == pytest.approx(v, abs=5e-4)
    variances = {"visual": 0.809, "textual": 0.979, "speed": 0.384, "x1": 0.549, "x2": 1.134, "x3": 0.844,
                 "x4": 0.371, "x5": 0.446, "x6": 0.356, "x7": 0.799, "x8": 0.488, "x9": 0.566}  # fmt: skip
    for v, value in variances.items():
        assert p[(v, "~~", v)] == pytest.approx(value, abs=5e-4)


def test_hs1939_json_has_exactly_the_documented_keys(hs_fit):
    payload = hs_fit.to_json()
    assert set(payload) == {"n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic",
                            "loadings", "n_used", "n_total", "missing", "n_note", "loglik",
                            "npar", "robust"}  # fmt: skip
    assert (payload["n_used"], payload["n_total"], payload["missing"]) == (301, 301, "listwise")
    assert len(payload["rmsea_ci"]) == 2
    assert set(payload["loadings"][0]) == {"factor", "item", "estimate", "std", "se", "p"}


def test_residual_correlations_and_factor_correlations(hs, hs_fit):
    r = hs_fit.residual_correlations
    assert np.allclose(np.diag(r), 0.0, atol=1e-6)
    # lavaan std.all factor correlations: visual-textual .459, visual-speed .471, textual-speed .283
    fc = hs_fit.factor_correlations
    assert fc.at["visual", "textual"] == pytest.approx(0.459, abs=5e-4)
    assert fc.at["visual", "speed"] == pytest.approx(0.471, abs=5e-4)
    assert fc.at["textual", "speed"] == pytest.approx(0.283, abs=5e-4)
    top = hs_fit.largest_residuals(3)
    assert top["residual_r"].abs().is_monotonic_decreasing
    assert np.allclose(r.to_numpy(), r.to_numpy().T)


def test_structure_dict_gives_the_same_model(hs, hs_fit):
    res = fit_cfa(
        hs, {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
    )
    assert res.fit.chi2 == pytest.approx(hs_fit.fit.chi2, abs=1e-8)


def test_political_democracy_sem_matches_lavaan():
    data = political_democracy.get_data()
    model = """
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + y2 + y3 + y4
    dem65 =~ y5 + y6 + y7 + y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
    y1 ~~ y5
    y2 ~~ y4 + y6
    y3 ~~ y7
    y4 ~~ y8
    y6 ~~ y8
    """
    res = fit_sem(data, model, ci="none")
    f = res.fit
    assert (f.n, f.df, f.npar) == (75, 35, 31)
    assert f.chi2 == pytest.approx(38.125, abs=5e-4)
    assert f.pvalue == pytest.approx(0.329, abs=5e-4)
    assert f.cfi == pytest.approx(0.995, abs=5e-4)
    assert f.tli == pytest.approx(0.993, abs=5e-4)
    assert f.rmsea == pytest.approx(0.035, abs=5e-4)
    assert f.rmsea_ci[1] == pytest.approx(0.092, abs=5e-4)
    assert f.srmr == pytest.approx(0.044, abs=5e-4)
    paths = res.paths.set_index(["lhs", "rhs"])
    for (lhs, rhs), (est, se) in {("dem60", "ind60"): (1.483, 0.399), ("dem65", "ind60"): (0.572, 0.221),
                                  ("dem65", "dem60"): (0.837, 0.098)}.items():  # fmt: skip
        assert paths.at[(lhs, rhs), "estimate"] == pytest.approx(est, abs=5e-4)
        assert paths.at[(lhs, rhs), "se"] == pytest.approx(se, abs=5e-4)
    r2 = res.r2.set_index("variable")["r2"]
    assert r2["dem65"] == pytest.approx(1 - 0.039, abs=1e-3)
    # the semopy/lavaan-named view used by the linkage analysis
    assert {"lval", "op", "rval", "estimate", "std", "se", "z", "p"} <= set(res.parameters.columns)


def _exact_data(corr: np.ndarray, n: int, names: list[str], seed: int = 0) -> pd.DataFrame:
    """Data whose ML covariance matrix is exactly ``corr``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(corr)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return pd.DataFrame(z @ np.linalg.cholesky(corr).T, columns=names)


def test_heywood_case_is_reported_not_hidden():
    # r12 = r13 = .8, r23 = .5 imply a standardised loading of sqrt(.8 * .8 / .5) = 1.13 for a1 and a
    # negative residual variance: the improper solution must show up in `problems`
    corr = np.eye(6)
    corr[0, 1] = corr[1, 0] = 0.8
    corr[0, 2] = corr[2, 0] = 0.8
    corr[1, 2] = corr[2, 1] = 0.5
    block = np.array([[1, 0.5, 0.5], [0.5, 1, 0.5], [0.5, 0.5, 1]])
    corr[3:, 3:] = block
    data = _exact_data(corr, 400, ["a1", "a2", "a3", "b1", "b2", "b3"])
    res = fit_cfa(data, {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3"]})
    assert any("Heywood" in p and "a1" in p for p in res.problems), res.problems


def test_bad_input_is_refused_with_a_clear_message(hs):
    with pytest.raises(UserError, match="not in the data: x99"):
        fit_cfa(hs, "visual =~ x1 + x2 + x99")
    with pytest.raises(UserError, match="at least 3"):
        fit_cfa(hs, "visual =~ x1 + x2\ntextual =~ x4 + x5 + x6")
    const = hs.assign(x3=1.0)
    with pytest.raises(UserError, match="constant item"):
        fit_cfa(const, HS_MODEL)
    with pytest.raises(UserError, match="too few respondents"):
        fit_cfa(hs.head(15), HS_MODEL)
    dup = hs.assign(x3=hs["x1"] * 2 + 1)
    with pytest.raises(UserError, match="not positive definite"):
        fit_cfa(dup, HS_MODEL)
    with pytest.raises(UserError, match="non-numeric"):
        fit_cfa(hs.assign(x2=hs["x2"].astype(str).where(hs.index != 5, "n/a")), HS_MODEL)
    with pytest.raises(UserError, match="regressions"):
        fit_cfa(hs, HS_MODEL + "\nspeed ~ visual")


def test_listwise_deletion_is_counted(hs):
    data = hs.copy()
    data.loc[data.index[:10], "x4"] = np.nan
    res = fit_cfa(data, HS_MODEL, missing="listwise")
    assert res.n == 291
    assert res.n_dropped == 10
    # the default with missing cells is FIML: every respondent with an answer is used
    fiml = fit_cfa(data, HS_MODEL)
    assert (fiml.n, fiml.n_dropped, fiml.fit.missing) == (301, 0, "fiml")
