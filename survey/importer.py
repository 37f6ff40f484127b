"""Importing survey exports: read → map → check every cell → store in one transaction.

- Every bad cell or row becomes a located problem (file, row, column, what was expected). With
  ``on_invalid="error"`` the first one is raised as :class:`~dancerec.errors.InputError` and nothing
  is stored; with ``"quarantine"`` the bad rows are stored aside with their reasons and the rest is
  imported.
- An import is one transaction: a failure leaves the store exactly as it was.
- Importing the same data twice changes nothing (reported as already present); a respondent whose
  stored answers differ is a conflict unless ``replace=True``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from dancerec.survey.cells import (  # noqa: F401  (parse_* re-exported: the public cell parsers)
    DATE_ORDERS,
    GENERIC_MISSING,
    clean_text_id,
    date_order_evidence,
    parse_duration,
    parse_scale_map,
    parse_timestamp,
)
from dancerec.survey.instrument import Instrument
from dancerec.survey.prepare import (  # noqa: F401  (re-exported: the import API lives here)
    ON_INVALID,
    ImportOptions,
    PreparedImport,
    ProgressFn,
    QuarantinedRow,
    prepare_import,
    raise_first_problem,
)
from dancerec.survey.pseudonyms import pseudonymise_prepared as _pseudonymise
from dancerec.survey.readers import RowProblem  # noqa: F401
from dancerec.survey.store import META_COLUMNS, assemble_responses, refresh_flags, study_instrument

from dancerec.errors import InputError, UserError
from dancerec.workspace import Study, sha256_file


@dataclass
class ImportReport:
    """What an import (or a dry run) found and did."""

    file: str
    format: str
    container: str
    encoding: str | None
    instrument: str
    dry_run: bool
    sha256: str = ""
    n_rows: int = 0
    n_filtered: int = 0
    n_valid: int = 0
    n_new: int = 0
    n_unchanged: int = 0
    n_replaced: int = 0
    n_conflicts: int = 0
    n_quarantined: int = 0
    already_present: bool = False
    import_id: int | None = None
    item_columns: dict[str, str] = field(default_factory=dict)
    meta_columns: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    platform_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    missing_items: list[str] = field(default_factory=list)
    filtered: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.conflicts


def _prefix_hint(path: Path) -> str:
    """A short id prefix suggested from a file name ("wjx-export (2).csv" → "wjx-export-2-")."""
    stem = re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "-", path.stem).strip("-")[:20]
    return f"{stem or 'file'}-"


def _base_report(prepared: PreparedImport, instrument: Instrument, dry_run: bool) -> ImportReport:
    t, m = prepared.table, prepared.mapping
    return ImportReport(
        file=str(t.path),
        format=t.layout,
        container=t.container,
        encoding=t.encoding,
        instrument=instrument.name,
        dry_run=dry_run,
        n_rows=len(t.data) + len(t.problems) + len(t.filtered),
        n_filtered=len(t.filtered),
        n_valid=len(prepared.responses),
        n_quarantined=len(prepared.quarantined),
        item_columns=dict(m.items),
        meta_columns=dict(m.meta),
        unmapped_columns=list(m.unmapped),
        platform_columns=list(m.platform),
        ignored_columns=list(m.ignored),
        missing_items=list(m.missing_items),
        filtered=[{"row": p.row, "column": p.column, "reason": p.problem} for p in t.filtered],
        problems=[asdict(p) for p in prepared.problems],
        quarantined=[
            {"row": q.row, "respondent_id": q.respondent_id, "column": q.column, "reason": q.reason}
            for q in prepared.quarantined
        ],
        warnings=list(prepared.warnings),
    )


def _refuse_mixed_ids(
    con: duckdb.DuckDBPyConnection, path: Path, prepared: PreparedImport, study: Study, pseudonymised: bool
) -> None:
    """Refuse an import whose people are already stored the other way (raw vs pseudonymised ids)."""
    raw = prepared.raw_ids
    if not raw:
        return
    other = raw if pseudonymised else [study.pseudonymise(x) for x in raw]
    con.register("_other_ids", pd.DataFrame({"respondent_id": other}))
    try:
        hit = con.execute(
            "SELECT count(*) FROM survey_respondent JOIN _other_ids USING (respondent_id)"
        ).fetchall()[0][0]
    finally:
        con.unregister("_other_ids")
    if hit:
        stored, now = ("raw", "--pseudonymise") if pseudonymised else ("pseudonymised", "raw ids")
        raise InputError(
            path,
            f"{hit} respondent(s) of this file are already stored under {stored} ids; importing them "
            f"again with {now} would store the same people twice",
            expected="the same --pseudonymise choice as the earlier import of these respondents",
        )


# -- comparing with the store ------------------------------------------------------------------
def _stored(con: duckdb.DuckDBPyConnection, ids: pd.Index, instrument: Instrument) -> pd.DataFrame:
    keys = pd.DataFrame({"respondent_id": ids.astype(str)})
    con.register("_ids_in", keys)
    try:
        meta = con.execute(
            'SELECT r.respondent_id, r.grp AS "group", r.user_id, r.duration_s, r.submitted_at '
            "FROM survey_respondent r JOIN _ids_in USING (respondent_id)"
        ).df()
        answers = con.execute(
            "SELECT a.respondent_id, a.item_id, a.value FROM survey_answer a JOIN _ids_in USING (respondent_id)"
        ).df()
    finally:
        con.unregister("_ids_in")
    return assemble_responses(meta, answers, instrument)


def _differences(new: pd.DataFrame, old: pd.DataFrame) -> dict[str, list[str]]:
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


def _describe(new: pd.DataFrame, old: pd.DataFrame, rid: str, cols: list[str]) -> str:
    parts = []
    for c in cols[:3]:
        parts.append(f"{c}: stored {old.at[rid, c]!r}, file {new.at[rid, c]!r}")
    return "; ".join(parts) + ("; …" if len(cols) > 3 else "")


def _insert(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, rows: dict[str, int], import_id: int
) -> None:
    resp = pd.DataFrame(
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
    wide = pd.DataFrame({"respondent_id": resp["respondent_id"].to_numpy()})
    for c in items:
        wide[c] = frame[c].to_numpy(dtype=float)
    con.register("_resp_in", resp)
    con.register("_ans_in", wide)
    try:
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
    finally:
        con.unregister("_resp_in")
        con.unregister("_ans_in")


def _delete(con: duckdb.DuckDBPyConnection, ids: list[str]) -> None:
    con.register("_del_in", pd.DataFrame({"respondent_id": ids}))
    try:
        con.execute("DELETE FROM survey_answer WHERE respondent_id IN (SELECT respondent_id FROM _del_in)")
        con.execute(
            "DELETE FROM survey_respondent WHERE respondent_id IN (SELECT respondent_id FROM _del_in)"
        )
    finally:
        con.unregister("_del_in")


# -- the public entry points -------------------------------------------------------------------
def import_file(
    study: Study,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Import one export into the study (one transaction). Raises InputError on bad input/conflicts."""
    opts = options or ImportOptions()
    path = Path(path)
    inst = study_instrument(study)
    prepared = prepare_import(
        path, inst, opts, study_group_column=study.config.group_column, collect=True, progress=progress
    )
    if opts.pseudonymise:
        _pseudonymise(prepared, study.pseudonymise)
    if opts.on_invalid == "error":
        raise_first_problem(path, prepared.problems)
    report = _base_report(prepared, inst, dry_run=False)
    report.sha256 = sha256_file(path)
    new = prepared.responses
    with study.transaction() as con:
        _refuse_mixed_ids(con, path, prepared, study, opts.pseudonymise)
        old = _stored(con, new.index, inst)
        fresh, changed = _compare_with_store(report, prepared, new, old)
        if changed and not opts.replace:
            _refuse_conflict(con, path, prepared, report)
        report.n_replaced = len(changed)
        to_quarantine = _unseen_quarantine(con, prepared, report.sha256)
        if not len(fresh) and not changed and not to_quarantine:
            report.already_present = True
            report.conflicts = []
            return report
        import_id = _record_import(con, path, report, inst, opts, len(to_quarantine))
        if changed:
            _delete(con, [str(r) for r in changed])
        write = new.loc[list(fresh) + changed]
        if len(write):
            _insert(con, write, prepared.source_rows, import_id)
        if to_quarantine:
            _insert_quarantine(con, to_quarantine, import_id)
        study.record_file(con, path, "survey")
        if progress:
            progress("flagging", 2, 3)
        # the file's cells are stored: release them before the flags read the store back
        prepared.table.data, prepared.table.rows, prepared.responses = [], [], new.iloc[:0]
        del new, write, old
        refresh_flags(con, inst)
    if progress:
        progress("done", 3, 3)
    return report


# -- the phases of storing one file ------------------------------------------------------------
def _compare_with_store(
    report: ImportReport, prepared: PreparedImport, new: pd.DataFrame, old: pd.DataFrame
) -> tuple[pd.Index, list[Any]]:
    """Respondents new to the store and those stored with other answers; counts go into ``report``."""
    diffs = _differences(new, old)
    fresh = new.index.difference(old.index, sort=False)
    changed = [rid for rid in new.index if str(rid) in diffs]
    report.n_new = len(fresh)
    report.n_unchanged = len(old) - len(changed)
    report.conflicts = [
        {
            "respondent_id": rid,
            "row": prepared.source_rows.get(str(rid)),
            "columns": diffs[str(rid)],
            "detail": _describe(new, old, str(rid), diffs[str(rid)]),
        }
        for rid in changed
    ]
    report.n_conflicts = len(changed)
    return fresh, changed


def _refuse_conflict(
    con: duckdb.DuckDBPyConnection, path: Path, prepared: PreparedImport, report: ImportReport
) -> None:
    """Raise for the first conflicting respondent, advising --id-prefix when it came from another file."""
    c = report.conflicts[0]
    n = report.n_conflicts
    more = f" [{n - 1} more conflicting respondent(s)]" if n > 1 else ""
    origin = con.execute(
        "SELECT i.path FROM survey_respondent r JOIN survey_import i USING (import_id) "
        "WHERE r.respondent_id = ?",
        [str(c["respondent_id"])],
    ).fetchall()
    other = origin[0][0] if origin else None
    if other is not None and Path(other).name != path.name:
        advice = (
            f"; it came from {Path(other).name}. If these are different people (both files number "
            "respondents 1..N), keep both with --id-prefix (e.g. --id-prefix "
            f"{_prefix_hint(path)}); --replace would overwrite the other file's respondents"
        )
        expected = "distinct ids: --id-prefix for this file"
    else:
        advice = ""
        expected = "the stored answers, or --replace to overwrite them with this file's"
    raise InputError(
        path,
        f"respondent {c['respondent_id']!r} is already stored with different answers "
        f"({c['detail']}){advice}{more}",
        row=c["row"],
        column=prepared.mapping.items.get(c["columns"][0]) or prepared.mapping.meta.get(c["columns"][0]),
        expected=expected,
    )


def _unseen_quarantine(
    con: duckdb.DuckDBPyConnection, prepared: PreparedImport, sha256: str
) -> list[QuarantinedRow]:
    """Quarantined rows not already stored from this very file (they are not stored twice)."""
    seen_rows = {
        r[0]
        for r in con.execute(
            "SELECT q.source_row FROM survey_quarantine q JOIN survey_import i USING (import_id) WHERE i.sha256 = ?",
            [sha256],
        ).fetchall()
    }
    return [q for q in prepared.quarantined if q.row not in seen_rows]


def _record_import(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    report: ImportReport,
    inst: Instrument,
    opts: ImportOptions,
    n_quarantined: int,
) -> int:
    """Add this import to ``survey_import`` under the next import id (also set on ``report``)."""
    import_id = int(con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM survey_import").fetchone()[0])
    report.import_id = import_id
    con.execute(
        "INSERT INTO survey_import VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            import_id,
            str(path),
            report.sha256,
            report.format,
            report.encoding,
            inst.name,
            opts.fingerprint(),
            report.n_rows,
            report.n_new,
            report.n_unchanged,
            report.n_replaced,
            n_quarantined,
            report.n_filtered,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )
    return import_id


def _insert_quarantine(con: duckdb.DuckDBPyConnection, rows: list[QuarantinedRow], import_id: int) -> None:
    qf = pd.DataFrame(
        {
            "import_id": import_id,
            "source_row": [q.row for q in rows],
            "respondent_id": [q.respondent_id for q in rows],
            "column_name": [q.column for q in rows],
            "reason": [q.reason for q in rows],
            "raw": [json.dumps(q.raw, ensure_ascii=False) for q in rows],
        }
    )
    con.register("_q_in", qf)
    try:
        con.execute("INSERT INTO survey_quarantine SELECT * FROM _q_in")
    finally:
        con.unregister("_q_in")


def validate_file(
    path: str | Path,
    *,
    instrument: Instrument | None = None,
    options: ImportOptions | None = None,
    study: Study | None = None,
    progress: ProgressFn | None = None,
) -> ImportReport:
    """Dry run of :func:`import_file`: every problem listed, nothing stored.

    With a study, also reports how many respondents are new, unchanged or in conflict.
    File-level problems (unreadable, empty, no item columns) still raise InputError.
    """
    opts = options or ImportOptions()
    inst = instrument or (study_instrument(study) if study else None)
    if inst is None:
        raise UserError("validate needs an instrument (or a study that names one)")
    prepared = prepare_import(
        path,
        inst,
        opts,
        study_group_column=study.config.group_column if study else "group",
        collect=True,
        progress=progress,
    )
    if opts.pseudonymise:
        _pseudonymise(prepared, study.pseudonymise if study is not None else (lambda x: "(id hidden)"))
    report = _base_report(prepared, inst, dry_run=True)
    report.sha256 = sha256_file(Path(path))
    if opts.on_invalid == "quarantine":
        report.problems = []  # they would be quarantined, not fail the import
    if study is not None:
        new = prepared.responses
        with study.read() as con:
            old = _stored(con, new.index, inst)
        diffs = _differences(new, old)
        report.n_new = len(new.index.difference(old.index))
        report.n_unchanged = len(old) - len(diffs)
        report.conflicts = [
            {
                "respondent_id": rid,
                "row": prepared.source_rows.get(rid),
                "columns": cols,
                "detail": _describe(new, old, rid, cols),
            }
            for rid, cols in diffs.items()
        ]
        report.n_conflicts = len(diffs)
        if opts.replace:
            report.n_replaced, report.conflicts = len(diffs), []
    return report
