"""Lazy public APIs: a subsystem's ``__init__`` names what a notebook needs without importing it all.

``import dancerec.indices`` must stay cheap (the CLI imports it for every ``indices`` command), so each
public name is imported from its module on first use (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for ``package`` exporting ``{name: submodule}``.

    A public name must not be a submodule's name too: importing the submodule sets the package attribute
    to the module, so ``from package import name`` would return the module (refused here).
    """
    clash = sorted(set(exports) & set(exports.values()))
    if clash:
        raise ImportError(f"{package}: public name(s) {clash} shadow submodules of the same name")

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __getattr__, __dir__, sorted(exports)
