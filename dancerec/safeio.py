"""Safe spreadsheet output: cells a spreadsheet program would run as formulas are neutralised.

OWASP's CSV-injection guidance: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return can be executed by Excel/LibreOffice (``=cmd|' /C calc'!A0``, ``=HYPERLINK(…)``), so
every CSV/XLSX dancerec writes prefixes such cells with a single quote, which makes the program show
them as text. Numbers (a real ``-0.5``) are not touched; only text is. For XLSX, control characters
that the file format cannot hold (openpyxl raises IllegalCharacterError) are written as visible
``\\xNN`` escapes instead of crashing the export.

Any subsystem writing a CSV/XLSX for people to open calls :func:`neutralise_frame` on the frame just
before ``to_csv``/``to_excel`` (parquet and JSON are data formats and keep the exact values).
"""

from __future__ import annotations

import re

import pandas as pd

#: first characters that make a spreadsheet cell a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# characters XML 1.0 cannot carry (the same set openpyxl refuses)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def neutralise_cell(value: object, *, xlsx: bool = False) -> object:
    """``value`` with a leading ``'`` when it is text starting like a formula; other values unchanged."""
    if not isinstance(value, str):
        return value
    if xlsx:
        value = _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if value.startswith(FORMULA_START):
        return "'" + value
    return value


def _neutralise_labels(labels: pd.Index, xlsx: bool) -> pd.Index:
    if labels.dtype == object or isinstance(labels.dtype, pd.StringDtype):
        return pd.Index([neutralise_cell(v, xlsx=xlsx) for v in labels], name=labels.name, dtype=labels.dtype)
    return labels


def neutralise_frame(frame: pd.DataFrame, *, xlsx: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index labels are safe to open.

    Only text columns (object/string dtype) are scanned, so numeric columns cost nothing.
    """
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[col] = series.map(lambda v: neutralise_cell(v, xlsx=xlsx), na_action="ignore").astype(
                series.dtype
            )
    out.columns = _neutralise_labels(out.columns, xlsx)
    out.index = _neutralise_labels(out.index, xlsx)
    return out
