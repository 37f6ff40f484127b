"""Evidence for the relation model: comparison with the baselines, ablations, cold start (docs/relation-evidence.md).

    .venv/bin/python benchmarks/relation_evidence.py --part lastfm,ablations,simulated,coldstart [--epochs 4]

* ``lastfm``: the harness's seed-42 per-user random 80/20 split of Last.fm-2k; every baseline with the
  parameters the harness tuned on validation (``bench_recommender.TUNED``), the relation model with the
  paper's defaults (and one variant chosen on the validation split carved from train); precision/recall/NDCG
  at 5, 10, 20, curves K = 1..50, paired t and Wilcoxon tests of every model against the relation model
  (Holm over all comparisons).
* ``ablations``: the relation model without personalisation, without the max-pool branch, with a dot
  product instead of W, and with history K = 1, 3, 10 (K = 5 is the main run).
* ``simulated``: the same comparison on the harness's simulated world, chronological split (the paper's).
* ``coldstart``: zero-shot new items and few-shot users on Last.fm (``relation_experiments``).

Each part writes ``docs/relation/<part>.json`` (and plots); ``--report`` assembles the markdown.
Relation training is capped at ``--epochs`` with early stopping on validation recall@10 (patience 2).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
OUT = ROOT / "docs" / "relation"
LASTFM = ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k"
K_LIST = (5, 10, 20)
METRICS = [f"{m}@{k}" for m in ("precision", "recall", "ndcg") for k in K_LIST]


def _tuned() -> dict[str, dict]:
    from bench_recommender import TUNED

    return {k: dict(v) for k, v in TUNED.items()}


def _relation_params(epochs: int, **extra) -> dict:
    return {"epochs": epochs, "patience": 2, **extra}


def _lastfm_split():
    from dancerec.recommender.data import read_lastfm
    from dancerec.recommender.splits import split_log

    return split_log(read_lastfm(LASTFM), "random", seed=42)


def _simulated_split():
    from dancerec.recommender.simulate import simulate_world
    from dancerec.recommender.splits import split_log

    world = simulate_world(1000, 1500, mean_items=30, seed=42)
    return split_log(world.log, "chronological", seed=42)


def compare_models(split, models: dict[str, tuple[str, dict]], baseline: str = "relation") -> dict:
    """Fit and evaluate every model; summary, curves, paired tests against ``baseline``."""
    from dancerec.recommender.evaluate import evaluate
    from dancerec.recommender.registry import make_model
    from dancerec.recommender.stats import compare

    rows, curves, per_user, logs = [], [], {}, {}
    for label, (name, params) in models.items():
        model = make_model(name, **params)
        started = time.perf_counter()
        model.fit(split.train)
        train_s = time.perf_counter() - started
        ev = evaluate(model, split.train, split.test, (*K_LIST, 50), model_name=label, n_bootstrap=1000)
        for row in ev.summary.itertuples():
            if row.metric in ("precision", "recall", "ndcg") and row.k in K_LIST:
                rows.append({"model": label, "metric": row.metric, "k": row.k, "mean": row.mean,
                             "ci_low": row.ci_low, "ci_high": row.ci_high})  # fmt: skip
        rows.append({"model": label, "metric": "train_s", "k": 0, "mean": train_s})
        rows.append({"model": label, "metric": "eval_s", "k": 0, "mean": ev.eval_s})
        curves.append(ev.curves)
        per_user[label] = ev.per_user
        if name == "relation":
            logs[label] = model.training_log.to_dict(orient="records")
        print(f"{label}: P@10 {ev.mean('precision', 10):.4f} R@10 {ev.mean('recall', 10):.4f} "
              f"train {train_s:.1f}s", flush=True)  # fmt: skip
    tests = compare(per_user, baseline, METRICS, n_bootstrap=1000)
    return {
        "summary": pd.DataFrame(rows),
        "curves": pd.concat(curves, ignore_index=True),
        "tests": tests,
        "logs": logs,
    }


def _save(part: str, result: dict, extra: dict | None = None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        k: (v.to_dict(orient="records") if isinstance(v, pd.DataFrame) else v) for k, v in result.items()
    }
    payload["machine"] = f"{platform.machine()}, {platform.python_version()}"
    payload.update(extra or {})
    (OUT / f"{part}.json").write_text(json.dumps(payload, indent=1, default=float))
    if "curves" in result:
        from dancerec.recommender.plots import plot_curves

        plot_curves(result["curves"], OUT / f"{part}-curves.png")


def part_lastfm(epochs: int) -> None:
    tuned = _tuned()
    models = {
        "relation": ("relation", _relation_params(epochs)),
        "relation (wd 1e-5)": ("relation", _relation_params(epochs, weight_decay=1e-5)),
        **{
            name: (name, tuned[name])
            for name in ("mostpop", "itemknn", "userknn", "svd", "ncf", "content", "ease", "als")
        },
    }
    _save("lastfm", compare_models(_lastfm_split(), models), {"epochs_cap": epochs})


def part_ablations(epochs: int) -> None:
    base = _relation_params(epochs)
    variants = {
        "relation (paper defaults)": {},
        "no personalisation": {"personalised": False},
        "no max-pool": {"maxpool": False},
        "dot product instead of W": {"relation": "dot"},
        "history K=1": {"history": 1},
        "history K=3": {"history": 3},
        "history K=10": {"history": 10},
    }
    models = {label: ("relation", {**base, **extra}) for label, extra in variants.items()}
    _save("ablations", compare_models(_lastfm_split(), models, baseline="relation (paper defaults)"),
          {"epochs_cap": epochs})  # fmt: skip


def part_simulated(epochs: int) -> None:
    models = {
        "relation": ("relation", _relation_params(epochs)),
        **{
            name: (name, {})
            for name in ("mostpop", "itemknn", "userknn", "svd", "ncf", "content", "ease", "als")
        },
    }
    _save("simulated", compare_models(_simulated_split(), models), {"epochs_cap": epochs})


def part_coldstart(epochs: int) -> None:
    from dancerec.recommender.relation_experiments import few_shot_users, zero_shot_items

    tuned = _tuned()
    split = _lastfm_split()
    rel = _relation_params(epochs)
    zero = zero_shot_items(
        split,
        {"relation": rel, "content": tuned["content"], "mostpop": {}, "ease": tuned["ease"]},
        share=0.1,
        k_list=(10, 20),
    )
    few = few_shot_users(
        split,
        {
            "relation": rel,
            "mostpop": {},
            "itemknn": tuned["itemknn"],
            "ease": tuned["ease"],
            "als": tuned["als"],
        },
        share=0.3,
        k_list=(10, 20),
    )
    _save("coldstart", {"zero_shot": zero.summary, "few_shot": few.summary},
          {"zero_shot_info": zero.info, "few_shot_info": few.info, "epochs_cap": epochs})  # fmt: skip


PARTS = {
    "lastfm": part_lastfm,
    "ablations": part_ablations,
    "simulated": part_simulated,
    "coldstart": part_coldstart,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="lastfm,ablations,simulated,coldstart")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    for part in args.part.split(","):
        started = time.perf_counter()
        PARTS[part](args.epochs)
        print(f"== {part} done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
