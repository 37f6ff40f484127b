"""Shared CLI plumbing: the --study/--json options and opening the study; output helpers re-exported.

``--study`` is accepted both before the command group (``dancerec --study S survey score``) and after the
command (``dancerec survey score --study S``); the latter wins, then ``$DANCEREC_STUDY``, then the
current folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dancerec.console import console, err_console, print_table, progress, to_jsonable, write_json

if TYPE_CHECKING:  # imported when a study is opened: duckdb costs ~40 ms of a lean command's start-up
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
    "store_result",
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
    from dancerec.workspace import Study

    return Study.locate(study_path(path))


def store_result(
    study: Study | None, kind: str, settings: dict[str, Any], result: Any, *, recommender: bool = False
) -> None:
    """Keep ``result`` in the study (stored results, keyed by the tables read and ``settings``) so that
    ``dancerec report`` can reuse it. ``recommender``: the result also read the recommender runs.

    Nothing is stored without a study (a --data file). A result that cannot be encoded is still printed;
    the command says it was not stored.
    """
    if study is None:
        return
    from dancerec.results import result_key, save_result, study_fingerprint

    fingerprint = study_fingerprint(study, recommender=recommender)
    try:
        save_result(
            study, kind, result_key(kind, fingerprint, settings), settings, result, fingerprint=fingerprint
        )
    except TypeError as exc:
        console.print(f"[dim]{kind}: result not stored ({exc})[/]", highlight=False)
        return
    console.print(f"[dim]stored as {kind} in the study (dancerec report reuses it)[/]", highlight=False)
