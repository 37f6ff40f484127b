"""Shared CLI plumbing: the --study/--json options, JSON output, rich tables, progress, demo context."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dancerec.workspace import Study


def _width(stream: object) -> int | None:
    """Terminal width on a terminal; wide enough for result tables when output goes to a file or pipe."""
    isatty = getattr(stream, "isatty", None)
    return None if isatty and isatty() else int(os.environ.get("COLUMNS", "200"))


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

StudyOption = Annotated[
    Path | None,
    typer.Option(
        "--study",
        envvar="DANCEREC_STUDY",
        help="Study folder (default: $DANCEREC_STUDY, else the current folder).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    Path | None,
    typer.Option("--json", help="Also write machine-readable results to this JSON file.", show_default=False),
]


def open_study(path: Path | None) -> Study:
    return Study.locate(path)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types from dataclasses, numpy, pandas and paths; NaN/inf become null."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(row) for row in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
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
    if isinstance(obj, datetime | date | pd.Timestamp):
        return obj.isoformat()
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
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


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, float | np.floating):
        return "" if not math.isfinite(value) else f"{value:.{digits}f}"
    return "" if value is None or value is pd.NA else str(value)


def print_table(
    df: pd.DataFrame,
    title: str | None = None,
    *,
    digits: int = 3,
    index: bool = False,
    out: Console = console,
) -> None:
    """Render a DataFrame as a rich table (numbers rounded to ``digits``)."""
    frame = df.reset_index() if index else df
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(str(col), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_fmt(v, digits) for v in row))
    out.print(table)


def progress() -> Progress:
    """A rich progress bar on stderr (results stay clean on stdout)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console,
        transient=True,
    )


@dataclass
class DemoContext:
    """State passed between demo steps: the study, shared intermediate results, outputs to list."""

    study: Study
    out: Console
    data: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    title: str
    run: Callable[[DemoContext], None]
