"""The neutral table a survey export is read into (:class:`SourceTable`) and located row problems.

Split out of :mod:`dancerec.survey.readers` so the container readers (:mod:`.readers_text`) and the
platform layouts (:mod:`.layouts`) can share it; ``readers`` re-exports everything here.

A table holds either the whole file's data rows or one chunk of them (see
:func:`dancerec.survey.readers.open_source`): the header fields (columns, candidates, layout…) are the
same for every chunk, ``data``/``rows``/``problems``/``filtered`` belong to the chunk.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LAYOUTS = ("csv", "qualtrics", "surveymonkey", "limesurvey", "googleforms", "wjx", "long")
CONTAINERS = ("text", "xlsx", "sav")
#: names accepted by ``--format``: a layout, or a container (layout then detected), or an alias.
FORMATS = (*LAYOUTS, "tsv", "xlsx", "sav")

# Qualtrics `Status`: keep real responses (0 IP Address, 4 Imported, 16 Offline); drop previews,
# tests and spam (1, 2, 8, 9, 12, 17 and their text forms).
_QUALTRICS_KEEP = {"0", "4", "16", "ipaddress", "imported", "offline", ""}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


@dataclass
class RowProblem:
    """A problem tied to one data row (and maybe one column)."""

    row: int | None
    column: str | None
    problem: str
    expected: str | None = None
    respondent_id: str | None = None


@dataclass
class SourceTable:
    """A survey export read into cells, before any mapping to the instrument."""

    path: Path
    layout: str
    container: str
    encoding: str | None = None
    delimiter: str | None = None
    columns: list[str] = field(default_factory=list)
    #: number of fields of the header (data rows with another number are ragged)
    width: int = 0
    #: labels usable to map each column (field id, question text, sub-question, import id…)
    candidates: dict[str, list[str]] = field(default_factory=dict)
    #: data[i][j]: cell of data row i, column j (str, or float/None for .sav)
    data: list[list[object]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    filtered: list[RowProblem] = field(default_factory=list)
    value_labels: dict[str, dict[float, str]] = field(default_factory=dict)
    user_missing: dict[str, Callable[[float], bool]] = field(default_factory=dict)
    missing_tokens: frozenset[str] = frozenset()
    answer_code: re.Pattern[str] | None = None
    #: columns known to be platform metadata that dancerec does not use
    platform_columns: set[str] = field(default_factory=set)
    #: the layout was forced with --format (header rows are then verified, never guessed)
    forced: bool = False
    #: the platform's documented day/month order for dates like 03/02/2026 (None: unknown)
    date_order: str | None = None
    #: notes about how the file was read (shown with the import report)
    notes: list[str] = field(default_factory=list)
    #: long layout: (data row index, column) -> (file row, file column name)
    cell_origin: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)

    def locate(self, i: int, column: str) -> tuple[int | None, str]:
        """File row and column name of data cell (i, column)."""
        if self.cell_origin:
            return self.cell_origin.get((i, column), (self.rows[i] if i < len(self.rows) else None, column))
        return (self.rows[i] if i < len(self.rows) else None), column

    def column_values(self, column: str) -> list[object]:
        j = self.columns.index(column)
        return [r[j] for r in self.data]

    def chunk(self) -> SourceTable:
        """An empty table with this one's header fields, to be filled with one chunk of rows."""
        return dataclasses.replace(self, data=[], rows=[], problems=[], filtered=[], cell_origin={})
