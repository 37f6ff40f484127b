"""Reading survey-platform exports into one neutral table (:class:`SourceTable`).

Two steps, both automatic and both overridable:

1. **Container**: text (CSV/TSV; encoding detected as UTF-8, UTF-8 with BOM, UTF-16 with BOM or
   GB18030 ⊇ GBK; delimiter sniffed), XLSX (openpyxl) or SPSS ``.sav`` (pyreadstat), told apart by
   their first bytes rather than the file name.
2. **Layout** (the platform's header conventions), detected on the grid of cells:
   ``qualtrics`` (row 3 holds ``{"ImportId": …}``), ``surveymonkey`` (row 2 holds "Response"),
   ``wjx`` (问卷星 metadata columns 提交答卷时间 / 所用时间 / 来自IP), ``googleforms`` (first column
   Timestamp), ``limesurvey`` (``submitdate``/``lastpage`` or ``Q1[SQ001]`` codes), ``long``
   (respondent, item, value columns) and plain ``csv`` (one header row).

The result keeps every cell as text (or a number for ``.sav``) together with the row number a person
sees in the file (header = row 1), so later checks can name the row and column of each problem.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
from dancerec.survey.instrument import normalise_text

from dancerec.errors import InputError

LAYOUTS = ("csv", "qualtrics", "surveymonkey", "limesurvey", "googleforms", "wjx", "long")
CONTAINERS = ("text", "xlsx", "sav")
#: names accepted by ``--format``: a layout, or a container (layout then detected), or an alias.
FORMATS = (*LAYOUTS, "tsv", "xlsx", "sav")
ENCODINGS_TRIED = ("utf-8-sig", "gb18030", "cp1252")
#: share of the non-ASCII characters of a GB18030 decoding that must be common Chinese (GB2312) text
#: before GB18030 is preferred over a Windows-1252 reading of the same bytes
CJK_PLAUSIBLE = 0.8

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


# -- containers --------------------------------------------------------------------------------
def sniff_container(path: Path) -> str:
    """'xlsx', 'sav' or 'text' from the file's first bytes (extension only breaks ties)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith((b"$FL2", b"$FL3")):
        return "sav"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            path,
            "this is a legacy Excel .xls (or other OLE) file, which dancerec does not read",
            expected="XLSX, CSV or SPSS .sav (save the sheet as .xlsx or CSV)",
        )
    return "text"


def _where_in_bytes(data: bytes, pos: int, delimiter: str | None) -> tuple[int, int]:
    """(1-based line, 1-based field) of byte offset ``pos``."""
    line = data.count(b"\n", 0, pos) + 1
    start = data.rfind(b"\n", 0, pos) + 1
    prefix = data[start:pos].decode("utf-8", errors="replace")
    fieldno = prefix.count(delimiter or ",") + 1
    return line, fieldno


def decode_text(path: Path, data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode an export; returns (text, encoding used). Tries UTF-8 (± BOM) then GB18030 (⊇ GBK)."""
    if not data.strip():
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(
                path, f"unknown encoding {encoding!r}", expected="e.g. utf-8, gbk, gb18030"
            ) from None
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            line, col = _where_in_bytes(data, exc.start, None)
            raise InputError(
                path,
                f"bytes that are not valid {encoding} (byte 0x{data[exc.start]:02x})",
                row=line,
                column=f"field {col}",
                expected=f"{encoding} text, or leave --encoding out to detect it",
            ) from None
    if b"\x00" in data[:65536]:
        pos = data.index(b"\x00")
        line, _ = _where_in_bytes(data, pos, None)
        raise InputError(
            path,
            "contains NUL bytes: a binary file, not a text export",
            row=line,
            expected="a CSV/TSV text file",
        )
    return _detect_decode(path, data)


def _gb2312_share(text: str) -> float:
    """Share of the non-ASCII characters of ``text`` that read as common simplified Chinese: in GB2312,
    and not wedged between two ASCII letters. A Latin-1 word read as GB18030 turns each pair of accented
    letters into one Chinese character inside the word ("Größe" → "Gr鲞e"); real Chinese text does not
    sit inside Latin words."""
    wide = [i for i, ch in enumerate(text) if ord(ch) > 127]
    if not wide:
        return 1.0
    ok = 0
    for i in wide:
        inside_word = 0 < i < len(text) - 1 and text[i - 1].isascii() and text[i - 1].isalpha()
        inside_word = inside_word and text[i + 1].isascii() and text[i + 1].isalpha()
        try:
            text[i].encode("gb2312")
            ok += not inside_word
        except UnicodeEncodeError:
            pass
    return ok / len(wide)


def _detect_decode(path: Path, data: bytes) -> tuple[str, str]:
    """UTF-8 (± BOM) first; then GB18030 or Windows-1252, whichever reading is plausible.

    Any byte string of Latin-1 letters also decodes as GB18030 ("Hörer" → "H鰎er"), so a GB18030
    reading wins only when its non-ASCII characters are mostly common Chinese (GB2312); between
    the two, charset-normalizer breaks ties.
    """
    try:
        text = data.decode("utf-8-sig")
        return text, ("utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as exc:
        first_error = exc
    readings: dict[str, str] = {}
    for enc in ("gb18030", "cp1252"):
        try:
            readings[enc] = data.decode(enc)
        except UnicodeDecodeError:
            pass
    if len(readings) == 2:
        share = _gb2312_share(readings["gb18030"])
        if share >= CJK_PLAUSIBLE:
            return readings["gb18030"], "gb18030"
        if share < 0.5:
            return readings["cp1252"], "cp1252"
        import charset_normalizer

        best = charset_normalizer.from_bytes(data[: 1 << 20], cp_isolation=["gb18030", "cp1252"]).best()
        enc = "gb18030" if best is not None and best.encoding == "gb18030" else "cp1252"
        return readings[enc], enc
    if readings:
        enc, text = next(iter(readings.items()))
        return text, enc
    line, col = _where_in_bytes(data, first_error.start, None)
    raise InputError(
        path,
        f"cannot decode the text: byte 0x{data[first_error.start]:02x} is neither UTF-8, GBK/GB18030 "
        "nor Windows-1252",
        row=line,
        column=f"field {col}",
        expected="UTF-8, UTF-8 with BOM, GBK/GB18030 or Windows-1252 text (or pass --encoding)",
    )


def sniff_delimiter(text: str, path: Path) -> str:
    """The delimiter whose field counts are most consistent over the first lines (',', tab, ';', '|')."""
    sample_lines = text[:65536].splitlines()[:30]
    sample = "\n".join(sample_lines)
    best, best_score = ",", (-1.0, 0)
    for delim in (",", "\t", ";", "|"):
        if delim not in sample:
            continue
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=delim) if r]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delim, score
    if best_score[0] < 0 and path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    return best


def _swallowed_lines(record: list[str], delim: str, width: int) -> int:
    """How many physical lines inside the quoted fields of ``record`` look like whole rows.

    A free-text answer that starts with a quote but never closes it makes the CSV reader take the
    following lines into that one field; those lines still carry a full row's worth of delimiters.
    """
    n = 0
    for cell in record:
        if "\n" not in cell and "\r" not in cell:
            continue
        for line in cell.splitlines()[1:]:
            if width > 1 and line.count(delim) >= width - 1:
                n += 1
    return n


def read_text_grid(path: Path, data: bytes, encoding: str | None) -> tuple[list[list[str]], str, str]:
    """(rows of cells, encoding, delimiter) of a delimited text export.

    Parsing is strict: an unclosed quote or text after a closing quote is an error naming the line,
    and a quoted field that spans lines which themselves look like rows is refused, so no row is
    ever merged into another silently.
    """
    text, used = decode_text(path, data, encoding)
    del data
    delim = sniff_delimiter(text, path)
    grid: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    line = 0  # physical line where the previous record ended
    width = 0
    try:
        for row in reader:
            start = line + 1
            line = reader.line_num
            if not grid:
                width = len(row)
            elif line > start and _swallowed_lines(row, delim, width):
                raise InputError(
                    path,
                    f"a quoted field that starts on line {start} runs to line {line} and swallows "
                    f"{_swallowed_lines(row, delim, width)} line(s) that look like rows "
                    "(a free-text answer starting with a quote that is never closed?)",
                    row=start,
                    expected='quotes around the whole field, with inner quotes doubled ("")',
                )
            grid.append(row)
    except csv.Error as exc:
        raise InputError(
            path,
            f"malformed CSV near line {reader.line_num}: {exc}"
            + (
                " (a field starting with a quote that is never closed?)"
                if "unexpected end" in str(exc)
                else ""
            ),
            row=line + 1,
            expected='well-formed CSV: quote whole fields and double inner quotes ("")',
        ) from None
    del text
    # drop trailing completely empty records
    while grid and all(not c.strip() for c in grid[-1]):
        grid.pop()
    return grid, used, delim


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _uncached_formulas(raw: bytes, sheet: str | None, grid: list[list[str]]) -> list[str]:
    """Cells (A1 names) holding a formula whose cached value is absent (read as empty)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        out = []
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            for j, v in enumerate(row):
                if isinstance(v, str) and v.startswith("=") and i < len(grid) and j < len(grid[i]):
                    if not grid[i][j].strip():
                        out.append(f"{get_column_letter(j + 1)}{i + 1}")
        return out
    finally:
        wb.close()


def read_xlsx_grid(path: Path, sheet: str | None = None, notes: list[str] | None = None) -> list[list[str]]:
    """Cells of the first (or the named) sheet of an XLSX workbook, as text.

    Formula cells are read through their cached values; a formula without one (a workbook written
    by a program that never calculated it) is read as empty and named in ``notes``.
    """
    import openpyxl

    # read from an in-memory copy: openpyxl then ignores the file name (an .xlsx saved as .csv works)
    # and a damaged workbook fails here, not half-way through the rows
    try:
        raw = path.read_bytes()
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            if sheet is not None and sheet not in wb.sheetnames:
                raise InputError(path, f"no sheet {sheet!r}", expected=f"one of {wb.sheetnames}")
            ws = wb[sheet] if sheet else wb.worksheets[0]
            grid = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
        uncached = _uncached_formulas(raw, sheet, grid)
        if uncached and notes is not None:
            notes.append(
                f"{len(uncached)} formula cell(s) without a calculated value read as empty: "
                + ", ".join(uncached[:10])
                + ("…" if len(uncached) > 10 else "")
                + " (open and save the workbook in a spreadsheet program to calculate them)"
            )
    except InputError:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many unrelated types for damaged files
        raise InputError(
            path, f"not a readable XLSX workbook ({type(exc).__name__}: {exc})", expected="an .xlsx file"
        ) from None
    while grid and all(not c.strip() for c in grid[-1]):
        grid.pop()
    # trailing empty columns (openpyxl reports the sheet's used range)
    width = max((max((j + 1 for j, c in enumerate(r) if c.strip()), default=0) for r in grid), default=0)
    return [r[:width] for r in grid]


# -- layouts -----------------------------------------------------------------------------------
def _norm_cells(row: list[str]) -> list[str]:
    return [normalise_text(c) for c in row]


_LS_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*\[[A-Za-z0-9_]+\]$")


def detect_layout(grid: list[list[str]]) -> str:
    """The platform layout of a grid of cells (see the module docstring)."""
    if not grid:
        return "csv"
    header = [c.strip() for c in grid[0]]
    norm = set(_norm_cells(header))
    if len(grid) >= 3 and _has_import_ids(grid[2]):
        return "qualtrics"
    if len(grid) >= 2 and "responseid" in norm and {"finished", "status", "recordeddate"} & norm:
        return "qualtrics"  # legacy export: field ids and question text, no ImportId row
    if {"提交答卷时间", "来自ip"} & norm or {"序号", "所用时间"} <= norm:
        return "wjx"
    if len(grid) >= 2 and grid[1] and not grid[1][0].strip():
        # SurveyMonkey's second header row: blank under the metadata, option labels / "Response" after
        second = set(_norm_cells(grid[1]))
        if second & {"response", "openendedresponse"} or {"respondentid", "collectorid"} <= norm:
            return "surveymonkey"
    if header and normalise_text(header[0]) in {
        "timestamp",
        "时间戳记",
        "时间戳",
        "marcatemporal",
        "horodateur",
    }:
        return "googleforms"
    if {"submitdate", "lastpage"} <= norm or {"submitdate", "startlanguage"} <= norm:
        return "limesurvey"
    if sum(bool(_LS_CODE.match(c)) for c in header) >= 3:
        return "limesurvey"
    if len(header) <= 10 and any(
        pair <= norm for pair in ({"item", "value"}, {"itemid", "value"}, {"item", "answer"})
    ):
        return "long"
    return "csv"


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for j, n in enumerate(names):
        base = n.strip() or f"column {j + 1}"
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.append(base if k == 0 else f"{base} ({k + 1})")
    return out


def _split_data(table: SourceTable, grid: list[list[str]], first: int, width: int) -> None:
    """Data rows from ``grid[first:]``; ragged rows become row problems, blank rows are skipped."""
    for r_idx in range(first, len(grid)):
        row = grid[r_idx]
        rowno = r_idx + 1
        if all(not str(c).strip() for c in row):
            continue
        if len(row) != width:
            # trailing empty cells are harmless (spreadsheets pad rows)
            if len(row) > width and all(not c.strip() for c in row[width:]):
                row = row[:width]
            elif len(row) < width:
                table.problems.append(
                    RowProblem(
                        rowno,
                        None,
                        f"ragged row: {len(row)} fields but the header has {width}",
                        expected=f"{width} fields",
                    )
                )
                continue
            else:
                table.problems.append(
                    RowProblem(
                        rowno,
                        None,
                        f"ragged row: {len(row)} fields but the header has {width}",
                        expected=f"{width} fields (quote fields that contain the delimiter)",
                    )
                )
                continue
        table.data.append(row)  # the grid row itself: no second copy of a large file
        table.rows.append(rowno)


_BRACKET = re.compile(r"^(.*?)\s*[\[［](.+?)[\]］]\s*$")
_PAREN_SUB = re.compile(r"^(?:第\s*)?(\d+)\s*(?:题)?\s*[、.:：]?\s*[(（](.+)[)）]\s*$")
_WJX_Q = re.compile(r"^\s*(\d+)\s*[、.:：]\s*(.+)$")


def _generic_candidates(name: str) -> list[str]:
    out = [name]
    m = _BRACKET.match(name)
    if m:
        out += [m.group(2), m.group(1)]
    m = _PAREN_SUB.match(name)
    if m:
        out.append(m.group(2))
    m = _WJX_Q.match(name)
    if m:
        out.append(m.group(2))
    if " - " in name:
        out.append(name.rsplit(" - ", 1)[1])
    return out


def _parse_plain(table: SourceTable, grid: list[list[str]]) -> None:
    header = grid[0]
    table.columns = _unique(header)
    table.candidates = {c: _generic_candidates(h) for c, h in zip(table.columns, header, strict=True)}
    _split_data(table, grid, 1, len(header))


def _has_import_ids(row: list[str]) -> bool:
    return any(c.strip().startswith('{"ImportId"') for c in row)


_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_NUMBER_LIKE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")
_QUALTRICS_STATUS = _QUALTRICS_KEEP | {"1", "2", "8", "9", "12", "17", "spam", "surveypreview", "surveytest"}


def _data_like_reason(header: list[str], row: list[str]) -> str | None:
    """Why ``row`` (read as Qualtrics' question-text row) looks like a response, or None.

    Qualtrics' second row holds labels such as "Start Date" and "Finished"; a row holding dates,
    True/False, status codes or mostly numbers is a respondent whose header rows were deleted.
    """
    for name, cell in zip(header, row, strict=False):
        key, value = normalise_text(name), cell.strip()
        if not value:
            continue
        if key in {"startdate", "enddate", "recordeddate"} and _DATE_LIKE.match(value):
            return f"{name} holds the date {value!r}"
        if key == "finished" and normalise_text(value) in _TRUE | _FALSE:
            return f"{name} holds {value!r}"
        if key == "status" and normalise_text(value) in _QUALTRICS_STATUS - {""}:
            return f"{name} holds the status {value!r}"
        if key in {"progress", "durationinseconds"} and _NUMBER_LIKE.match(value):
            return f"{name} holds the number {value!r}"
        if key == "responseid" and value.startswith("R_"):
            return f"{name} holds the response id {value!r}"
    cells = [c.strip() for c in row if c.strip()]
    numeric = sum(bool(_NUMBER_LIKE.match(c)) for c in cells)
    if cells and numeric / len(cells) >= 0.5:
        return f"{numeric} of its {len(cells)} non-empty cells are numbers"
    return None


def _parse_qualtrics(table: SourceTable, grid: list[list[str]]) -> None:
    n_header = 3 if len(grid) >= 3 and _has_import_ids(grid[2]) else 2
    reason = _data_like_reason(grid[0], grid[1]) if n_header == 2 and len(grid) >= 2 else None
    if reason is not None:
        if table.forced:
            raise InputError(
                table.path,
                f"--format qualtrics reads row 2 as Qualtrics' question-text row, but it looks like "
                f"a response ({reason}); it would be lost",
                row=2,
                expected="a Qualtrics export with its header rows, or --format csv for one header row",
            )
        n_header = 1
        table.notes.append(
            f"Qualtrics field names but no question-text row (row 2 is a response: {reason}); "
            "read with one header row"
        )
    width = len(grid[0])
    rows = [*grid[:n_header], *([[]] * (3 - n_header))]
    fields, texts, imports = (r + [""] * (width - len(r)) for r in rows)
    table.columns = _unique(fields)
    for c, f, t, imp in zip(table.columns, fields, texts, imports, strict=False):
        cands = [f, t]
        if " - " in t:
            cands.append(t.rsplit(" - ", 1)[1])
        try:
            import_id = json.loads(imp).get("ImportId", "") if imp.strip().startswith("{") else ""
        except (json.JSONDecodeError, AttributeError):
            import_id = ""
        if import_id:
            cands.append(str(import_id))
        table.candidates[c] = cands
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {
            "startdate",
            "enddate",
            "status",
            "ipaddress",
            "progress",
            "finished",
            "recipientlastname",
            "recipientfirstname",
            "recipientemail",
            "externalreference",
            "locationlatitude",
            "locationlongitude",
            "distributionchannel",
            "userlanguage",
            "externaldatareference",
        }
    }
    _split_data(table, grid, n_header, width)
    # filter previews/spam and unfinished responses (reported, not silently dropped)
    norm_cols = {normalise_text(c): c for c in table.columns}
    status_j = table.columns.index(norm_cols["status"]) if "status" in norm_cols else None
    finished_j = table.columns.index(norm_cols["finished"]) if "finished" in norm_cols else None
    keep_data, keep_rows = [], []
    for row, rowno in zip(table.data, table.rows, strict=True):
        if status_j is not None and normalise_text(row[status_j]) not in _QUALTRICS_KEEP:
            table.filtered.append(
                RowProblem(rowno, "Status", f"Qualtrics status {row[status_j]!r} (not a real response)")
            )
            continue
        if finished_j is not None and normalise_text(row[finished_j]) in _FALSE:
            table.filtered.append(RowProblem(rowno, "Finished", "unfinished response (Finished = False)"))
            continue
        keep_data.append(row)
        keep_rows.append(rowno)
    table.data, table.rows = keep_data, keep_rows


def _parse_surveymonkey(table: SourceTable, grid: list[list[str]]) -> None:
    width = len(grid[0])
    if len(grid) >= 2 and grid[1] and grid[1][0].strip():
        raise InputError(
            table.path,
            f"row 2 starts with {grid[1][0]!r}, but SurveyMonkey's second header row is blank under "
            "the respondent columns; it looks like a response and would be lost",
            row=2,
            expected="a SurveyMonkey export with both header rows, or --format csv for one header row",
        )
    top = grid[0] + [""] * (width - len(grid[0]))
    sub = grid[1] + [""] * (width - len(grid[1]))
    names, cands = [], []
    current = ""
    for t, s in zip(top, sub, strict=False):
        t, s = t.strip(), s.strip()
        if t:
            current = t
        q = t or current
        generic = normalise_text(s) in {"response", "openendedresponse", ""}
        if generic:
            names.append(q)
            cands.append([q])
        else:
            names.append(f"{q} - {s}")
            cands.append([s, q, f"{q} {s}"])
    table.columns = _unique(names)
    table.date_order = "monthfirst"  # SurveyMonkey writes dates as MM/DD/YYYY hh:mm:ss AM/PM
    table.candidates = dict(zip(table.columns, cands, strict=True))
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {"collectorid", "startdate", "ipaddress", "emailaddress", "firstname", "lastname", "customdata1"}
    }
    _split_data(table, grid, 2, width)


def _parse_wjx(table: SourceTable, grid: list[list[str]]) -> None:
    _parse_plain(table, grid)
    table.missing_tokens = frozenset({"-2", "-3", "(跳过)", "跳过", "(空)", "空"})
    table.platform_columns |= {
        c for c in table.columns if normalise_text(c) in {"来源", "来源详情", "来自ip", "总分"}
    }


def _parse_limesurvey(table: SourceTable, grid: list[list[str]]) -> None:
    _parse_plain(table, grid)
    table.answer_code = re.compile(r"^(?:A|AO|O)0*(\d+)$", re.IGNORECASE)
    table.platform_columns |= {
        c
        for c in table.columns
        if normalise_text(c)
        in {"lastpage", "startlanguage", "seed", "startdate", "datestamp", "ipaddr", "refurl", "token"}
    }
    norm_cols = {normalise_text(c): c for c in table.columns}
    if "submitdate" in norm_cols:
        j = table.columns.index(norm_cols["submitdate"])
        keep = [(r, n) for r, n in zip(table.data, table.rows, strict=True) if str(r[j]).strip()]
        for r, n in zip(table.data, table.rows, strict=True):
            if not str(r[j]).strip():
                table.filtered.append(RowProblem(n, "submitdate", "incomplete response (no submitdate)"))
        table.data = [r for r, _ in keep]
        table.rows = [n for _, n in keep]


def _parse_googleforms(table: SourceTable, grid: list[list[str]]) -> None:
    _parse_plain(table, grid)
    table.platform_columns |= {
        c for c in table.columns if normalise_text(c) in {"emailaddress", "电子邮件地址", "score"}
    }


LONG_RESPONDENT = (
    "respondentid",
    "respondent",
    "responseid",
    "id",
    "rid",
    "participant",
    "受访者",
    "答卷编号",
)
LONG_ITEM = ("itemid", "item", "question", "variable", "题目")
LONG_VALUE = ("value", "answer", "response", "score", "答案")


def _parse_long(table: SourceTable, grid: list[list[str]]) -> None:
    """Long format (one row per answer) pivoted to one row per respondent, remembering cell origins."""
    header = [h.strip() for h in grid[0]]
    norm = [normalise_text(h) for h in header]

    def find(names: tuple[str, ...]) -> int | None:
        for n in names:
            if n in norm:
                return norm.index(n)
        return None

    jr, ji, jv = find(LONG_RESPONDENT), find(LONG_ITEM), find(LONG_VALUE)
    if jr is None or ji is None or jv is None:
        raise InputError(
            table.path,
            "long format needs a respondent, an item and a value column",
            row=1,
            expected="columns respondent_id, item, value (plus optional group, user_id, duration_s, submitted_at)",
        )
    width = len(header)
    flat = SourceTable(table.path, "long", table.container)
    _split_data(flat, grid, 1, width)
    table.problems.extend(flat.problems)
    extra = [j for j in range(width) if j not in (jr, ji, jv)]
    extra_names = [header[j] for j in extra]
    by_resp: dict[str, int] = {}
    items: list[str] = []
    cells: dict[tuple[int, str], object] = {}
    meta_seen: dict[tuple[int, str], tuple[str, int]] = {}
    for row, rowno in zip(flat.data, flat.rows, strict=True):
        rid = str(row[jr]).strip()
        item = str(row[ji]).strip()
        if not rid:
            table.problems.append(RowProblem(rowno, header[jr], "missing respondent id", expected="an id"))
            continue
        if not item:
            table.problems.append(RowProblem(rowno, header[ji], "missing item name", expected="an item id"))
            continue
        if rid not in by_resp:
            by_resp[rid] = len(by_resp)
            table.rows.append(rowno)
        i = by_resp[rid]
        if item not in items:
            items.append(item)
        if (i, item) in cells:
            table.problems.append(
                RowProblem(
                    rowno,
                    header[ji],
                    f"item {item!r} answered twice by respondent {rid!r} (first at row {table.cell_origin[(i, item)][0]})",
                    expected="one row per respondent and item",
                    respondent_id=rid,
                )
            )
            continue
        cells[(i, item)] = row[jv]
        table.cell_origin[(i, item)] = (rowno, header[jv])
        for j, name in zip(extra, extra_names, strict=True):
            value = str(row[j]).strip()
            prev = meta_seen.get((i, name))
            if prev is None:
                meta_seen[(i, name)] = (value, rowno)
                cells[(i, name)] = value
                table.cell_origin[(i, name)] = (rowno, name)
            elif prev[0] != value:
                table.problems.append(
                    RowProblem(
                        rowno,
                        name,
                        f"{name} is {value!r} here but {prev[0]!r} at row {prev[1]} for respondent {rid!r}",
                        expected="the same value on every row of a respondent",
                        respondent_id=rid,
                    )
                )
    resp_col = header[jr]
    table.columns = _unique([resp_col, *extra_names, *items])
    table.candidates = {c: _generic_candidates(c) for c in table.columns}
    for rid, i in by_resp.items():
        row_cells: list[object] = [rid]
        row_cells += [cells.get((i, n), "") for n in extra_names]
        row_cells += [cells.get((i, it), "") for it in items]
        table.data.append(row_cells)
        table.cell_origin[(i, resp_col)] = (table.rows[i], resp_col)


_LAYOUT_PARSERS = {
    "csv": _parse_plain,
    "qualtrics": _parse_qualtrics,
    "surveymonkey": _parse_surveymonkey,
    "wjx": _parse_wjx,
    "limesurvey": _parse_limesurvey,
    "googleforms": _parse_googleforms,
    "long": _parse_long,
}
_HEADER_ROWS = {"qualtrics": 2, "surveymonkey": 2}  # minimum header rows of each layout


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


def read_source(
    path: str | Path,
    *,
    format: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> SourceTable:
    """Read any supported export; ``format`` forces a layout or a container (see :data:`FORMATS`)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not a file")
    if format is not None and format not in FORMATS:
        raise InputError(path, f"unknown format {format!r}", expected=", ".join(FORMATS))
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")
    container = sniff_container(path)
    if format == "sav" or (container == "sav" and format in (None, "sav")):
        if container != "sav":
            raise InputError(
                path, "--format sav given but the file is not an SPSS .sav file", expected="an .sav file"
            )
        return read_sav(path)
    if format == "xlsx" and container != "xlsx":
        raise InputError(
            path, "--format xlsx given but the file is not an XLSX workbook", expected="an .xlsx file"
        )
    if container == "sav":
        raise InputError(
            path, f"--format {format} given but the file is an SPSS .sav file", expected="--format sav"
        )
    if container == "xlsx":
        xlsx_notes: list[str] = []
        grid, used, delim = read_xlsx_grid(path, sheet, xlsx_notes), None, None
    else:
        grid, used, delim = read_text_grid(path, path.read_bytes(), encoding)
    if not grid:
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")
    layout = format if format in LAYOUTS else detect_layout(grid)
    if format == "tsv":
        layout = detect_layout(grid)
    n_header = _HEADER_ROWS.get(layout, 1)
    if layout == "qualtrics" and len(grid) >= 3 and _has_import_ids(grid[2]):
        n_header = 3
    if len(grid) < n_header:
        raise InputError(
            path,
            f"{layout} layout needs {n_header} header rows but the file has {len(grid)} row(s)",
            row=len(grid),
            expected=f"{n_header} header rows",
        )
    if all(not c.strip() for c in grid[0]):
        raise InputError(path, "the header row is empty", row=1, expected="column names")
    table = SourceTable(path, layout, container, encoding=used, delimiter=delim, forced=format in LAYOUTS)
    if container == "xlsx":
        table.notes.extend(xlsx_notes)
    if used == "cp1252":
        table.notes.append("decoded as Windows-1252 (not UTF-8; not plausible as GBK/GB18030 Chinese text)")
    _LAYOUT_PARSERS[layout](table, grid)
    if not table.data and not table.problems:
        raise InputError(
            path,
            "no data rows"
            + (f" ({len(table.filtered)} row(s) filtered as previews/unfinished)" if table.filtered else ""),
            row=n_header + 1,
            expected="at least one response",
        )
    return table
