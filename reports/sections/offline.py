"""Report section: offline recommender results (runs, precision/recall curves, metric table)."""

from __future__ import annotations

import pandas as pd
from dancerec.reports import apa, figures
from dancerec.reports.sections.base import Builder, Section, _ci_cells, frame_table


def _offline(b: Builder) -> None:
    d = b.data
    if d.curves is None and d.metric_table is None:
        return
    sec = b.section("offline", "Offline recommender results")
    _runs_table(b, sec)
    if d.curves is not None and not d.curves.empty:
        fig = figures.precision_recall_curves(d.curves)
        models = ", ".join(dict.fromkeys(d.curves["model"].astype(str)))
        b.figure(
            sec,
            fig,
            "precision-recall",
            "Precision and recall over recommendation-list length K = 1..50 "
            "per model (full ranking over all unseen items).",
            f"Two line charts of precision and recall against list length K for the models {models}.",
        )
    mt = d.metric_table
    if mt is not None and not mt.empty:
        mt = mt.copy()
        ks = mt["k"] if "k" in mt.columns else [None] * len(mt)  # compare() names metrics "ndcg@10"
        mt["metric_k"] = [
            f"{m}@{int(k)}" if k is not None and pd.notna(k) and "@" not in str(m) else str(m)
            for m, k in zip(mt["metric"], ks, strict=True)
        ]
        mt["ci"] = _ci_cells(mt, digits=3, leading_zero=True)
        if "p_t_holm" in mt.columns:
            mt["sig"] = [apa.stars(p) for p in mt["p_t_holm"]]
        note = "95% bootstrap confidence intervals over users."
        if d.baseline:
            note += (
                f" p: paired test across users against {d.baseline}, Holm-adjusted "
                "(* p < .05, ** p < .01, *** p < .001)."
            )
        b.table(
            sec,
            frame_table(
                mt,
                [
                    ("model", "text"),
                    ("metric_k", "Metric", "text"),
                    ("mean", "Mean", "num3"),
                    ("ci", "95% CI", "text"),
                    ("p_t_holm", "p"),
                    ("sig", "", "text"),
                ],
                "Offline metrics per model",
                note=note,
            ),
        )


def better_unseen_run(runs: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series] | None:
    """(best unseen run, best shown run) when a run no group saw beats every shown run on ``metric``
    among the runs on the shown runs' splits; ``None`` otherwise."""
    if "shown" not in runs.columns or metric not in runs.columns or not runs["shown"].any():
        return None
    pool = runs[runs["split"].isin(set(runs.loc[runs["shown"], "split"]))].dropna(subset=[metric])
    shown, unseen = pool[pool["shown"]], pool[~pool["shown"]]
    if shown.empty or unseen.empty:
        return None
    best_unseen, best_shown = unseen.loc[unseen[metric].idxmax()], shown.loc[shown[metric].idxmax()]
    return (best_unseen, best_shown) if best_unseen[metric] > best_shown[metric] else None


def _runs_table(b: Builder, sec: Section) -> None:
    """Every evaluated run; the runs a study group saw in bold; a note when a better run went unseen."""
    runs = b.data.runs
    if runs is None or runs.empty:
        return
    metrics = [c for c in runs.columns if "@" in c]
    note = None
    if "shown" in runs.columns and runs["shown"].any():
        note = "Bold: runs shown to a study group."
        metric = next((m for m in metrics if m.startswith("ndcg")), metrics[0] if metrics else None)
        found = better_unseen_run(runs, metric) if metric else None
        if found is not None:
            unseen, shown = found
            note += (
                f" A run no group saw scores higher on {metric}: {unseen['model']} ({unseen['run_id']}, "
                f"{apa.num(unseen[metric], 3)}) against the best run shown, {shown['model']} "
                f"({apa.num(shown[metric], 3)}); the survey cannot say how users would rate it."
            )
    table = frame_table(
        runs,
        [
            ("run_id", "text"),
            ("model", "text"),
            ("split", "text"),
            ("seed", "text"),
            ("groups", "Shown to", "text"),
            *[(m, m, "num3") for m in metrics],
        ],
        "Evaluation runs (all runs in the study)",
        note=note,
    )
    if table is not None and "shown" in runs.columns:
        table.highlight = [bool(v) for v in runs["shown"]]
    b.table(sec, table)
