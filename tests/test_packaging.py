"""The four subsystem folders install under the one `dancerec` namespace."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBSYSTEMS = ("survey", "indices", "recommender", "reports")


@pytest.mark.parametrize("name", SUBSYSTEMS)
def test_subsystems_import_under_dancerec(name):
    module = importlib.import_module(f"dancerec.{name}")
    assert Path(module.__file__).parent == REPO / name


@pytest.mark.slow
def test_wheel_has_only_the_dancerec_namespace(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("dancerec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"dancerec"}
    for name in SUBSYSTEMS:
        assert f"dancerec/{name}/__init__.py" in names
    assert "dancerec/cli/main.py" in names
    # package data (instrument files, report templates) travels with the wheel once they exist
    for pattern in ("survey/", "reports/templates/"):
        src = REPO / pattern
        shipped = [p for p in src.rglob("*") if p.suffix in {".toml", ".html", ".css", ".j2"}]
        for p in shipped:
            assert f"dancerec/{p.relative_to(REPO)}" in names, p
