"""The scipy.stats-free tail probabilities equal scipy.stats' own (same special functions)."""

import numpy as np
import pytest
from dancerec.indices import _dist
from scipy import stats


@pytest.mark.parametrize("x", [0.0, 0.5, 3.0, 17.2, 250.0, 1400.0])
@pytest.mark.parametrize("df", [1, 5, 265])
def test_central_chi2_matches_scipy_stats(x, df):
    assert _dist.chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), rel=1e-12, abs=1e-300)
    assert _dist.chi2_cdf(x, df) == pytest.approx(stats.chi2.cdf(x, df), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("x", [0.5, 3.0, 17.2, 250.0, 1400.0])
@pytest.mark.parametrize("df", [1, 5, 265])
@pytest.mark.parametrize("nc", [0.0, 0.3, 12.0, 900.0])
def test_noncentral_chi2_matches_scipy_stats(x, df, nc):
    assert _dist.ncx2_cdf(x, df, nc) == pytest.approx(stats.ncx2.cdf(x, df, nc), rel=1e-12, abs=1e-300)
    assert _dist.ncx2_sf(x, df, nc) == pytest.approx(stats.ncx2.sf(x, df, nc), rel=1e-12, abs=1e-300)


def test_normal_tail_matches_scipy_stats():
    z = np.array([-3.0, -0.2, 0.0, 1.96, 8.5])
    np.testing.assert_allclose(_dist.norm_sf(z), stats.norm.sf(z), rtol=1e-14)
    assert _dist.norm_sf(1.96) == pytest.approx(0.024997895148220435, rel=1e-12)


@pytest.mark.parametrize(
    ("x", "df", "nc"),
    [(3.0, 0, 0.0), (3.0, -1, 0.0), (-1.0, 5, 0.0), (-1.0, 5, 2.0), (np.nan, 5, 0.0), (3.0, 0, 1.0)],
)
def test_edges_match_scipy_stats(x, df, nc):
    pairs = [
        (_dist.chi2_sf(x, df), stats.chi2.sf(x, df)),
        (_dist.chi2_cdf(x, df), stats.chi2.cdf(x, df)),
        (_dist.ncx2_sf(x, df, nc), stats.ncx2.sf(x, df, nc) if nc else stats.chi2.sf(x, df)),
        (_dist.ncx2_cdf(x, df, nc), stats.ncx2.cdf(x, df, nc) if nc else stats.chi2.cdf(x, df)),
    ]
    for ours, theirs in pairs:
        assert ours == pytest.approx(float(theirs), nan_ok=True)
