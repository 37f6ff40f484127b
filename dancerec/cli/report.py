"""`dancerec report`: write the HTML/PDF study report and the figures for papers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import (
    ExcludeFlaggedOption,
    StudyOption,
    console,
    excluded_flags,
    open_study,
    progress,
)
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
    "separate SVG and PNG files. Analyses are read from the study's stored results when their inputs and "
    "settings are unchanged (else computed and stored; the output says which); --format html,pdf writes "
    "both from one build; --tables DIR also writes every table as CSV, XLSX and LaTeX.",
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="",
)


TablesOption = Annotated[
    Path | None,
    typer.Option(
        "--tables",
        help="Also write every report table to this folder as CSV, one XLSX workbook (a sheet per "
        "table) and LaTeX (booktabs, APA).",
        show_default=False,
    ),
]
StoredOption = Annotated[
    bool,
    typer.Option(
        "--stored/--no-stored",
        help="Reuse the study's stored results for unchanged data and settings (and store new ones); "
        "--no-stored recomputes everything and stores nothing.",
    ),
]


def report_targets(out: Path, fmt: str | None) -> list[Path]:
    """The files to write: ``--format html,pdf`` names the formats (default: the extension of ``--out``,
    or both when it has none; any other extension is an error); each is written as ``<out without .html/.pdf>.<format>``."""
    from dancerec.reports.render import FORMATS

    suffix = out.suffix.lower().lstrip(".")
    if fmt is None:
        if suffix and suffix not in FORMATS:
            raise UserError(
                f"--out {out.name}: the report format must be html or pdf (--out ending in .html/.pdf, "
                "no extension for both, or --format html,pdf)"
            )
        formats = [suffix] if suffix else list(FORMATS)
    else:
        formats = list(dict.fromkeys(f.strip().lower() for f in fmt.split(",") if f.strip()))
        bad = [f for f in formats if f not in FORMATS]
        if bad or not formats:
            raise UserError(f"--format takes html, pdf or html,pdf; not {fmt!r}")
    stem = out.with_suffix("") if suffix in FORMATS else out
    return [stem.with_name(f"{stem.name}.{f}") for f in formats]


def _provenance_lines(provenance: list[dict[str, str]]) -> list[str]:
    """One line naming the results reused, one naming those computed now and why."""
    stored = [p["kind"] for p in provenance if p["status"] == "stored"]
    computed = [
        f"{p['kind']} ({p['status'].removeprefix('computed: ')})"
        for p in provenance
        if p["status"] != "stored"
    ]
    lines = []
    if stored:
        lines.append(f"stored results reused: {', '.join(stored)}")
    if computed:
        lines.append(f"computed now: {', '.join(computed)}")
    return lines


@app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            callback=output_file,
            help="Report file: report.html or report.pdf writes that format; a name without those "
            "extensions writes both (unless --format says otherwise).",
            show_default=False,
        ),
    ],
    study: StudyOption = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="html, pdf or html,pdf (default: from the --out extension, else both)."
        ),
    ] = None,
    figures: Annotated[
        Path | None,
        typer.Option(
            "--figures", help="Folder for the SVG/PNG figures (default: <out>_figures/).", show_default=False
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off K of the offline metrics shown.")] = 10,
    exclude_flagged: ExcludeFlaggedOption = None,
    adjust: Annotated[
        str, typer.Option("--adjust", help="Linkage multiplicity correction per family: holm, bh or none.")
    ] = "holm",
    primary: Annotated[
        list[str] | None,
        typer.Option(
            "--primary",
            help="Pre-registered METRIC:DIMENSION hypothesis of the linkage (repeat).",
            show_default=False,
        ),
    ] = None,
    n_boot: Annotated[
        int, typer.Option("--n-boot", min=1, help="Bootstrap resamples for the linkage CIs.")
    ] = 1000,
    tables: TablesOption = None,
    stored: StoredOption = True,
) -> None:
    """Write the report and print where it and its figures are."""
    if ctx.invoked_subcommand is not None:
        return
    from dancerec.reports.build import SECTIONS
    from dancerec.reports.collect import collect_report_data
    from dancerec.reports.render import write_reports

    targets = report_targets(out, fmt)
    st = open_study(study)
    with progress() as bar:
        task = bar.add_task(
            "report", total=4 + len(SECTIONS) + len(targets) + (tables is not None), status=""
        )

        def step(label: str) -> None:
            bar.update(task, advance=1, description=label)

        data = collect_report_data(
            st,
            title=title,
            exclude_flagged=excluded_flags(st, exclude_flagged),
            k=k,
            n_boot=n_boot,
            use_stored=stored,
            progress=step,
            adjust=adjust,
            primary=primary or (),
        )
        results = write_reports(data, targets, figures_dir=figures, progress=step, tables_dir=tables)
    _print_written(results, tables)
    _print_provenance(data)


def _print_written(results: list, tables: Path | None) -> None:
    """Where each report went (with its size in sections, tables, figures, pages), its figures and tables."""
    for result in results:
        pages = f", {result.n_pages} pages" if result.n_pages else ""
        console.print(
            f"wrote {result.format.upper()} report {result.path} ({result.n_sections} sections, "
            f"{result.n_tables} tables, {result.n_figures} figures{pages})"
        )
    if results and results[0].figures:
        console.print(f"figures (SVG + PNG): {results[0].figures[0].parent}")
    if tables is not None:
        console.print(f"tables (CSV, XLSX, LaTeX): {tables}", markup=False, highlight=False)


def _print_provenance(data) -> None:
    """Which results were reused from the study and which computed now, then the sections left out and why."""
    for line in _provenance_lines(data.provenance):
        console.print(line, markup=False, highlight=False)
    for reason in data.skipped:
        console.print(reason, style="dim", markup=False, highlight=False)
