"""Option checks declared on the options themselves (``callback=``), so bad values stop before any work.

Each callback returns the value unchanged or raises :class:`typer.BadParameter` (exit 2, one line).
Numeric ranges use typer's own ``min=``/``max=`` (seeds: :data:`SEED_MAX`).
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

#: numpy's ``default_rng``/``RandomState`` accept seeds in [0, 2**32 - 1]
SEED_MAX = 2**32 - 1
_IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def output_file(value: Path | None) -> Path | None:
    """An output path that is not an existing folder."""
    if value is not None and value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file name")
    return value


def image_file(value: Path | None) -> Path | None:
    """An output path for a figure, with a format matplotlib can write."""
    output_file(value)
    if value is not None and value.suffix.lower() not in _IMAGE_SUFFIXES:
        raise typer.BadParameter(
            f"{value.name}: cannot write a figure as {value.suffix or 'a file without extension'!r}; "
            f"use {', '.join(_IMAGE_SUFFIXES)}"
        )
    return value


def finite(value: float | None) -> float | None:
    """A finite number (no inf/nan)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def nonempty_list(value: str | None) -> str | None:
    """A comma-separated list with at least one non-blank entry."""
    if value is not None and not any(part.strip() for part in value.split(",")):
        raise typer.BadParameter("needs at least one comma-separated name")
    return value
