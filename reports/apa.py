"""Numbers in APA style (Publication Manual, 7th ed., §6.36 and §6.43).

* Statistics that cannot exceed 1 in absolute value (correlations, standardised coefficients,
  proportions, p, alpha, CFI, RMSEA …) get no leading zero: ``.45``, ``−.12``.
* p-values to three decimals, and ``< .001`` below that; never ``.000``.
* Other statistics to two decimals (``M = 3.45``), counts with a thousands separator.
* Negative numbers carry a true minus sign (U+2212), which keeps columns aligned.

Missing values render as an en dash. All functions return plain ``str`` (escaped by the template).
"""

from __future__ import annotations

import math
from typing import Any

MINUS = "\u2212"
MISSING = "\u2013"


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sign(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def num(value: Any, digits: int = 2) -> str:
    """A statistic that can exceed 1 (means, SDs, χ², t, F): ``3.45``, ``−0.50``."""
    x = _finite(value)
    if x is None:
        return MISSING
    text = f"{x:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return _sign(text)


def bounded(value: Any, digits: int = 2) -> str:
    """A statistic bounded by ±1 (r, β, α, CFI, proportions): no leading zero, ``.45``, ``−.07``."""
    x = _finite(value)
    if x is None:
        return MISSING
    text = num(x, digits)
    if text.startswith("0."):
        return text[1:]
    if text.startswith(MINUS + "0."):
        return MINUS + text[2:]
    return text


def p_value(value: Any) -> str:
    """``< .001``, else three decimals without the leading zero (``.023``); ``> .999`` at the top."""
    x = _finite(value)
    if x is None:
        return MISSING
    if x < 0.001:
        return "< .001"
    if x > 0.999:
        return "> .999"
    return bounded(x, 3)


def p_clause(value: Any) -> str:
    """``p = .023`` or ``p < .001`` (for running text)."""
    text = p_value(value)
    if text == MISSING:
        return f"p = {MISSING}"
    return f"p {text}" if text[0] in "<>" else f"p = {text}"


def ci(low: Any, high: Any, digits: int = 2, *, leading_zero: bool = False) -> str:
    """A confidence interval in brackets: ``[.12, .45]`` (or ``[2.10, 3.40]`` with ``leading_zero``)."""
    fmt = num if leading_zero else bounded
    if _finite(low) is None and _finite(high) is None:
        return MISSING
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def integer(value: Any) -> str:
    """A count: ``1,234``."""
    x = _finite(value)
    if x is None:
        return MISSING
    return _sign(f"{round(x):,}")


def percent(value: Any, digits: int = 1) -> str:
    """A proportion as a percentage: ``12.5%``."""
    x = _finite(value)
    if x is None:
        return MISSING
    return _sign(f"{100 * x:.{digits}f}%")


def stars(value: Any) -> str:
    """Significance marks for tables (* p < .05, ** p < .01, *** p < .001)."""
    x = _finite(value)
    if x is None:
        return ""
    return "***" if x < 0.001 else "**" if x < 0.01 else "*" if x < 0.05 else ""
