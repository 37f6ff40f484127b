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
