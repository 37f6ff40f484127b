"""Measurement invariance against lavaan/semTools on Holzinger & Swineford (1939) by school.

lavaan tutorial "Multiple groups" (https://lavaan.ugent.be/tutorial/groups.html), ``lavTestLRT(fit1, fit2, fit3)``:
configural chi2 115.85 (48 df, AIC 7484.4, BIC 7706.8), equal loadings 124.04 (54, 7480.6, 7680.8),
equal loadings and intercepts 164.10 (60, 7508.6, 7686.6); latent means of Grant-White in the scalar
model: visual -0.148, textual 0.576, speed -0.177. semTools ``measurementInvariance()`` on the same
models: CFI .923 / .921 / .882, RMSEA .097 / .093 / .107.
"""

from __future__ import annotations

import pytest
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.invariance import fit_multigroup, measurement_invariance
from semopy.examples import holzinger39

from dancerec.errors import UserError

HS = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}


@pytest.fixture(scope="module")
def hs():
    return holzinger39.get_data()


@pytest.fixture(scope="module")
def inv(hs):
    return measurement_invariance(hs, HS, "school")


def test_hs1939_invariance_matches_lavaan(inv):
    t = inv.table.set_index("level")
    assert list(t.index) == ["configural", "metric", "scalar"]
    assert t["df"].tolist() == [48, 54, 60]
    assert t["chi2"].to_numpy() == pytest.approx([115.851, 124.044, 164.103], abs=2e-3)
    assert t["aic"].to_numpy() == pytest.approx([7484.4, 7480.6, 7508.6], abs=0.05)
    assert t["bic"].to_numpy() == pytest.approx([7706.8, 7680.8, 7686.6], abs=0.05)
    assert t["cfi"].to_numpy() == pytest.approx([0.923, 0.921, 0.882], abs=5e-4)
    assert t["rmsea"].to_numpy() == pytest.approx([0.097, 0.093, 0.107], abs=5e-4)
    assert t.at["metric", "delta_chi2"] == pytest.approx(8.192, abs=2e-3)
    assert t.at["metric", "delta_p"] == pytest.approx(0.2244, abs=1e-4)
    assert t.at["scalar", "delta_chi2"] == pytest.approx(40.059, abs=5e-3)
    assert t["converged"].all()
    # metric holds (dCFI -.002), scalar does not (dCFI -.038): latent means are not compared
    assert list(t["holds"]) == [True, True, False]
    assert inv.highest == "metric"
    assert inv.latent_means is None
    assert inv.groups == ["Pasteur", "Grant-White"]


def test_scalar_latent_means_match_lavaan(inv):
    means = inv.fits["scalar"].latent_means["Grant-White"]
    assert means.to_numpy() == pytest.approx([-0.148, 0.576, -0.177], abs=5e-4)
    assert (inv.fits["scalar"].latent_means["Pasteur"] == 0).all()


def test_configural_model_is_the_sum_of_the_separate_group_cfas(hs):
    """Second implementation: semopy fitted in each school separately."""
    mg = fit_multigroup(hs, HS, "school", level="configural")
    total = sum(fit_cfa(hs[hs["school"] == s], HS).fit.chi2 for s in ("Pasteur", "Grant-White"))
    assert mg.chi2 == pytest.approx(total, abs=1e-4)
    single = fit_cfa(hs[hs["school"] == "Pasteur"], HS)
    lo = single.loadings.set_index("item")["estimate"]
    assert mg.loadings["Pasteur"].loc["x2", "visual"] == pytest.approx(lo["x2"], abs=1e-4)


def test_latent_means_are_tested_when_scalar_invariance_holds():
    import numpy as np
    import pandas as pd
    from dancerec.indices.simulate import simulate_sem

    st = {"f": ["a1", "a2", "a3", "a4"], "g": ["b1", "b2", "b3"]}
    one = simulate_sem(st, 400, loadings=0.75, exo_corr=0.4, seed=1).items
    two = simulate_sem(st, 400, loadings=0.75, exo_corr=0.4, seed=2).items
    two["a1"] += 0.75 * 0.5  # a latent mean shift of .5 on f reaches every item of f through its loading
    for c in ("a2", "a3", "a4"):
        two[c] += 0.75 * 0.5
    data = pd.concat([one, two], ignore_index=True)
    group = pd.Series(["one"] * 400 + ["two"] * 400)
    res = measurement_invariance(data, st, group, levels=("configural", "metric", "scalar", "strict"))
    assert res.highest == "strict"
    lm = res.latent_means.set_index("factor")
    # the marker loading is .75 in the data's metric: the latent mean in marker units is .375
    assert lm.at["f", "mean_diff"] == pytest.approx(0.375, abs=0.08)
    assert lm.at["f", "p"] < 1e-6
    assert lm.at["g", "p"] > 0.001
    assert np.isfinite(lm["se"]).all()


def test_invariance_errors(hs):
    with pytest.raises(UserError, match="at least 2 groups"):
        measurement_invariance(hs, HS, hs["school"].where(hs["school"] == "Pasteur"))
    with pytest.raises(UserError, match="unknown invariance level"):
        measurement_invariance(hs, HS, "school", levels=("configural", "partial"))
    with pytest.raises(UserError, match="too few respondents"):
        measurement_invariance(hs.head(160), HS, "school")


# -- partial invariance and score tests against lavaan 0.6.14 (tests/fixtures/R/invariance) ---------------
def _lavaan_ref():
    import json
    from pathlib import Path

    import pandas as pd

    root = Path(__file__).parent / "fixtures" / "R" / "invariance"
    return json.loads((root / "hs_partial.json").read_text()), pd.read_csv(root / "hs.csv")


def test_levels_after_a_failure_are_not_tested(hs):
    res = measurement_invariance(hs, HS, "school", levels=("configural", "metric", "scalar", "strict"))
    t = res.table.set_index("level")
    assert t.at["scalar", "status"] == "fails"
    assert t.at["strict", "status"] == "not tested" and t.at["strict", "holds"] is None
    assert list(t["status"]) == ["holds", "holds", "fails", "not tested"]
    assert res.highest == "metric"


def test_partial_invariance_matches_lavaan_group_partial():
    """cfa(HS.model, group = "school", group.equal = c("loadings", "intercepts"),
    group.partial = c("visual=~x2", "x7~1")): fit and estimates to 1e-3."""
    ref, data = _lavaan_ref()
    fit = fit_multigroup(data, HS, "school", level="scalar", free="visual=~x2, x7~1")
    r = ref["partial"]["fit"]
    assert (fit.df, fit.npar) == (r["df"], r["npar"]) == (58, 50)
    assert fit.chi2 == pytest.approx(r["chisq"], abs=1e-3)
    for key in ("cfi", "tli", "rmsea", "srmr"):
        assert getattr(fit, key) == pytest.approx(r[key], abs=1e-3), key
    groups = ref["groups"]
    for row in ref["partial"]["params"]:
        g = groups[row["group"] - 1]
        if row["op"] == "=~":
            est = fit.loadings[g].at[row["rhs"], row["lhs"]]
        elif row["lhs"] in fit.intercepts.index:
            est = fit.intercepts.at[row["lhs"], g]
        else:
            est = fit.latent_means.at[row["lhs"], g]
        assert est == pytest.approx(row["est"], abs=1e-3), row
    # the released parameters differ between schools, the others are equal
    assert fit.loadings["Pasteur"].at["x2", "visual"] != pytest.approx(
        fit.loadings["Grant-White"].at["x2", "visual"]
    )
    assert fit.intercepts.at["x7", "Pasteur"] != pytest.approx(fit.intercepts.at["x7", "Grant-White"])
    assert fit.intercepts.at["x3", "Pasteur"] == pytest.approx(fit.intercepts.at["x3", "Grant-White"])


@pytest.mark.parametrize(("name", "level", "free"), [("scalar", "scalar", None), ("metric", "metric", None),
                                                      ("partial", "scalar", "visual=~x2,x7~1")])  # fmt: skip
def test_score_tests_match_lavtestscore(name, level, free):
    from dancerec.indices.invariance import _fit, _group_data
    from dancerec.indices.partial import parse_free, score_tests

    ref, data = _lavaan_ref()
    gdata, items, _ = _group_data(data, HS, "school", None)
    fit = _fit(HS, items, gdata, level, parse_free(free, HS))
    ours = score_tests(HS, items, gdata, fit).set_index(["lhs", "op", "rhs"])
    uni = ref[name]["score"]["uni"]
    assert len(ours) == len(uni)
    for u in uni:
        row = ours.loc[(u["lhs"], u["op"], u["rhs"])]
        assert row["X2"] == pytest.approx(u["X2"], abs=1e-3), u
        assert (row["group_a"], row["group_b"]) == ("Pasteur", "Grant-White")


def test_failed_level_gets_score_test_suggestions(hs):
    """Scalar fails on HS by school; lavTestScore's largest constraint is the x3 intercept (X2 = 19.19)."""
    res = measurement_invariance(hs, HS, "school")
    assert res.score_level == "scalar"
    top = res.score_tests.iloc[0]
    assert (top.lhs, top.op, top.X2) == ("x3", "~1", pytest.approx(19.1925, abs=1e-3))
    assert top.p_holm == pytest.approx(min(1.0, 15 * top.p), rel=1e-9)  # 15 constraints, smallest p
    assert any("x3~1" in n for n in res.notes)
    freed = measurement_invariance(hs, HS, "school", free="x3~1, x7~1")
    t = freed.table.set_index("level")
    assert t.at["metric", "freed"] == "" and t.at["scalar", "freed"] == "x3~1, x7~1"
    assert freed.free == "x3~1, x7~1"
    assert t.at["scalar", "delta_cfi"] > res.table.set_index("level").at["scalar", "delta_cfi"]


def test_score_tests_under_the_null_are_small():
    """Null: two groups drawn from one population; every constraint's score test is near chi2(1)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 800
    f = rng.standard_normal((n, 3)) @ np.linalg.cholesky([[1, 0.4, 0.3], [0.4, 1, 0.2], [0.3, 0.2, 1]]).T
    lam = np.array([1.0, 0.8, 0.7])
    cols = {}
    for k, (fac, its) in enumerate(HS.items()):
        del fac
        for j, it in enumerate(its):
            cols[it] = 2.0 + lam[j] * f[:, k] + 0.6 * rng.standard_normal(n)
    data = pd.DataFrame(cols).assign(g=np.repeat(["a", "b"], n // 2))
    res = measurement_invariance(data, HS, "g", levels=("configural", "metric", "scalar", "strict"))
    assert res.highest == "strict" and res.score_tests is None
    from dancerec.indices.invariance import _fit, _group_data
    from dancerec.indices.partial import score_tests

    gdata, items, _ = _group_data(data, HS, "g", None)
    st = score_tests(HS, items, gdata, _fit(HS, items, gdata, "strict"))
    assert len(st) == 6 + 9 + 9
    assert (st["p_holm"] > 0.05).all()


@pytest.mark.parametrize(
    ("free", "message"),
    [("visual=~x4", "not an indicator"), ("visual=~x1", "marker"), ("x99~1", "not an item"),
     ("x1~~x2", "residual variances"), ("visual~x1", "use factor=~item")],
)  # fmt: skip
def test_bad_free_specifications(hs, free, message):
    with pytest.raises(UserError, match=message):
        measurement_invariance(hs, HS, "school", free=free)
