"""`dancerec survey import` and `dancerec survey validate`: their options, the ImportOptions they build and
the import report they print (registered on the `survey` app in :mod:`dancerec.cli.survey`)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from dancerec.cli.common import (
    JsonOption,
    StudyOption,
    console,
    open_study,
    print_table,
    progress,
    write_json,
)
from dancerec.errors import UserError
from dancerec.survey.importer import (
    ImportOptions,
    ImportReport,
    import_file,
    parse_scale_map,
    validate_file,
)
from dancerec.survey.instrument import Instrument, load_instrument
from dancerec.survey.readers import FORMATS
from dancerec.survey.store import study_instrument
from dancerec.workspace import DEFAULT_INSTRUMENT

LARGE_FILE_BYTES = 1 << 20

FileArg = Annotated[
    Path, typer.Argument(help="The export to read (CSV/TSV, XLSX, SAV; any supported platform).")
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help=f"Force the format instead of detecting it: {', '.join(FORMATS)}."),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option("--encoding", help="Text encoding (default: detect UTF-8 / UTF-8-BOM / GBK-GB18030)."),
]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help="XLSX sheet to read (default: the first).")]
MappingOpt = Annotated[
    Path | None,
    typer.Option(
        "--mapping", help="Mapping file (CSV column,target / TOML [columns] / JSON): column → item or role."
    ),
]
IdColOpt = Annotated[str | None, typer.Option("--id-column", help="Column holding the respondent id.")]
GroupColOpt = Annotated[str | None, typer.Option("--group-column", help="Column holding the study group.")]
UserColOpt = Annotated[
    str | None, typer.Option("--user-column", help="Column holding the interaction-log user id.")
]
DurationColOpt = Annotated[
    str | None, typer.Option("--duration-column", help="Column holding the completion time.")
]
SubmittedColOpt = Annotated[
    str | None, typer.Option("--submitted-column", help="Column holding the submission time.")
]
GroupOpt = Annotated[
    str | None, typer.Option("--group", help="Study group of every respondent in this file.")
]
PrefixOpt = Annotated[
    str, typer.Option("--id-prefix", help="Prefix added to respondent ids (keeps files apart).")
]
PseudoOpt = Annotated[
    bool,
    typer.Option("--pseudonymise", help="Replace respondent and user ids by keyed hashes (study secret)."),
]
OnInvalidOpt = Annotated[
    str,
    typer.Option("--on-invalid", help="error: stop at the first bad row; quarantine: set bad rows aside."),
]
MissingOpt = Annotated[
    str | None,
    typer.Option("--missing-codes", help="Extra answer codes meaning 'missing', comma-separated (e.g. -99)."),
]
DayFirstOpt = Annotated[
    bool, typer.Option("--dayfirst", help="Dates like 01/09/2026 are day/month/year (1 September).")
]
MonthFirstOpt = Annotated[
    bool, typer.Option("--monthfirst", help="Dates like 01/09/2026 are month/day/year (9 January).")
]
ScaleMapOpt = Annotated[
    str | None,
    typer.Option(
        "--scale-map",
        help="Fold answer labels explicitly, e.g. 'Somewhat agree=4,Slightly agree=3' (recorded in the study).",
    ),
]


def _options(**kw: Any) -> ImportOptions:
    missing = kw.pop("missing_codes", None)
    dayfirst, monthfirst = kw.pop("dayfirst", False), kw.pop("monthfirst", False)
    if dayfirst and monthfirst:
        raise UserError("--dayfirst and --monthfirst exclude each other")
    order = "dayfirst" if dayfirst else "monthfirst" if monthfirst else None
    scale_map = parse_scale_map(kw.pop("scale_map", None))
    return ImportOptions(
        **kw,
        date_order=order,
        scale_map=scale_map,
        missing_codes=tuple(c for c in (missing or "").split(",") if c.strip()),
    )


def resolve_instrument(name: str | None, study) -> Instrument:
    """The named instrument, else the study's, else the built-in default."""
    if name:
        return load_instrument(name)
    return study_instrument(study) if study else load_instrument(DEFAULT_INSTRUMENT)


def _progress_for(path: Path):
    """A progress callback and its context manager: a bar for large files, nothing for small ones."""
    if not path.is_file() or path.stat().st_size < LARGE_FILE_BYTES:
        return None, nullcontext()
    bar = progress()
    task = bar.add_task(f"importing {path.name}", total=3, status="")

    def update(stage: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total, status=stage)

    return update, bar


def print_import_report(report: ImportReport) -> None:
    counts = pd.DataFrame(
        {
            "rows read": [report.n_rows],
            "filtered": [report.n_filtered],
            "valid": [report.n_valid],
            "new": [report.n_new],
            "unchanged": [report.n_unchanged],
            "replaced": [report.n_replaced],
            "conflicts": [report.n_conflicts],
            "quarantined": [report.n_quarantined],
        }
    )
    title = f"{Path(report.file).name}: {report.format} ({report.container}"
    title += f", {report.encoding})" if report.encoding else ")"
    print_table(counts, title=title)
    n_items = len(report.item_columns) + len(report.missing_items)
    console.print(
        f"items mapped: {len(report.item_columns)}/{n_items}; metadata: "
        + (", ".join(f"{k}←{v!r}" for k, v in report.meta_columns.items()) or "none")
    )
    if report.missing_items:
        console.print(
            f"[yellow]items not in the file (stored as missing):[/] {', '.join(report.missing_items)}"
        )
    if report.unmapped_columns:
        console.print(
            f"[yellow]unmapped columns (not imported):[/] {', '.join(map(repr, report.unmapped_columns))}"
        )
    if report.platform_columns:
        console.print(f"[dim]platform metadata not used: {', '.join(report.platform_columns)}[/]")
    if report.ignored_columns:
        console.print(f"[dim]ignored by the mapping: {', '.join(report.ignored_columns)}[/]")
    if report.filtered:
        console.print(
            f"filtered (previews, spam, unfinished): rows {', '.join(str(f['row']) for f in report.filtered[:20])}"
        )
    for w in report.warnings:
        console.print(f"[yellow]note:[/] {w}")
    if report.quarantined and (report.dry_run or report.n_quarantined):
        table = pd.DataFrame(report.quarantined)[["row", "respondent_id", "column", "reason"]]
        print_table(table.head(50), title=f"quarantined rows ({len(table)})")
    if report.dry_run and report.problems:
        table = pd.DataFrame(report.problems)[["row", "column", "problem", "expected"]]
        print_table(table.head(50), title=f"problems ({len(table)})")
    if report.conflicts:
        print_table(
            pd.DataFrame(report.conflicts)[["respondent_id", "row", "detail"]].head(50), title="conflicts"
        )


def import_cmd(
    file: FileArg,
    format: FormatOpt = None,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    mapping: MappingOpt = None,
    id_column: IdColOpt = None,
    group_column: GroupColOpt = None,
    user_column: UserColOpt = None,
    duration_column: DurationColOpt = None,
    submitted_column: SubmittedColOpt = None,
    group: GroupOpt = None,
    id_prefix: PrefixOpt = "",
    pseudonymise: PseudoOpt = False,
    on_invalid: OnInvalidOpt = "error",
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite stored respondents whose answers differ.")
    ] = False,
    missing_codes: MissingOpt = None,
    dayfirst: DayFirstOpt = False,
    monthfirst: MonthFirstOpt = False,
    scale_map: ScaleMapOpt = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Import an export into the study (one transaction; re-importing the same file changes nothing)."""
    s = open_study(study)
    opts = _options(
        format=format,
        encoding=encoding,
        sheet=sheet,
        mapping=mapping,
        id_column=id_column,
        group_column=group_column,
        user_column=user_column,
        duration_column=duration_column,
        submitted_column=submitted_column,
        group=group,
        id_prefix=id_prefix,
        pseudonymise=pseudonymise,
        on_invalid=on_invalid,
        replace=replace,
        missing_codes=missing_codes,
        dayfirst=dayfirst,
        monthfirst=monthfirst,
        scale_map=scale_map,
    )
    callback, ctx = _progress_for(file)
    with ctx:
        report = import_file(s, file, opts, progress=callback)
    print_import_report(report)
    if report.already_present:
        console.print(
            f"[green]already present:[/] all {report.n_unchanged} respondent(s) of {file} are stored; nothing changed"
        )
    else:
        console.print(
            f"[green]imported[/] {report.n_new} new, {report.n_replaced} replaced, {report.n_unchanged} unchanged"
            + (f", {report.n_quarantined} quarantined" if report.n_quarantined else "")
        )
    write_json(json_path, report)


def validate_cmd(
    file: FileArg,
    format: FormatOpt = None,
    encoding: EncodingOpt = None,
    sheet: SheetOpt = None,
    mapping: MappingOpt = None,
    id_column: IdColOpt = None,
    group_column: GroupColOpt = None,
    user_column: UserColOpt = None,
    duration_column: DurationColOpt = None,
    submitted_column: SubmittedColOpt = None,
    group: GroupOpt = None,
    id_prefix: PrefixOpt = "",
    pseudonymise: PseudoOpt = False,
    on_invalid: OnInvalidOpt = "error",
    missing_codes: MissingOpt = None,
    dayfirst: DayFirstOpt = False,
    monthfirst: MonthFirstOpt = False,
    scale_map: ScaleMapOpt = None,
    instrument: Annotated[
        str | None,
        typer.Option(
            "--instrument", help="Instrument to check against (default: the study's, else built-in)."
        ),
    ] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Dry run of `import`: list every problem (row, column, expected) and store nothing. Exit 1 if it would fail."""
    s = None
    try:
        s = open_study(study)
    except UserError:
        if study is not None:
            raise
    inst = resolve_instrument(instrument, s)
    opts = _options(
        format=format,
        encoding=encoding,
        sheet=sheet,
        mapping=mapping,
        id_column=id_column,
        group_column=group_column,
        user_column=user_column,
        duration_column=duration_column,
        submitted_column=submitted_column,
        group=group,
        id_prefix=id_prefix,
        pseudonymise=pseudonymise,
        on_invalid=on_invalid,
        missing_codes=missing_codes,
        dayfirst=dayfirst,
        monthfirst=monthfirst,
        scale_map=scale_map,
    )
    callback, ctx = _progress_for(file)
    with ctx:
        report = validate_file(file, instrument=inst, options=opts, study=s, progress=callback)
    print_import_report(report)
    write_json(json_path, report)
    if not report.ok:
        first = report.problems[0] if report.problems else None
        if first:
            where = f"row {first['row']}" + (f", column {first['column']!r}" if first["column"] else "")
            raise UserError(
                f"{file}: {len(report.problems)} problem(s); first at {where}: {first['problem']}"
                + (f" (expected {first['expected']})" if first.get("expected") else "")
            )
        c = report.conflicts[0]
        raise UserError(
            f"{file}: {len(report.conflicts)} respondent(s) conflict with stored answers; first {c['respondent_id']!r} "
            f"(row {c['row']}): {c['detail']} — if they are other people (files numbering respondents 1..N), "
            "keep both with --id-prefix; --replace overwrites the stored answers"
        )
    console.print(f"[green]ok:[/] {file} would import {report.n_valid} respondent(s)")
