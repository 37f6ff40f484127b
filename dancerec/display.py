"""Notebook display for result objects: a readable HTML table in Jupyter and a lavaan-like ``summary()``.

A result class opts in by inheriting :class:`DisplayMixin` and implementing ONE method::

    def summary_frames(self) -> dict[str, pd.DataFrame]:
        '''Heading → table, in the order a reader should see them.'''

and, optionally, ``summary_header(self) -> list[str]`` (lines shown above the tables: estimator, N,
fit indices …). ``_repr_html_`` (what Jupyter shows for the bare object) and ``summary()`` (text, like
lavaan's ``summary(fit)``) are both built from those, so they never disagree. The mixin has no fields and
no ``__init__``, so a dataclass simply lists it as a base: ``@dataclass class CFAResult(DisplayMixin): ...``.
:class:`dancerec.reports.data.ReportData` is an example.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

#: Decimals shown for floating-point numbers (p values below .001 are shown as "<.001").
DIGITS = 3


def _fmt(value: Any, column: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        if not math.isfinite(x):
            return "inf" if x > 0 else "-inf"
        is_p = column == "p" or column.startswith(("p_", "pvalue"))
        if is_p and 0 <= x < 10**-DIGITS:
            return f"<.{'0' * (DIGITS - 1)}1"
        return f"{x:.{DIGITS}f}"
    return str(value)


def format_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every cell as display text (numbers to ``DIGITS`` decimals, p < .001 as <.001)."""
    out = frame.copy()
    for col in out.columns:
        out[col] = [_fmt(v, str(col)) for v in out[col]]
    return out.astype(object)


class DisplayMixin:
    """Adds ``_repr_html_`` and ``summary()`` to a result class that implements ``summary_frames``."""

    def summary_frames(self) -> dict[str, pd.DataFrame]:  # pragma: no cover - the contract
        raise NotImplementedError(f"{type(self).__name__} must implement summary_frames()")

    def summary_header(self) -> list[str]:
        return []

    def summary(self) -> Summary:
        """A lavaan-style text summary (``print(result.summary())``); in Jupyter it shows as text."""
        lines = [type(self).__name__, "=" * len(type(self).__name__)]
        lines += self.summary_header()
        for title, frame in self.summary_frames().items():
            lines += ["", f"{title}:"]
            if frame is None or frame.empty:
                lines.append("  (none)")
                continue
            shown = format_frame(frame)
            text = shown.to_string(index=not isinstance(frame.index, pd.RangeIndex))
            lines += ["  " + line for line in text.splitlines()]
        return Summary("\n".join(lines))

    def _repr_html_(self) -> str:
        """Headed HTML tables (escaped: no markup from the data is interpreted)."""
        return frames_html(type(self).__name__, self.summary_header(), self.summary_frames())


def frames_html(title: str, header: list[str], frames: dict[str, pd.DataFrame]) -> str:
    """The notebook view of a result: a title, header lines and headed tables, all escaped."""
    parts = [f"<div class='dancerec-result'><strong>{html.escape(title)}</strong>"]
    parts += [f"<div>{html.escape(line)}</div>" for line in header]
    for heading, frame in frames.items():
        parts.append(f"<h4 style='margin:0.6em 0 0.2em'>{html.escape(heading)}</h4>")
        if frame is None or frame.empty:
            parts.append("<p>(none)</p>")
            continue
        parts.append(
            format_frame(frame).to_html(
                index=not isinstance(frame.index, pd.RangeIndex), escape=True, border=0, na_rep=""
            )
        )
    parts.append("</div>")
    return "\n".join(parts)


class Summary(str):
    """The text of ``summary()``: a ``str`` whose repr is the text itself (as lavaan prints it)."""

    def __repr__(self) -> str:
        return str(self)
