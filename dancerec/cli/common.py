"""Shared CLI plumbing: the --study/--json options and opening the study; output helpers re-exported.

``--study`` is accepted both before the command group (``dancerec --study S survey score``) and after the
command (``dancerec survey score --study S``); the latter wins, then ``$DANCEREC_STUDY``, then the
current folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.console import console, err_console, print_table, progress, to_jsonable, write_json
from dancerec.workspace import Study

__all__ = [
    "ExcludeFlaggedOption",
    "JsonOption",
    "StudyOption",
    "console",
    "err_console",
    "excluded_flags",
    "open_study",
    "print_table",
    "progress",
    "study_path",
    "to_jsonable",
    "write_json",
]

#: the ``--study`` given before the command group (set by the root callback on every invocation)
ROOT_STUDY: dict[str, Path | None] = {"path": None}

StudyOption = Annotated[
    Path | None,
    typer.Option(
        "--study",
        help="Study folder (default: the global --study, else $DANCEREC_STUDY, else the current folder).",
        show_default=False,
    ),
]
ExcludeFlaggedOption = Annotated[
    str | None,
    typer.Option(
        "--exclude-flagged",
        help="Leave out respondents with these quality flags: a comma list, 'all', or 'none' "
        "(default: the study's exclude_flagged in study.toml).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    Path | None,
    typer.Option("--json", help="Also write machine-readable results to this JSON file.", show_default=False),
]


def study_path(path: Path | None) -> Path | None:
    """The study folder named on this command, else the one given before the command group, else None."""
    return path if path is not None else ROOT_STUDY["path"]


def excluded_flags(study: Study | None, option: str | None) -> list[str]:
    """The quality flags to exclude: ``--exclude-flagged`` when given, else the study's default."""
    from dancerec.survey.quality import resolve_flags

    if option is None:
        return resolve_flags(list(study.config.exclude_flagged)) if study is not None else []
    return [] if option.strip().lower() == "none" else resolve_flags(option)


def open_study(path: Path | None) -> Study:
    """Open the study named by ``--study`` (either position), ``$DANCEREC_STUDY`` or the current folder."""
    return Study.locate(study_path(path))
