"""Timing of the indices analyses on the full instrument (30 items, 8 factors), 2,000 simulated respondents.

    .venv/bin/python benchmarks/bench_indices.py [--n 2000] [--repeats 5] [--boot 200]

Data: ``dancerec.survey.simulate.simulate_responses`` for the built-in ``dance-music-30`` instrument,
three groups, no careless respondents and no missing answers, reverse-keyed items recoded.
Reported (median of ``repeats`` runs, wall clock):

- ``cfa``: ``fit_cfa`` (semopy ML, SLSQP, ftol 1e-12, one BLAS thread) including the lavaan-scale fit
  indices, standard errors and standardised solution; baseline in the same process: a plain
  ``semopy.Model(desc).fit(data)`` with semopy's defaults (no SEs, no fit indices);
- ``battery``: ``run_battery`` without resampling (items, factorability, EFA with 100-set parallel
  analysis, CFA, reliability/HTMT/Fornell-Larcker, cross-loadings, the default SEM, group comparisons and
  configural/metric/scalar invariance across the three groups);
- ``bootstrap``: seconds per bootstrap resample of the default SEM (warm-started refit), once.
Targets (issue 4): CFA < 2 s, battery < 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import semopy
from dancerec.indices.battery import run_battery
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.sem import default_sem_syntax, fit_sem
from dancerec.indices.syntax import measurement_syntax
from dancerec.survey.instrument import load_instrument
from dancerec.survey.scoring import recode_reverse
from dancerec.survey.simulate import simulate_responses


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples to time (0 = skip)")
    args = ap.parse_args()

    inst = load_instrument("dance-music-30")
    sim = simulate_responses(
        inst, n=args.n, groups=("A", "B", "C"), seed=1, careless_rate=0.0, missing_rate=0.0
    )
    structure = inst.dimension_items()
    items_cols = [i for its in structure.values() for i in its]
    items = recode_reverse(sim.responses, inst)[items_cols]
    group = sim.responses["group"]
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, semopy {semopy.__version__}")
    print(f"data: {len(items)} respondents x {items.shape[1]} items, {len(structure)} factors")

    fit_cfa(items, structure)  # warm-up (imports, caches)
    cfa_med, cfa_all = median_time(lambda: fit_cfa(items, structure), args.repeats)
    desc = measurement_syntax(structure)
    base_med, _ = median_time(lambda: semopy.Model(desc).fit(items), args.repeats)
    print(f"cfa       median {cfa_med:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in cfa_all)})")
    print(f"  baseline semopy Model.fit defaults (no SEs/fit indices): median {base_med:.2f} s; "
          f"ratio fit_cfa / baseline = {cfa_med / base_med:.2f}")  # fmt: skip

    def battery():
        return run_battery(items, structure, group=group, ci="none", seed=1)

    battery()
    bat_med, bat_all = median_time(battery, args.repeats)
    print(f"battery   median {bat_med:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in bat_all)})")

    if args.boot:
        syntax = default_sem_syntax(structure)
        none_med, _ = median_time(lambda: fit_sem(items, syntax, ci="none"), 1)
        start = time.perf_counter()
        res = fit_sem(items, syntax, ci="bootstrap", n_boot=args.boot, seed=1)
        total = time.perf_counter() - start
        per = (total - none_med) / args.boot
        print(f"bootstrap {per * 1000:6.1f} ms per resample ({args.boot} resamples, {res.n_failed} failed); "
              f"1000 resamples ~ {per * 1000 + none_med:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
