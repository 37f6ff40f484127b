"""Chi-square, noncentral chi-square and normal tail probabilities without importing scipy.stats.

``import scipy.stats`` costs about 0.4 s, a fifth of a whole ``dancerec indices cfa`` run, and the CFA
path needs only these five functions. They call the same scipy.special routines that scipy.stats'
distributions call (``chi2._cdf``/``_sf``, ``ncx2._cdf``/``_sf``, ``norm._sf`` in scipy 1.17), so the
values are identical (tests/test_indices_dist.py checks them against scipy.stats).
"""

from __future__ import annotations

import numpy as np
from scipy import special

try:  # the routine behind scipy.stats.ncx2.sf (private; fall back to scipy.stats if it moves)
    from scipy.special._ufuncs import _ncx2_sf
except ImportError:  # pragma: no cover - depends on the scipy version
    _ncx2_sf = None


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X ~ chi2(df)."""
    return float(special.chdtrc(df, x))


def chi2_cdf(x: float, df: float) -> float:
    """P(X <= x) for X ~ chi2(df)."""
    return float(special.chdtr(df, x))


def ncx2_cdf(x: float, df: float, nc: float) -> float:
    """P(X <= x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    return float(special.chndtr(x, df, nc)) if nc != 0 else chi2_cdf(x, df)


def ncx2_sf(x: float, df: float, nc: float) -> float:
    """P(X > x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    if nc == 0:
        return chi2_sf(x, df)
    if _ncx2_sf is None:  # pragma: no cover
        from scipy import stats

        return float(stats.ncx2.sf(x, df, nc))
    return float(_ncx2_sf(x, df, nc))


def norm_sf(z: float | np.ndarray) -> float | np.ndarray:
    """P(Z > z) for a standard normal Z (array in, array out)."""
    out = special.ndtr(-np.asarray(z, dtype=float))
    return float(out) if np.ndim(out) == 0 else out
