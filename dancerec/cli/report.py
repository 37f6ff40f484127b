"""`dancerec report`: write the HTML/PDF study report and the figures for papers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import DemoContext, DemoStep, StudyOption, console, open_study
from dancerec.cli.link import ExcludeFlaggedOption, parse_flags
from dancerec.cli.validators import output_file
from dancerec.errors import UserError

app = typer.Typer(
    help="Write the study report: one self-contained HTML file (inline CSS and SVG figures, no network "
    "requests, phone-readable, printable) or a PDF from the same template (page numbers, table of contents, "
    "Chinese wording rendered). Sections appear when their data exist: study overview and exclusions, "
    "item distributions (diverging Likert bars), item analysis and reliability, EFA/CFA with a loadings "
    "heat map, the structural model as a path diagram, group comparisons, offline precision/recall over "
    "K = 1..50, the linkage of offline metrics to perceived quality, and a methods appendix (formulas, "
    "thresholds, software versions, seeds, data files with checksums). Figures are also written as "
    "separate SVG and PNG files.",
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="",
)


@app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out", callback=output_file, help="Report file to write (.html or .pdf).", show_default=False
        ),
    ],
    study: StudyOption = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="html or pdf (default: from the --out extension).")
    ] = None,
    figures: Annotated[
        Path | None,
        typer.Option(
            "--figures", help="Folder for the SVG/PNG figures (default: <out>_figures/).", show_default=False
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off K of the offline metrics shown.")] = 10,
    exclude_flagged: ExcludeFlaggedOption = "",
    n_boot: Annotated[
        int, typer.Option("--n-boot", min=1, help="Bootstrap resamples for the linkage CIs.")
    ] = 1000,
) -> None:
    """Write the report and print where it and its figures are."""
    if ctx.invoked_subcommand is not None:
        return
    from dancerec.reports.collect import collect_report_data
    from dancerec.reports.render import FORMATS, write_report

    chosen = (fmt or out.suffix.lstrip(".")).lower()
    if chosen not in FORMATS:
        raise UserError(
            f"--format must be html or pdf (or --out ending in .html/.pdf), not {chosen or out.name!r}"
        )
    st = open_study(study)
    data = collect_report_data(
        st, title=title, exclude_flagged=parse_flags(exclude_flagged), k=k, n_boot=n_boot
    )
    result = write_report(data, out, fmt=chosen, figures_dir=figures)
    pages = f", {result.n_pages} pages" if result.n_pages else ""
    console.print(
        f"wrote {result.format.upper()} report {result.path} ({result.n_sections} sections, {result.n_tables} tables, "
        f"{result.n_figures} figures{pages})"
    )
    if result.figures:
        console.print(f"figures (SVG + PNG): {result.figures[0].parent}")
    for reason in data.skipped:
        console.print(reason, style="dim", markup=False, highlight=False)


def _demo_report(ctx: DemoContext) -> None:
    from dancerec.reports.collect import collect_report_data
    from dancerec.reports.render import write_reports

    data = collect_report_data(
        ctx.study,
        title="dancerec demo study",
        linkage=ctx.data.get("linkage"),
        indices=ctx.data.get("indices"),
        n_boot=500,
    )
    folder = ctx.study.artifacts / "report"
    results = write_reports(
        data, [folder / "report.html", folder / "report.pdf"], figures_dir=folder / "figures"
    )
    for result in results:
        pages = f", {result.n_pages} pages" if result.n_pages else ""
        ctx.out.print(
            f"{result.format.upper()} report: {result.path} ({result.n_tables} tables, "
            f"{result.n_figures} figures{pages})"
        )
        ctx.outputs[f"report ({result.format.upper()})"] = result.path
    ctx.outputs["report figures (SVG/PNG)"] = folder / "figures"
    for reason in data.skipped:
        ctx.out.print(reason, style="dim", markup=False, highlight=False)


DEMO_STEPS: list[DemoStep] = [DemoStep("write the HTML and PDF study reports", _demo_report)]
