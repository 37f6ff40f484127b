"""relation-rank epoch time with the opt-in speed options (sparse, compile) against the default and NCF.

    nice -n 10 .venv/bin/python benchmarks/bench_relation_speed.py --data ../shared/data/hetrec2011-lastfm-2k \
        [--epochs 5] [--repeats 3] [--modes default,sparse,compile,ncf] [--out docs/relation/speed.jsonl]

Data: the seed-42 per-user random 80/20 split of docs/recommender-lastfm.md; its training part split again
(random, 20% of each user's items, seed 42: the tuner's validation split). Each mode is fitted on the
validation-train part for exactly ``--epochs`` epochs (relation-rank: ``validation=0``, so no early
stopping and no refit; one intra-op thread, as in the defaults) and then scored on the validation users
(NDCG@10, full ranking, training items excluded). Epoch seconds = fit seconds / epochs (setup included).
Modes run alternated (default, sparse, compile, ncf, default, ...), ``--repeats`` rounds; medians and the
median per-round ratio to NCF. ``compile``'s first fit (the compilation) is timed separately and left
out of its median. Prints one JSON object per mode and a summary; ``--out`` appends them as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _model(mode: str, epochs: int):
    from dancerec.recommender.registry import make_model

    if mode == "ncf":
        return make_model("ncf", epochs=epochs, seed=42)
    extra = {"sparse": {"sparse": True}, "compile": {"compile": True}}.get(mode, {})
    return make_model("relation-rank", epochs=epochs, validation=0.0, seed=42, device="cpu", **extra)


def _fit_score(mode: str, epochs: int, val) -> tuple[float, float]:
    from dancerec.recommender.relation_rank_data import ndcg_at_k

    model = _model(mode, epochs)
    started = time.perf_counter()
    model.fit(val.train)
    seconds = time.perf_counter() - started
    users = np.asarray(val.test_users, dtype=np.int64)
    test = val.test.matrix.tocsr() if hasattr(val.test, "matrix") else val.test
    ndcg = ndcg_at_k(model.score(users), val.train.matrix.tocsr(), test, users, 10)
    return seconds, ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="default,sparse,compile,ncf")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from dancerec.recommender.data import read_lastfm
    from dancerec.recommender.splits import holdout, split_log

    split = split_log(read_lastfm(args.data), "random", seed=42, min_user_items=5)
    val = holdout(split.train, "random", test_frac=0.2, min_user_items=5, seed=42)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rows: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    first: dict[str, float] = {}
    if "compile" in modes:
        first["compile"] = _fit_score("compile", args.epochs, val)[0]  # compilation; not in the median
        print(json.dumps({"compile_first_fit_s": round(first["compile"], 1)}), flush=True)
    for r in range(args.repeats):
        for mode in modes:
            seconds, ndcg = _fit_score(mode, args.epochs, val)
            rows[mode].append((seconds / args.epochs, ndcg))
            print(
                json.dumps(
                    {
                        "round": r + 1,
                        "mode": mode,
                        "epoch_s": round(seconds / args.epochs, 3),
                        "val_ndcg@10": round(ndcg, 4),
                    }
                ),
                flush=True,
            )
    out = []
    for mode in modes:
        epoch = [e for e, _ in rows[mode]]
        row = {
            "part": "relation-speed",
            "mode": mode,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "epoch_s_median": round(statistics.median(epoch), 3),
            "epoch_s_range": [round(min(epoch), 3), round(max(epoch), 3)],
            "val_ndcg@10": [round(n, 4) for _, n in rows[mode]],
        }
        if "ncf" in modes and mode != "ncf":
            ratios = [e / n for (e, _), (n, _) in zip(rows[mode], rows["ncf"], strict=True)]
            row["ratio_vs_ncf_median"] = round(statistics.median(ratios), 2)
        if mode != "default" and "default" in modes:
            ratios = [e / d for (e, _), (d, _) in zip(rows[mode], rows["default"], strict=True)]
            row["ratio_vs_default_median"] = round(statistics.median(ratios), 2)
        if mode in first:
            row["first_fit_s (compilation included)"] = round(first[mode], 1)
        out.append(row)
    load = os.getloadavg()
    meta = {
        "part": "relation-speed-meta",
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": [round(x, 2) for x in load],
        "n_val_users": len(val.test_users),
    }
    for row in [*out, meta]:
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
