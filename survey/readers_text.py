"""Containers of survey exports: telling them apart, and reading delimited text as a stream.

Text exports are never held whole: the encoding is decided in one binary pass over the file
(keeping only counts), and the CSV records are then parsed from a text stream one at a time
(:func:`iter_text_records`), so a large export costs a bounded amount of memory. XLSX workbooks are
read whole through openpyxl (its read-only mode streams the rows, but the cached-formula check needs
a second look at the sheet).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from pathlib import Path

from dancerec.errors import InputError

ENCODINGS_TRIED = ("utf-8-sig", "gb18030", "cp1252")
#: share of the non-ASCII characters of a GB18030 decoding that must be common Chinese (GB2312) text
#: before GB18030 is preferred over a Windows-1252 reading of the same bytes
CJK_PLAUSIBLE = 0.8
#: bytes read at a time while scanning a text export
BLOCK = 1 << 20
#: the codec that reads each detected encoding (a UTF-8 BOM is dropped either way)
_CODEC = {"utf-8": "utf-8-sig"}


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


def _where_in_file(path: Path, pos: int, delimiter: str | None) -> tuple[int, int]:
    """(1-based line, 1-based field) of byte offset ``pos`` of the file (read in blocks)."""
    line, start, done = 1, 0, 0
    with open(path, "rb") as fh:
        while done < pos:
            block = fh.read(min(BLOCK, pos - done))
            if not block:
                break
            line += block.count(b"\n")
            nl = block.rfind(b"\n")
            if nl >= 0:
                start = done + nl + 1
            done += len(block)
        fh.seek(start)
        prefix = fh.read(pos - start).decode("utf-8", errors="replace")
    return line, prefix.count(delimiter or ",") + 1


def _scan(path: Path, encoding: str, on_text: Callable[[str], None] | None = None) -> int | None:
    """Decode the whole file in blocks; the byte offset of the first undecodable byte, or None."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(BLOCK)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return max(offset - pending + exc.start, 0)
            if on_text is not None and text:
                on_text(text)
            if not block:
                return None
            offset += len(block)


def _byte_at(path: Path, pos: int) -> int:
    with open(path, "rb") as fh:
        fh.seek(pos)
        b = fh.read(1)
    return b[0] if b else 0


class _Gb2312Share:
    """Running share of the non-ASCII characters of a text that read as common simplified Chinese:
    in GB2312, and not wedged between two ASCII letters. A Latin-1 word read as GB18030 turns each
    pair of accented letters into one Chinese character inside the word ("Größe" → "Gr鲞e"); real
    Chinese text does not sit inside Latin words. Fed block by block, the last character of a block
    waits for its right-hand neighbour."""

    def __init__(self) -> None:
        self.wide = self.ok = 0
        self.carry = ""  # up to two characters: the left neighbour and the one not yet counted

    def feed(self, text: str, final: bool = False) -> None:
        buf = self.carry + text
        first = 1 if len(self.carry) == 2 else 0
        last = len(buf) if final else len(buf) - 1
        for i in range(first, last):
            ch = buf[i]
            if ord(ch) <= 127:
                continue
            self.wide += 1
            inside = 0 < i < len(buf) - 1 and buf[i - 1].isascii() and buf[i - 1].isalpha()
            inside = inside and buf[i + 1].isascii() and buf[i + 1].isalpha()
            try:
                ch.encode("gb2312")
                self.ok += not inside
            except UnicodeEncodeError:
                pass
        self.carry = buf[-2:] if len(buf) >= 2 else buf

    @property
    def share(self) -> float:
        return self.ok / self.wide if self.wide else 1.0


def _gb2312_share(text: str) -> float:
    s = _Gb2312Share()
    s.feed(text, final=True)
    return s.share


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding of a text export, decided in one pass that keeps only counts.

    ``encoding`` (``--encoding``) is checked against every byte. Otherwise: UTF-16 with a BOM; UTF-8
    (± BOM); then GB18030 (⊇ GBK) or Windows-1252, whichever reading is plausible. Any byte string of
    Latin-1 letters also decodes as GB18030 ("Hörer" → "H鰎er"), so a GB18030 reading wins only when
    its non-ASCII characters are mostly common Chinese (GB2312); between the two, charset-normalizer
    breaks ties on the first MiB.
    """
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.strip() and path.stat().st_size <= len(head):
        raise InputError(path, "the file is empty", expected="a header row and at least one data row")
    if encoding is None and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    if encoding:
        return _check_given(path, encoding)
    if b"\x00" in head:
        line, _ = _where_in_file(path, head.index(b"\x00"), None)
        raise InputError(
            path,
            "contains NUL bytes: a binary file, not a text export",
            row=line,
            expected="a CSV/TSV text file",
        )
    first_error = _scan(path, "utf-8-sig")
    if first_error is None:
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    gb = _Gb2312Share()
    readable = [
        enc
        for enc in ("gb18030", "cp1252")
        if _scan(path, enc, gb.feed if enc == "gb18030" else None) is None
    ]
    gb.feed("", final=True)
    if len(readable) == 2:
        if gb.share >= CJK_PLAUSIBLE:
            return "gb18030"
        if gb.share < 0.5:
            return "cp1252"
        import charset_normalizer

        with open(path, "rb") as fh:
            best = charset_normalizer.from_bytes(fh.read(1 << 20), cp_isolation=["gb18030", "cp1252"]).best()
        return "gb18030" if best is not None and best.encoding == "gb18030" else "cp1252"
    if readable:
        return readable[0]
    line, col = _where_in_file(path, first_error, None)
    raise InputError(
        path,
        f"cannot decode the text: byte 0x{_byte_at(path, first_error):02x} is neither UTF-8, GBK/GB18030 "
        "nor Windows-1252",
        row=line,
        column=f"field {col}",
        expected="UTF-8, UTF-8 with BOM, GBK/GB18030 or Windows-1252 text (or pass --encoding)",
    )


def _check_given(path: Path, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(
            path, f"unknown encoding {encoding!r}", expected="e.g. utf-8, gbk, gb18030"
        ) from None
    bad = _scan(path, encoding)
    if bad is not None:
        line, col = _where_in_file(path, bad, None)
        raise InputError(
            path,
            f"bytes that are not valid {encoding} (byte 0x{_byte_at(path, bad):02x})",
            row=line,
            column=f"field {col}",
            expected=f"{encoding} text, or leave --encoding out to detect it",
        )
    return encoding


def codec_for(encoding: str) -> str:
    """The codec that reads a file of the detected ``encoding`` (UTF-8 also drops a BOM)."""
    return _CODEC.get(encoding, encoding)


def text_sample(path: Path, encoding: str, chars: int = 65536) -> str:
    """The first ``chars`` characters of the file (for sniffing the delimiter)."""
    with open(path, encoding=codec_for(encoding), newline="") as fh:
        return fh.read(chars)


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (progress of a streamed import)."""

    def __init__(self, fh: io.BufferedReader) -> None:
        self.fh = fh
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = self.fh.readinto(b)
        self.bytes_read += n or 0
        return n


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


def iter_text_records(
    path: Path, encoding: str, delim: str, position: list[int] | None = None
) -> Iterator[list[str]]:
    """The CSV records of a text export, parsed strictly from a stream, one at a time.

    An unclosed quote or text after a closing quote is an error naming the line, and a quoted field
    that spans lines which themselves look like rows is refused, so no row is ever merged into
    another silently. ``position``, when given, is kept at [bytes read so far].
    """
    with open(path, "rb") as raw:
        counter = _CountingReader(raw)
        fh = io.TextIOWrapper(io.BufferedReader(counter, BLOCK), encoding=codec_for(encoding), newline="")
        reader = csv.reader(fh, delimiter=delim, strict=True)
        line = 0  # physical line where the previous record ended
        width = None
        try:
            for row in reader:
                start = line + 1
                line = reader.line_num
                if width is None:
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
                if position is not None:
                    position[0] = counter.bytes_read
                yield row
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
