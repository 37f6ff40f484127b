"""Chi-square, noncentral chi-square and normal tail probabilities without importing scipy.stats.

``import scipy.stats`` costs about 0.4 s, a fifth of a whole ``dancerec indices cfa`` run, and the CFA
path needs only these five functions. They call the same scipy.special routines that scipy.stats'
distributions call (``chi2._cdf``/``_sf``, ``ncx2._cdf``/``_sf``, ``norm._sf`` in scipy 1.17), so the
values are identical (tests/test_indices_dist.py checks them against scipy.stats).

Even ``import scipy.special`` costs about 0.2 s (its ``__init__`` loads scipy's array-API layer, which
pulls in numpy.f2py and numpy.testing), while the compiled ufunc module these functions live in,
``scipy.special._ufuncs``, loads in a few milliseconds. :func:`_ufuncs` loads that module alone (see its
docstring); a later ``import scipy.special`` reuses it, so both routes use the very same functions.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types
from functools import cache

import numpy as np


@cache
def _ufuncs() -> types.ModuleType:
    """``scipy.special._ufuncs`` without running ``scipy/special/__init__.py`` (start-up cost only).

    While the extension loads, a bare stand-in for the ``scipy.special`` package (only its ``__path__``)
    sits in ``sys.modules`` so that the extension's relative imports resolve; the stand-in is removed
    afterwards and the loaded extension modules stay registered under their real names, where the real
    ``scipy.special`` finds them when something imports it later. Falls back to the normal import when
    scipy.special is already imported or its layout is not the expected one.
    """
    if "scipy.special" in sys.modules or "scipy.special._ufuncs" in sys.modules:
        from scipy.special import _ufuncs

        return _ufuncs
    import scipy

    folder = os.path.join(scipy.__path__[0], "special")
    path = next(
        (
            os.path.join(folder, "_ufuncs" + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if os.path.isfile(os.path.join(folder, "_ufuncs" + suffix))
        ),
        None,
    )
    if path is None:  # pragma: no cover - another scipy layout: pay for the package import
        from scipy.special import _ufuncs

        return _ufuncs
    holder = types.ModuleType("scipy.special")
    holder.__path__ = [folder]
    holder.__package__ = "scipy.special"
    sys.modules["scipy.special"] = holder
    name = "scipy.special._ufuncs"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception:  # pragma: no cover - fall back to the ordinary import
        sys.modules.pop(name, None)
        sys.modules.pop("scipy.special", None)
        from scipy.special import _ufuncs

        return _ufuncs
    finally:
        if sys.modules.get("scipy.special") is holder:
            del sys.modules["scipy.special"]
    return module


def _outside(x: float, df: float, nc: float = 0.0) -> float | None:
    """scipy.stats' answers outside the support: NaN for invalid parameters or x, 0 below zero (cdf)."""
    if not (df > 0 and nc >= 0 and np.isfinite(df)) or np.isnan(x):
        return float("nan")
    return 0.0 if x < 0 else None


def chi2_sf(x: float, df: float) -> float:
    """P(X > x) for X ~ chi2(df)."""
    out = _outside(x, df)
    return float(_ufuncs().chdtrc(df, x)) if out is None else (1.0 if out == 0.0 else out)


def chi2_cdf(x: float, df: float) -> float:
    """P(X <= x) for X ~ chi2(df)."""
    out = _outside(x, df)
    return float(_ufuncs().chdtr(df, x)) if out is None else out


def ncx2_cdf(x: float, df: float, nc: float) -> float:
    """P(X <= x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    if nc == 0:
        return chi2_cdf(x, df)
    out = _outside(x, df, nc)
    return float(_ufuncs().chndtr(x, df, nc)) if out is None else out


def ncx2_sf(x: float, df: float, nc: float) -> float:
    """P(X > x) for X ~ noncentral chi2(df, nc); nc = 0 is the central distribution."""
    if nc == 0:
        return chi2_sf(x, df)
    out = _outside(x, df, nc)
    if out is not None:
        return 1.0 if out == 0.0 else out
    sf = getattr(_ufuncs(), "_ncx2_sf", None)  # the routine behind scipy.stats.ncx2.sf (private)
    if sf is None:  # pragma: no cover - depends on the scipy version
        from scipy import stats

        return float(stats.ncx2.sf(x, df, nc))
    return float(sf(x, df, nc))


def norm_sf(z: float | np.ndarray) -> float | np.ndarray:
    """P(Z > z) for a standard normal Z (array in, array out)."""
    out = _ufuncs().ndtr(-np.asarray(z, dtype=float))
    return float(out) if np.ndim(out) == 0 else out
