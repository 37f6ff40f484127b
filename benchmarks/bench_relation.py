"""Relation-model speed on Last.fm-2k (seed-42 random split) against NCF and EASE, same process.

    .venv/bin/python benchmarks/bench_relation.py [--repeats 3] [--threads 1,2]

* epoch: one training epoch (relation: 148,544 rows = positives + balanced negatives, batch 600, no
  validation; NCF: its 4 negatives per positive, batch 1024), median of ``--repeats``.
* full ranking: ``score`` of all 1,892 users over all 17,632 artists (no masking/top-K), median of
  ``--repeats``, for each torch thread count in ``--threads``; the ratio to EASE is the issue's target (≤ 10×).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
LASTFM = ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k"


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    from dancerec.recommender.data import read_lastfm
    from dancerec.recommender.registry import make_model
    from dancerec.recommender.splits import split_log

    train = split_log(read_lastfm(LASTFM), "random", seed=42).train
    users = np.arange(train.n_users)
    out: dict = {"n_users": train.n_users, "n_items": train.n_items}
    relation = make_model("relation", epochs=1, validation=0)
    out["relation_epoch_s"] = _median(lambda: relation.fit(train), args.repeats)
    ncf = make_model("ncf", epochs=1)
    torch.set_num_threads(1)
    out["ncf_epoch_s"] = _median(lambda: ncf.fit(train), args.repeats)
    ease = make_model("ease", l2=100.0).fit(train)
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        row = {
            "ease_s": _median(lambda: ease.score(users), args.repeats),
            "ncf_s": _median(lambda: ncf.score(users), args.repeats),
            "relation_s": _median(lambda: relation.score(users), args.repeats),
        }
        row["relation_over_ease"] = row["relation_s"] / row["ease_s"]
        row["relation_over_ncf"] = row["relation_s"] / row["ncf_s"]
        out[f"full_ranking_threads_{threads}"] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
