"""Preparing a survey export for import: read → map → parse every cell → split clean rows from bad ones.

Nothing here touches a store: :func:`prepare_import` returns a :class:`PreparedImport` (clean responses,
located problems, quarantined rows, warnings) that :mod:`dancerec.survey.importer` stores in one
transaction. Each phase is its own function, in the order the file is checked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from dancerec.survey.cells import (
    DATE_ORDERS,
    AnswerParser,
    _durations_from_start_end,
    _id_text,
    column_date_order,
    parse_duration,
    parse_timestamp,
)
from dancerec.survey.instrument import Instrument
from dancerec.survey.mapping import ColumnMapping, map_columns, read_mapping_file
from dancerec.survey.readers import RowProblem, SourceTable, read_source

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
    table, cmap = _read_and_map(path, instrument, opts, study_group_column)
    report("checking", 1, 3)
    cells = _Cells(table)
    warnings: list[str] = list(table.notes)
    cleaned_ids: list[str] = []
    ids = _respondent_ids(cells, cmap, opts, warnings, cleaned_ids)
    groups, users = _groups_and_users(cells, cmap, opts, warnings, cleaned_ids)
    durations = _durations(cells, cmap, opts, warnings)
    submitted = _submission_times(cells, cmap, opts)
    answers = _answers(cells, cmap, instrument, opts, report)
    _refuse_folded_labels(path, instrument, cmap, answers.parser)
    all_problems, quarantined = _split_problems(table, cells.problems, ids)
    if opts.on_invalid == "error" and not collect:
        raise_first_problem(path, all_problems)
    good = [i for i in range(len(table.data)) if i not in cells.problems]
    responses = _clean_responses(instrument, good, ids, groups, users, durations, submitted, answers.values)
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


@dataclass
class _Cells:
    """The file's cells, read one column at a time, and the located problems found in them so far."""

    table: SourceTable
    #: data-row index → problems in that row
    problems: dict[int, list[RowProblem]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._col_index = {c: j for j, c in enumerate(self.table.columns)}

    def problem(self, i: int, column: str, text: str, expected: str | None) -> None:
        row, col = self.table.locate(i, column)
        self.problems.setdefault(i, []).append(RowProblem(row, col, text, expected))

    def values(self, column: str) -> tuple[object, ...]:
        # one column at a time, built when needed and dropped after use: a transposed copy of the
        # whole file would cost another 8 bytes per cell
        j = self._col_index[column]
        return tuple([row[j] for row in self.table.data])


@dataclass
class _Answers:
    values: np.ndarray
    parser: AnswerParser


# -- read and map ------------------------------------------------------------------------------
def _read_and_map(
    path: Path, instrument: Instrument, opts: ImportOptions, study_group_column: str | None
) -> tuple[SourceTable, ColumnMapping]:
    """Read the file and map its columns to items and metadata; refuse a file with no item column."""
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
    return table, cmap


# -- metadata cells ----------------------------------------------------------------------------
def _respondent_ids(
    cells: _Cells, cmap: ColumnMapping, opts: ImportOptions, warnings: list[str], cleaned_ids: list[str]
) -> list[str]:
    """Respondent ids (prefixed; "" where missing), with missing and duplicate ids as problems."""
    table = cells.table
    if "respondent_id" in cmap.meta:
        id_col = cmap.meta["respondent_id"]
        ids = [_id_text(v, cleaned_ids) for v in cells.values(id_col)]
        for i, rid in enumerate(ids):
            if not rid:
                cells.problem(i, id_col, "missing respondent id", "a non-empty id")
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
            cells.problem(
                i,
                id_col or "(row)",
                f"duplicate respondent id {rid!r} (first at row {first_row})",
                "unique ids",
            )
        else:
            first_seen[rid] = i
    return ids


def _groups_and_users(
    cells: _Cells, cmap: ColumnMapping, opts: ImportOptions, warnings: list[str], cleaned_ids: list[str]
) -> tuple[list[object], list[object]]:
    """Study group and recommender user id per row (NA where absent)."""
    n = len(cells.table.data)
    cleaned_groups: list[str] = []
    groups: list[object] = [pd.NA] * n
    if opts.group is not None:
        groups = [opts.group] * n
        if "group" in cmap.meta:
            warnings.append(f"--group {opts.group!r} overrides the file's column {cmap.meta['group']!r}")
    elif "group" in cmap.meta:
        groups = [(_id_text(v, cleaned_groups) or pd.NA) for v in cells.values(cmap.meta["group"])]
    else:
        warnings.append("no study-group column and no --group: respondents are stored without a group")
    users: list[object] = [pd.NA] * n
    if "user_id" in cmap.meta:
        users = [(_id_text(v, cleaned_ids) or pd.NA) for v in cells.values(cmap.meta["user_id"])]
    for what, changed in (("id", cleaned_ids), ("group name", cleaned_groups)):
        if changed:  # ids are not quoted: the note must not leak them under --pseudonymise
            example = f" (e.g. now {sorted(set(changed))[0]!r})" if what == "group name" else ""
            warnings.append(
                f"{len(changed)} {what}(s) held invisible or bidirectional control characters, removed "
                f"before comparison{example}"
            )
    return groups, users


def _durations(cells: _Cells, cmap: ColumnMapping, opts: ImportOptions, warnings: list[str]) -> list[float]:
    """Completion time in seconds per row, from a duration column or from start/end times."""
    table = cells.table
    durations = [math.nan] * len(table.data)
    if "duration_s" not in cmap.meta:
        _durations_from_start_end(table, cmap, durations, warnings, opts.date_order)
        return durations
    col = cmap.meta["duration_s"]
    seconds: dict[object, float | None] = {}
    decimal_comma = table.delimiter == ";"
    for i, v in enumerate(cells.values(col)):
        if v not in seconds:
            try:
                seconds[v] = parse_duration(v, decimal_comma) if v is not None else math.nan
            except ValueError:
                seconds[v] = None
        if seconds[v] is None:
            cells.problem(
                i,
                col,
                f"completion time {v!r} is not a duration",
                "seconds, e.g. 120 or 120秒"
                + ("; decimal comma as in 311,5" if decimal_comma else "; decimal point as in 311.5"),
            )
        else:
            durations[i] = seconds[v]
    return durations


def _submission_times(cells: _Cells, cmap: ColumnMapping, opts: ImportOptions) -> list[object]:
    """Submission time per row (NaT where absent); unreadable or ambiguous dates are problems."""
    submitted: list[object] = [pd.NaT] * len(cells.table.data)
    if "submitted_at" not in cmap.meta:
        return submitted
    col = cmap.meta["submitted_at"]
    order = column_date_order(cells.table, col, cells.values(col), opts.date_order)
    cache: dict[object, object] = {}
    for i, v in enumerate(cells.values(col)):
        if v not in cache:
            try:
                cache[v] = parse_timestamp(v, order) if v is not None else pd.NaT
            except (ValueError, TypeError, OverflowError) as exc:
                cache[v] = "ambiguous" if "ambiguous" in str(exc) else None
        if cache[v] is None:
            cells.problem(i, col, f"submission time {v!r} is not a date/time", "e.g. 2026-09-03 12:00:00")
        elif cache[v] == "ambiguous":
            cells.problem(
                i,
                col,
                f"submission time {v!r} could be day/month or month/day",
                "--dayfirst or --monthfirst to say which",
            )
        else:
            submitted[i] = cache[v]
    return submitted


# -- answer cells ------------------------------------------------------------------------------
def _answers(
    cells: _Cells, cmap: ColumnMapping, instrument: Instrument, opts: ImportOptions, report: ProgressFn
) -> _Answers:
    """Scale value of every answer cell (rows × instrument items, NaN where missing or bad)."""
    table = cells.table
    parser = AnswerParser(instrument, table, opts.missing_codes, opts.scale_map)
    answers = np.full((len(table.data), len(instrument.items)), np.nan)
    item_pos = {it.id: k for k, it in enumerate(instrument.items)}
    for done, (item_id, col) in enumerate(cmap.items.items()):
        # parse each distinct cell once, then spread by the factorised codes (fast on large files)
        codes, uniques = pd.factorize(pd.Series(cells.values(col), dtype=object), use_na_sentinel=True)
        parsed = [parser.parse(u, col) for u in uniques]
        lookup = np.array([v for v, _ in parsed] + [np.nan], dtype=float)  # code −1 (None/NaN) → NaN
        answers[:, item_pos[item_id]] = lookup[codes]
        errors = [e for _, e in parsed]
        if any(errors):
            bad = np.array([e is not None for e in errors] + [False])
            for i in np.flatnonzero(bad[codes]):
                cells.problem(int(i), col, errors[codes[i]], parser.expected)
        if done % 5 == 0:
            report("checking", 1, 3)
    return _Answers(answers, parser)


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
