"""The `dancerec` command: global options, the command groups, `init` and `demo`.

Exit codes: 0 success, 1 user error (one line on stderr; ``--debug`` shows the traceback),
2 usage error (click's own), 130 interrupted.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from dancerec import __version__
from dancerec.cli import indices, link, recommender, report, survey
from dancerec.cli.common import ROOT_STUDY, console, err_console, print_table, study_path
from dancerec.errors import UserError
from dancerec.workspace import DEFAULT_INSTRUMENT, Study

_debug = {"on": False}


class _Group(TyperGroup):
    """Turns user errors raised anywhere below into exit code 1 with a one-line message."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if _debug["on"]:
                err_console.print(traceback.format_exc(), markup=False, highlight=False)
            err_console.print("[bold red]error:[/] ", end="", highlight=False)
            err_console.print(str(exc), markup=False, highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; nothing half-written was kept")
            raise typer.Exit(130) from None


app = typer.Typer(
    name="dancerec",
    cls=_Group,
    help="Does a better offline recommender metric make users happier? "
    "Survey indices, recommenders and the link between them, in one study workspace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        console.print(f"dancerec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks for user errors.")] = False,
    study: Annotated[
        Path | None,
        typer.Option(
            "--study",
            envvar="DANCEREC_STUDY",
            help="Study folder for every command (default: $DANCEREC_STUDY, else the current folder); "
            "a --study given after the command wins.",
            show_default=False,
        ),
    ] = None,
) -> None:
    _debug["on"] = debug
    ROOT_STUDY["path"] = study


app.add_typer(survey.app, name="survey")
app.add_typer(indices.app, name="indices")
app.add_typer(recommender.app, name="recommender")
app.add_typer(link.app, name="link")
app.add_typer(report.app, name="report")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new study (created if missing).")],
    name: Annotated[str | None, typer.Option(help="Study name (default: the folder name).")] = None,
    instrument: Annotated[str, typer.Option(help="Built-in instrument name or path.")] = DEFAULT_INSTRUMENT,
    group_column: Annotated[str, typer.Option(help="Survey column naming the study group.")] = "group",
    seed: Annotated[int, typer.Option(help="Random seed for every random step of the study.")] = 42,
) -> None:
    """Create a study workspace: study.toml, the embedded DuckDB database and artifacts/."""
    study = Study.init(directory, name=name, instrument=instrument, group_column=group_column, seed=seed)
    console.print(f"created study [bold]{study.config.name}[/] in {study.root}")
    console.print(
        f"  database  {study.db_path}\n  config    {study.config_path}\n  artifacts {study.artifacts}"
    )


@app.command()
def demo(
    study: Annotated[
        Path | None,
        typer.Option("--study", help="Run in this folder (created if needed) instead of a temporary one."),
    ] = None,
) -> None:
    """Run the whole pipeline on built-in generated data and print where the outputs are."""
    from dancerec.demo import run_demo

    ctx = run_demo(study_path(study), out=console)
    console.rule("outputs")
    print_table(
        __import__("pandas").DataFrame(
            {"output": list(ctx.outputs), "path": [str(p) for p in ctx.outputs.values()]}
        )
    )
    console.print(f"The study in {ctx.study.root} works with every other command (--study {ctx.study.root}).")


def main() -> None:
    app(prog_name="dancerec")
