"""Report section: group comparisons (descriptives, omnibus tests, invariance, post-hoc)."""

from __future__ import annotations

from dancerec.reports import apa
from dancerec.reports.sections.base import (
    I_P,
    Builder,
    frame_table,
)
from markupsafe import Markup


def _groups(b: Builder) -> None:
    d = b.data
    if d.group_descriptives is None and d.group_tests is None and d.invariance is None:
        return
    sec = b.section("groups", "Group comparisons")
    desc = d.group_descriptives
    if desc is not None and not desc.empty:
        cells = desc.assign(
            cell=[f"{apa.num(m)} ({apa.num(s)})" for m, s in zip(desc["mean"], desc["sd"], strict=True)]
        )
        wide = cells.pivot_table(
            index="dimension", columns="group", values="cell", aggfunc="first", sort=False
        )
        wide = wide.reindex([x for x in d.dimensions if x in wide.index] or list(wide.index)).reset_index()
        spec = [("dimension", "Dimension", "text"), *[(g, str(g), "text") for g in wide.columns[1:]]]
        table = frame_table(wide, spec, Markup("Dimension scores per group, <i>M</i> (<i>SD</i>)"))
        if table:
            table.numeric = [False] + [True] * (len(spec) - 1)
        b.table(sec, table)
    tests = d.group_tests
    if tests is not None and not tests.empty:
        b.table(
            sec,
            frame_table(
                tests,
                [
                    ("dimension", "Dimension", "text"),
                    ("test", "Test", "text"),
                    ("statistic", "Statistic", "num"),
                    ("df1", Markup("<i>df</i><sub>1</sub>"), "num"),
                    ("df2", Markup("<i>df</i><sub>2</sub>"), "num"),
                    ("p", I_P, "p"),
                    ("eta2", Markup("<i>η</i>²"), "bounded3"),
                    ("omega2", Markup("<i>ω</i>²"), "bounded3"),
                ],
                "Tests of group differences per dimension",
            ),
        )
    if d.invariance is not None and not d.invariance.empty:
        b.table(
            sec,
            frame_table(
                d.invariance,
                [
                    ("level", "Model", "text"),
                    ("chi2", Markup("<i>χ</i>²"), "num"),
                    ("df", Markup("<i>df</i>"), "int"),
                    ("cfi", "CFI", "bounded3"),
                    ("rmsea", "RMSEA", "bounded3"),
                    ("delta_chi2", Markup("Δ<i>χ</i>²"), "num"),
                    ("delta_p", Markup("<i>p</i>"), "p"),
                    ("delta_cfi", "ΔCFI", "bounded3"),
                    ("delta_rmsea", "ΔRMSEA", "bounded3"),
                    ("holds", "Holds", "bool"),
                ],
                "Measurement invariance across groups",
                note="A level holds when ΔCFI ≥ −.010 and ΔRMSEA ≤ .015 against the previous level; group "
                "means are comparable once scalar invariance holds.",
            ),
        )
    if d.posthoc is not None and not d.posthoc.empty:
        b.table(
            sec,
            frame_table(
                d.posthoc,
                [
                    ("dimension", "Dimension", "text"),
                    ("group1", "Group", "text"),
                    ("group2", "vs", "text"),
                    ("diff", "Difference", "num"),
                    ("p_adj", Markup("<i>p</i><sub>adj</sub>"), "p"),
                    ("d", Markup("<i>d</i>"), "num"),
                ],
                "Post-hoc pairwise comparisons",
            ),
        )
