"""Markdown tables from the relation-rank JSON lines (ablation, test ranking, paper protocol, speed).

    .venv/bin/python benchmarks/relation_rank_report.py [--ablation docs/relation/rank-ablation.jsonl]
        [--evidence docs/relation/rank-evidence.jsonl]

Prints the tables pasted into docs/relation-ranking.md (the last row per config/model+seed wins).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _fmt(v) -> str:
    return "–" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", type=Path, default=ROOT / "docs/relation/rank-ablation.jsonl")
    parser.add_argument("--evidence", type=Path, default=ROOT / "docs/relation/rank-evidence.jsonl")
    args = parser.parse_args()
    ablation = {r["config"]: r for r in _rows(args.ablation)}
    print("| config | model | params (changed) | val NDCG@10 | val P@10 | val R@10 | best epochs | s/epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in ablation.values():
        p = {k: v for k, v in r["params"].items() if k not in ("refit", "seed")}
        print(
            f"| {r['config']} | {r['model']} | {json.dumps(p)} | {_fmt(r['val_ndcg@10'])} | {_fmt(r['val_p@10'])} | "
            f"{_fmt(r['val_r@10'])} | {_fmt(r['best_epochs'])} | {_fmt(r['median_epoch_s'])} |"
        )
    evidence = _rows(args.evidence)
    ranking = {(r["model"], r["seed"]): r for r in evidence if r["part"] == "ranking"}
    if ranking:
        print("\n| model | seed | NDCG@10 | P@10 | R@10 | NDCG@20 | best epochs | fit s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in ranking.values():
            print(
                f"| {r['model']} | {r['seed']} | {_fmt(r['ndcg@10'])} | {_fmt(r['precision@10'])} | "
                f"{_fmt(r['recall@10'])} | {_fmt(r['ndcg@20'])} | {_fmt(r['best_epochs'])} | {_fmt(r['fit_s'])} |"
            )
    paper = {(r["model"], r["seed"]): r for r in evidence if r["part"] == "paper"}
    if paper:
        keys = ["accuracy", "auc", "auc_pooled", "precision@1", "recall@1", "precision@2", "recall@2"]
        print("\n| model | seed | " + " | ".join(keys) + " | users | pairs |")
        print("|---|---|" + "---|" * (len(keys) + 2))
        for r in paper.values():
            vals = " | ".join(_fmt(r.get(k)) for k in keys)
            print(f"| {r['model']} | {r['seed']} | {vals} | {r['n_users']} | {r['n_pairs']} |")
    for r in (r for r in evidence if r["part"] == "speed"):
        print("\nspeed: " + json.dumps({k: v for k, v in r.items() if k != "params"}))


if __name__ == "__main__":
    main()
