"""dancerec's WLSMV fit against lavaan's on psych's bfi (reverse-keyed, 5 factors, 25 ordinal items).

    .venv/bin/python benchmarks/bench_wlsmv.py [--rounds 5] [--repeats 3]

Both sides time the same work in-process, after a warm-up fit: lavaan's
``cfa(model, data, ordered = items, estimator = "WLSMV")`` by ``system.time()`` inside Rscript (its
elapsed time; lavaan's fit computes polychorics, NACOV, DWLS, robust SEs and the scaled-shifted test);
ours ``fit_wlsmv`` (the same plus the naive/scaled/robust fit indices, standardised solution and R^2) by
``time.perf_counter``. The two alternate in ``rounds`` rounds of ``repeats`` fits each so that machine
load hits both alike; reported: the median per fit of each side and the ratio ours / lavaan (target
<= 1.0). Data: tests/fixtures/R/data/bfi.csv, listwise complete cases (N = 2436 of 2800) on both sides.
Skips (exit 0 with a message) when Rscript or lavaan is absent.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from dancerec.indices.ordinal import fit_wlsmv

ROOT = Path(__file__).resolve().parents[1]
BFI = ROOT / "tests" / "fixtures" / "R" / "data" / "bfi.csv"
ITEMS = [f"{f}{i}" for f in "ACENO" for i in range(1, 6)]
REVERSED = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]
MODEL = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lavaan))
args <- commandArgs(trailingOnly = TRUE)
bfi <- read.csv(args[1], row.names = 1)
items <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5), paste0("N", 1:5), paste0("O", 1:5))
x <- bfi[, items]
for (v in c("A1", "C4", "C5", "E1", "E2", "O2", "O5")) x[[v]] <- 7 - x[[v]]
model <- paste0(c("A", "C", "E", "N", "O"), " =~ ", sapply(c("A", "C", "E", "N", "O"),
                function(f) paste0(f, 1:5, collapse = " + ")), collapse = "\n")
invisible(cfa(model, data = x, ordered = items, estimator = "WLSMV"))  # warm-up
for (i in seq_len(as.integer(args[2]))) {
  t <- system.time(cfa(model, data = x, ordered = items, estimator = "WLSMV"))[["elapsed"]]
  cat(sprintf("%.6f\n", t))
}
cat("lavaan", as.character(packageVersion("lavaan")), "\n")
"""


def r_times(script: Path, repeats: int) -> tuple[list[float], str]:
    out = subprocess.run(
        ["Rscript", str(script), str(BFI), str(repeats)], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    times = [float(v) for v in out if v and not v.startswith("lavaan")]
    version = next(v for v in out if v.startswith("lavaan")).strip()
    return times, version


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if shutil.which("Rscript") is None:
        print("skipped: Rscript not found")
        return 0
    check = subprocess.run(["Rscript", "-e", "library(lavaan)"], capture_output=True)
    if check.returncode != 0:
        print("skipped: R package lavaan not installed")
        return 0
    bfi = pd.read_csv(BFI, index_col=0)
    x = bfi[ITEMS].copy()
    for v in REVERSED:
        x[v] = 7 - x[v]
    fit = fit_wlsmv(x, MODEL)  # warm-up (imports, caches)
    ours: list[float] = []
    lavaan: list[float] = []
    version = ""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_wlsmv.R"
        script.write_text(R_SCRIPT)
        for _ in range(args.rounds):
            times, version = r_times(script, args.repeats)
            lavaan += times
            for _ in range(args.repeats):
                start = time.perf_counter()
                fit = fit_wlsmv(x, MODEL)
                ours.append(time.perf_counter() - start)
    med_ours, med_lav = statistics.median(ours), statistics.median(lavaan)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {version}"
    )
    print(
        f"bfi WLSMV 5-factor CFA, N = {fit.n_used} of {fit.n_total}; {len(ours)} fits per side, alternating"
    )
    print(
        f"lavaan cfa(estimator='WLSMV'): median {med_lav:.3f} s (min {min(lavaan):.3f}, max {max(lavaan):.3f})"
    )
    print(
        f"dancerec fit_wlsmv:            median {med_ours:.3f} s (min {min(ours):.3f}, max {max(ours):.3f})"
    )
    print(f"ratio dancerec / lavaan: {med_ours / med_lav:.2f}x (target <= 1.0)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
