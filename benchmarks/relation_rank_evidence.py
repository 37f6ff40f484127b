"""Test-split evidence for relation-rank / fism on Last.fm-2k: both protocols, seeds, and speed.

    nice -n 10 .venv/bin/python benchmarks/relation_rank_evidence.py --part ranking|paper|speed \
        [--models relation-rank,fism] [--seeds 42,43] [--set '{"lr": 0.01}'] [--out docs/relation/rank-evidence.jsonl]

Split: the seed-42 per-user random 80/20 split of docs/recommender-lastfm.md (74,272 train / 18,562 test).
``ranking``: fit on the whole training part (the models' own early stopping carves 10% and refits),
full ranking over all items minus training items: NDCG@10, P@10, R@10 per seed.
``paper``: the paper's protocol (``ranking`` also writes it for the same fitted model) (``recommender/paper_protocol.py``: balanced positive/negative test pairs
from behaviour scores >= 4 / < 2; accuracy, AUC, precision/recall at 1, 2, 5, 10) for each model.
``speed``: median epoch seconds of relation-rank vs NCF (same process, alternated), and full ranking
of all users (``score``) of relation-rank vs EASE, medians of 3.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from dancerec.recommender.data import read_lastfm
from dancerec.recommender.evaluate import evaluate
from dancerec.recommender.paper_protocol import paper_protocol
from dancerec.recommender.registry import make_model
from dancerec.recommender.splits import split_log

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent.parent / "shared" / "data" / "hetrec2011-lastfm-2k"
# the tuned baselines of docs/recommender-lastfm.md; relation = the paper's defaults (6-epoch cap as in
# docs/relation-evidence.md)
FIXED = {
    "ease": {"l2": 100.0},
    "svd": {"n_factors": 8},
    "ncf": {"epochs": 10, "gmf_dim": 128},
    "ncf-default": {},
    "itemknn": {"k": 5000},
    "mostpop": {},
    "relation": {"epochs": 6, "patience": 2},
}
NEURAL = ("relation-rank", "fism")


def _model(name: str, extra: dict, seed: int):
    base = name.removesuffix("-default")
    params = dict(FIXED.get(name, {}))
    if base in NEURAL:
        params.update(extra)
    if base in (*NEURAL, "ncf", "relation"):
        params["seed"] = seed
    return make_model(base, **params), params


def _emit(row: dict, out: Path | None) -> None:
    print(json.dumps(row), flush=True)
    if out:
        with out.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--part", choices=("ranking", "paper", "speed"), required=True)
    parser.add_argument("--models", default="relation-rank,fism")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--set", default="", help="extra params for relation-rank/fism, JSON")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    extra = json.loads(args.set) if args.set else {}
    split = split_log(read_lastfm(args.data), "random", seed=42, min_user_items=5)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.part == "speed":
        _speed(split, extra, args.out)
        return
    for name in models:
        for seed in seeds:
            model, params = _model(name, extra, seed)
            started = time.perf_counter()
            model.fit(split.train)
            fit_s = time.perf_counter() - started
            row = {"part": args.part, "model": name, "seed": seed, "params": params, "fit_s": round(fit_s, 1)}
            row["best_epochs"] = getattr(model, "best_epochs_", None)
            if args.part == "ranking":
                ev = evaluate(model, split.train, split.test, (10, 20), n_bootstrap=200)
                for k in (10, 20):
                    for m in ("ndcg", "precision", "recall"):
                        row[f"{m}@{k}"] = round(ev.mean(m, k), 4)
                _emit(row, args.out)
                row = {**row, "part": "paper"}  # the same fitted model, the paper's protocol
                for key in [k for k in row if "@" in k]:
                    del row[key]
            frame = paper_protocol(model, split.train, split.test.interactions, lengths=(1, 2, 5, 10))
            for r in frame.itertuples():
                key = r.metric if r.k is None or str(r.k) == "<NA>" else f"{r.metric}@{r.k}"
                row[key] = round(float(r.value), 4)
            row["n_users"], row["n_pairs"] = int(frame["n_users"].iloc[0]), int(frame["n_pairs"].iloc[0])
            _emit(row, args.out)


def _speed(split, extra: dict, out: Path | None) -> None:
    """Epoch time vs NCF's, full ranking time vs EASE's (same process, alternated, medians)."""
    users = np.arange(split.train.n_users)
    rr_epoch, ncf_epoch, rr_rank, ease_rank = [], [], [], []
    rr, _ = _model("relation-rank", {**extra, "epochs": 2, "validation": 0.0}, 42)
    ncf = make_model("ncf", epochs=2, seed=42)
    ease = make_model("ease", l2=100.0).fit(split.train)
    for _ in range(3):
        t = time.perf_counter()
        rr.fit(split.train)
        rr_epoch.append((time.perf_counter() - t) / 2)
        t = time.perf_counter()
        ncf.fit(split.train)
        ncf_epoch.append((time.perf_counter() - t) / 2)
        t = time.perf_counter()
        rr.score(users)
        rr_rank.append(time.perf_counter() - t)
        t = time.perf_counter()
        ease.score(users)
        ease_rank.append(time.perf_counter() - t)
    med = {
        k: float(np.median(v))
        for k, v in dict(rr_epoch=rr_epoch, ncf_epoch=ncf_epoch, rr_rank=rr_rank, ease_rank=ease_rank).items()
    }
    row = {
        "part": "speed",
        "params": rr.get_params(),
        **{k: round(v, 3) for k, v in med.items()},
        "epoch_ratio_vs_ncf": round(med["rr_epoch"] / med["ncf_epoch"], 2),
        "ranking_ratio_vs_ease": round(med["rr_rank"] / med["ease_rank"], 2),
        "note": "epoch time includes per-fit setup (fit of 2 epochs / 2); threads: relation-rank 1, NCF 1",
    }
    _emit(row, out)


if __name__ == "__main__":
    main()
