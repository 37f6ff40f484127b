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


def _outside(x: float, df: float, nc: float = 0.0) -> float | None:
    """scipy.stats' answers outside the support: NaN for invalid parameters or x, 0 below zero (cdf)."""
    if not (df > 0 and nc >= 0 and np.isfinite(df)) or np.isnan(x):
        return float("nan")
    return 0.0 if x < 0 else None


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X ~ chi2(df)."""
    out = _outside(x, df)
    return float(special.chdtrc(df, x)) if out is None else (1.0 if out == 0.0 else out)


def chi2_cdf(x: float, df: float) -> float:
    """P(X <= x) for X ~ chi2(df)."""
    out = _outside(x, df)
    return float(special.chdtr(df, x)) if out is None else out


def ncx2_cdf(x: float, df: float, nc: float) -> float:
    """P(X <= x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    if nc == 0:
        return chi2_cdf(x, df)
    out = _outside(x, df, nc)
    return float(special.chndtr(x, df, nc)) if out is None else out


def ncx2_sf(x: float, df: float, nc: float) -> float:
    """P(X > x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    if nc == 0:
        return chi2_sf(x, df)
    out = _outside(x, df, nc)
    if out is not None:
        return 1.0 if out == 0.0 else out
    if _ncx2_sf is None:  # pragma: no cover
        from scipy import stats

        return float(stats.ncx2.sf(x, df, nc))
    return float(_ncx2_sf(x, df, nc))


def norm_sf(z: float | np.ndarray) -> float | np.ndarray:
    """P(Z > z) for a standard normal Z (array in, array out)."""
    out = special.ndtr(-np.asarray(z, dtype=float))
    return float(out) if np.ndim(out) == 0 else out
