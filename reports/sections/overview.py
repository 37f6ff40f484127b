"""Report sections: the study overview (respondents, exclusions) and the instrument with its item distributions."""

from __future__ import annotations

from dancerec.reports import apa, figures
from dancerec.reports.sections.base import (
    Builder,
    frame_table,
)
from markupsafe import Markup


def _overview(b: Builder) -> None:
    d = b.data
    sec = b.section("overview", "Study overview")
    facts = []
    if d.instrument_name:
        n_items = 0 if d.items is None else len(d.items)
        scale = f", {d.scale[0]}–{d.scale[1]} Likert scale" if d.scale else ""
        facts.append(
            Markup("Instrument <b>{}</b>: {} items in {} dimensions{}.").format(
                d.instrument_name, n_items, len(d.dimensions), scale
            )
        )
    if d.respondents is not None and not d.respondents.empty:
        total = int(d.respondents["n_total"].sum())
        analysed = int(d.respondents["n_analysed"].sum())
        facts.append(
            Markup("{} respondents in {} groups; {} analysed after exclusions{}.").format(
                apa.integer(total),
                len(d.respondents),
                apa.integer(analysed),
                Markup(" (excluded: {})").format(", ".join(d.excluded_flags)) if d.excluded_flags else "",
            )
        )
    if d.runs is not None and not d.runs.empty:
        facts.append(
            Markup("{} offline evaluation run(s) of {} model(s).").format(
                len(d.runs), d.runs["model"].nunique() if "model" in d.runs else len(d.runs)
            )
        )
    if d.linkage is not None:
        facts.append(
            Markup("Groups linked to recommender runs: {}.").format(
                ", ".join(f"{g} → {r}" for g, r in d.linkage.group_map.items())
            )
        )
    for fact in facts:
        sec.para(fact)
    if not facts:
        sec.para("This study has no survey responses or evaluation runs yet.")
    b.table(
        sec,
        frame_table(
            d.respondents,
            [
                ("group", "text"),
                ("n_total", "Respondents", "int"),
                ("n_excluded", "Excluded", "int"),
                ("n_analysed", "Analysed", "int"),
            ],
            "Respondents per study group",
        ),
    )
    b.table(
        sec,
        frame_table(
            d.exclusions,
            [
                ("flag", "Quality flag", "text"),
                ("n", "Flagged", "int"),
                ("percent", "% of respondents", "pct"),
                ("excluded", "Excluded from analysis", "bool"),
            ],
            "Data-quality flags",
            note="Flags are stored per respondent, never deleted; only the flags marked as excluded remove "
            "respondents from the analyses below.",
        ),
    )


def _items(b: Builder) -> None:
    d = b.data
    if d.items is None or d.items.empty:
        return
    sec = b.section("items", "Instrument and item distributions")
    spec = [
        ("id", "Item", "text"),
        ("dimension", "text"),
        ("text_en", "Wording (English)", "text"),
        ("text_zh", "Wording (Chinese)", "text"),
        ("reverse", "Reverse-keyed", "bool"),
    ]
    table = frame_table(
        d.items,
        spec,
        "Items of the instrument",
        note="Reverse-keyed items are recoded (min + max − x) before scoring and modelling.",
    )
    b.table(sec, table)
    if d.responses is not None and d.scale:
        item_ids = [i for i in d.items["id"] if i in d.responses.columns]
        if item_ids:
            labels = {row["id"]: f"{row['id']} · {row['dimension']}" for _, row in d.items.iterrows()}
            fig = figures.likert_bars(
                d.responses, item_ids, d.scale[0], d.scale[1], labels=labels, anchors=d.anchors
            )
            b.figure(
                sec,
                fig,
                "likert",
                "Distribution of answers per item (diverging stacked bars; the neutral "
                "category straddles zero).",
                f"Diverging stacked bar chart of the answers to {len(item_ids)} items on a "
                f"{d.scale[0]} to {d.scale[1]} scale; bars extending right show agreement, left disagreement.",
            )
