"""Time of a first `dancerec report` (computes every analysis) against a second on the unchanged study
(reads the stored results), in the same process.

    .venv/bin/python benchmarks/bench_report.py [--repeats 3] [--n-per-group 150] [--format html,pdf]

Study: tests/fixtures/report/study.py (three recorded runs, respondents simulated on a planted link,
imported through the survey importer, group map saved). Each repeat builds a fresh study, then times
``dancerec report`` twice through the CLI (--n-boot 1000, the default): ``first`` computes the
psychometric battery (Monte Carlo CIs, 1000 draws), the offline comparison and the linkage and stores them;
``second`` (same ``--out``) reuses them and only renders (figures whose SVG is unchanged keep their PNG).
Reported: medians over repeats and their ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from dancerec.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "report"))
from study import make_study


def timed_report(root: Path, out: Path, fmt: str) -> float:
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["report", "--study", str(root), "--out", str(out), "--format", fmt])
    elapsed = time.perf_counter() - start
    if result.exit_code != 0:
        raise SystemExit(f"report failed: {result.output}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-per-group", type=int, default=150)
    parser.add_argument("--format", default="html,pdf")
    args = parser.parse_args()
    first, second = [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "study"
            make_study(root, n_per_group=args.n_per_group)
            first.append(timed_report(root, Path(tmp) / "report", args.format))
            second.append(
                timed_report(root, Path(tmp) / "report", args.format)
            )  # same --out, as a user would
        print(f"repeat {i + 1}: first {first[-1]:.1f} s, second {second[-1]:.1f} s", flush=True)
    f, s = statistics.median(first), statistics.median(second)
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs; {args.n_per_group} respondents per group "
        f"x 3, format {args.format}, {args.repeats} repeats"
    )
    print(f"first report (computes, stores): median {f:.1f} s")
    print(f"second report (stored results):  median {s:.1f} s  ({s / f:.2f} of the first)")


if __name__ == "__main__":
    main()
