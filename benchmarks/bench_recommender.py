"""Recommender benchmarks: full-ranking evaluation speed, training times, peak memory of a 10M-row log.

    .venv/bin/python benchmarks/bench_recommender.py [--part eval,train,memory] [--rows 10000000]

* ``eval``: all Last.fm-2k test users (seed-42 random split) ranked over all 17,632 artists at K = 10, 20.
  Two timings per model, medians of 5 repeats: *ranking* (score every item, mask training items, top 20:
  :func:`rank_top_k`) and *full evaluation* (ranking plus every metric and curve, no bootstrap). MostPop,
  measured in the same process, is the reference ratio (its scoring is a broadcast, so it isolates the
  harness's own cost).
* ``train``: training time of each baseline on the Last.fm-2k training part (median of 3; NCF and EASE once).
* ``memory``: a simulated log of ``--rows`` interactions streamed to Parquet, then — in a fresh child process
  whose peak resident memory (VmHWM, reset between phases) is reported — imported into a study (DuckDB, Parquet),
  split per user chronologically 80/20 and loaded as train/test ``TrainData``.

Needs ../shared/data/hetrec2011-lastfm-2k for ``eval`` and ``train``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LASTFM = ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k"
# the tuned parameters of docs/recommender-lastfm.md
TUNED = {
    "mostpop": {},
    "itemknn": {"k": 5000},
    "userknn": {"k": 25},
    "svd": {"n_factors": 8},
    "ncf": {"epochs": 10, "gmf_dim": 128},
    "content": {"min_df": 20},
    "ease": {"l2": 100.0},
    "als": {"n_factors": 128, "regularization": 50.0, "alpha": 10.0},
}


def _median(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def _lastfm_split():
    from dancerec.recommender.data import read_lastfm
    from dancerec.recommender.splits import split_log

    return split_log(read_lastfm(LASTFM), "random", seed=42)


def bench_eval(results: dict) -> None:
    from dancerec.recommender.evaluate import evaluate, rank_top_k
    from dancerec.recommender.registry import make_model

    split = _lastfm_split()
    users = split.test_users
    out = {}
    for name in ("mostpop", "svd", "als", "ease"):
        model = make_model(name, **TUNED[name]).fit(split.train)
        rank_top_k(model, split.train, users[:64], 20)  # warm-up (torch/BLAS thread pools)
        rank_s, rank_all = _median(lambda m=model: rank_top_k(m, split.train, users, 20), 5)
        eval_s, eval_all = _median(
            lambda m=model: evaluate(m, split.train, split.test, (10, 20), n_bootstrap=0), 5
        )
        out[name] = {
            "rank_median_s": rank_s,
            "rank_runs_s": rank_all,
            "eval_median_s": eval_s,
            "eval_runs_s": eval_all,
        }
        print(name, json.dumps(out[name]), flush=True)
    base = out["mostpop"]
    for row in out.values():
        row["eval_ratio_to_mostpop"] = row["eval_median_s"] / base["eval_median_s"]
    results["eval"] = {"n_users": len(users), "n_items": int(split.train.n_items), "models": out}


def bench_train(results: dict) -> None:
    from dancerec.recommender.registry import make_model

    split = _lastfm_split()
    out = {}
    for name, params in TUNED.items():
        repeats = 1 if name in ("ncf", "ease") else 3
        med, runs = _median(lambda n=name, p=params: make_model(n, **p).fit(split.train), repeats)
        out[name] = {"median_s": med, "runs_s": runs, "params": params}
        print(name, json.dumps(out[name]), flush=True)
    results["train"] = out


CHILD = """
import json, sys, time
from pathlib import Path

def hwm_mb():  # peak resident set of this process (VmHWM is per address space, reset by exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

def reset_hwm():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

from dancerec.workspace import Study
from dancerec.recommender.data import import_file
from dancerec.recommender.splits import split_dataset, load_split
root, sim = Path(sys.argv[1]), Path(sys.argv[2])
study = Study.init(root / "study", name="bench", seed=42)
t = {"baseline_rss_mb": hwm_mb()}
reset_hwm(); s = time.perf_counter(); info = import_file(study, sim, "big", source="simulated")
t["import_s"] = time.perf_counter() - s; t["import_peak_rss_mb"] = hwm_mb()
reset_hwm(); s = time.perf_counter(); sp = split_dataset(study, "big", "chronological")
t["split_s"] = time.perf_counter() - s; t["split_peak_rss_mb"] = hwm_mb()
reset_hwm(); s = time.perf_counter(); data = load_split(study, sp.name)
t["load_s"] = time.perf_counter() - s; t["load_peak_rss_mb"] = hwm_mb()
t.update(rows=info.n_interactions, users=info.n_users, items=info.n_items, n_train=sp.n_train, n_test=sp.n_test)
print(json.dumps(t))
"""


def bench_memory(results: dict, rows: int) -> None:
    from dancerec.recommender.simulate import simulate_world

    mean_items = 100
    n_users = int(rows / (mean_items + 1.5))
    with tempfile.TemporaryDirectory(prefix="dancerec-bench-") as tmp:
        started = time.perf_counter()
        world = simulate_world(
            n_users, 20_000, mean_items=mean_items, seed=1, out=Path(tmp) / "sim", chunk_users=250
        )
        sim_s = time.perf_counter() - started
        print(f"simulated {world.n_interactions:,} rows in {sim_s:.1f} s", flush=True)
        proc = subprocess.run(  # a fresh process: its peak memory is the pipeline's alone
            [sys.executable, "-c", CHILD, tmp, str(Path(tmp) / "sim")],
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(proc.stdout.strip().splitlines()[-1])
    child["simulate_s"] = sim_s
    results["memory"] = child
    print(json.dumps(child), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="eval,train,memory")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    parts = set(args.part.split(","))
    results: dict = {"threads": {"torch": __import__("torch").get_num_threads()}}
    if "eval" in parts:
        bench_eval(results)
    if "train" in parts:
        bench_train(results)
    if "memory" in parts:
        bench_memory(results, args.rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
