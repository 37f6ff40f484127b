"""EFA, parallel analysis, factorability and the factor_analyzer shim."""

from __future__ import annotations

import json
from pathlib import Path

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

    from dancerec.indices import _compat

    _compat.apply()
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


# -- against R (psych 2.2.9; scripts and outputs in tests/fixtures/R/efa and .../reliability) ------------
FIXTURES = Path(__file__).parent / "fixtures" / "R"
BFI_ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]


@pytest.fixture(scope="module")
def bfi() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "data" / "bfi.csv", index_col=0)[BFI_ITEMS]


@pytest.fixture(scope="module")
def efa_ref() -> dict:
    return json.loads((FIXTURES / "efa" / "bfi_efa.json").read_text())


@pytest.mark.slow
def test_parallel_analysis_matches_psych_fa_parallel_defaults(bfi, efa_ref):
    """psych::fa.parallel(bfi[1:25], fa = "fa") finds 6 factors (SMC = TRUE finds 8): same here, with the
    observed eigenvalues equal and the simulated ones within Monte-Carlo error (200 data sets each)."""
    ref = efa_ref["parallel"]
    pa = parallel_analysis(bfi, BFI_ITEMS, n_iter=200, seed=1)
    assert pa.n == ref["n"] == 2800  # every respondent, pairwise correlations
    assert pa.table["eigen_fa"].to_numpy() == pytest.approx(ref["fa_values"], abs=1e-5)
    assert pa.table["eigen_pca"].to_numpy() == pytest.approx(ref["pc_values"], abs=1e-10)
    se = np.sqrt(2 / ref["n_iter"]) * np.asarray(ref["sim_fa_sd"])  # SE of a difference of two means
    z = (pa.table["random_fa_mean"].to_numpy() - ref["sim_fa_mean"]) / se
    assert np.max(np.abs(z)) < 4.0
    assert pa.n_factors == ref["nfact_n200"] == 6
    default = parallel_analysis(bfi, BFI_ITEMS, seed=7)  # psych's 20 data sets
    assert default.n_iter == 20 and default.n_factors == ref["nfact_default"] == 6
    smc = parallel_analysis(bfi, BFI_ITEMS, n_iter=200, seed=1, smc=True)
    assert smc.table["eigen_fa"].to_numpy() == pytest.approx(ref["smc_fa_values"], abs=1e-10)
    z = (smc.table["random_fa_mean"].to_numpy() - ref["smc_sim_mean"]) / (
        np.sqrt(2 / ref["n_iter"]) * np.asarray(ref["smc_sim_sd"])
    )
    assert np.max(np.abs(z)) < 4.0
    assert smc.n_factors == ref["smc_nfact"] == 8


def test_parallel_analysis_finds_no_factor_in_noise():
    """Null: independent items give eigenvalues at the random threshold, so at most 1 (the floor) factor."""
    rng = np.random.default_rng(11)
    noise = pd.DataFrame(rng.standard_normal((500, 10)), columns=[f"i{j}" for j in range(10)])
    assert parallel_analysis(noise, seed=3).n_factors == 1


def _aligned(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Columns of ``ours`` reordered and sign-flipped to best match ``ref`` (Tucker congruence)."""
    from scipy.optimize import linear_sum_assignment

    cong = (ref.T @ ours) / np.sqrt(np.outer((ref**2).sum(0), (ours**2).sum(0)))
    rows, cols = linear_sum_assignment(-np.abs(cong))
    out = ours[:, cols[np.argsort(rows)]].copy()
    signs = np.sign(np.sum(out * ref, axis=0))
    return out * signs


@pytest.mark.parametrize(
    ("method", "rotation", "key"),
    [
        ("pa", "none", "pa_none"),
        ("pa", "oblimin", "pa_oblimin"),
        ("pc", "none", "pc_none"),
        ("principal", "varimax", "pc_varimax"),
    ],
)
def test_pa_and_pc_match_psych(bfi, efa_ref, method, rotation, key):
    """fm = "pa" is psych::fa(fm = "pa"), "pc" (alias "principal") is psych::principal, to 1e-3."""
    ref = efa_ref["efa"]
    res = fit_efa(bfi, BFI_ITEMS, n_factors=5, method=method, rotation=rotation, n_iter=1)
    assert res.n == ref["n"] == 2436
    r_load = np.column_stack(ref[key])
    ours = _aligned(res.loadings.to_numpy(), r_load)
    assert np.max(np.abs(ours - r_load)) < 1e-3
    if key in ("pa_none", "pc_none"):
        h2 = ref[f"{key}_h2"]
        assert res.communalities.to_numpy() == pytest.approx(h2, abs=1e-3)
    if key == "pa_oblimin":
        assert res.communalities.to_numpy() == pytest.approx(ref["pa_oblimin_h2"], abs=1e-3)


def test_pc_uses_exact_eigendecomposition(bfi):
    """Components are exact: V sqrt(lambda) of the correlation matrix reproduces R with all components."""
    frame = bfi.dropna()
    res = fit_efa(frame, BFI_ITEMS, n_factors=24, method="pc", rotation="none", n_iter=1)
    r = np.corrcoef(frame.to_numpy(float), rowvar=False)
    vals = np.sort(np.linalg.eigvalsh(r))[::-1]
    assert (res.loadings.to_numpy() ** 2).sum(axis=0) == pytest.approx(vals[:24], abs=1e-12)


def test_kmo_and_bartlett_match_psych_on_incomplete_bfi(bfi):
    ref = json.loads((FIXTURES / "reliability" / "bfi_reliability.json").read_text())["factorability"]
    rec = bfi.copy()
    for item in ("A1", "C4", "C5", "E1", "E2", "O2", "O5"):
        rec[item] = 7 - rec[item]
    pw = factorability(rec, BFI_ITEMS)
    assert (pw.n, pw.n_total, pw.missing) == (ref["n_pairwise"], 2800, "pairwise")
    assert pw.kmo == pytest.approx(ref["kmo_pairwise"], abs=1e-10)
    assert pw.kmo_items.to_numpy() == pytest.approx(ref["kmo_items_pairwise"], abs=1e-10)
    chi2, df, p = ref["bartlett_pairwise"]
    assert pw.bartlett_p == pytest.approx(p, rel=1e-6, abs=1e-300)
    assert (pw.bartlett_chi2, pw.bartlett_df) == (pytest.approx(chi2, rel=1e-10), df)
    lw = factorability(rec, BFI_ITEMS, missing="listwise")
    assert lw.n == ref["n_complete"] == 2436
    assert lw.kmo == pytest.approx(ref["kmo_complete"], abs=1e-10)
    assert lw.bartlett_chi2 == pytest.approx(ref["bartlett_complete"][0], rel=1e-10)
