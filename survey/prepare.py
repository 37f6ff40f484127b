"""Preparing a survey export for import: read → map → parse every cell → split clean rows from bad ones.

Nothing here touches a store: :func:`prepare_import` returns a :class:`PreparedImport` (clean responses,
located problems, quarantined rows, warnings) that :mod:`dancerec.survey.importer` stores in one
transaction. Each phase is its own function, in the order the file is checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dancerec.survey.cells import (
    DATE_ORDERS,
    AnswerParser,
    date_order_evidence,
    decide_date_order,
    start_end_columns,
)
from dancerec.survey.instrument import Instrument
from dancerec.survey.mapping import ColumnMapping, map_columns, read_mapping_file
from dancerec.survey.readers import CHUNK_ROWS, open_source
from dancerec.survey.rowchecks import (
    Cells,
    ChunkState,
    answers,
    durations,
    groups_and_users,
    respondent_ids,
    submission_times,
)
from dancerec.survey.source import RowProblem, SourceTable

from dancerec.errors import InputError, UserError

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


# -- the pipeline ------------------------------------------------------------------------------
class PreparedChunks:
    """An export opened for a chunked import: header read, columns mapped, date orders decided.

    Iterating yields one :class:`PreparedImport` per chunk of at most ``chunk_rows`` file rows (its
    ``warnings`` empty); after the last chunk, :meth:`finish` refuses a file without data rows or with
    folded answer labels and returns the notes about the whole file. Only small state (id digests,
    counters, the answer parser's labels) is kept from chunk to chunk, so memory is bounded by the
    chunk size, whatever the file size (text exports; XLSX, .sav and long files come as one chunk).
    """

    def __init__(
        self,
        path: str | Path,
        instrument: Instrument,
        options: ImportOptions | None = None,
        *,
        study_group_column: str | None = "group",
        chunk_rows: int = CHUNK_ROWS,
        progress: ProgressFn | None = None,
    ) -> None:
        self.opts = options or ImportOptions()
        self.path = Path(path)
        self.instrument = instrument
        self.chunk_rows = chunk_rows
        self.progress = progress or (lambda stage, done, total: None)
        self.progress("reading", 0, 1)
        self.source = open_source(
            self.path, format=self.opts.format, encoding=self.opts.encoding, sheet=self.opts.sheet
        )
        self.table = self.source.header
        self.mapping = _map(self.path, self.table, instrument, self.opts, study_group_column)
        self.state = ChunkState(
            AnswerParser(instrument, self.table, self.opts.missing_codes, self.opts.scale_map)
        )
        self.n_data = self.n_problems = self.n_filtered = 0
        self._decide_date_orders()

    def __iter__(self) -> Iterator[PreparedImport]:
        size = max(self.source.size, 1)
        for chunk in self.source.chunks(self.chunk_rows):
            self.n_data += len(chunk.data)
            self.n_problems += len(chunk.problems)
            self.n_filtered += len(chunk.filtered)
            yield _prepare_chunk(chunk, self.mapping, self.instrument, self.opts, self.state)
            self.progress("checking and storing", min(self.source.position[0], size), size)

    def finish(self) -> list[str]:
        """Whole-file checks after the last chunk; the notes about the file (in reading order)."""
        self.source.refuse_empty(self.n_data, self.n_problems, self.n_filtered)
        _refuse_folded_labels(self.path, self.instrument, self.mapping, self.state.parser)
        return [*self.table.notes, *_static_notes(self.mapping, self.opts), *self.state.notes(self.table)]

    def _decide_date_orders(self) -> None:
        """Day/month order of the date columns, from the evidence of whole columns: one extra
        streamed pass over the file when a date column exists and no order was given."""
        cmap, table, given = self.mapping, self.table, self.opts.date_order
        sub_col = cmap.meta.get("submitted_at")
        start_end = start_end_columns(table) if "duration_s" not in cmap.meta else None
        self.state.start_end = start_end
        if given is not None or (sub_col is None and start_end is None):
            self.state.submitted_order = self.state.start_end_order = given or table.date_order
            return
        j_sub = table.columns.index(sub_col) if sub_col is not None else None
        evidence = {"sub": [False, False], "se": [False, False]}
        for chunk in self.source.chunks(self.chunk_rows):
            for key, cols in (("sub", (j_sub,)), ("se", start_end or ())):
                values = [r[j] for j in cols if j is not None for r in chunk.data]
                day, month, _ = date_order_evidence(list(dict.fromkeys(values)))
                evidence[key][0] |= day
                evidence[key][1] |= month
        if start_end is not None:
            self.state.start_end_order = decide_date_order(
                table, table.columns[start_end[1]], *evidence["se"], None
            )
        if sub_col is not None:
            self.state.submitted_order = decide_date_order(table, sub_col, *evidence["sub"], None)


def prepare_import(
    path: str | Path,
    instrument: Instrument,
    options: ImportOptions | None = None,
    *,
    study_group_column: str | None = "group",
    collect: bool = False,
    progress: ProgressFn | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> PreparedImport:
    """Read, map and check a whole export without touching any store (all chunks collected).

    With ``collect=False`` and ``options.on_invalid == "error"`` the first problem is raised; otherwise
    every problem is collected and the rows carrying them are listed as quarantined.
    """
    chunks = PreparedChunks(
        path,
        instrument,
        options,
        study_group_column=study_group_column,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    parts = list(chunks)
    warnings = chunks.finish()
    prepared = merge_prepared(parts, chunks.table, chunks.mapping, warnings)
    if chunks.opts.on_invalid == "error" and not collect:
        raise_first_problem(chunks.path, prepared.problems)
    return prepared


def merge_prepared(
    parts: list[PreparedImport], header: SourceTable, cmap: ColumnMapping, warnings: list[str]
) -> PreparedImport:
    """One PreparedImport from the chunks of a file (rows stay in file order)."""
    if len(parts) == 1:
        table = parts[0].table
    else:
        table = header.chunk()
        for p in parts:
            table.data.extend(p.table.data)
            table.rows.extend(p.table.rows)
            table.problems.extend(p.table.problems)
            table.filtered.extend(p.table.filtered)
    return PreparedImport(
        table=table,
        mapping=cmap,
        responses=pd.concat([p.responses for p in parts]) if len(parts) > 1 else parts[0].responses,
        source_rows={k: v for p in parts for k, v in p.source_rows.items()},
        problems=[x for p in parts for x in p.problems],
        quarantined=[x for p in parts for x in p.quarantined],
        warnings=warnings,
        raw_ids=[x for p in parts for x in p.raw_ids],
        raw_users=[x for p in parts for x in p.raw_users],
    )


def _prepare_chunk(
    table: SourceTable, cmap: ColumnMapping, instrument: Instrument, opts: ImportOptions, state: ChunkState
) -> PreparedImport:
    """Check every cell of one chunk of data rows; clean rows become the response frame."""
    cells = Cells(table)
    ids = respondent_ids(cells, cmap, opts, state)
    groups, users = groups_and_users(cells, cmap, opts, state)
    seconds = durations(cells, cmap, state)
    submitted = submission_times(cells, cmap, state)
    values = answers(cells, cmap, instrument, state.parser)
    problems, quarantined = _split_problems(table, cells.problems, ids)
    good = [i for i in range(len(table.data)) if i not in cells.problems]
    return PreparedImport(
        table=table,
        mapping=cmap,
        responses=_clean_responses(instrument, good, ids, groups, users, seconds, submitted, values),
        source_rows={ids[i]: table.rows[i] for i in good},
        problems=problems,
        quarantined=quarantined,
        warnings=[],
        raw_ids=[r for r in ids if r],
        raw_users=[str(u) for u in users if isinstance(u, str) and u],
    )


def _static_notes(cmap: ColumnMapping, opts: ImportOptions) -> list[str]:
    """Notes that follow from the mapping and the options alone."""
    out = []
    if "respondent_id" not in cmap.meta:
        out.append(
            "no respondent id column: ids were made from row numbers (r2, r3, …); "
            "use --id-prefix to keep several such files apart"
        )
    if opts.group is not None and "group" in cmap.meta:
        out.append(f"--group {opts.group!r} overrides the file's column {cmap.meta['group']!r}")
    elif opts.group is None and "group" not in cmap.meta:
        out.append("no study-group column and no --group: respondents are stored without a group")
    return out


# -- read and map ------------------------------------------------------------------------------
def _map(
    path: Path,
    table: SourceTable,
    instrument: Instrument,
    opts: ImportOptions,
    study_group_column: str | None,
) -> ColumnMapping:
    """Map the file's columns to items and metadata; refuse a file with no item column."""
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
    return cmap


def _refuse_folded_labels(
    path: Path, instrument: Instrument, cmap: ColumnMapping, parser: AnswerParser
) -> None:
    """Refuse a file whose answer labels would silently fold a longer scale onto the instrument's."""
    folded = parser.folded_labels()
    if not folded:
        return
    value, labels = folded[0]
    raise InputError(
        path,
        f"answer labels {' and '.join(map(repr, labels))} would all be stored as {value}: the file "
        f"seems to use a longer scale than the instrument's {instrument.scale_min}–{instrument.scale_max}"
        " (a 7-point agreement scale?), and folding it would change answers silently",
        column=", ".join(cmap.items.values()) if len(cmap.items) <= 3 else None,
        expected="the instrument's answer labels, or --scale-map 'LABEL=VALUE,…' to fold them explicitly",
    )


# -- split clean rows from problem rows --------------------------------------------------------
def _split_problems(
    table: SourceTable, problems: dict[int, list[RowProblem]], ids: list[str]
) -> tuple[list[RowProblem], list[QuarantinedRow]]:
    """Every problem in row order, and one quarantined row (with its raw cells) per bad row."""
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
    return all_problems, quarantined


def _clean_responses(
    instrument: Instrument,
    good: list[int],
    ids: list[str],
    groups: list[object],
    users: list[object],
    durations: list[float],
    submitted: list[object],
    answers: np.ndarray,
) -> pd.DataFrame:
    """The clean rows as the stored response frame: metadata columns, then one column per item."""
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
    return pd.concat([frame, items], axis=1)


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
