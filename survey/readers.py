"""Reading survey-platform exports into one neutral table (:class:`SourceTable`).

Two steps, both automatic and both overridable:

1. **Container**: text (CSV/TSV; encoding detected as UTF-8, UTF-8 with BOM, UTF-16 with BOM,
   GB18030 ⊇ GBK or Windows-1252; delimiter sniffed), XLSX (openpyxl) or SPSS ``.sav`` (pyreadstat),
   told apart by their first bytes rather than the file name (:mod:`.readers_text`).
2. **Layout** (the platform's header conventions), detected on the first rows (:mod:`.layouts`).

The result keeps every cell as text (or a number for ``.sav``) together with the row number a person
sees in the file (header = row 1), so later checks can name the row and column of each problem.

:func:`open_source` reads the header and hands out the data rows in chunks of a bounded number of
rows, streamed from the file each time they are asked for (text exports in any layout but ``long``);
XLSX, ``.sav`` and long-format files are read whole and come as one chunk. :func:`read_source`
collects every chunk into one table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path

import numpy as np
from dancerec.survey.layouts import (
    HEADER_ROWS,
    LAYOUT_FILTERS,
    LAYOUT_HEADERS,
    _generic_candidates,
    _has_import_ids,
    detect_layout,
    parse_long,
    split_rows,
)
from dancerec.survey.readers_text import (
    CJK_PLAUSIBLE,
    ENCODINGS_TRIED,
    _cell_text,
    detect_encoding,
    iter_text_records,
    read_xlsx_grid,
    sniff_container,
    sniff_delimiter,
    text_sample,
)
from dancerec.survey.source import CONTAINERS, FORMATS, LAYOUTS, RowProblem, SourceTable

from dancerec.errors import InputError

__all__ = [
    "CJK_PLAUSIBLE",
    "CONTAINERS",
    "ENCODINGS_TRIED",
    "FORMATS",
    "LAYOUTS",
    "RowProblem",
    "SourceStream",
    "SourceTable",
    "detect_layout",
    "open_source",
    "read_sav",
    "read_source",
    "sniff_container",
]

#: data rows per chunk when a caller does not say
CHUNK_ROWS = 20_000


def read_sav(path: Path) -> SourceTable:
    """An SPSS .sav file: codes kept, value labels and user-defined missing values remembered."""
    import pyreadstat

    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True, apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own ReadstatError / PyreadstatError types
        raise InputError(
            path, f"not a readable SPSS .sav file ({exc})", expected="an SPSS .sav file"
        ) from None
    if df.shape[0] == 0:
        raise InputError(path, "the file has no cases", expected="at least one data row")
    table = SourceTable(path, "sav", "sav", encoding=getattr(meta, "file_encoding", None))
    table.columns = [str(c) for c in df.columns]
    labels = meta.column_names_to_labels or {}
    for c in table.columns:
        label = labels.get(c) or ""
        table.candidates[c] = [c, *(_generic_candidates(label) if label else [])]
    table.value_labels = {
        str(k): {float(code): str(lab) for code, lab in v.items() if isinstance(code, int | float)}
        for k, v in (meta.variable_value_labels or {}).items()
    }
    missing_ranges = getattr(meta, "missing_ranges", None) or {}
    for col, ranges in missing_ranges.items():
        spans = [(r["lo"], r["hi"]) for r in ranges if isinstance(r.get("lo"), int | float)]
        if spans:
            table.user_missing[str(col)] = lambda x, s=tuple(spans): any(lo <= x <= hi for lo, hi in s)
    data = []
    for rec in df.itertuples(index=False):
        row = []
        for v in rec:
            if isinstance(v, float) and np.isnan(v):
                row.append(None)
            elif isinstance(v, datetime | date):
                row.append(_cell_text(v))
            elif isinstance(v, int | float | np.integer | np.floating):
                row.append(float(v))
            else:
                row.append(v)
        data.append(row)
    table.data = data
    table.rows = list(range(2, len(data) + 2))  # case 1 = row 2, as in a spreadsheet view
    return table


@dataclass
class SourceStream:
    """An opened export: its header (a table without data rows) and its data rows in chunks."""

    header: SourceTable
    n_header: int
    #: a fresh stream of the file's records (text exports); None when the file was read whole
    records: Callable[[list[int]], Iterator[list[str]]] | None = None
    #: the whole table (XLSX, .sav, long format)
    whole: SourceTable | None = None
    size: int = 0
    #: [bytes of the file read so far] while chunks are streamed
    position: list[int] = field(default_factory=lambda: [0])

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[SourceTable]:
        """The data rows, ``chunk_rows`` file rows at a time (at least one chunk, maybe empty)."""
        if self.whole is not None:
            yield self.whole
            return
        assert self.records is not None
        chunk_rows = max(1, int(chunk_rows))
        self.position[0] = 0
        records = self.records(self.position)
        batch: list[tuple[int, list[str]]] = []
        sent = False
        try:
            for rowno, row in enumerate(records, start=1):
                if rowno <= self.n_header:
                    continue
                batch.append((rowno, row))
                if len(batch) >= chunk_rows:
                    yield self._chunk(batch)
                    batch, sent = [], True
            if batch or not sent:
                yield self._chunk(batch)
        finally:
            records.close()  # type: ignore[attr-defined]

    def _chunk(self, batch: list[tuple[int, list[str]]]) -> SourceTable:
        table = self.header.chunk()
        split_rows(table, batch, table.width)
        if table.layout in LAYOUT_FILTERS:
            LAYOUT_FILTERS[table.layout](table)
        return table

    def refuse_empty(self, n_data: int, n_problems: int, n_filtered: int) -> None:
        """Raise when the file held no data row at all (after reading every chunk)."""
        if n_data or n_problems:
            return
        raise InputError(
            self.header.path,
            "no data rows"
            + (f" ({n_filtered} row(s) filtered as previews/unfinished)" if n_filtered else ""),
            row=self.n_header + 1,
            expected="at least one response",
        )


def _check_path(path: Path, format: str | None) -> None:
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if format is not None and format not in FORMATS:
        raise InputError(path, f"unknown format {format!r}", expected=", ".join(FORMATS))
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")


def _container(path: Path, format: str | None) -> str:
    """The container, checked against a ``--format`` that names one."""
    container = sniff_container(path)
    if format == "sav" and container != "sav":
        raise InputError(
            path, "--format sav given but the file is not an SPSS .sav file", expected="an .sav file"
        )
    if format == "xlsx" and container != "xlsx":
        raise InputError(
            path, "--format xlsx given but the file is not an XLSX workbook", expected="an .xlsx file"
        )
    if container == "sav" and format not in (None, "sav"):
        raise InputError(
            path, f"--format {format} given but the file is an SPSS .sav file", expected="--format sav"
        )
    return container


def _strip_blank_tail(rows: list[list[str]]) -> list[list[str]]:
    while rows and all(not c.strip() for c in rows[-1]):
        rows.pop()
    return rows


def _text_records(path: Path, used: str, delim: str) -> Callable[[list[int]], Iterator[list[str]]]:
    return lambda position: iter_text_records(path, used, delim, position)


def open_source(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> SourceStream:
    """Open any supported export: header read and checked, data rows left for :meth:`SourceStream.chunks`."""
    path = Path(path)
    _check_path(path, format)
    container = _container(path, format)
    if container == "sav":
        table = read_sav(path)
        return SourceStream(table, 1, whole=table, size=path.stat().st_size)
    notes: list[str] = []
    grid: list[list[str]] | None = None
    used = delim = None
    records = None
    if container == "xlsx":
        grid = read_xlsx_grid(path, sheet, notes)
        head = grid[:4]
    else:
        used = detect_encoding(path, encoding)
        delim = sniff_delimiter(text_sample(path, used), path)
        records = _text_records(path, used, delim)
        first = records([0])
        head = list(islice(first, 4))
        first.close()  # type: ignore[attr-defined]
        if len(head) < 4:
            _strip_blank_tail(head)
    if not head:
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")
    layout = format if format in LAYOUTS else detect_layout(head)
    n_header = HEADER_ROWS.get(layout, 1)
    if layout == "qualtrics" and len(head) >= 3 and _has_import_ids(head[2]):
        n_header = 3
    if len(head) < n_header:
        raise InputError(
            path,
            f"{layout} layout needs {n_header} header rows but the file has {len(head)} row(s)",
            row=len(head),
            expected=f"{n_header} header rows",
        )
    if all(not c.strip() for c in head[0]):
        raise InputError(path, "the header row is empty", row=1, expected="column names")
    table = SourceTable(path, layout, container, encoding=used, delimiter=delim, forced=format in LAYOUTS)
    table.notes.extend(notes)
    if used == "cp1252":
        table.notes.append("decoded as Windows-1252 (not UTF-8; not plausible as GBK/GB18030 Chinese text)")
    size = path.stat().st_size
    if layout == "long":
        whole = table
        parse_long(whole, _strip_blank_tail(grid if grid is not None else list(records([0]))))
        return SourceStream(table.chunk(), 1, whole=whole, size=size)
    n_header = LAYOUT_HEADERS[layout](table, head)
    stream = SourceStream(table, n_header, records=records, size=size)
    if grid is not None:
        rows = ((i + 1, r) for i, r in enumerate(_strip_blank_tail(grid)) if i >= n_header)
        stream.whole = table.chunk()
        split_rows(stream.whole, rows, table.width)
        if layout in LAYOUT_FILTERS:
            LAYOUT_FILTERS[layout](stream.whole)
    return stream


def read_source(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> SourceTable:
    """Read any supported export whole; ``format`` forces a layout or a container (see :data:`FORMATS`)."""
    stream = open_source(path, format=format, encoding=encoding, sheet=sheet)
    table = stream.header.chunk()
    for chunk in stream.chunks(CHUNK_ROWS):
        if chunk is stream.whole:
            table = chunk
            break
        table.data.extend(chunk.data)
        table.rows.extend(chunk.rows)
        table.problems.extend(chunk.problems)
        table.filtered.extend(chunk.filtered)
    stream.refuse_empty(len(table.data), len(table.problems), len(table.filtered))
    return table
