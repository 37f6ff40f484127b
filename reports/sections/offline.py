"""Report section: offline recommender results (runs, precision/recall curves, metric table)."""

from __future__ import annotations

import pandas as pd
from dancerec.reports import apa, figures
from dancerec.reports.sections.base import (
    Builder,
    _ci_cells,
    frame_table,
)
from markupsafe import Markup


def _offline(b: Builder) -> None:
    d = b.data
    if d.curves is None and d.metric_table is None:
        return
    sec = b.section("offline", "Offline recommender results")
    if d.runs is not None and not d.runs.empty:
        b.table(
            sec,
            frame_table(
                d.runs,
                [
                    ("run_id", "Run", "text"),
                    ("model", "Model", "text"),
                    ("split", "Split", "text"),
                    ("seed", "Seed", "text"),
                ],
                "Evaluation runs",
            ),
        )
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
        mt["metric_k"] = [
            f"{m}@{int(k)}" if pd.notna(k) else str(m) for m, k in zip(mt["metric"], mt["k"], strict=True)
        ]
        mt["ci"] = _ci_cells(mt, digits=3, leading_zero=True)
        if "p_holm" in mt.columns:
            mt["sig"] = [apa.stars(p) for p in mt["p_holm"]]
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
                    ("model", "Model", "text"),
                    ("metric_k", "Metric", "text"),
                    ("mean", "Mean", "num3"),
                    ("ci", "95% CI", "text"),
                    ("p_holm", Markup("<i>p</i><sub>Holm</sub>"), "p"),
                    ("sig", "", "text"),
                ],
                "Offline metrics per model",
                note=note,
            ),
        )
