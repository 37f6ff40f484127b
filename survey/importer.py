"""Importing survey exports: read → map → check every cell → store, chunk by chunk, in one transaction.

- Every bad cell or row becomes a located problem (file, row, column, what was expected). With
  ``on_invalid="error"`` the first one is raised as :class:`~dancerec.errors.InputError` and nothing
  is stored; with ``"quarantine"`` the bad rows are stored aside with their reasons and the rest is
  imported.
- An import is one transaction: a failure (in any chunk) leaves the store exactly as it was.
- Importing the same data twice changes nothing (reported as already present); a respondent whose
  stored answers differ is a conflict unless ``replace=True``.
- Memory is bounded: the file is read, checked and written :data:`CHUNK_ROWS` rows at a time
  (text exports), DuckDB works under :data:`IMPORT_MEMORY_LIMIT`, and the flags are recomputed from
  the store in blocks of respondents.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from dancerec.survey import import_store as db
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
from dancerec.survey.mapping import ColumnMapping
from dancerec.survey.prepare import (  # noqa: F401  (re-exported: the import API lives here)
    ON_INVALID,
    ImportOptions,
    PreparedChunks,
    PreparedImport,
    ProgressFn,
    QuarantinedRow,
    prepare_import,
    raise_first_problem,
)
from dancerec.survey.pseudonyms import pseudonymise_prepared as _pseudonymise
from dancerec.survey.readers import CHUNK_ROWS, RowProblem
from dancerec.survey.store import refresh_flags, study_instrument

from dancerec.errors import InputError, UserError
from dancerec.workspace import Study, pseudonymise, sha256_file

#: DuckDB's memory limit while an import runs (beyond it DuckDB spills to the study's temporary
#: folder): without it DuckDB keeps every block a large import touches in memory
IMPORT_MEMORY_LIMIT = "256MB"


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


def _start_report(chunks: PreparedChunks, instrument: Instrument, dry_run: bool) -> ImportReport:
    """The report of a file before any chunk was read: header, mapping, no counts yet."""
    t, m = chunks.table, chunks.mapping
    return ImportReport(
        file=str(t.path),
        format=t.layout,
        container=t.container,
        encoding=t.encoding,
        instrument=instrument.name,
        dry_run=dry_run,
        item_columns=dict(m.items),
        meta_columns=dict(m.meta),
        unmapped_columns=list(m.unmapped),
        platform_columns=list(m.platform),
        ignored_columns=list(m.ignored),
        missing_items=list(m.missing_items),
    )


def _count_chunk(report: ImportReport, part: PreparedImport) -> None:
    """Add one chunk's rows, problems and quarantined rows to the report."""
    t = part.table
    report.n_rows += len(t.data) + len(t.problems) + len(t.filtered)
    report.n_filtered += len(t.filtered)
    report.n_valid += len(part.responses)
    report.n_quarantined += len(part.quarantined)
    report.filtered += [{"row": p.row, "column": p.column, "reason": p.problem} for p in t.filtered]
    report.problems += [asdict(p) for p in part.problems]
    report.quarantined += [
        {"row": q.row, "respondent_id": q.respondent_id, "column": q.column, "reason": q.reason}
        for q in part.quarantined
    ]


@dataclass
class _Run:
    """One import (or dry run) of a file, fed chunk by chunk; what must be refused is remembered and
    raised by :meth:`refuse` after the last chunk, in the order a whole-file import checks it."""

    report: ImportReport
    opts: ImportOptions
    instrument: Instrument
    path: Path
    hide: Any = None  # the study's pseudonymise function (raw ids are checked against it)
    write: bool = True
    import_id: int = 0
    seen_quarantine: set[int] = field(default_factory=set)
    problems: list[RowProblem] = field(default_factory=list)
    n_mixed: int = 0
    n_changed: int = 0
    n_fresh: int = 0
    n_to_quarantine: int = 0

    @property
    def failing(self) -> bool:
        """Whether the import will be refused (the rest of the file is still checked and counted)."""
        error_mode = self.opts.on_invalid == "error"
        conflict = self.report.n_conflicts and not self.opts.replace
        return bool((error_mode and self.problems) or self.n_mixed or conflict)

    def add(self, con: duckdb.DuckDBPyConnection | None, part: PreparedImport) -> None:
        _count_chunk(self.report, part)
        if self.opts.on_invalid == "error":  # kept to raise the first one (the report lists them all)
            self.problems += part.problems
        if con is None or (self.write and self.opts.on_invalid == "error" and self.problems):
            return  # nothing to compare: the first problem will be raised (its count is kept)
        self.n_mixed += self._mixed_ids(con, part)
        if self.n_mixed:
            return  # the mixed ids will be raised (their count is kept)
        new = part.responses
        old = db.stored(con, new.index, self.instrument)
        diffs = db.differences(new, old)
        fresh = new.index.difference(old.index, sort=False)
        changed = [rid for rid in new.index if str(rid) in diffs]
        r = self.report
        r.n_new += len(fresh)
        r.n_unchanged += len(old) - len(changed)
        r.n_conflicts += len(changed)
        r.conflicts += [
            {
                "respondent_id": rid,
                "row": part.source_rows.get(str(rid)),
                "columns": diffs[str(rid)],
                "detail": db.describe(new, old, str(rid), diffs[str(rid)]),
            }
            for rid in changed
        ]
        if self.write and not self.failing:
            self._store(con, part, fresh, changed)

    def _mixed_ids(self, con: duckdb.DuckDBPyConnection, part: PreparedImport) -> int:
        """Respondents of this chunk already stored the other way (raw vs pseudonymised ids)."""
        if self.hide is None:
            return 0
        raw = part.raw_ids
        return db.count_ids_stored(con, raw if self.opts.pseudonymise else [self.hide(x) for x in raw])

    def _store(self, con: duckdb.DuckDBPyConnection, part: PreparedImport, fresh, changed: list) -> None:
        if changed:
            db.delete(con, [str(rid) for rid in changed])
        write = part.responses.loc[list(fresh) + changed]
        if len(write):
            db.insert(con, write, part.source_rows, self.import_id)
        to_quarantine = [q for q in part.quarantined if q.row not in self.seen_quarantine]
        if to_quarantine:
            db.insert_quarantine(con, to_quarantine, self.import_id)
        self.n_fresh += len(fresh)
        self.n_changed += len(changed)
        self.n_to_quarantine += len(to_quarantine)

    def refuse(self, con: duckdb.DuckDBPyConnection | None, mapping: ColumnMapping) -> None:
        """Raise what a whole-file import raises: the first problem, mixed ids, the first conflict."""
        if self.opts.on_invalid == "error":
            raise_first_problem(self.path, self.problems)
        if self.n_mixed:
            stored, now = (
                ("raw", "--pseudonymise") if self.opts.pseudonymise else ("pseudonymised", "raw ids")
            )
            raise InputError(
                self.path,
                f"{self.n_mixed} respondent(s) of this file are already stored under {stored} ids; importing "
                f"them again with {now} would store the same people twice",
                expected="the same --pseudonymise choice as the earlier import of these respondents",
            )
        if self.report.n_conflicts and not self.opts.replace and con is not None:
            _refuse_conflict(con, self.path, mapping, self.report)


# -- the public entry points -------------------------------------------------------------------
def import_file(
    study: Study,
    path: str | Path,
    options: ImportOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Import one export into the study (one transaction). Raises InputError on bad input/conflicts.

    The file is checked and stored ``chunk_rows`` rows at a time inside the one transaction; whatever
    a later chunk refuses rolls back the earlier chunks too.
    """
    opts = options or ImportOptions()
    path = Path(path)
    inst = study_instrument(study)
    chunks = PreparedChunks(
        path,
        inst,
        opts,
        study_group_column=study.config.group_column,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    report = _start_report(chunks, inst, dry_run=False)
    report.sha256 = sha256_file(path)
    secret = study.secret  # read once: every id of a large file is hashed (mixed-id check)
    hide = partial(pseudonymise, secret=secret)
    run = _Run(report, opts, inst, path, hide=hide)
    with study.transaction() as con:
        con.execute(f"SET memory_limit = '{IMPORT_MEMORY_LIMIT}'").fetchall()
        run.seen_quarantine = db.quarantined_rows_of(con, report.sha256)
        run.import_id = int(
            con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM survey_import").fetchall()[0][0]
        )
        for part in chunks:
            if opts.pseudonymise:
                _pseudonymise(part, hide)
            run.add(con, part)
        report.warnings = chunks.finish()
        run.refuse(con, chunks.mapping)
        report.n_replaced = run.n_changed
        if not run.n_fresh and not run.n_changed and not run.n_to_quarantine:
            report.already_present = True
            report.conflicts = []
            return report
        report.import_id = run.import_id
        _record_import(con, path, report, inst, opts, run.n_to_quarantine)
        study.record_file(con, path, "survey")
        if progress:
            progress("flagging", 0, 1)
        refresh_flags(con, inst)
    if progress:
        progress("done", 1, 1)
    return report


# -- the phases of storing one file ------------------------------------------------------------
def _refuse_conflict(
    con: duckdb.DuckDBPyConnection, path: Path, mapping: ColumnMapping, report: ImportReport
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
        column=mapping.items.get(c["columns"][0]) or mapping.meta.get(c["columns"][0]),
        expected=expected,
    )


def _record_import(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    report: ImportReport,
    inst: Instrument,
    opts: ImportOptions,
    n_quarantined: int,
) -> int:
    """Add this import to ``survey_import`` under ``report.import_id`` (counts final)."""
    import_id = report.import_id
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


def validate_file(
    path: str | Path,
    *,
    instrument: Instrument | None = None,
    options: ImportOptions | None = None,
    study: Study | None = None,
    progress: ProgressFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportReport:
    """Dry run of :func:`import_file`: every problem listed, nothing stored.

    With a study, also reports how many respondents are new, unchanged or in conflict.
    File-level problems (unreadable, empty, no item columns) still raise InputError.
    """
    opts = options or ImportOptions()
    inst = instrument or (study_instrument(study) if study else None)
    if inst is None:
        raise UserError("validate needs an instrument (or a study that names one)")
    chunks = PreparedChunks(
        path,
        inst,
        opts,
        study_group_column=study.config.group_column if study else "group",
        chunk_rows=chunk_rows,
        progress=progress,
    )
    report = _start_report(chunks, inst, dry_run=True)
    report.sha256 = sha256_file(Path(path))
    hide = study.pseudonymise if study is not None else (lambda x: "(id hidden)")
    run = _Run(report, opts, inst, Path(path), write=False)
    with study.read() if study is not None else _no_store() as con:
        for part in chunks:
            if opts.pseudonymise:
                _pseudonymise(part, hide)
            run.add(con, part)
    report.warnings = chunks.finish()
    if opts.on_invalid == "quarantine":
        report.problems = []  # they would be quarantined, not fail the import
    if study is not None and opts.replace:
        report.n_replaced, report.conflicts = report.n_conflicts, []
    return report


class _no_store:
    """Stands in for a study connection when validating without a study."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
