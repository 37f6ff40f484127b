"""The tuned Last.fm-2k table: every model tuned the same way, with the same budget, evaluated once.

    nice -n 10 .venv/bin/python benchmarks/lastfm_table.py --data ../shared/data/hetrec2011-lastfm-2k \
        [--models mostpop,itemknn,userknn,svd,content,ease,als] [--budget 12] [--out docs/recommender-lastfm.md]

Protocol (the library's, :mod:`dancerec.recommender.tune`): per-user random 80/20 split (seed 42; users with
fewer than 5 artists stay wholly in train). Each model with a search space is tuned by
:func:`tune_model` — a validation split carved from the training part (random, 20% of each user's items,
seed 42), at most ``--budget`` configurations from the model's ``search_space`` (the whole grid when it
fits, else a seeded random sample of it), selection by validation NDCG@10 — then refitted on the whole
training part with the chosen parameters and evaluated once on the test part (full ranking over all
artists minus the user's training artists) through :class:`Experiment`. Models without a search space
(MostPop) run with their defaults. Timings are wall-clock on this machine. Takes a model list, so the
relation models are added by naming them once they carry a ``search_space``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from dancerec.recommender.data import read_lastfm
from dancerec.recommender.experiment import Experiment
from dancerec.recommender.registry import MODELS, make_model
from dancerec.recommender.splits import split_log
from dancerec.recommender.tune import plain, tune_model

ROOT = Path(__file__).resolve().parents[1]
LABELS = {
    "mostpop": "MostPop",
    "itemknn": "ItemKNN",
    "userknn": "UserKNN",
    "svd": "PureSVD",
    "ncf": "NCF (NeuMF)",
    "content": "Content TF-IDF (tags)",
    "ease": "EASE",
    "als": "ALS (implicit)",
}
NOTES = "<!-- notes: kept when the table is regenerated -->"
DEFAULT_MODELS = "mostpop,itemknn,userknn,svd,content,ease,als"


def _fmt_params(params: dict) -> str:
    return ", ".join(f"{k}={plain(v)}" for k, v in params.items()) or "defaults"


def _edges(space: dict[str, list], chosen: dict) -> list[str]:
    """Parameters whose chosen value is the first or last of an ordered numeric grid."""
    out = []
    for key, values in space.items():
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric and len(values) > 1 and chosen.get(key) in (min(values), max(values)):
            out.append(key)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "hetrec2011-lastfm-2k")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "recommender-lastfm.md")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated registry names")
    parser.add_argument("--budget", type=int, default=12, help="trials per model (the same for every model)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]

    split = split_log(read_lastfm(args.data), "random", seed=args.seed, min_user_items=5)
    tunings, chosen, tune_s = {}, {}, {}
    for name in names:
        if not MODELS[name].search_space:
            chosen[name] = {}
            continue
        started = time.perf_counter()
        tunings[name] = tune_model(
            name,
            split.train,
            budget=args.budget,
            seed=args.seed,
            progress=lambda done, total, status, _n=name: print(
                f"  [tune {_n}] {done}/{total} {status}", flush=True
            ),
        )
        tune_s[name] = time.perf_counter() - started
        chosen[name] = tunings[name].best_params
        print(json.dumps({"model": name, **tunings[name].to_dict()}, default=str)[:2000], flush=True)
    result = Experiment(split, {n: make_model(n, **chosen[n]) for n in names}, (10, 20)).run()

    n_users = len(split.test_users)
    budget_note = (
        f"at most {args.budget} configurations per model from its `search_space` (the whole grid when it fits, "
        f"else a seeded random sample of it)"
    )
    lines = [
        "# Last.fm-2k: tuned models, full ranking",
        "",
        f"Produced by `benchmarks/lastfm_table.py --budget {args.budget}` on "
        f"{platform.processor() or platform.machine()} (2 shared cores). Per-user random 80/20 split, seed "
        f"{args.seed}; users with fewer than 5 artists wholly in train; {split.train.matrix.nnz:,} train / "
        f"{split.test.matrix.nnz:,} test interactions; {n_users:,} users evaluated over all "
        f"{split.train.n_items:,} artists (their training artists removed). Every model tuned the same way "
        f"(`dancerec recommender tune`): a validation split carved from the training part (random, 20% of each "
        f"user's items, seed {args.seed}), {budget_note}, selection by validation NDCG@10; then refitted on the "
        "whole training part and evaluated once on the test part. Means over users; eval s = scoring, ranking "
        "and every metric (with 1,000-resample bootstrap CIs).",
        "",
        "| model | tuned parameters | P@10 | R@10 | NDCG@10 | P@20 | R@20 | NDCG@20 | tune s | train s | eval s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        ev = result.evaluations[name]
        cells = [f"{ev.mean(m, k):.4f}" for k in (10, 20) for m in ("precision", "recall", "ndcg")]
        tuned = f"{tune_s[name]:.0f}" if name in tune_s else "–"
        lines.append(
            f"| {LABELS.get(name, name)} | {_fmt_params(chosen[name]) if name in tunings else '– (nothing to tune)'} | "
            f"{' | '.join(cells)} | {tuned} | {ev.train_s:.1f} | {ev.eval_s:.2f} |"
        )
    lines += ["", "Validation NDCG@10 of every configuration tried (trial order):", ""]
    for name, t in tunings.items():
        keys = list(t.space)
        tried = "; ".join(
            f"{', '.join(f'{k}={row[k]}' for k in keys)}: {row['ndcg@10']:.4f}"
            for row in t.trials.to_dict("records")
        )
        edge = _edges(t.space, t.best_params)
        note = f" (chosen {', '.join(edge)} at the edge of the grid)" if edge else ""
        lines.append(
            f"- {LABELS.get(name, name)} ({t.strategy}, {len(t.trials)} trials, {t.n_val_users:,} "
            f"validation users): {tried}{note}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    notes = ""  # hand-written notes below the marker survive a re-run
    if args.out.exists() and NOTES in (old := args.out.read_text(encoding="utf-8")):
        notes = "\n" + old[old.index(NOTES) :]
    args.out.write_text("\n".join(lines) + "\n" + notes, encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
