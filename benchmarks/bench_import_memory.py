"""Peak memory (RSS) of `survey import` against the size of the file, for large exports.

    nice -n 10 .venv/bin/python benchmarks/bench_import_memory.py --mb 20 --mb 50 --mb 100 --mb 200 \
        [--layout csv|qualtrics] [--json out.json]

For each size the script writes an export of about that many MB (seeded):

- ``csv``: a plain wide CSV (ids, group, duration, submission time and the 30 items as codes 1–5,
  about 100 bytes a row);
- ``qualtrics``: a Qualtrics export (three header rows; StartDate, EndDate, Status, IPAddress,
  Progress, Duration, Finished, RecordedDate, ResponseId, empty recipient columns… and the items as
  codes, about 190 bytes a row), made by repeating the project's own Qualtrics writer's rows for
  2,000 simulated respondents with fresh response ids;

then runs ``import_file`` into a fresh study in a child process and reads the child's peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss`` printed by the child). The baseline in the same run is a child
that only imports dancerec and its libraries. Reported per size: peak RSS, peak − baseline and that
excess as a multiple of the file size, the import's wall time; over all sizes, the least-squares
line peak = a + b · size (a in MiB, b in MiB per MB of file). The issue's target: b < 2 and a peak
below 2 GiB for 200 MB.

Before each size the script checks free memory: a size whose projected peak (from the previous
sizes) exceeds half the free memory is skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD_BASELINE = """
import dancerec.survey.importer, dancerec.survey.store, duckdb, pandas, numpy
"""
CHILD_IMPORT = """
import sys
from dancerec.survey.importer import ImportOptions, import_file
from dancerec.workspace import Study
study = Study.init(sys.argv[2])
report = import_file(study, sys.argv[1], ImportOptions(on_invalid="quarantine"))
print(report.n_new, report.n_quarantined)
"""


def write_plain(path: Path, target_bytes: int, seed: int = 7) -> int:
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


#: kept for callers of the earlier version of this script
write_export = write_plain


def write_qualtrics(path: Path, target_bytes: int, seed: int = 7) -> int:
    """A Qualtrics export of about ``target_bytes``: the project's Qualtrics writer's rows for 2,000
    simulated respondents, repeated with fresh response ids; returns the number of data rows."""
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.writers import write_responses

    inst = load_instrument("dance-music-30")
    sim = simulate_responses(inst, n=2000, groups=("A", "B"), seed=seed, missing_rate=0.02)
    template = path.with_suffix(".template.csv")
    write_responses(sim.responses, inst, template, "qualtrics")
    with open(template, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    template.unlink()
    header, data = rows[:3], rows[3:]
    rid = header[0].index("ResponseId")
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerows(header)
        while fh.tell() < target_bytes:
            for row in data:
                row = list(row)
                row[rid] = f"R_{n:012d}"
                out.writerow(row)
                n += 1
    return n


WRITERS = {"csv": write_plain, "qualtrics": write_qualtrics}


def child_run(code: str, *args: str) -> tuple[int, float, str]:
    """(peak RSS in KiB, wall seconds, stdout) of a fresh Python child running ``code``."""
    wrapper = (
        code
        + "\nimport resource, sys\nprint('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK"):
            return int(line.split()[1]), wall, proc.stdout.strip()
    raise RuntimeError(proc.stderr[-2000:])


def free_kib() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        info = dict(line.split(":", 1) for line in fh)
    return int(info["MemAvailable"].split()[0])


def fit_line(sizes_mb: list[float], peaks_mib: list[float]) -> tuple[float, float]:
    """Least-squares (a, b) of peak = a + b · size."""
    b, a = np.polyfit(np.asarray(sizes_mb, dtype=float), np.asarray(peaks_mib, dtype=float), 1)
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, action="append", help="file size(s) in MB (default 20, 50)")
    ap.add_argument("--layout", choices=sorted(WRITERS), default="csv")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    sizes = args.mb or [20.0, 50.0]
    base, _, _ = child_run(CHILD_BASELINE)
    print(f"baseline (interpreter + libraries): {base / 1024:.0f} MiB peak RSS")
    results: list[dict] = []
    for mb in sizes:
        if len(results) >= 2:
            a, b = fit_line([r["file_mb"] for r in results], [r["peak_mib"] for r in results])
            projected = (a + b * mb) * 1024
        elif results:
            projected = results[-1]["peak_mib"] * 1024 * mb / results[-1]["file_mb"]
        else:
            projected = 0
        if projected > free_kib() / 2:
            print(f"{mb:g} MB skipped: projected peak {projected / 1024:.0f} MiB > half the free memory")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "export.csv"
            n = WRITERS[args.layout](path, int(mb * 1e6))
            size_kib = os.path.getsize(path) / 1024
            peak, wall, out = child_run(CHILD_IMPORT, str(path), str(Path(tmp) / "study"))
        excess = peak - base
        row = {
            "layout": args.layout,
            "file_mb": round(size_kib * 1024 / 1e6, 1),
            "respondents": n,
            "stored_quarantined": out,
            "peak_mib": round(peak / 1024),
            "excess_mib": round(excess / 1024),
            "excess_over_file": round(excess / size_kib, 2),
            "peak_over_file": round(peak / size_kib, 2),
            "wall_s": round(wall, 1),
        }
        results.append(row)
        print(
            f"{row['file_mb']:>7} MB, {n} respondents: peak {row['peak_mib']} MiB, {row['excess_mib']} MiB above "
            f"baseline = {row['excess_over_file']:.2f}x the file size; {row['wall_s']} s",
            flush=True,
        )
    fit = None
    if len(results) >= 2:
        a, b = fit_line([r["file_mb"] for r in results], [r["peak_mib"] for r in results])
        fit = {"a_mib": round(a), "b_mib_per_mb": round(b, 3)}
        print(f"fit: peak ≈ {a:.0f} MiB + {b:.2f} MiB per MB of file (target: b < 2)")
    if args.json:
        args.json.write_text(
            json.dumps({"baseline_mib": round(base / 1024), "runs": results, "fit": fit}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
