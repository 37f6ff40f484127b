"""Each subsystem's ``__init__`` is its public API: every name listed there resolves, imports stay light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

SUBSYSTEMS = ["dancerec.survey", "dancerec.indices", "dancerec.recommender", "dancerec.reports"]


@pytest.mark.parametrize("package", SUBSYSTEMS)
def test_every_public_name_resolves(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", [])
    assert names, f"{package} exports nothing"
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize("package", SUBSYSTEMS)
def test_no_public_name_is_shadowed_by_a_submodule(package):
    """`from package import x` must give the function even after the submodule `x` was imported."""
    import pkgutil

    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert not set(module.__all__) & submodules


def test_importing_the_subsystems_loads_no_heavy_library():
    code = (
        "import sys, dancerec.survey, dancerec.indices, dancerec.recommender; "
        "print(sorted(m for m in ('semopy', 'torch', 'factor_analyzer', 'sklearn', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
