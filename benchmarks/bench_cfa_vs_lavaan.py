"""Whole-process `dancerec indices cfa` against `Rscript` + lavaan on psych's bfi 5-factor model.

    .venv/bin/python benchmarks/bench_cfa_vs_lavaan.py [--repeats 9] [--missing listwise|fiml]

Each repeat runs both programs once, alternating which goes first, from a cold process (imports,
data reading, fit, fit measures, standardised solution, printing). Data: tests/fixtures/R/data/bfi.csv
(2,800 rows, 25 items, missing cells as they are). ``--missing listwise`` compares with lavaan's default
(complete cases, 2,436 rows); ``--missing fiml`` with ``missing = "ml"`` (all 2,800 rows).
Reports the medians of wall-clock and CPU time (user + system of the process tree; on a busy machine
wall time mostly measures waiting for a core) and the ratios dancerec / lavaan, and which route dancerec
took (its ``estimator:`` line: the start-up-lean numpy path of dancerec.indices.cfa_lean for listwise
deletion, the full semopy/pandas path for FIML). Skips (exit 0 with a message) when Rscript or lavaan is
absent.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BFI = ROOT / "tests" / "fixtures" / "R" / "data" / "bfi.csv"
MODEL = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")


_ROUTE: dict[str, str] = {}


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, the process and its children) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{out.stderr[-2000:]}")
    route = [line for line in out.stdout.splitlines() if line.startswith("estimator:")]
    if route:
        _ROUTE["dancerec"] = route[0]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _line(label: str, runs: list[tuple[float, float]]) -> str:
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    return (
        f"{label}: median wall {statistics.median(wall):.2f} s, CPU {statistics.median(cpu):.2f} s  "
        f"(wall runs: {', '.join(f'{w:.2f}' for w in wall)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--missing", choices=["listwise", "fiml"], default="listwise")
    args = parser.parse_args()
    if shutil.which("Rscript") is None:
        print("Rscript not found: benchmark skipped")
        return
    check = subprocess.run(["Rscript", "-e", "library(lavaan)"], capture_output=True, text=True)
    if check.returncode != 0:
        print("lavaan not installed in R: benchmark skipped")
        return
    dancerec = str(Path(sys.executable).with_name("dancerec"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        items = folder / "bfi.csv"
        # the 25 items only, as both programs read them
        import pandas as pd

        pd.read_csv(BFI, index_col=0).iloc[:, :25].to_csv(items, index=False)
        (folder / "bfi.lav").write_text(MODEL, encoding="utf-8")
        lav_missing = "ml" if args.missing == "fiml" else "listwise"
        script = folder / "bfi.R"
        script.write_text(
            "suppressPackageStartupMessages(library(lavaan))\n"
            f'd <- read.csv("{items}")\n'
            f"m <- '{MODEL}'\n"
            f'fit <- cfa(m, data = d, missing = "{lav_missing}")\n'
            'print(fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr")))\n'
            "print(standardizedSolution(fit))\n",
            encoding="utf-8",
        )
        ours = [dancerec, "indices", "cfa", "--data", str(items), "--model", str(folder / "bfi.lav")]
        ours += ["--missing", args.missing]
        theirs = ["Rscript", str(script)]
        t_ours, t_theirs = [], []
        for k in range(args.repeats):
            pair = [(ours, t_ours), (theirs, t_theirs)]
            for cmd, sink in pair if k % 2 == 0 else reversed(pair):
                sink.append(_timed(cmd))
    ratio_wall = statistics.median(w for w, _ in t_ours) / statistics.median(w for w, _ in t_theirs)
    ratio_cpu = statistics.median(c for _, c in t_ours) / statistics.median(c for _, c in t_theirs)
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}; repeats: {args.repeats}; "
        f"missing: {args.missing}"
    )
    print(_line("dancerec indices cfa", t_ours))
    print(_line("Rscript lavaan cfa  ", t_theirs))
    print(f"ratio dancerec / lavaan: wall {ratio_wall:.2f}, CPU {ratio_cpu:.2f}")
    print(f"dancerec route: {_ROUTE.get('dancerec', '?')}")


if __name__ == "__main__":
    main()
