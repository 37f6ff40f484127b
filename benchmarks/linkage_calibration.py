"""Calibration evidence for the linkage: family-wise false-positive rates under null links and power
under the demo's planted link, over simulated studies analysed exactly as ``dancerec link`` runs them.

    nice -n 19 .venv/bin/python benchmarks/linkage_calibration.py --null 500 --planted 500 --workers 2

Null scenarios (see dancerec.indices.linkage.simulate): ``off`` (no per-user link; groups differ in
offline AND perceived quality), ``shuffled`` (the planted study with respondent → user shuffled within
groups) — together ``--null`` studies, half each — plus ``--flat`` studies with no group difference at
all (the null of the group-level families). Each finished study is appended to a JSONL file, so an
interrupted run keeps its studies (rerun with the same arguments to resume) and the table can be
written from whatever is there (``--table-only``). Output: benchmarks/results/linkage_calibration.{jsonl,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
from dancerec.indices.linkage.calibration import study_outcome, summarise
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

OUT = Path(__file__).parent / "results"


def study_plan(n_null: int, n_planted: int, n_flat: int, seed: int) -> list[tuple[str, int]]:
    """Interleaved (scenario, seed) pairs, so a partial run covers every scenario evenly."""
    counts = {"off": n_null // 2, "shuffled": n_null - n_null // 2, "planted": n_planted, "flat": n_flat}
    longest = max(counts.values())
    return [
        (sc, seed + 100_000 * j + i)
        for i in range(longest)
        for j, (sc, n) in enumerate(counts.items())
        if i < n
    ]


def markdown(table: pd.DataFrame) -> str:
    lines = [
        "| scenario | measure | family | p | rate | 95% Wilson CI | k / studies |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.scenario} | {r.measure} | {r.family} | {r.p} | {r.rate:.3f} | "
            f"[{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.k} / {r.n_studies} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--null", type=int, default=500)
    ap.add_argument("--planted", type=int, default=500)
    ap.add_argument("--flat", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--no-sem", action="store_true")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT / "linkage_calibration")
    args = ap.parse_args()
    jsonl = args.out.with_suffix(".jsonl")
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    seen = {(r["scenario"], r["seed"]) for r in done}
    todo = [p for p in study_plan(args.null, args.planted, args.flat, args.seed) if p not in seen]
    start = time.perf_counter()
    if todo and not args.table_only:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        cols = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*cols) as bar, ProcessPoolExecutor(args.workers) as pool, jsonl.open("a") as fh:
            task = bar.add_task("studies", total=len(todo))
            futures = [pool.submit(study_outcome, sc, sd, sem=not args.no_sem) for sc, sd in todo]
            for fut in as_completed(futures):
                row = fut.result()
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                done.append(row)
                bar.advance(task)
    table = summarise(done)
    text = markdown(table)
    elapsed = time.perf_counter() - start
    header = (
        f"{len(done)} simulated studies (3 groups x 150 respondents, dance-music-30, 5% careless, 2% missing; "
        f"Holm within each family, alpha = .05; SEM {'off' if args.no_sem else 'on'}); "
        f"this run: {len(todo) if not args.table_only else 0} studies in {elapsed:.0f} s\n\n"
    )
    args.out.with_suffix(".md").write_text(header + text + "\n", encoding="utf-8")
    print(header + text)


if __name__ == "__main__":
    main()
