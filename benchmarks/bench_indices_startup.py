"""Start-up cost of `dancerec indices` commands: import times and whole-process wall time.

Compares this working tree with a baseline git revision (default: the commit before the lazy
imports, 2d5ec15) in the same run, alternating the two so that machine load hits both alike, and
reports medians and ratios. The baseline is exported with ``git archive`` into a temporary folder
laid out as the installed package (dancerec/ with indices/, survey/, recommender/, reports/ inside)
and put first on PYTHONPATH; the current tree is run the same way, so both pay the same costs.

Measured per tree:
- ``python -X importtime -c "import M"``: the cumulative microseconds of M for ``dancerec.indices``
  and ``dancerec.cli.indices``, and whether factor_analyzer, sklearn, semopy or sympy were loaded;
- whole-process wall time of ``dancerec indices items``, ``indices reliability`` and ``indices efa
  --method pa --n-factors 5`` on psych's bfi (tests/fixtures/R/data/bfi.csv, 2,800 respondents, 25 items, reverse-keyed).

Usage: nice -n 10 .venv/bin/python benchmarks/bench_indices_startup.py [--runs 5] [--baseline 2d5ec15]
(``benchmarks/bench_indices.py`` times the analyses themselves inside one process.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("factor_analyzer", "sklearn", "semopy", "sympy")
SUBPACKAGES = {"indices": "indices", "survey": "survey", "recommender": "recommender", "reports": "reports"}
RUN_CLI = "import sys; from dancerec.cli.main import app; sys.argv[0] = 'dancerec'; app()"


def _layout(src: Path, dest: Path) -> Path:
    """Copy a source tree into ``dest/dancerec`` with the subsystems inside (setuptools package-dir)."""
    pkg = dest / "dancerec"
    shutil.copytree(src / "dancerec", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for name, folder in SUBPACKAGES.items():
        shutil.copytree(src / folder, pkg / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _export(rev: str, dest: Path) -> Path:
    raw = dest / "raw"
    raw.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(raw)], input=archive, check=True)
    return _layout(raw, dest / "pkg")


def _env(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(path)
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    return env


def _importtime(path: Path, module: str) -> tuple[float, list[str]]:
    """Cumulative import time of ``module`` in seconds and the heavy libraries it loaded."""
    check = f"import {module}, sys; assert sys.modules['dancerec'].__file__.startswith({str(path)!r})"
    subprocess.run([sys.executable, "-c", check], env=_env(path), cwd=path, check=True)
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_env(path),
        cwd=path,  # not the repository root: its dancerec/ folder would shadow PYTHONPATH
        capture_output=True,
        text=True,
        check=True,
    )
    total, loaded = float("nan"), set()
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line.split("|")]
        name = parts[-1]
        if name == module:
            total = int(parts[1]) / 1e6
        top = name.split(".")[0]
        if top in HEAVY:
            loaded.add(top)
    return total, sorted(loaded)


def _wall(path: Path, args: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args], env=_env(path), capture_output=True, text=True
    )
    dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"command failed ({' '.join(args)}):\n{res.stderr[-2000:]}")
    return dt


def _bfi_files(folder: Path) -> tuple[str, str]:
    import pandas as pd

    raw = pd.read_csv(ROOT / "tests" / "fixtures" / "R" / "data" / "bfi.csv", index_col=0).iloc[:, :25]
    for item in ("A1", "C4", "C5", "E1", "E2", "O2", "O5"):
        raw[item] = 7 - raw[item]
    data = folder / "bfi.csv"
    raw.to_csv(data, index=False)
    model = folder / "bfi.lav"
    model.write_text(
        "".join(f"{t} =~ {' + '.join(f'{t}{i}' for i in range(1, 6))}\n" for t in "ACENO"), encoding="utf-8"
    )
    return str(data), str(model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline", default="2d5ec15", help="git revision to compare with")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        trees = {
            "baseline": _export(opts.baseline, tmpdir / "baseline"),
            "current": _layout(ROOT, tmpdir / "current"),
        }
        data, model = _bfi_files(tmpdir)
        commands = {
            "indices items": ["indices", "items", "--data", data, "--model", model],
            "indices reliability": ["indices", "reliability", "--data", data, "--model", model],
            "indices efa --method pa --n-factors 5": [
                "indices",
                "efa",
                "--data",
                data,
                "--model",
                model,
                "--method",
                "pa",
                "--n-factors",
                "5",
            ],
        }
        modules = ("dancerec.indices", "dancerec.cli.indices")
        results: dict[tuple[str, str], list[float]] = {}
        heavy: dict[tuple[str, str], list[str]] = {}
        for _ in range(opts.runs):
            for name, path in trees.items():  # alternate the trees within each run
                for module in modules:
                    t, loaded = _importtime(path, module)
                    results.setdefault((name, f"import {module}"), []).append(t)
                    heavy[(name, module)] = loaded
                for label, args in commands.items():
                    results.setdefault((name, label), []).append(_wall(path, args))
        print(f"python {sys.version.split()[0]}, {opts.runs} alternating runs, medians in seconds")
        print(f"{'measure':45s} {'baseline':>9s} {'current':>9s} {'ratio':>7s}")
        labels = [f"import {m}" for m in modules] + list(commands)
        for label in labels:
            b = statistics.median(results[("baseline", label)])
            c = statistics.median(results[("current", label)])
            print(f"{label:45s} {b:9.3f} {c:9.3f} {c / b:7.2f}")
        for module in modules:
            for name in trees:
                print(
                    f"heavy libraries loaded by import {module} ({name}): {heavy[(name, module)] or 'none'}"
                )


if __name__ == "__main__":
    main()
