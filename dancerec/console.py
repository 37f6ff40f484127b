"""Terminal output shared by the CLI and the demo: consoles, APA-formatted tables, progress bars, JSON.

Kept outside :mod:`dancerec.cli` so that the demo (and notebooks) can print what the CLI prints without
importing the command modules. Numbers follow the report's APA rules (:mod:`dancerec.reports.apa`):
p-values as ``< .001`` / ``.023``, counts as integers, bounded statistics without a leading zero.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from dancerec.reports import apa

if TYPE_CHECKING:
    from rich.progress import Progress

#: a table to print: a DataFrame, or (pandas-free) a mapping of column name -> values (numpy arrays give
#: the column types: float/int columns are numbers, anything else text)
TableLike = Any


def _pandas() -> Any:
    """pandas if something has imported it already, else None: a value cannot be a pandas object when
    pandas is not loaded, so the start-up-lean commands never pay for importing it here."""
    return sys.modules.get("pandas")


def _width(stream: object) -> int | None:
    """Terminal width on a terminal; wide enough for result tables when output goes to a file or pipe."""
    isatty = getattr(stream, "isatty", None)
    return None if isatty and isatty() else int(os.environ.get("COLUMNS", "200"))


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

#: columns holding p-values (``p``, ``p_adj``, ``p_holm``, ``p_t_holm``, ``pvalue``, ``rmsea_p`` …)
_P_COLUMN = re.compile(r"^(p|pvalue|p_value)$|^p_|_p$", re.IGNORECASE)
#: columns holding counts (``n``, ``N``, ``df``, ``n_used``, ``n_items`` …)
_COUNT_COLUMN = re.compile(r"^(n|df|k|npar|n_.*|.*_n|count|.*_count|rank|iterations)$", re.IGNORECASE)
#: statistics bounded by ±1, printed without a leading zero (APA §6.36)
_BOUNDED_COLUMN = re.compile(
    r"^(rho|r|tau|alpha|omega|omega_h|cr|ave|cfi|tli|nfi|gfi|rmsea|srmr|std|beta|power|eta2|omega2|"
    r"loading|h2|r2|kmo|msa|share|rate|fwer)(_(ci_)?(low|high))?$",
    re.IGNORECASE,
)


def _kind(values: Any) -> str:
    """ "text", "int" or "float": how a column prints (pandas' dtype rules for a pandas column)."""
    pd = _pandas()
    if pd is not None and isinstance(values, pd.Series | pd.Index | pd.DataFrame):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return "text"
        return "int" if pd.api.types.is_integer_dtype(values) else "float"
    kind = np.asarray(values).dtype.kind
    return "int" if kind in "iu" else "float" if kind == "f" else "text"


def _is_integral(values: Any) -> bool:
    pd = _pandas()
    if pd is not None and isinstance(values, pd.Series | pd.Index | pd.DataFrame):
        finite = pd.to_numeric(values, errors="coerce").dropna()
        finite = finite[np.isfinite(finite.to_numpy(dtype=float))]
        return bool(len(finite)) and bool((finite == finite.round()).all())
    arr = np.asarray(values, dtype=float)
    finite = arr[np.isfinite(arr)]
    return bool(len(finite)) and bool((finite == np.round(finite)).all())


def _is_missing(v: Any) -> bool:
    pd = _pandas()
    return v is None or (isinstance(v, float) and math.isnan(v)) or (pd is not None and v is pd.NA)


def column_formatter(name: str, values: Any, digits: int = 3) -> Callable[[Any], str]:
    """How one column is printed: p-values, counts and bounded statistics in APA style, else ``digits``.

    ``values`` is a pandas Series or a numpy array (or anything ``np.asarray`` reads)."""
    kind = _kind(values)
    if kind == "text":
        return lambda v: "" if _is_missing(v) else str(v)
    if _P_COLUMN.search(name):
        return apa.p_value
    if kind == "int" or (_COUNT_COLUMN.match(name) and _is_integral(values)):
        return apa.integer
    if _BOUNDED_COLUMN.match(name):
        return lambda v: apa.bounded(v, digits)
    return lambda v: apa.num(v, digits)


def _row_label_key(label: str) -> str:
    """A fit-table row label as a column-like name: ``"RMSEA 90% CI low"`` → ``rmsea_ci_low``."""
    text = label.lower().replace("90% ", "").replace("95% ", "")
    if text.startswith("p ") or text.startswith("p("):
        return "p"
    text = re.sub(r"\(.*?\)", "", text).strip()
    return {"n total": "n_total", "free parameters": "npar", "chi2/df": "chi2_df"}.get(
        text, re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    )


def _is_index_value(columns: list[tuple[str, Any]]) -> bool:
    """A two-column (label, value) table whose values are all numbers (or missing)."""
    if len(columns) != 2 or columns[-1][0] != "value":
        return False
    values = columns[-1][1]
    pd = _pandas()
    if pd is not None and isinstance(values, pd.Series):
        return not pd.api.types.is_bool_dtype(values) and bool(
            (pd.to_numeric(values, errors="coerce").notna() | values.isna()).all()
        )
    return _kind(values) != "text"


def _value_formatter(digits: int) -> Callable[[Any, Any], str]:
    """Formats an (index, value) table row by row, each value by what its row label names."""
    cache: dict[str, Callable[[Any], str]] = {}

    def fmt(label: Any, value: Any) -> str:
        key = _row_label_key(str(label))
        if key not in cache:
            cache[key] = column_formatter(key, np.array([value], dtype=float), digits)
        return cache[key](value)

    return fmt


def _table_columns(df: TableLike, index: bool) -> tuple[list[tuple[str, Any]], Any]:
    """(name, values) per column and an iterator over the rows, for a DataFrame or a column mapping."""
    pd = _pandas()
    if pd is not None and isinstance(df, pd.DataFrame):
        frame = df.reset_index() if index else df
        return [(str(c), frame[c]) for c in frame.columns], frame.itertuples(index=False)
    columns = [(str(k), v if isinstance(v, np.ndarray) else np.asarray(v)) for k, v in df.items()]
    return columns, zip(*(v for _, v in columns), strict=True)


def print_table(
    df: TableLike,
    title: str | None = None,
    *,
    digits: int = 3,
    index: bool = False,
    out: Console | None = None,
) -> None:
    """Render a table as a rich table, numbers in APA style (see :func:`column_formatter`).

    ``df`` is a DataFrame (``index=True`` prints its index as the first column) or a mapping of column
    name to values (numpy arrays), which prints the same way without needing pandas."""
    columns, rows = _table_columns(df, index)
    table = Table(title=title, show_lines=False, header_style="bold")
    formatters = []
    for name, values in columns:
        table.add_column(name, justify="right" if _kind(values) != "text" else "left")
        formatters.append(column_formatter(name, values, digits))
    by_row = _value_formatter(digits) if _is_index_value(columns) else None
    for row in rows:
        cells = [fmt(v) for fmt, v in zip(formatters, row, strict=True)]
        if by_row is not None:  # an (index, value) table such as a fit table: format by the row's label
            cells[-1] = by_row(row[0], row[-1])
        table.add_row(*cells)
    (out or console).print(table)


def progress() -> Progress:
    """A rich progress bar on stderr (results stay clean on stdout)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        transient=True,
    )


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from dataclasses, numpy, pandas and paths; NaN/inf become null."""
    pd = _pandas()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if pd is not None and isinstance(obj, pd.DataFrame):
        return [to_jsonable(row) for row in obj.to_dict(orient="records")]
    if pd is not None and isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, datetime | date):  # pd.Timestamp is a datetime
        return obj.isoformat()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if pd is not None and (obj is pd.NA or obj is pd.NaT):
        return None
    return str(obj)


def write_json(path: Path | None, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` (no-op when ``path`` is None)."""
    if path is None:
        return
    from dancerec.workspace import atomic_output

    text = json.dumps(to_jsonable(payload), indent=2, ensure_ascii=False) + "\n"
    with atomic_output(path) as tmp:  # never a half-written JSON file (disk full, Ctrl-C)
        tmp.write_text(text, encoding="utf-8")
