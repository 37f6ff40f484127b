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
import math
import re
from collections.abc import Callable
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
    AnswerParser,
    _durations_from_start_end,
    _id_text,
    clean_text_id,
    column_date_order,
    date_order_evidence,
    parse_duration,
    parse_scale_map,
    parse_timestamp,
)
from dancerec.survey.instrument import Instrument
from dancerec.survey.mapping import ColumnMapping, map_columns, read_mapping_file
from dancerec.survey.readers import RowProblem, SourceTable, read_source
from dancerec.survey.store import META_COLUMNS, assemble_responses, refresh_flags, study_instrument

from dancerec.errors import InputError, UserError
from dancerec.workspace import Study, sha256_file

ProgressFn = Callable[[str, int, int], None]
ON_INVALID = ("error", "quarantine")


@dataclass
class ImportOptions:
    """How to read and store one export (every field has a CLI option of the same name)."""

    format: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    mapping: str | Path | None = None
    id_column: str | None = None
    group_column: str | None = None
    user_column: str | None = None
    duration_column: str | None = None
    submitted_column: str | None = None
    group: str | None = None
    id_prefix: str = ""
    pseudonymise: bool = False
    on_invalid: str = "error"
    replace: bool = False
    missing_codes: tuple[str, ...] = ()
    #: "dayfirst" or "monthfirst" for dates such as 01/09/2026 (None: detect, refuse if ambiguous)
    date_order: str | None = None
    #: explicit answer label → scale value pairs (e.g. to fold a 7-point export); recorded in the study
    scale_map: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if self.on_invalid not in ON_INVALID:
            raise UserError(f"--on-invalid must be one of {', '.join(ON_INVALID)}, not {self.on_invalid!r}")
        if self.date_order not in (None, *DATE_ORDERS):
            raise UserError(f"date order must be one of {', '.join(DATE_ORDERS)}, not {self.date_order!r}")
        self.missing_codes = tuple(str(c).strip() for c in self.missing_codes)
        self.scale_map = tuple((str(k).strip(), int(v)) for k, v in self.scale_map)

    def fingerprint(self) -> str:
        body = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items() if k != "replace"}
        return json.dumps(body, sort_keys=True, ensure_ascii=False)


@dataclass
class QuarantinedRow:
    row: int | None
    respondent_id: str | None
    column: str | None
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedImport:
    """A checked export, ready to store: clean responses plus what was set aside and why."""

    table: SourceTable
    mapping: ColumnMapping
    responses: pd.DataFrame
    source_rows: dict[str, int]
    problems: list[RowProblem]
    quarantined: list[QuarantinedRow]
    warnings: list[str]
    #: every id and user id read from the file (after --id-prefix), for pseudonymisation
    raw_ids: list[str] = field(default_factory=list)
    raw_users: list[str] = field(default_factory=list)


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


# -- preparing ---------------------------------------------------------------------------------
def prepare_import(
    path: str | Path,
    instrument: Instrument,
    options: ImportOptions | None = None,
    *,
    study_group_column: str | None = "group",
    collect: bool = False,
    progress: ProgressFn | None = None,
) -> PreparedImport:
    """Read, map and check an export without touching any store.

    With ``collect=False`` and ``options.on_invalid == "error"`` the first problem is raised; otherwise
    every problem is collected and the rows carrying them are listed as quarantined.
    """
    opts = options or ImportOptions()
    path = Path(path)
    report = progress or (lambda stage, done, total: None)
    report("reading", 0, 3)
    table = read_source(path, format=opts.format, encoding=opts.encoding, sheet=opts.sheet)
    mapping = read_mapping_file(opts.mapping) if opts.mapping else None
    roles = {
        "respondent_id": opts.id_column,
        "group": opts.group_column,
        "user_id": opts.user_column,
        "duration_s": opts.duration_column,
        "submitted_at": opts.submitted_column,
    }
    cmap = map_columns(
        table,
        instrument,
        mapping=mapping,
        mapping_source=opts.mapping or "mapping",
        roles=roles,
        group_column=study_group_column,
    )
    if not cmap.items:
        raise InputError(
            path,
            f"no column maps to an item of instrument {instrument.name!r} "
            f"(columns: {', '.join(table.columns[:8])}{'…' if len(table.columns) > 8 else ''})",
            row=1,
            expected="columns named by item id (e.g. CON1) or item wording in English or Chinese, or a --mapping file",
        )
    report("checking", 1, 3)
    n = len(table.data)
    problems: dict[int, list[RowProblem]] = {}
    warnings: list[str] = []

    def problem(i: int, column: str, text: str, expected: str | None) -> None:
        row, col = table.locate(i, column)
        problems.setdefault(i, []).append(RowProblem(row, col, text, expected))

    col_index = {c: j for j, c in enumerate(table.columns)}

    def values(column: str) -> tuple[object, ...]:
        # one column at a time, built when needed and dropped after use: a transposed copy of the
        # whole file would cost another 8 bytes per cell
        j = col_index[column]
        return tuple([row[j] for row in table.data])

    warnings.extend(table.notes)
    cleaned_ids: list[str] = []
    cleaned_groups: list[str] = []
    # respondent ids
    if "respondent_id" in cmap.meta:
        id_col = cmap.meta["respondent_id"]
        ids = [_id_text(v, cleaned_ids) for v in values(id_col)]
        for i, rid in enumerate(ids):
            if not rid:
                problem(i, id_col, "missing respondent id", "a non-empty id")
    else:
        id_col = None
        ids = [f"r{row}" for row in table.rows]
        warnings.append(
            "no respondent id column: ids were made from row numbers (r2, r3, …); "
            "use --id-prefix to keep several such files apart"
        )
    ids = [f"{opts.id_prefix}{rid}" if rid else "" for rid in ids]
    first_seen: dict[str, int] = {}
    for i, rid in enumerate(ids):
        if not rid:
            continue
        if rid in first_seen:
            first_row = table.rows[first_seen[rid]]
            problem(
                i,
                id_col or "(row)",
                f"duplicate respondent id {rid!r} (first at row {first_row})",
                "unique ids",
            )
        else:
            first_seen[rid] = i

    # metadata
    groups: list[object] = [pd.NA] * n
    if opts.group is not None:
        groups = [opts.group] * n
        if "group" in cmap.meta:
            warnings.append(f"--group {opts.group!r} overrides the file's column {cmap.meta['group']!r}")
    elif "group" in cmap.meta:
        groups = [(_id_text(v, cleaned_groups) or pd.NA) for v in values(cmap.meta["group"])]
    else:
        warnings.append("no study-group column and no --group: respondents are stored without a group")
    users: list[object] = [pd.NA] * n
    if "user_id" in cmap.meta:
        users = [(_id_text(v, cleaned_ids) or pd.NA) for v in values(cmap.meta["user_id"])]
    for what, changed in (("id", cleaned_ids), ("group name", cleaned_groups)):
        if changed:  # ids are not quoted: the note must not leak them under --pseudonymise
            example = f" (e.g. now {sorted(set(changed))[0]!r})" if what == "group name" else ""
            warnings.append(
                f"{len(changed)} {what}(s) held invisible or bidirectional control characters, removed "
                f"before comparison{example}"
            )
    durations = [math.nan] * n
    if "duration_s" in cmap.meta:
        col = cmap.meta["duration_s"]
        seconds: dict[object, float | None] = {}
        decimal_comma = table.delimiter == ";"
        for i, v in enumerate(values(col)):
            if v not in seconds:
                try:
                    seconds[v] = parse_duration(v, decimal_comma) if v is not None else math.nan
                except ValueError:
                    seconds[v] = None
            if seconds[v] is None:
                problem(
                    i,
                    col,
                    f"completion time {v!r} is not a duration",
                    "seconds, e.g. 120 or 120秒"
                    + ("; decimal comma as in 311,5" if decimal_comma else "; decimal point as in 311.5"),
                )
            else:
                durations[i] = seconds[v]
    else:
        _durations_from_start_end(table, cmap, durations, warnings, opts.date_order)
    submitted: list[object] = [pd.NaT] * n
    if "submitted_at" in cmap.meta:
        col = cmap.meta["submitted_at"]
        order = column_date_order(table, col, values(col), opts.date_order)
        cache: dict[object, object] = {}
        for i, v in enumerate(values(col)):
            if v not in cache:
                try:
                    cache[v] = parse_timestamp(v, order) if v is not None else pd.NaT
                except (ValueError, TypeError, OverflowError) as exc:
                    cache[v] = "ambiguous" if "ambiguous" in str(exc) else None
            if cache[v] is None:
                problem(i, col, f"submission time {v!r} is not a date/time", "e.g. 2026-09-03 12:00:00")
            elif cache[v] == "ambiguous":
                problem(
                    i,
                    col,
                    f"submission time {v!r} could be day/month or month/day",
                    "--dayfirst or --monthfirst to say which",
                )
            else:
                submitted[i] = cache[v]

    # answers
    parser = AnswerParser(instrument, table, opts.missing_codes, opts.scale_map)
    answers = np.full((n, len(instrument.items)), np.nan)
    item_pos = {it.id: k for k, it in enumerate(instrument.items)}
    for done, (item_id, col) in enumerate(cmap.items.items()):
        # parse each distinct cell once, then spread by the factorised codes (fast on large files)
        codes, uniques = pd.factorize(pd.Series(values(col), dtype=object), use_na_sentinel=True)
        parsed = [parser.parse(u, col) for u in uniques]
        lookup = np.array([v for v, _ in parsed] + [np.nan], dtype=float)  # code −1 (None/NaN) → NaN
        answers[:, item_pos[item_id]] = lookup[codes]
        errors = [e for _, e in parsed]
        if any(errors):
            bad = np.array([e is not None for e in errors] + [False])
            for i in np.flatnonzero(bad[codes]):
                problem(int(i), col, errors[codes[i]], parser.expected)
        if done % 5 == 0:
            report("checking", 1, 3)

    folded = parser.folded_labels()
    if folded:
        value, labels = folded[0]
        raise InputError(
            path,
            f"answer labels {' and '.join(map(repr, labels))} would all be stored as {value}: the file "
            f"seems to use a longer scale than the instrument's {instrument.scale_min}–{instrument.scale_max}"
            " (a 7-point agreement scale?), and folding it would change answers silently",
            column=", ".join(cmap.items.values()) if len(cmap.items) <= 3 else None,
            expected="the instrument's answer labels, or --scale-map 'LABEL=VALUE,…' to fold them explicitly",
        )

    # split clean rows from problem rows
    all_problems: list[RowProblem] = list(table.problems)
    quarantined: list[QuarantinedRow] = []
    for p in table.problems:
        quarantined.append(QuarantinedRow(p.row, None, p.column, p.problem))
    for i in sorted(problems):
        for p in problems[i]:
            p.respondent_id = ids[i] or None
        all_problems.extend(problems[i])
        first = problems[i][0]
        quarantined.append(
            QuarantinedRow(
                table.rows[i],
                ids[i] or None,
                first.column,
                "; ".join(f"{p.column}: {p.problem}" if p.column else p.problem for p in problems[i]),
                {
                    c: (None if v is None else str(v))
                    for c, v in zip(table.columns, table.data[i], strict=False)
                },
            )
        )
    all_problems.sort(key=lambda p: p.row or 0)
    quarantined.sort(key=lambda q: q.row or 0)
    if opts.on_invalid == "error" and not collect:
        raise_first_problem(path, all_problems)

    good = [i for i in range(n) if i not in problems]
    idx = pd.Index([ids[i] for i in good], dtype="string", name="respondent_id")
    frame = pd.DataFrame(
        {
            "group": pd.array([groups[i] for i in good], dtype="string"),
            "user_id": pd.array([users[i] for i in good], dtype="string"),
            "duration_s": np.array([durations[i] for i in good], dtype=float),
            "submitted_at": pd.DatetimeIndex([submitted[i] for i in good], dtype="datetime64[us]"),
        },
        index=idx,
    )
    items = pd.DataFrame(answers[good], index=idx, columns=instrument.item_ids)
    responses = pd.concat([frame, items], axis=1)
    report("checking", 2, 3)
    return PreparedImport(
        table=table,
        mapping=cmap,
        responses=responses,
        source_rows={ids[i]: table.rows[i] for i in good},
        problems=all_problems,
        quarantined=quarantined,
        warnings=warnings,
        raw_ids=[r for r in ids if r],
        raw_users=[str(u) for u in users if isinstance(u, str) and u],
    )


def raise_first_problem(path: Path, problems: list[RowProblem]) -> None:
    """Raise the first located problem as an InputError (nothing when there is none)."""
    if not problems:
        return
    first = problems[0]
    more = len(problems) - 1
    suffix = (
        f" [{more} more problem(s) in this file; `dancerec survey validate` lists them all]" if more else ""
    )
    raise InputError(
        path, first.problem + suffix, row=first.row, column=first.column, expected=first.expected
    )


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


def _pseudonymise(prepared: PreparedImport, hide: Callable[[str], str]) -> None:
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
        if changed and not opts.replace:
            c = report.conflicts[0]
            more = f" [{len(changed) - 1} more conflicting respondent(s)]" if len(changed) > 1 else ""
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
                column=prepared.mapping.items.get(c["columns"][0])
                or prepared.mapping.meta.get(c["columns"][0]),
                expected=expected,
            )
        report.n_replaced = len(changed)
        # quarantine rows already stored from this very file are not stored twice
        seen_rows = {
            r[0]
            for r in con.execute(
                "SELECT q.source_row FROM survey_quarantine q JOIN survey_import i USING (import_id) WHERE i.sha256 = ?",
                [report.sha256],
            ).fetchall()
        }
        to_quarantine = [q for q in prepared.quarantined if q.row not in seen_rows]
        if not len(fresh) and not changed and not to_quarantine:
            report.already_present = True
            report.conflicts = []
            return report
        import_id = int(
            con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM survey_import").fetchone()[0]
        )
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
                len(to_quarantine),
                report.n_filtered,
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
        if changed:
            _delete(con, [str(r) for r in changed])
        write = new.loc[list(fresh) + changed]
        if len(write):
            _insert(con, write, prepared.source_rows, import_id)
        if to_quarantine:
            qf = pd.DataFrame(
                {
                    "import_id": import_id,
                    "source_row": [q.row for q in to_quarantine],
                    "respondent_id": [q.respondent_id for q in to_quarantine],
                    "column_name": [q.column for q in to_quarantine],
                    "reason": [q.reason for q in to_quarantine],
                    "raw": [json.dumps(q.raw, ensure_ascii=False) for q in to_quarantine],
                }
            )
            con.register("_q_in", qf)
            try:
                con.execute("INSERT INTO survey_quarantine SELECT * FROM _q_in")
            finally:
                con.unregister("_q_in")
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
