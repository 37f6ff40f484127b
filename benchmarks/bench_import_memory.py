"""Peak memory (RSS) of `survey import` against the size of the file, for large exports.

    nice -n 10 .venv/bin/python benchmarks/bench_import_memory.py --mb 20 [--mb 50] [--layout csv]

For each size the script writes a plain CSV export of simulated-looking respondents (ids, group,
duration, submission time and the 30 items as codes 1–5, about 110 bytes a row), then runs
``import_file`` into a fresh study in a child process and reads the child's peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). The baseline in the same run is a child that only
imports dancerec and its libraries (the constant part). Reported: peak RSS, peak − baseline, and that
excess as a multiple of the file size (the issue's target: < 2× the file size + a constant).

Do not run 200 MB on a shared machine without checking free memory first: the script refuses a size
whose projected peak (from the measured ratio of the previous size) exceeds half the free memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD_BASELINE = """
import dancerec.survey.importer, dancerec.survey.store, duckdb, pandas, numpy
"""
CHILD_IMPORT = """
import sys
from dancerec.survey.importer import import_file
from dancerec.workspace import Study
study = Study.init(sys.argv[2])
report = import_file(study, sys.argv[1])
print(report.n_new)
"""


def write_export(path: Path, target_bytes: int, seed: int = 7) -> int:
    """A plain CSV of about ``target_bytes``; returns the number of respondents written."""
    from dancerec.survey.instrument import load_instrument

    items = load_instrument("dance-music-30").item_ids
    rng = np.random.default_rng(seed)
    header = ",".join(["respondent_id", "group", "duration_s", "submitted_at", *items]) + "\n"
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(header)
        written = len(header)
        while written < target_bytes:
            block = 10_000
            answers = rng.integers(1, 6, size=(block, len(items)))
            durations = rng.integers(60, 1800, size=block)
            lines = []
            for i in range(block):
                rid = n + i
                lines.append(
                    f"R{rid:09d},{'ABC'[rid % 3]},{durations[i]},2026-09-{1 + rid % 28:02d} 12:{rid % 60:02d}:00,"
                    + ",".join(map(str, answers[i]))
                    + "\n"
                )
            text = "".join(lines)
            fh.write(text)
            written += len(text.encode("utf-8"))
            n += block
    return n


def child_peak_kib(code: str, *args: str) -> int:
    """Peak RSS (KiB) of a fresh Python child running ``code``."""
    wrapper = (
        code
        + "\nimport resource, sys\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK"):
            return int(line.split()[1])
    raise RuntimeError(proc.stderr[-2000:])


def free_kib() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        info = dict(line.split(":", 1) for line in fh)
    return int(info["MemAvailable"].split()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, action="append", help="file size(s) in MB (default 20)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    sizes = args.mb or [20.0]
    base = child_peak_kib(CHILD_BASELINE)
    print(f"baseline (interpreter + libraries): {base / 1024:.0f} MiB peak RSS")
    results, ratio = [], None
    for mb in sizes:
        if ratio is not None:
            projected = base + ratio * mb * 1024
            if projected > free_kib() / 2:
                print(f"{mb:g} MB skipped: projected peak {projected / 1024:.0f} MiB > half the free memory")
                continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.csv"
            n = write_export(path, int(mb * 1e6))
            size_kib = os.path.getsize(path) / 1024
            peak = child_peak_kib(CHILD_IMPORT, str(path), str(Path(tmp) / "study"))
        excess = peak - base
        ratio = excess / size_kib
        row = {
            "file_mb": round(size_kib * 1024 / 1e6, 1),
            "respondents": n,
            "peak_mib": round(peak / 1024),
            "excess_mib": round(excess / 1024),
            "excess_over_file": round(ratio, 2),
        }
        results.append(row)
        print(
            f"{row['file_mb']:>7} MB, {n} respondents: peak {row['peak_mib']} MiB, "
            f"{row['excess_mib']} MiB above baseline = {ratio:.1f}x the file size"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"baseline_mib": round(base / 1024), "runs": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
