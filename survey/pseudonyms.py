"""Pseudonymising a prepared import: keyed hashes for every identifier, personal fields dropped."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from dancerec.survey.cells import clean_text_id
from dancerec.survey.prepare import PreparedImport


def pseudonymise_prepared(prepared: PreparedImport, hide: Callable[[str], str]) -> None:
    """Replace every identifier by ``hide(identifier)`` and drop personal fields, everywhere.

    Respondent and user ids become keyed hashes in the responses, the quarantine, the problem
    list and every message; a quarantined row keeps only its item answers and the group, duration
    and submission-time columns (e-mail, IP, names, student numbers and any other column are
    dropped, not stored).
    """
    r = prepared.responses
    cache: dict[str, str] = {}

    def h(x: str) -> str:
        if x not in cache:
            cache[x] = hide(x)
        return cache[x]

    def scrub(text: str, *raw: str | None) -> str:
        # messages quote ids with repr(): replace the quoted form only, so "row 1" survives id "1"
        for x in sorted({v for v in raw if v}, key=len, reverse=True):
            text = text.replace(repr(x), repr(h(x)))
        return text

    r.index = pd.Index([h(str(x)) for x in r.index], dtype="string", name="respondent_id")
    r["user_id"] = pd.array([pd.NA if pd.isna(u) else h(u) for u in r["user_id"]], dtype="string")
    prepared.source_rows = {h(k): v for k, v in prepared.source_rows.items()}
    m = prepared.mapping
    id_cols = {m.meta.get("respondent_id"), m.meta.get("user_id")} - {None}
    keep = set(m.items.values()) | {m.meta[k] for k in ("group", "duration_s", "submitted_at") if k in m.meta}
    for q in prepared.quarantined:
        raw_ids = [q.respondent_id, *(q.raw.get(c) for c in id_cols)]
        personal = [str(v) for c, v in q.raw.items() if c not in keep and c not in id_cols and v]
        q.reason = _drop_values(scrub(q.reason, *raw_ids), personal)
        rid_col = m.meta.get("respondent_id")
        q.raw = {
            c: (
                v
                if c not in id_cols or not v
                else h(q.respondent_id or v)
                if c == rid_col
                else h(clean_text_id(v)[0])
            )
            for c, v in q.raw.items()
            if c in keep or c in id_cols
        }
        if q.respondent_id:
            q.respondent_id = h(q.respondent_id)
    for p in prepared.problems:
        if p.respondent_id:
            p.problem = scrub(p.problem, p.respondent_id)
            p.respondent_id = h(p.respondent_id)


def _drop_values(text: str, values: list[str]) -> str:
    for v in sorted(set(values), key=len, reverse=True):
        if len(v) >= 3:
            text = text.replace(v, "[personal field removed]")
    return text
