"""Polychoric correlations, thresholds and NACOV against lavaan 0.6.14 (bfi), scipy, and planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.polychoric import bivariate_normal_cdf, pair_index, polychoric
from ordinal_data import ITEMS, ORDINAL, bfi_items
from scipy import stats

from dancerec.errors import UserError


@pytest.fixture(scope="module")
def bfi_poly():
    return polychoric(bfi_items(complete=True), ITEMS)


def test_bivariate_normal_cdf_matches_scipy():
    pts = [
        (-1.2, 0.3, 0.5),
        (0.0, 0.0, 0.0),
        (1.5, -0.7, -0.6),
        (0.4, 0.9, 0.95),
        (-2.0, -1.5, 0.99),
        (0.2, 0.1, -0.93),
        (2.5, 2.5, 0.8),
    ]
    for x, y, r in pts:
        ref = stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([x, y])
        assert bivariate_normal_cdf(x, y, r) == pytest.approx(ref, abs=2e-7)  # scipy's own accuracy ~1e-8
    # exact limits
    assert bivariate_normal_cdf(0.3, np.inf, 0.4) == pytest.approx(stats.norm.cdf(0.3), abs=1e-15)
    assert bivariate_normal_cdf(-np.inf, 1.0, 0.4) == 0.0
    assert bivariate_normal_cdf(0.0, 0.0, 0.5) == pytest.approx(
        0.25 + np.arcsin(0.5) / (2 * np.pi), abs=1e-14
    )


def test_pair_order_is_lavaan_vech():
    rows, cols = pair_index(4)
    assert list(zip(rows, cols, strict=True)) == [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2)]


def test_bfi_thresholds_and_correlations_match_lavaan(bfi_poly):
    ref_th = pd.read_csv(ORDINAL / "bfi_thresholds.csv")
    assert bfi_poly.threshold_names == list(ref_th["name"])
    np.testing.assert_allclose(bfi_poly.threshold_vector(), ref_th["th"], atol=1e-10)
    ref = pd.read_csv(ORDINAL / "bfi_polychoric.csv", index_col=0)
    np.testing.assert_allclose(bfi_poly.corr, ref.loc[ITEMS, ITEMS].to_numpy(), atol=1e-6)
    assert bfi_poly.n == 2436 and bfi_poly.converged


def test_bfi_nacov_matches_lavaan_gamma(bfi_poly):
    diag = pd.read_csv(ORDINAL / "bfi_gamma_diag.csv")["gamma_diag"].to_numpy()
    np.testing.assert_allclose(np.diag(bfi_poly.gamma), diag, rtol=1e-5)
    block = pd.read_csv(ORDINAL / "bfi_gamma_block.csv", index_col=0).to_numpy()
    idx = np.r_[
        0:10, 125:175
    ]  # A1, A2 thresholds; first 50 correlations (incl. threshold-correlation covariances)
    np.testing.assert_allclose(bfi_poly.gamma[np.ix_(idx, idx)], block, atol=1e-5)


def _discretise(z: np.ndarray, cuts: list[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(cuts), z) + 1


def test_planted_correlation_and_its_null():
    rng = np.random.default_rng(11)
    cuts = [-1.0, -0.2, 0.6, 1.4]
    for rho in (0.6, 0.0):
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=20000)
        df = pd.DataFrame({"a": _discretise(z[:, 0], cuts), "b": _discretise(z[:, 1], cuts)})
        pc = polychoric(df)
        se = np.sqrt(pc.gamma[-1, -1] / pc.n)
        assert abs(pc.corr[1, 0] - rho) < 4 * se
        np.testing.assert_allclose(pc.thresholds[0], cuts, atol=0.05)


def test_nacov_standard_error_matches_monte_carlo_spread():
    """The asymptotic SE sqrt(Gamma/N) must match the spread of the estimate over replications."""
    rng = np.random.default_rng(5)
    cuts, rho, n = [-0.8, 0.1, 0.9], 0.4, 600
    est, ses = [], []
    for _ in range(150):
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
        pc = polychoric(pd.DataFrame({"a": _discretise(z[:, 0], cuts), "b": _discretise(z[:, 1], cuts)}))
        est.append(pc.corr[1, 0])
        ses.append(np.sqrt(pc.gamma[-1, -1] / n))
    ratio = np.std(est, ddof=1) / np.mean(ses)
    assert 0.85 < ratio < 1.15  # 150 replications: the SD itself is known to ~6%


def test_bad_input_is_refused():
    with pytest.raises(UserError, match="single observed category"):
        polychoric(pd.DataFrame({"a": [1, 1, 1, 1], "b": [1, 2, 3, 1]}))
    with pytest.raises(UserError, match="complete cases"):
        polychoric(pd.DataFrame({"a": [1, 2, np.nan, 3], "b": [1, 2, 3, 1]}))


def test_binary_pairs_follow_lavaans_zero_cell_rule():
    # one empty cell: 0.5 moved onto it and its diagonal partner, margins kept (lavaan zero.keep.margins)
    a = [1] * 10 + [2] * 5 + [2] * 20
    b = [2] * 10 + [1] * 5 + [2] * 20
    pc = polychoric(pd.DataFrame({"a": a, "b": b}))
    from dancerec.indices.polychoric import _zero_add_2x2

    table = np.array([[[0.0, 10.0], [5.0, 20.0]]])
    adjusted = _zero_add_2x2(table, np.array([True]), np.array([True]), [("a", "b")])
    np.testing.assert_allclose(adjusted[0], [[0.5, 9.5], [4.5, 20.5]])
    assert -1 < pc.corr[0, 1] < 0  # a finite negative tetrachoric, not the boundary
    with pytest.raises(UserError, match="two empty cells"):
        polychoric(pd.DataFrame({"a": [1, 1, 2, 2], "b": [1, 1, 2, 2]}))
