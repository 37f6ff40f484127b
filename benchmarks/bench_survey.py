"""Survey import throughput against a plain ``pandas.read_csv`` of the same file (same process).

    .venv/bin/python benchmarks/bench_survey.py [--n 20000] [--repeats 5]

For each layout the script simulates ``n`` respondents, writes the export, then times (median of
``repeats``): ``pandas.read_csv`` of the data rows (the baseline: parsing only), ``prepare_import`` (read +
detect + map + check every cell) and ``import_file`` into a fresh study (adds the transaction, the
conflict check, the insert and the quality flags).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
from dancerec.survey.importer import import_file, prepare_import
from dancerec.survey.instrument import load_instrument
from dancerec.survey.simulate import simulate_responses
from dancerec.survey.writers import write_responses

from dancerec.workspace import Study

SKIP = {"csv": None, "qualtrics": [1, 2], "wjx": None}
ENCODING = {"csv": "utf-8", "qualtrics": "utf-8-sig", "wjx": "gb18030"}


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    inst = load_instrument("dance-music-30")
    sim = simulate_responses(inst, n=args.n, seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for layout in ("csv", "qualtrics", "wjx"):
            path = write_responses(sim.responses, inst, tmp / f"{layout}.csv", layout)
            base = median_time(
                lambda p=path, lay=layout: pd.read_csv(
                    p, skiprows=SKIP[lay], encoding=ENCODING[lay], dtype=str
                ),
                args.repeats,
            )
            prep = median_time(lambda p=path: prepare_import(p, inst), args.repeats)
            counter = iter(range(10**6))

            def full(p=path, c=counter, lay=layout) -> None:
                study = Study.init(tmp / f"study-{lay}-{next(c)}")
                import_file(study, p)

            imp = median_time(full, args.repeats)
            rows.append(
                {
                    "layout": layout,
                    "MB": round(path.stat().st_size / 1e6, 2),
                    "read_csv s": round(base, 3),
                    "prepare_import s": round(prep, 3),
                    "import_file s": round(imp, 3),
                    "prepare / read_csv": round(prep / base, 1),
                    "respondents/s (import)": int(args.n / imp),
                }
            )
    print(
        f"n = {args.n} respondents × {len(inst.items)} items; medians of {args.repeats}; {platform.processor() or platform.machine()}"
    )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
