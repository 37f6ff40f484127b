"""Options and plumbing shared by the `dancerec indices` commands: where the items come from, notes, storing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import console, excluded_flags, open_study
from dancerec.cli.validators import SEED_MAX
from dancerec.errors import UserError

DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="Analyse this file (CSV, XLSX, SAV, Parquet; one column per item) instead of the study's responses.",
        show_default=False,
    ),
]
InstrumentOption = Annotated[
    str | None,
    typer.Option(
        "--instrument",
        help="Instrument (built-in name or TOML file) naming the dimensions of --data; reverse items are recoded.",
        show_default=False,
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        help="lavaan-style measurement model file (factor =~ items; data already reverse-recoded).",
        show_default=False,
    ),
]
GroupColumnOption = Annotated[
    str | None,
    typer.Option(
        "--group-column",
        help="Column of --data naming the group (default: the study's, else 'group').",
        show_default=False,
    ),
]
RecodedOption = Annotated[
    bool,
    typer.Option(
        "--recoded", help="With --data and --instrument: the reverse-keyed items are already recoded."
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed", min=0, max=SEED_MAX, help="Random seed (default: the study's, else 0).", show_default=False
    ),
]


def source(
    study: Path | None,
    data: Path | None,
    instrument: str | None,
    model: Path | None,
    exclude_flagged: str | None,
    group_column: str | None,
    recoded: bool = False,
):
    """(ItemSource, seed, open study or None) for the options every command shares."""
    from dancerec.indices.sources import load_source
    from dancerec.survey.quality import resolve_flags

    if data is not None:
        try:
            st = open_study(study)
        except UserError:  # a data file can be analysed outside any study
            st = None
        flags = resolve_flags(exclude_flagged) if exclude_flagged not in (None, "none") else []
    else:
        st = open_study(study)
        flags = excluded_flags(st, exclude_flagged)
    src = load_source(
        st,
        data=data,
        instrument=instrument,
        model=model,
        exclude_flagged=flags,
        group_column=group_column,
        recoded=recoded,
    )
    seed = st.config.seed if st is not None else 0
    return src, seed, (st if data is None else None)


def note(lines: list[str], out=console) -> None:
    for line in lines:
        out.print(f"[yellow]note:[/] {line}", highlight=False)


def header(src) -> None:
    console.print(
        f"[bold]{src.description}[/]; {len(src.structure)} dimension(s), "
        f"{sum(len(v) for v in src.structure.values())} item(s)",
        highlight=False,
    )
