"""semopy's ``Model`` class without the cost of ``import semopy`` (about 1.3 s of a 2 s CFA run).

``import semopy`` runs the package ``__init__``, which loads every semopy feature: its EFA and effects
modules pull in scikit-learn, its constraint parser pulls in sympy, its model module pulls in statsmodels
(for ``cov_nearest``/``corr_nearest``, used only for ill-conditioned starting values and polychoric
input). The CFA/SEM path needs none of them. This loader imports only ``semopy.model`` (and what it
needs), with the names it takes from sympy-, statsmodels- and scipy.stats-importing modules bound to
small wrappers that import the real thing on first use: ``semopy.constraints.parse_constraint``,
statsmodels' ``cov_nearest``/``corr_nearest`` and scipy.stats' ``norm`` and ``mvn``; scipy.stats'
``linregress`` (only its slope is read, for starting loadings) is replaced by the same formula. The same
``semopy.model.Model`` class is used either way, so results are identical (the lavaan-reference tests
run through this path).

The shims live in ``sys.modules`` only while ``semopy.model`` executes; afterwards the real modules
import normally. The ``semopy`` package module is registered un-executed, with a module
``__getattr__`` that runs its real ``__init__`` the first time anything else is asked of it (so
``import semopy; semopy.Model`` elsewhere still works and returns this same class).

Written here because semopy has no lighter entry point; remove when semopy's own imports become lazy.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_STATE = {"loading": False, "done": False}
_SHIMMED = ("semopy.constraints", "statsmodels.stats.correlation_tools", "scipy.stats")


def _lazy(module: str, name: str) -> Any:
    """A function that imports ``module.name`` on its first call and forwards to it."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Lazily imported {module}.{name}."
    return call


def _linregress_slope(x: Any, y: Any) -> types.SimpleNamespace:
    """scipy.stats.linregress reduced to the ``.slope`` semopy's starting values read (same formula,
    same refusals), so that fitting never imports scipy.stats."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if x.size == 0 or y.size == 0:
        raise ValueError("Inputs must not be empty.")
    if np.amax(x) == np.amin(x) and len(x) > 1:
        raise ValueError("Cannot calculate a linear regression if all x values are identical")
    ssxm, ssxym, _, _ = np.cov(x, y, bias=1).flat
    return types.SimpleNamespace(slope=ssxym / ssxm)


class _LazyObject:
    """Stands for ``module.name`` (an object such as ``scipy.stats.norm``) until an attribute is used."""

    def __init__(self, module: str, name: str) -> None:
        self._where = (module, name)

    def __getattr__(self, attr: str) -> Any:
        module, name = self._where
        return getattr(getattr(importlib.import_module(module), name), attr)


class _Shim(types.ModuleType):
    """Stand-in module; asked for a name it lacks, it makes way for the real module and returns that."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _shim(name: str, functions: dict[str, str], objects: tuple[str, ...] = ()) -> types.ModuleType:
    mod = _Shim(name)
    for attr, real_module in functions.items():
        setattr(mod, attr, _lazy(real_module, attr))
    for attr in objects:
        setattr(mod, attr, _LazyObject(name, attr))
    return mod


def _register_package() -> types.ModuleType:
    """``semopy`` as an un-executed package whose real ``__init__`` runs on first attribute access."""
    spec = importlib.util.find_spec("semopy")
    if spec is None or spec.loader is None:
        raise ImportError("semopy is not installed")
    pkg = importlib.util.module_from_spec(spec)

    def __getattr__(attr: str) -> Any:
        # while model_class() imports submodules, `from . import x` probes attributes: not a use
        if attr.startswith("__") or _STATE["loading"] or _STATE["done"]:
            raise AttributeError(attr)
        _STATE["done"] = True
        del pkg.__getattr__
        spec.loader.exec_module(pkg)  # type: ignore[union-attr]
        return getattr(pkg, attr)

    pkg.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules["semopy"] = pkg
    return pkg


def model_class() -> type:
    """semopy's ``Model`` class, importing as little of semopy as possible."""
    loaded = sys.modules.get("semopy.model")
    if loaded is not None:
        return loaded.Model
    if "semopy" not in sys.modules:
        _register_package()
    saved = {name: sys.modules.get(name) for name in _SHIMMED}
    sys.modules["semopy.constraints"] = _shim(
        "semopy.constraints", {"parse_constraint": "semopy.constraints"}
    )
    sys.modules["statsmodels.stats.correlation_tools"] = _shim(
        "statsmodels.stats.correlation_tools",
        {
            "cov_nearest": "statsmodels.stats.correlation_tools",
            "corr_nearest": "statsmodels.stats.correlation_tools",
        },
    )
    _STATE["loading"] = True
    if saved["scipy.stats"] is None:  # startingvalues: linregress; polycorr: norm, mvn
        sys.modules["scipy.stats"] = shim = _shim("scipy.stats", {}, objects=("norm", "mvn"))
        shim.linregress = _linregress_slope  # type: ignore[attr-defined]
    try:
        module = importlib.import_module("semopy.model")
    finally:
        _STATE["loading"] = False
        for name, old in saved.items():
            if old is None:
                if isinstance(sys.modules.get(name), _Shim):
                    del sys.modules[name]
            else:
                sys.modules[name] = old
    return module.Model
