"""`dancerec init`: create a study workspace (kept out of dancerec.cli.main so that other commands do not
import dancerec.workspace, and with it duckdb, just to define this command's options)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import console
from dancerec.workspace import DEFAULT_INSTRUMENT, Study


def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new study (created if missing).")],
    name: Annotated[str | None, typer.Option(help="Study name (default: the folder name).")] = None,
    instrument: Annotated[str, typer.Option(help="Built-in instrument name or path.")] = DEFAULT_INSTRUMENT,
    group_column: Annotated[str, typer.Option(help="Survey column naming the study group.")] = "group",
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Random seed for every random step of the study.")
    ] = 42,
    exclude_flagged: Annotated[
        str,
        typer.Option(
            "--exclude-flagged",
            help="The study's default for every command's --exclude-flagged: quality flags whose respondents "
            "are left out (comma list, 'all' or 'none'); stored in study.toml.",
        ),
    ] = "none",
) -> None:
    """Create a study workspace: study.toml, the embedded DuckDB database and artifacts/."""
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.quality import FLAGS, resolve_flags

    flags = [] if exclude_flagged.strip().lower() == "none" else resolve_flags(exclude_flagged)
    flags = ["all"] if flags == list(FLAGS) else flags

    if not (directory / instrument).is_file():
        load_instrument(instrument)  # an unknown instrument is refused now, not by every later command
    study = Study.init(
        directory,
        name=name,
        instrument=instrument,
        group_column=group_column,
        seed=seed,
        exclude_flagged=flags,
    )
    console.print(f"created study [bold]{study.config.name}[/] in {study.root}")
    console.print(
        f"  database  {study.db_path}\n  config    {study.config_path}\n  artifacts {study.artifacts}"
    )
