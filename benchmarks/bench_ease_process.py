"""Whole-process EASE evaluation on Last.fm-2k: `dancerec recommender evaluate` against a plain script.

    nice -n 10 .venv/bin/python benchmarks/bench_ease_process.py [--data DIR] [--repeats 5] [--threads 1] [--profile]

Two fresh processes per repeat, alternated (ABAB…), wall clock from spawn to exit, median over repeats
and the median of the per-pair ratios:

* **dancerec**: ``dancerec --study S recommender evaluate --split lf --models ease --param ease.l2=100
  --k 10 --bootstrap 0 --no-save`` on a study where Last.fm-2k was imported and split (seed-42 random
  80/20) beforehand (untimed; the command's own work is: start, open the study, load the split, fit
  EASE, score every test user over all items, mask training items, top K, every metric, store the run).
* **plain**, four variants: a NumPy/SciPy/pandas script doing the least that work needs — read
  ``user_artists.dat``, split per user at random 80/20 (numpy), fit EASE through the Woodbury identity,
  score, mask, top-10, precision/recall/NDCG@10 — and nothing else (no store, no other metric). ``dense``
  forms Steck's n_items² matrix B (the textbook script); ``factored`` keeps B factored, forms
  diag(Xᵀ M X) through the items × users product Xᵀ M and scores through (x_u Xᵀ) M (dancerec's first
  factored algorithm); ``factored-pairs`` gathers only the entries of M that item pairs touch (dancerec's
  algorithm until the next variant); ``dual`` also scores a user from one row of M, as x_u Xᵀ M =
  e_u − λ M_u (dancerec's algorithm now), so the ratio against it measures dancerec's own overhead
  (start-up, store, the other metrics). All print the same metrics (checked: identical to 4 decimals).

A second line times the command with its defaults (K = 5, 10, 20, 50; 1,000 bootstrap resamples; the model
saved) for information. ``--profile`` prints ``-X importtime`` (top 15 cumulative) and a cProfile top 25 of
one dancerec run. Skips (exit 0, a message) when the Last.fm data are absent.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "dancerec"
PACKAGES = ("dancerec", "survey", "indices", "recommender", "reports")

PLAIN = r"""
import sys
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve

log = pd.read_csv(sys.argv[1] + "/user_artists.dat", sep="\t", usecols=[0, 1])
users, u = np.unique(log.iloc[:, 0].to_numpy(), return_inverse=True)
items, i = np.unique(log.iloc[:, 1].to_numpy(), return_inverse=True)
rng = np.random.default_rng(42)
order = np.lexsort((rng.random(len(u)), u))  # random order within each user
u, i = u[order], i[order]
counts = np.bincount(u, minlength=len(users))
pos = np.arange(len(u)) - np.repeat(np.cumsum(counts) - counts, counts)
n_test = np.where(counts < 5, 0, np.maximum(1, np.round(0.2 * counts))).astype(int)
test = pos >= (counts - n_test)[u]
shape = (len(users), len(items))
x = sp.csr_matrix((np.ones((~test).sum(), np.float32), (u[~test], i[~test])), shape=shape)
y = sp.csr_matrix((np.ones(test.sum(), np.float32), (u[test], i[test])), shape=shape)
l2 = 100.0
factored = sys.argv[2] != "dense"
xr = x[np.diff(x.indptr) > 0]
k = (xr @ xr.T).toarray().astype(np.float64)
k[np.diag_indices_from(k)] += l2
inv = cho_solve(cho_factor(k, lower=True, overwrite_a=True), np.eye(len(k)))
xt = xr.T.tocsr()
if factored:  # B = (Xᵀ M X) diag(c) with a zero diagonal, never formed
    if sys.argv[2] in ("factored-pairs", "dual"):  # diag(Xᵀ M X) from the entries of M pairs touch
        deg = np.diff(xt.indptr)
        item = np.repeat(np.arange(xt.shape[0]), deg)
        reps = deg[item]
        p = np.repeat(np.arange(xt.nnz), reps)
        q = xt.indptr[item[p]] + np.arange(len(p)) - np.repeat(np.cumsum(reps) - reps, reps)
        inner = np.bincount(p, weights=inv[xt.indices[q], xt.indices[p]], minlength=xt.nnz)
        diag_q = np.bincount(item, weights=inner, minlength=xt.shape[0])
    else:  # diag(Xᵀ M X) through the items × users product Xᵀ M
        mx = np.asarray(xt @ inv).T
        diag_q = np.asarray(xr.multiply(mx).sum(axis=0)).ravel()
    c = (1.0 / (1.0 - diag_q)).astype(np.float32)
    inv32 = inv.astype(np.float32)
    row_of = np.cumsum(np.diff(x.indptr) > 0) - 1  # each user's row of M (test users all have one)
else:  # B formed: P = (I - Xᵀ M X) / λ, B = I - P diagMat(1 / diag P)
    p = np.asarray(xt @ np.asarray(xt @ inv, dtype=np.float32).T, dtype=np.float32)
    p *= -1.0
    p[np.diag_indices_from(p)] += 1.0
    p /= l2
    b = p / -np.diag(p)
    b[np.diag_indices_from(b)] = 0.0


def scores(ub):
    xu = x[ub]
    if not factored:
        return np.asarray(xu @ b)
    if sys.argv[2] == "dual":  # x_u Xᵀ M = e_u − λ M_u: unseen items score −λ (M_u X) ⊙ c
        return np.ascontiguousarray(inv32[row_of[ub]] @ xr) * (-l2 * c)
    a = (xu @ xr.T).toarray().astype(np.float32) @ inv32
    s = np.ascontiguousarray(np.asarray(xt @ np.ascontiguousarray(a.T)).T) * c
    co = xu.tocoo()
    s[co.row, co.col] = -np.inf
    return s


test_users = np.flatnonzero(np.diff(y.indptr) > 0)
discount = 1.0 / np.log2(np.arange(2, 12))
prec, rec, ndcg = [], [], []
for lo in range(0, len(test_users), 1024):
    ub = test_users[lo : lo + 1024]
    s = scores(ub)
    xs = x[ub].tocoo()
    s[xs.row, xs.col] = -np.inf
    top = np.argpartition(-s, 10, axis=1)[:, :10]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), axis=1), 1)
    hits = np.take_along_axis(y[ub].toarray() > 0, top, 1)
    n_rel = np.diff(y[ub].indptr)
    prec.append(hits.sum(1) / 10)
    rec.append(hits.sum(1) / n_rel)
    ideal = np.array([discount[: min(n, 10)].sum() for n in n_rel])
    ndcg.append((hits * discount).sum(1) / ideal)
print(f"P@10 {np.concatenate(prec).mean():.4f} R@10 {np.concatenate(rec).mean():.4f} "
      f"NDCG@10 {np.concatenate(ndcg).mean():.4f} users {len(test_users)}")
"""


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return wall, out.stdout


def _setup(study: Path, data: Path, env: dict[str, str]) -> None:
    """Untimed: the study with Last.fm-2k imported and split, and the project's bytecode compiled (as
    `make setup` does; the libraries both sides import were compiled when pip installed them)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *(str(ROOT / p) for p in PACKAGES)],
        check=True,
        capture_output=True,
    )
    for args in (
        ["init", str(study)],
        ["recommender", "import", "lastfm", str(data), "--name", "lf", "--study", str(study)],
        ["recommender", "split", "lf", "--method", "random", "--name", "lf", "--study", str(study)],
    ):
        subprocess.run([str(BIN), *args], check=True, capture_output=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--variants",
        default="dense,factored,factored-pairs,dual",
        help="plain scripts to run (comma-separated)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="set OPENBLAS_NUM_THREADS/OMP_NUM_THREADS for every process"
    )
    args = parser.parse_args()
    if not (args.data / "user_artists.dat").exists():
        print(f"skipped: Last.fm-2k data not found at {args.data}")
        return
    env = {**os.environ, "COLUMNS": "200"}
    if args.threads:
        env.update(OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory(prefix="bench-ease-") as tmp:
        study = Path(tmp) / "study"
        _setup(study, args.data, env)
        evaluate = ["recommender", "evaluate", "--study", str(study), "--split", "lf", "--models", "ease"]
        fast = [str(BIN), *evaluate, "--param", "ease.l2=100", "--k", "10", "--bootstrap", "0", "--no-save"]
        variants = {
            "plain, B formed (Steck's dense item-item matrix)": [
                sys.executable,
                "-c",
                PLAIN,
                str(args.data),
                "dense",
            ],
            "plain, B factored, diag(Q) through Xᵀ M (dancerec's first factored algorithm)": [
                sys.executable,
                "-c",
                PLAIN,
                str(args.data),
                "factored",
            ],
            "plain, B factored, diag(Q) from the touched entries of M (dancerec's algorithm before the dual scores)": [
                sys.executable,
                "-c",
                PLAIN,
                str(args.data),
                "factored-pairs",
            ],
            "plain, dual scores from one row of M per user (dancerec's algorithm)": [
                sys.executable,
                "-c",
                PLAIN,
                str(args.data),
                "dual",
            ],
        }
        chosen = [v.strip() for v in args.variants.split(",")]
        variants = {name: cmd for name, cmd in variants.items() if cmd[-1] in chosen}
        if args.profile:
            _profile(fast, env)
        times: dict[str, list[float]] = {"dancerec": [], **{v: [] for v in variants}}
        ratios: dict[str, list[float]] = {v: [] for v in variants}
        outputs = {}
        for _ in range(args.repeats):  # alternated: dancerec, each plain variant, dancerec, ...
            a, outputs["dancerec"] = _time(fast, env)
            times["dancerec"].append(a)
            for name, cmd in variants.items():
                b, outputs[name] = _time(cmd, env)
                times[name].append(b)
                ratios[name].append(a / b)
        threads = env.get("OPENBLAS_NUM_THREADS", "unset")
        print(f"OPENBLAS_NUM_THREADS={threads}; {args.repeats} alternated repeats; wall seconds per process")
        for name, values in times.items():
            print(
                f"  {name}: median {statistics.median(values):.2f} s ({', '.join(f'{t:.2f}' for t in values)})"
            )
        for name, values in ratios.items():
            print(
                f"  ratio dancerec / {name}: median {statistics.median(values):.2f}x "
                f"(per pair: {', '.join(f'{r:.2f}' for r in values)})"
            )
        for name in variants:
            print(f"  {name} result: {outputs[name].strip()}")
        print("dancerec's table:\n" + outputs["dancerec"])
        default = [str(BIN), *evaluate, "--param", "ease.l2=100"]
        d, _ = _time(default, env)
        print(
            f"for information, the defaults (K 5,10,20,50; 1,000 bootstrap resamples; model saved): {d:.2f} s"
        )


def _profile(cmd: list[str], env: dict[str, str]) -> None:
    """-X importtime (cumulative top 15) and cProfile (top 25 by cumulative time) of one run."""
    code = "import sys; from dancerec.cli.main import main; sys.argv = ['dancerec', *sys.argv[1:]]; main()"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *cmd[1:]], capture_output=True, text=True, env=env
    )
    rows = []
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            parts = line.split("|")
            try:
                rows.append((int(parts[1]), parts[2].rstrip()))
            except ValueError:
                continue
    print("-X importtime, top 15 cumulative (µs):")
    for us, name in sorted(rows, reverse=True)[:15]:
        print(f"  {us:>9,}  {name}")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(code)
    prof = subprocess.run(
        [sys.executable, "-m", "cProfile", "-s", "cumulative", script.name, *cmd[1:]],
        capture_output=True,
        text=True,
        env=env,
    )
    os.unlink(script.name)
    lines = prof.stdout.splitlines()
    start = next((n for n, line in enumerate(lines) if "ncalls" in line), 0)
    print("cProfile, top 25 by cumulative time:")
    print("\n".join(lines[start : start + 26]))


if __name__ == "__main__":
    main()
