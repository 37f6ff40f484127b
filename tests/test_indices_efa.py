"""EFA, parallel analysis, factorability and the factor_analyzer shim."""

from __future__ import annotations

import dancerec.indices  # noqa: F401  (applies the compatibility shim)
import numpy as np
import pandas as pd
import pytest
from dancerec.indices.efa import fit_efa, parallel_analysis
from dancerec.indices.factorability import factorability, kmo_label
from semopy.examples import holzinger39

HS_ITEMS = [f"x{i}" for i in range(1, 10)]


def test_factor_analyzer_fits_with_current_scikit_learn():
    """factor_analyzer 0.5.1 passes `force_all_finite`, removed in scikit-learn 1.8: the shim renames it."""
    import inspect

    from factor_analyzer import FactorAnalyzer
    from sklearn.utils import check_array

    if "force_all_finite" not in inspect.signature(check_array).parameters:
        with pytest.raises(TypeError):
            check_array(np.eye(3), force_all_finite=True)  # the defect the shim works around
    fa = FactorAnalyzer(n_factors=2, rotation="varimax").fit(holzinger39.get_data()[HS_ITEMS].to_numpy())
    assert fa.loadings_.shape == (9, 2)
    assert np.isfinite(fa.transform(holzinger39.get_data()[HS_ITEMS].to_numpy())).all()


def _three_factor_data(n=1500, seed=0):
    """Simple structure, 4 items a factor, planted factor correlations .1 (F1-F2), .5 (F1-F3), .3 (F2-F3)."""
    rng = np.random.default_rng(seed)
    phi = np.array([[1, 0.1, 0.5], [0.1, 1, 0.3], [0.5, 0.3, 1]])
    f = rng.multivariate_normal(np.zeros(3), phi, size=n)
    lam = [0.8, 0.7, 0.6, 0.75]
    cols = {}
    for k in range(3):
        for j, lj in enumerate(lam):
            cols[f"f{k}_{j}"] = lj * f[:, k] + np.sqrt(1 - lj**2) * rng.standard_normal(n)
    return pd.DataFrame(cols), phi


def test_oblique_communalities_are_pattern_times_phi():
    data = holzinger39.get_data()[HS_ITEMS]
    rotated = fit_efa(data, n_factors=3, rotation="oblimin")
    unrotated = fit_efa(data, n_factors=3, rotation="none")
    # rotation does not change what the factors explain: h2 = diag(P Phi P') = unrotated row sums
    assert rotated.communalities.to_numpy() == pytest.approx(unrotated.communalities.to_numpy(), abs=1e-6)
    # factor_analyzer's own get_communalities() sums squared pattern loadings: a different number
    from factor_analyzer import FactorAnalyzer

    fa = FactorAnalyzer(n_factors=3, rotation="oblimin").fit(data.to_numpy())
    assert np.max(np.abs(fa.get_communalities() - rotated.communalities.to_numpy())) > 0.05
    # variance accounted for adds up to the total communality
    assert rotated.variance["ss_loadings"].sum() == pytest.approx(rotated.communalities.sum())


def test_planted_structure_and_factor_correlations_are_recovered():
    data, phi = _three_factor_data()
    res = fit_efa(data, rotation="oblimin", seed=1)
    assert res.parallel.n_factors == 3
    assert res.n_factors == 3
    primary = res.items.set_index("item")["factor"]
    # every item of a planted factor lands on the same extracted factor, each factor once
    mapping = {k: primary[f"f{k}_0"] for k in range(3)}
    assert len(set(mapping.values())) == 3
    for k in range(3):
        assert all(primary[f"f{k}_{j}"] == mapping[k] for j in range(4))
    assert not res.items["cross_loading"].any()
    assert (res.loadings.sum(axis=0) > 0).all()  # oriented
    # Phi in the loadings' factor order (factor_analyzer leaves phi_ unsorted after reordering factors)
    for a in range(3):
        for b in range(3):
            est = res.phi.at[mapping[a], mapping[b]]
            assert est == pytest.approx(phi[a, b], abs=0.06), (a, b)


def test_negatively_keyed_factor_is_oriented_positive():
    data, _ = _three_factor_data(n=600, seed=3)
    flipped = data.copy()
    for j in range(4):
        flipped[f"f1_{j}"] = -flipped[f"f1_{j}"]
    res = fit_efa(flipped, n_factors=3, rotation="promax", seed=0)
    assert (res.loadings.sum(axis=0) > 0).all()
    one = fit_efa(-data[[f"f0_{j}" for j in range(4)]], n_factors=1)
    assert (one.loadings["F1"] > 0).all()


def test_parallel_analysis_is_seeded():
    data, _ = _three_factor_data(n=300, seed=2)
    a = parallel_analysis(data, n_iter=30, seed=5)
    b = parallel_analysis(data, n_iter=30, seed=5)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.n_kaiser == 3


def test_kmo_and_bartlett_against_their_formulas():
    data = holzinger39.get_data()[HS_ITEMS]
    res = factorability(data)
    r = np.corrcoef(data.to_numpy(), rowvar=False)
    inv = np.linalg.inv(r)
    partial = -inv / np.sqrt(np.outer(np.diag(inv), np.diag(inv)))
    off = ~np.eye(9, dtype=bool)
    r2, p2 = (r[off] ** 2).sum(), (partial[off] ** 2).sum()
    assert res.kmo == pytest.approx(r2 / (r2 + p2), abs=1e-10)
    n, p = data.shape
    chi2 = -(n - 1 - (2 * p + 5) / 6) * np.log(np.linalg.det(r))
    assert res.bartlett_chi2 == pytest.approx(chi2, rel=1e-10)
    assert res.bartlett_df == 36
    assert kmo_label(res.kmo) == "middling"
