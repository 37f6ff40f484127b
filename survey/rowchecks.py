"""Checking the metadata and answer cells of one chunk of data rows, with the little state that must
carry from chunk to chunk (ids met so far, the answer parser's labels, counts for the notes).

Nothing here holds a whole file: :class:`ChunkState` keeps one 16-byte digest and one row number per
respondent id, a few counters, and the day/month order of the date columns decided beforehand from
the whole column (:func:`dancerec.survey.prepare.prepare_chunks` reads the file twice when needed).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from dancerec.survey.cells import (
    AnswerParser,
    _id_text,
    durations_from_start_end,
    parse_duration,
    parse_timestamp,
)
from dancerec.survey.instrument import Instrument
from dancerec.survey.mapping import ColumnMapping
from dancerec.survey.source import RowProblem, SourceTable

if TYPE_CHECKING:
    from dancerec.survey.prepare import ImportOptions


class SeenIds:
    """Respondent ids met so far, as sorted 128-bit BLAKE2b digests with the file row of each.

    A set of the id strings would cost ~100 bytes per respondent in Python objects; 24 bytes per id
    here. Two different ids share a digest with probability ~n²/2¹²⁹ (negligible for any survey).
    """

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype="S16")
        self.rows = np.empty(0, dtype=np.int64)

    def first_rows(self, ids: list[str], rows: list[int]) -> list[int | None]:
        """For each id, the row where it was first met (earlier chunk or earlier in ``ids``), or None
        for a first occurrence (which is then remembered); empty ids are skipped (None)."""
        digests = np.array([hashlib.blake2b(r.encode(), digest_size=16).digest() for r in ids], dtype="S16")
        pos = np.searchsorted(self.keys, digests)
        hit = pos < len(self.keys)
        hit[hit] = self.keys[pos[hit]] == digests[hit]
        local: dict[str, int] = {}
        out: list[int | None] = []
        new_keys, new_rows = [], []
        for k, (rid, row) in enumerate(zip(ids, rows, strict=True)):
            if not rid:
                out.append(None)
            elif hit[k]:
                out.append(int(self.rows[pos[k]]))
            elif rid in local:
                out.append(local[rid])
            else:
                local[rid] = row
                new_keys.append(digests[k])
                new_rows.append(row)
                out.append(None)
        if new_keys:  # merge the sorted new digests in (one copy; re-sorting everything took ~1 s per chunk)
            keys, rows_new = np.array(new_keys, dtype="S16"), np.array(new_rows, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            at = np.searchsorted(self.keys, keys[order])
            self.keys = np.insert(self.keys, at, keys[order])
            self.rows = np.insert(self.rows, at, rows_new[order])
        return out


@dataclass
class ChunkState:
    """What one chunk's checks need from the chunks before it (all small)."""

    parser: AnswerParser
    #: day/month order of the submission-time column and of the start/end columns (decided up front)
    submitted_order: str | None = None
    start_end_order: str | None = None
    start_end: tuple[int, int] | None = None
    seen: SeenIds = field(default_factory=SeenIds)
    n_cleaned_ids: int = 0
    n_cleaned_groups: int = 0
    cleaned_group_example: str | None = None
    n_bad_start_end: int = 0

    def notes(self, table: SourceTable) -> list[str]:
        """The notes that count over the whole file (written after the last chunk)."""
        out = []
        if self.n_cleaned_ids:  # ids are not quoted: the note must not leak them under --pseudonymise
            out.append(
                f"{self.n_cleaned_ids} id(s) held invisible or bidirectional control characters, removed "
                "before comparison"
            )
        if self.n_cleaned_groups:
            out.append(
                f"{self.n_cleaned_groups} group name(s) held invisible or bidirectional control characters, "
                f"removed before comparison (e.g. now {self.cleaned_group_example!r})"
            )
        if self.start_end is not None:
            start, end = (table.columns[j] for j in self.start_end)
            bad = self.n_bad_start_end
            out.append(
                f"completion time taken as {end} − {start}"
                + (f" ({bad} row(s) with unreadable dates left without one)" if bad else "")
            )
        return out


@dataclass
class Cells:
    """One chunk's cells, read one column at a time, and the located problems found in them so far."""

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
        # whole chunk would cost another 8 bytes per cell
        j = self._col_index[column]
        return tuple([row[j] for row in self.table.data])


def respondent_ids(cells: Cells, cmap: ColumnMapping, opts: ImportOptions, state: ChunkState) -> list[str]:
    """Respondent ids (prefixed; "" where missing), with missing and duplicate ids as problems."""
    table = cells.table
    id_col = cmap.meta.get("respondent_id")
    if id_col is not None:
        changed: list[str] = []
        ids = [_id_text(v, changed) for v in cells.values(id_col)]
        state.n_cleaned_ids += len(changed)
        for i, rid in enumerate(ids):
            if not rid:
                cells.problem(i, id_col, "missing respondent id", "a non-empty id")
    else:
        ids = [f"r{row}" for row in table.rows]
    ids = [f"{opts.id_prefix}{rid}" if rid else "" for rid in ids]
    for i, first_row in enumerate(state.seen.first_rows(ids, table.rows)):
        if first_row is not None:
            cells.problem(
                i,
                id_col or "(row)",
                f"duplicate respondent id {ids[i]!r} (first at row {first_row})",
                "unique ids",
            )
    return ids


def groups_and_users(
    cells: Cells, cmap: ColumnMapping, opts: ImportOptions, state: ChunkState
) -> tuple[list[object], list[object]]:
    """Study group and recommender user id per row (NA where absent)."""
    n = len(cells.table.data)
    groups: list[object] = [pd.NA] * n
    if opts.group is not None:
        groups = [opts.group] * n
    elif "group" in cmap.meta:
        changed: list[str] = []
        groups = [(_id_text(v, changed) or pd.NA) for v in cells.values(cmap.meta["group"])]
        state.n_cleaned_groups += len(changed)
        if changed:
            example = min(changed)
            if state.cleaned_group_example is None or example < state.cleaned_group_example:
                state.cleaned_group_example = example
    users: list[object] = [pd.NA] * n
    if "user_id" in cmap.meta:
        changed_users: list[str] = []
        users = [(_id_text(v, changed_users) or pd.NA) for v in cells.values(cmap.meta["user_id"])]
        state.n_cleaned_ids += len(changed_users)
    return groups, users


def durations(cells: Cells, cmap: ColumnMapping, state: ChunkState) -> list[float]:
    """Completion time in seconds per row, from a duration column or from start/end times."""
    table = cells.table
    out = [math.nan] * len(table.data)
    if "duration_s" not in cmap.meta:
        if state.start_end is not None:
            state.n_bad_start_end += durations_from_start_end(
                table, state.start_end, state.start_end_order, out
            )
        return out
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
            out[i] = seconds[v]
    return out


def submission_times(cells: Cells, cmap: ColumnMapping, state: ChunkState) -> list[object]:
    """Submission time per row (NaT where absent); unreadable or ambiguous dates are problems."""
    submitted: list[object] = [pd.NaT] * len(cells.table.data)
    if "submitted_at" not in cmap.meta:
        return submitted
    col = cmap.meta["submitted_at"]
    cache: dict[object, object] = {}
    for i, v in enumerate(cells.values(col)):
        if v not in cache:
            try:
                cache[v] = parse_timestamp(v, state.submitted_order) if v is not None else pd.NaT
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


def answers(cells: Cells, cmap: ColumnMapping, instrument: Instrument, parser: AnswerParser) -> np.ndarray:
    """Scale value of every answer cell (rows × instrument items, NaN where missing or bad)."""
    table = cells.table
    out = np.full((len(table.data), len(instrument.items)), np.nan)
    item_pos = {it.id: k for k, it in enumerate(instrument.items)}
    for item_id, col in cmap.items.items():
        # parse each distinct cell once, then spread by the factorised codes (fast on large files)
        codes, uniques = pd.factorize(pd.Series(cells.values(col), dtype=object), use_na_sentinel=True)
        parsed = [parser.parse(u, col) for u in uniques]
        lookup = np.array([v for v, _ in parsed] + [np.nan], dtype=float)  # code −1 (None/NaN) → NaN
        out[:, item_pos[item_id]] = lookup[codes]
        errors = [e for _, e in parsed]
        if any(errors):
            bad = np.array([e is not None for e in errors] + [False])
            for i in np.flatnonzero(bad[codes]):
                cells.problem(int(i), col, errors[codes[i]], parser.expected)
    return out
