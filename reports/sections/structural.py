"""Report section: the structural model among the perceived-quality dimensions."""

from __future__ import annotations

import pandas as pd
from dancerec.reports import diagrams, figures
from dancerec.reports.sections.base import (
    Builder,
    _ci_cells,
    _fit_line,
    frame_table,
)
from markupsafe import Markup


def _sem(b: Builder) -> None:
    d = b.data
    if d.sem is None or d.sem.paths is None or d.sem.paths.empty:
        return
    sec = b.section("structural", "Structural model")
    sec.para(Markup("Structural model fit: {}.").format(_fit_line(d.sem.fit)))
    for note in d.sem.notes:
        sec.para(note)
    if diagrams.available():
        fig = diagrams.path_graph(d.sem.paths, r2=d.sem.r2)
        legend = fig.legend()
    else:  # no Graphviz `dot` on this machine: the simpler matplotlib drawing
        fig, legend = (
            figures.path_diagram(d.sem.paths, source="rhs", target="lhs"),
            "(* p < .05, ** p < .01, *** p < .001; dashed = not significant).",
        )
    b.figure(
        sec,
        fig,
        "path-diagram",
        "Structural model with standardised path coefficients and R² of the endogenous dimensions. " + legend,
        f"Path diagram of {len(d.sem.paths)} structural paths between the perceived-quality dimensions.",
    )
    paths = d.sem.paths.copy()
    paths["path"] = paths["rhs"].astype(str) + " → " + paths["lhs"].astype(str)
    b.table(
        sec,
        frame_table(
            paths,
            [
                ("path", "Path", "text"),
                ("estimate", "num"),
                ("std", "bounded"),
                ("se", "num"),
                ("p", "p"),
            ],
            "Structural paths",
        ),
    )
    if d.sem.r2:
        frame = pd.DataFrame({"outcome": list(d.sem.r2), "r2": list(d.sem.r2.values())})
        b.table(
            sec,
            frame_table(
                frame,
                [("outcome", "Outcome", "text"), ("r2", "bounded")],
                "Variance explained",
            ),
        )
    if d.sem.indirect is not None and not d.sem.indirect.empty:
        ind = d.sem.indirect.copy()
        ind["ci"] = _ci_cells(ind)
        b.table(
            sec,
            frame_table(
                ind,
                [
                    ("name", "Indirect effect", "text"),
                    ("estimate", "num"),
                    ("ci", d.sem.indirect_ci, "text"),
                ],
                "Indirect effects",
            ),
        )
