"""Report section: group comparisons (descriptives, omnibus tests, invariance, post-hoc)."""

from __future__ import annotations

import pandas as pd
from dancerec.reports import apa, charts
from dancerec.reports.sections.base import Builder, Section, Text, frame_table
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
        spec = [("dimension", "text"), *[(g, str(g), "text") for g in wide.columns[1:]]]
        table = frame_table(wide, spec, Markup("Dimension scores per group, <i>M</i> (<i>SD</i>)"))
        if table:
            table.numeric = [False] + [True] * (len(spec) - 1)
        b.table(sec, table)
    _means_figure(b, sec)
    tests = d.group_tests
    if tests is not None and not tests.empty:
        b.table(
            sec,
            frame_table(
                tests,
                [
                    ("dimension", "text"),
                    ("test", "text"),
                    ("statistic", "num"),
                    ("df1", "num"),
                    ("df2", "num"),
                    ("p", "p"),
                    ("eta2", "bounded3"),
                    ("omega2", "bounded3"),
                ],
                "Tests of group differences per dimension",
                note=_tests_note(tests),
            ),
        )
    if d.invariance is not None and not d.invariance.empty:
        b.table(
            sec,
            frame_table(
                d.invariance,
                [
                    ("level", "text"),
                    ("chi2", "num"),
                    ("df", "int"),
                    ("cfi", "bounded3"),
                    ("rmsea", "bounded3"),
                    ("delta_chi2", "num"),
                    ("delta_p", Markup("<i>p</i>"), "p"),
                    ("delta_cfi", "bounded3"),
                    ("delta_rmsea", "bounded3"),
                    ("status", "text"),
                ],
                "Measurement invariance across groups",
                note="A level holds when ΔCFI ≥ −.010 and ΔRMSEA ≤ .015 against the previous level; levels "
                "after the first failure are not tested; group means are comparable once scalar invariance holds.",
            ),
        )
    if d.posthoc is not None and not d.posthoc.empty:
        b.table(
            sec,
            frame_table(
                d.posthoc,
                [
                    ("dimension", "text"),
                    ("group_a", "Group", "text"),
                    ("group_b", "vs", "text"),
                    ("mean_diff", "num"),
                    ("p_adj", "p"),
                    ("cohens_d", "num"),
                    ("method", "text"),
                ],
                "Post-hoc pairwise comparisons",
                note=_posthoc_note(d.posthoc),
            ),
        )


POSTHOC_ADJUSTMENT = {
    "Tukey HSD": "Tukey's studentized range (family: the pairs of one dimension)",
    "Games-Howell": "Games-Howell's Welch-type studentized range (family: the pairs of one dimension)",
    "Dunn (Holm)": "Holm over the pairs of one dimension",
}


def _methods_named(methods: pd.Series) -> str:
    used = list(dict.fromkeys(str(m) for m in methods.dropna()))
    return "; ".join(f"{m}: {POSTHOC_ADJUSTMENT.get(m, 'as named')}" for m in used)


def _tests_note(tests: pd.DataFrame) -> Text:
    note = Markup(
        "<i>p</i>: omnibus test per dimension, not adjusted across dimensions (read with the post-hoc "
        "table). "
    )
    if "posthoc" in tests.columns:
        pairs = [f"{dim}: {m}" for dim, m in zip(tests["dimension"], tests["posthoc"], strict=True) if m]
        note += Markup("Post-hoc method per dimension — {}.").format("; ".join(pairs))
    return note


def _posthoc_note(posthoc: pd.DataFrame) -> Text:
    if "method" not in posthoc.columns:
        return Markup("<i>p</i><sub>adj</sub>: adjusted within each dimension (method not recorded).")
    return Markup("<i>p</i><sub>adj</sub> adjusted within each dimension — {}.").format(
        _methods_named(posthoc["method"])
    )


def _means_figure(b: Builder, sec: Section) -> None:
    """Group means with 95% CIs per dimension in one panel (groups side by side)."""
    d = b.data
    dims = [x for x in d.dimensions if d.scores is not None and x in d.scores.columns]
    if not dims or "group" not in d.scores.columns or d.scores["group"].nunique() < 2:
        return
    table = charts.mean_ci_table(d.scores, dims)
    b.figure(
        sec,
        charts.group_means_ci(table, scale=d.scale),
        "group-means",
        "Mean dimension score per group with 95% confidence intervals (t distribution, per group and "
        "dimension; not adjusted for multiplicity).",
        f"Dot plot of the mean score of {table['group'].nunique()} groups on {len(dims)} dimensions, "
        "groups side by side at each dimension, with 95% confidence interval bars.",
    )
