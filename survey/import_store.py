"""The store side of a survey import: reading the stored respondents a chunk of the file names,
comparing them, and writing respondents, answers and quarantined rows (inside the caller's
transaction; nothing here commits).

Pandas frames reach DuckDB through replacement scans (a local variable named in the SQL), never
``con.register``: DuckDB keeps a registered frame alive until the transaction ends, so a chunked
import that registered each chunk's frames held every chunk in memory (measured: +10 MiB per
20,000-row chunk), while a scanned local frame is freed when the function returns."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
from dancerec.survey.instrument import Instrument
from dancerec.survey.prepare import QuarantinedRow
from dancerec.survey.store import META_COLUMNS, assemble_responses


def stored(con: duckdb.DuckDBPyConnection, ids: pd.Index, instrument: Instrument) -> pd.DataFrame:
    """The stored responses of those of ``ids`` that are stored (wide, as the file's chunk)."""
    _ids_in = pd.DataFrame({"respondent_id": ids.astype(str)})
    meta = con.execute(
        'SELECT r.respondent_id, r.grp AS "group", r.user_id, r.duration_s, r.submitted_at '
        "FROM survey_respondent r JOIN _ids_in USING (respondent_id)"
    ).df()
    answers = pd.DataFrame({"respondent_id": [], "item_id": [], "value": []})
    if len(meta):  # the answer table is the large one: read it only for respondents stored
        _ids_stored = meta[["respondent_id"]]
        answers = con.execute(
            "SELECT a.respondent_id, a.item_id, a.value FROM survey_answer a JOIN _ids_stored USING (respondent_id)"
        ).df()
    return assemble_responses(meta, answers, instrument)


def differences(new: pd.DataFrame, old: pd.DataFrame) -> dict[str, list[str]]:
    """respondent id -> columns whose value differs between the file and the store."""
    common = new.index.intersection(old.index)
    a, b = new.loc[common], old.loc[common]
    diffs: dict[str, list[str]] = {}
    for col in new.columns:
        x, y = a[col], b[col]
        if col in ("group", "user_id"):
            same = (x.fillna("\0") == y.fillna("\0")).to_numpy(dtype=bool)
        elif col == "submitted_at":
            xs, ys = pd.to_datetime(x), pd.to_datetime(y)
            same = ((xs == ys) | (xs.isna() & ys.isna())).to_numpy(dtype=bool)
        else:
            xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            same = np.isclose(xv, yv, rtol=0, atol=1e-6) | (np.isnan(xv) & np.isnan(yv))
        for rid in common[~same]:
            diffs.setdefault(str(rid), []).append(col)
    return diffs


def describe(new: pd.DataFrame, old: pd.DataFrame, rid: str, cols: list[str]) -> str:
    parts = []
    for c in cols[:3]:
        parts.append(f"{c}: stored {old.at[rid, c]!r}, file {new.at[rid, c]!r}")
    return "; ".join(parts) + ("; …" if len(cols) > 3 else "")


def insert(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, rows: dict[str, int], import_id: int) -> None:
    _resp_in = pd.DataFrame(
        {
            "respondent_id": frame.index.astype(str),
            "grp": frame["group"].astype(object).where(frame["group"].notna(), None).to_numpy(),
            "user_id": frame["user_id"].astype(object).where(frame["user_id"].notna(), None).to_numpy(),
            "duration_s": frame["duration_s"].to_numpy(dtype=float),
            "submitted_at": pd.to_datetime(frame["submitted_at"]).to_numpy(),
            "import_id": import_id,
            "source_row": [rows.get(str(r)) for r in frame.index],
        }
    )
    items = [c for c in frame.columns if c not in META_COLUMNS]
    # the wide answers go to DuckDB as they are and are unpivoted there (UNPIVOT drops NULLs):
    # a pandas melt would build a long frame of Python strings, ~10x the memory
    _ans_in = pd.DataFrame({"respondent_id": _resp_in["respondent_id"].to_numpy()})
    for c in items:
        _ans_in[c] = frame[c].to_numpy(dtype=float)
    con.execute(
        "INSERT INTO survey_respondent SELECT respondent_id, grp, user_id, duration_s, "
        "CAST(submitted_at AS TIMESTAMP), import_id, source_row FROM _resp_in"
    )
    if items:
        con.execute(
            "INSERT INTO survey_answer SELECT respondent_id, item_id, value FROM "
            "(UNPIVOT _ans_in ON COLUMNS(* EXCLUDE (respondent_id)) INTO NAME item_id VALUE value) "
            "WHERE NOT isnan(value)"
        )


def delete(con: duckdb.DuckDBPyConnection, ids: list[str]) -> None:
    _del_in = pd.DataFrame({"respondent_id": ids})
    con.execute("DELETE FROM survey_answer WHERE respondent_id IN (SELECT respondent_id FROM _del_in)")
    con.execute("DELETE FROM survey_respondent WHERE respondent_id IN (SELECT respondent_id FROM _del_in)")


def insert_quarantine(con: duckdb.DuckDBPyConnection, rows: list[QuarantinedRow], import_id: int) -> None:
    _q_in = pd.DataFrame(
        {
            "import_id": import_id,
            "source_row": [q.row for q in rows],
            "respondent_id": [q.respondent_id for q in rows],
            "column_name": [q.column for q in rows],
            "reason": [q.reason for q in rows],
            "raw": [json.dumps(q.raw, ensure_ascii=False) for q in rows],
        }
    )
    con.execute("INSERT INTO survey_quarantine SELECT * FROM _q_in")


def count_ids_stored(con: duckdb.DuckDBPyConnection, ids: list[str]) -> int:
    """How many of ``ids`` are stored respondents."""
    if not ids:
        return 0
    _other_ids = pd.DataFrame({"respondent_id": ids})
    return int(
        con.execute(
            "SELECT count(*) FROM survey_respondent JOIN _other_ids USING (respondent_id)"
        ).fetchall()[0][0]
    )


def quarantined_rows_of(con: duckdb.DuckDBPyConnection, sha256: str) -> set[int]:
    """File rows already quarantined from a file with this checksum (they are not stored twice)."""
    return {
        r[0]
        for r in con.execute(
            "SELECT q.source_row FROM survey_quarantine q JOIN survey_import i USING (import_id) WHERE i.sha256 = ?",
            [sha256],
        ).fetchall()
    }
