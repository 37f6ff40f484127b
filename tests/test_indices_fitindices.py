"""Fit indices against hand computations and independent implementations (scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dancerec.indices import fitindices as fi
from dancerec.indices.data import ml_covariance
from scipy import stats


def _cov():
    s = np.array([[1.0, 0.5, 0.3], [0.5, 2.0, 0.4], [0.3, 0.4, 1.5]])
    sigma = np.array([[1.0, 0.45, 0.35], [0.45, 2.0, 0.45], [0.35, 0.45, 1.5]])
    return s, sigma


def test_srmr_by_hand():
    s, sigma = _cov()
    # residuals / sqrt(s_ii s_jj) on the lower triangle incl. diagonal (diagonal residuals are 0)
    r21 = 0.05 / math.sqrt(1.0 * 2.0)
    r31 = -0.05 / math.sqrt(1.0 * 1.5)
    r32 = -0.05 / math.sqrt(2.0 * 1.5)
    expected = math.sqrt((r21**2 + r31**2 + r32**2) / 6)
    assert fi.srmr(s, sigma) == pytest.approx(expected, rel=1e-12)


def test_ml_discrepancy_and_gfi_are_zero_for_a_perfect_fit():
    s, _ = _cov()
    assert fi.ml_discrepancy(s, s) == pytest.approx(0.0, abs=1e-12)
    assert fi.gfi(s, s) == pytest.approx(1.0)
    assert fi.srmr(s, s) == 0.0


def test_loglik_equals_sum_of_normal_log_densities():
    """Second implementation: scipy's multivariate normal density at the sample mean."""
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal([0, 1, 2], _cov()[0], size=50)
    s = ml_covariance(x)
    sigma = _cov()[1]
    direct = stats.multivariate_normal(mean=x.mean(axis=0), cov=sigma).logpdf(x).sum()
    assert fi.loglik(s, sigma, len(x)) == pytest.approx(direct, rel=1e-12)


def test_rmsea_uses_n_not_n_minus_1():
    assert fi.rmsea(85.0, 24, 301) == pytest.approx(math.sqrt((85.0 - 24) / (24 * 301)))
    assert fi.rmsea(10.0, 24, 301) == 0.0
    assert fi.rmsea(85.0, 24, 301, groups=2) == pytest.approx(math.sqrt(2) * fi.rmsea(85.0, 24, 301))


def test_rmsea_ci_inverts_the_noncentral_chi_square():
    chi2, df, n = 85.30552, 24, 301
    lo, hi = fi.rmsea_ci(chi2, df, n)
    lam_lo, lam_hi = lo**2 * df * n, hi**2 * df * n
    assert stats.ncx2.cdf(chi2, df, lam_lo) == pytest.approx(0.95, abs=1e-8)
    assert stats.ncx2.cdf(chi2, df, lam_hi) == pytest.approx(0.05, abs=1e-8)
    # a chi2 below its df: the lower bound is 0
    assert fi.rmsea_ci(20.0, 24, 301)[0] == 0.0


def test_baseline_cfi_tli_by_hand():
    s, _ = _cov()
    chi2_b, df_b = fi.baseline_chi_square(s, 100)
    assert df_b == 3
    assert chi2_b == pytest.approx(100 * (np.log(np.prod(np.diag(s))) - np.linalg.slogdet(s)[1]))
    # fixed.x: the covariate block stays saturated and loses its covariances from the df
    chi2_x, df_x = fi.baseline_chi_square(s, 100, fixed_x=[1, 2])
    assert df_x == 2
    assert chi2_x < chi2_b
    assert fi.cfi(30.0, 10, 200.0, 15) == pytest.approx(1 - 20 / 185)
    assert fi.cfi(5.0, 10, 200.0, 15) == 1.0
    assert fi.tli(30.0, 10, 200.0, 15) == pytest.approx((200 / 15 - 3.0) / (200 / 15 - 1))


def test_information_criteria():
    aic, bic, bic2 = fi.information_criteria(-100.0, 5, 50)
    assert aic == 210.0
    assert bic == pytest.approx(200 + 5 * math.log(50))
    assert bic2 == pytest.approx(200 + 5 * math.log(52 / 24))
