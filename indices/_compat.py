"""Compatibility shims for third-party libraries, applied when factor_analyzer is first used.

factor_analyzer 0.5.1 (its latest release) calls ``sklearn.utils.check_array(force_all_finite=...)``;
scikit-learn 1.8 removed that argument in favour of ``ensure_all_finite`` and the call raises
``TypeError``. Pinning scikit-learn < 1.8 would hold back the whole environment, so the module-level
``check_array`` names inside factor_analyzer are replaced by a wrapper that renames the argument.

factor_analyzer pulls in scikit-learn (about 1.7 s of imports), so it is imported only through
:func:`factor_analyzer_class` / :func:`rotator`, which apply the shim first; importing
``dancerec.indices`` loads neither.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

_PATCHED_ATTR = "_dancerec_force_all_finite_shim"


def _wrap_check_array(check_array: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(check_array, _PATCHED_ATTR, False):
        return check_array
    params = inspect.signature(check_array).parameters
    if "force_all_finite" in params or "ensure_all_finite" not in params:
        return check_array  # an older scikit-learn: nothing to translate

    @functools.wraps(check_array)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "force_all_finite" in kwargs:
            kwargs.setdefault("ensure_all_finite", kwargs.pop("force_all_finite"))
        return check_array(*args, **kwargs)

    setattr(wrapper, _PATCHED_ATTR, True)
    return wrapper


def patch_factor_analyzer() -> bool:
    """Make factor_analyzer work with scikit-learn >= 1.8. Returns True when a patch was applied."""
    from factor_analyzer import confirmatory_factor_analyzer, factor_analyzer

    patched = False
    for module in (factor_analyzer, confirmatory_factor_analyzer):
        original = getattr(module, "check_array", None)
        if original is None:
            continue
        wrapped = _wrap_check_array(original)
        if wrapped is not original:
            module.check_array = wrapped
            patched = True
    return patched


def apply() -> None:
    """Apply every shim (idempotent)."""
    patch_factor_analyzer()


def factor_analyzer_class() -> type:
    """``factor_analyzer.FactorAnalyzer``, imported on first use with the shim applied."""
    apply()
    from factor_analyzer import FactorAnalyzer

    return FactorAnalyzer


def rotator(method: str) -> Any:
    """A ``factor_analyzer.Rotator`` for ``method``, imported on first use with the shim applied."""
    apply()
    from factor_analyzer.rotator import Rotator

    return Rotator(method=method)
