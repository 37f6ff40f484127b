"""Ablations for relation-rank / fism on Last.fm-2k: one change at a time, on a validation split.

    nice -n 10 .venv/bin/python benchmarks/relation_rank_ablation.py --configs NAME[,NAME...] [--out FILE.jsonl]

Protocol: the seed-42 per-user random 80/20 split of docs/recommender-lastfm.md; a validation split carved
from its training part the same way (seed 42, ``holdout``), so the test part is never touched here. Each
config is fitted on the validation-train part (its own early stopping carves a further 10% inside, and
``refit=False`` keeps the early-stopped weights to save CPU) and scored on the validation-test part:
binary NDCG@10 / P@10 / R@10 over all items, training items excluded. One JSON line per config.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from dancerec.recommender.data import read_lastfm
from dancerec.recommender.evaluate import evaluate
from dancerec.recommender.registry import make_model
from dancerec.recommender.splits import holdout, split_log

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent.parent / "shared" / "data" / "hetrec2011-lastfm-2k"

BASE = {"lr": 0.003, "users_per_batch": 64, "refit": False, "epochs": 30, "patience": 3}
RR = {**BASE, "relation": "dot", "epochs": 40, "patience": 5}  # the relation-rank ablation base
# name -> (model, params); each row changes one thing against the row it names in the docs
CONFIGS: dict[str, tuple[str, dict]] = {
    "ease": ("ease", {"l2": 100.0}),
    "itemknn": ("itemknn", {}),
    "ncf": ("ncf", {}),
    "mostpop": ("mostpop", {}),
    "fism-lr01": ("fism", {**BASE, "lr": 0.01}),
    "fism-e60": ("fism", {**BASE, "epochs": 60, "patience": 5}),
    "fism-alpha1-p8": ("fism", {**BASE, "alpha": 1.0, "patience": 8}),
    "fism-wd1e-6-p8": ("fism", {**BASE, "weight_decay": 1e-6, "patience": 8}),
    "fism-lr005-e60": ("fism", {**BASE, "lr": 0.005, "epochs": 60, "patience": 5}),
    "rr-lr01-e60": ("relation-rank", {**BASE, "lr": 0.01, "epochs": 60}),
    "fism": ("fism", dict(BASE)),
    "fism-lr01-b16": ("fism", {**BASE, "lr": 0.01, "users_per_batch": 16}),
    "fism-wd1e-5": ("fism", {**BASE, "weight_decay": 1e-5}),
    "fism-alpha1": ("fism", {**BASE, "alpha": 1.0}),
    "fism-dim32": ("fism", {**BASE, "dim": 32}),
    "fism-dim128": ("fism", {**BASE, "dim": 128}),
    "fism-neg8": ("fism", {**BASE, "n_negatives": 8}),
    "fism-bpr": ("fism", {**BASE, "loss": "bpr"}),
    "fism-softmax": ("fism", {**BASE, "loss": "softmax"}),
    "fism-score": ("fism", {**BASE, "behaviour": "score"}),
    "fism-learned": ("fism", {**BASE, "behaviour": "learned"}),
    "rr": ("relation-rank", dict(BASE)),
    "rr-base": ("relation-rank", dict(RR)),
    "rr-base-e15": ("relation-rank", {**RR, "epochs": 15}),
    "rr-diag": ("relation-rank", {**RR, "relation": "diag"}),
    "rr-bpr": ("relation-rank", {**RR, "loss": "bpr"}),
    "rr-softmax": ("relation-rank", {**RR, "loss": "softmax"}),
    "rr-bilinear": ("relation-rank", {**RR, "relation": "bilinear"}),
    "rr-dot": ("relation-rank", {**BASE, "relation": "dot"}),
    "rr-nobehaviour": ("relation-rank", {**RR, "behaviour": "none"}),
    "rr-user": ("relation-rank", {**RR, "user_codes": True}),
    "rr-sigmoid": ("relation-rank", {**RR, "act": "sigmoid"}),
    "rr-sigmoid-max": ("relation-rank", {**RR, "act": "sigmoid", "pool": "max"}),
    "rr-hist5": ("relation-rank", {**RR, "max_history": 5}),
    "rr-neg1": ("relation-rank", {**RR, "n_negatives": 1}),
    "rr-nodecay": ("relation-rank", {**RR, "lr_decay": 1.0}),
    "rr-lr01": ("relation-rank", {**BASE, "lr": 0.01}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--set", default="", help="extra params for every neural config, JSON")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    extra = json.loads(args.set) if args.set else {}
    log = read_lastfm(args.data)
    split = split_log(log, "random", seed=42, min_user_items=5)
    val = holdout(split.train, "random", seed=42, min_user_items=5)
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        model_name, params = CONFIGS[name]
        if model_name in ("fism", "relation-rank"):
            params = {**params, **extra}
        if model_name in ("fism", "relation-rank", "ncf"):
            params = {**params, "seed": args.seed}
        model = make_model(model_name, **params)
        started = time.perf_counter()
        model.fit(val.train)
        fit_s = time.perf_counter() - started
        ev = evaluate(model, val.train, val.test, (10,), n_bootstrap=10, curve_max_k=10)
        log_ = getattr(model, "log_", [])
        epoch_s = float(np.median([e["seconds"] for e in log_])) if log_ else None
        row = {
            "config": name,
            "model": model_name,
            "params": params,
            "val_ndcg@10": round(ev.mean("ndcg", 10), 4),
            "val_p@10": round(ev.mean("precision", 10), 4),
            "val_r@10": round(ev.mean("recall", 10), 4),
            "best_epochs": getattr(model, "best_epochs_", None),
            "fit_s": round(fit_s, 1),
            "median_epoch_s": None if epoch_s is None else round(epoch_s, 2),
        }
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
