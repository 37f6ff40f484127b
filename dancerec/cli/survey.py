"""`dancerec survey`: Import survey-platform exports, validate, clean, score, simulate respondents and manage instruments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from dancerec.cli.common import (
    ExcludeFlaggedOption,
    JsonOption,
    StudyOption,
    console,
    err_console,
    excluded_flags,
    open_study,
    print_table,
    write_json,
)
from dancerec.cli.survey_import import (
    import_cmd,
    print_import_report,
    resolve_instrument,
    validate_cmd,
)
from dancerec.cli.validators import SEED_MAX, finite, nonempty_list, output_file
from dancerec.errors import UserError
from dancerec.safeio import neutralise_frame
from dancerec.survey.importer import (
    ImportOptions,
    import_file,
)
from dancerec.survey.instrument import (
    builtin_instruments,
    instrument_table,
    load_instrument,
    validate_instrument,
)
from dancerec.survey.quality import FlagThresholds
from dancerec.survey.scoring import DEFAULT_MIN_SHARE, export_table, group_means_table
from dancerec.survey.simulate import simulate_responses, truth_path
from dancerec.survey.store import (
    flag_counts,
    load_flags,
    load_quarantine,
    load_responses,
    load_scores,
    refresh_flags,
    study_instrument,
)
from dancerec.survey.writers import DEFAULT_SUFFIX, WRITE_FORMATS, write_responses
from dancerec.workspace import DEFAULT_INSTRUMENT, atomic_output

app = typer.Typer(
    help="Import survey-platform exports, validate, clean, score, simulate respondents and manage instruments.",
    no_args_is_help=True,
)
instrument_app = typer.Typer(
    help="Show or check instruments (items, dimensions, anchors).", no_args_is_help=True
)
app.add_typer(instrument_app, name="instrument")

MinShareOpt = Annotated[
    float,
    typer.Option(
        "--min-share", min=0.0, max=1.0, help="Share of a dimension's items needed for a (prorated) score."
    ),
]


def _group_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean of every score column (dimensions and overall) per study group."""
    dims = [c for c in scores.columns if c not in ("group", "user_id")]
    return group_means_table(scores[dims], scores["group"])


# `import` and `validate` live in survey_import.py; registered first to keep the help's command order
app.command("import")(import_cmd)
app.command("validate")(validate_cmd)


@app.command("score")
def score_cmd(
    exclude_flagged: ExcludeFlaggedOption = None,
    min_share: MinShareOpt = DEFAULT_MIN_SHARE,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Dimension scores (reverse-keyed, prorated means) and the overall score, summarised per group."""
    s = open_study(study)
    scores = load_scores(s, exclude_flagged=excluded_flags(s, exclude_flagged), min_share=min_share)
    if scores.empty:
        raise UserError("no responses stored yet; import some with `dancerec survey import FILE`")
    table = _group_means(scores)
    print_table(table, title=f"mean dimension scores per group ({len(scores)} respondents)", digits=2)
    write_json(json_path, {"by_group": table, "respondents": scores.reset_index()})


@app.command("flags")
def flags_cmd(
    longstring_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Longest identical run ≥ this share of items.")
    ] = 0.5,
    irv_min: Annotated[
        float | None,
        typer.Option(min=0.0, callback=finite, help="Response SD below this (default 0.075 × scale width)."),
    ] = None,
    speeder_ratio: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Completion time below this share of the median.")
    ] = 1 / 3,
    mahalanobis_p: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Mahalanobis distance p-value below this.")
    ] = 0.001,
    max_missing_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="More than this share of items unanswered.")
    ] = 0.2,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Recompute the data-quality flags with these thresholds and show how many respondents carry each."""
    s = open_study(study)
    th = FlagThresholds(longstring_share, irv_min, speeder_ratio, mahalanobis_p, max_missing_share)
    with s.transaction() as con:
        refresh_flags(con, study_instrument(s), th)
    counts = flag_counts(s)
    print_table(counts, title="quality flags (respondents are kept; use --exclude-flagged downstream)")
    write_json(json_path, {"thresholds": th, "counts": counts, "flags": load_flags(s).reset_index()})


@app.command("quarantine")
def quarantine_cmd(study: StudyOption = None, json_path: JsonOption = None) -> None:
    """List the rows imports set aside (--on-invalid quarantine), with their reasons."""
    s = open_study(study)
    q = load_quarantine(s)
    if q.empty:
        console.print("no quarantined rows")
    else:
        print_table(
            q[["file", "row", "respondent_id", "column", "reason"]], title=f"quarantined rows ({len(q)})"
        )
    write_json(json_path, q)


def _parse_quality(text: str | None, groups: list[str]) -> dict[str, float] | None:
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        if "=" not in part:
            raise UserError(f"--quality expects GROUP=VALUE pairs, got {part!r}")
        g, v = part.split("=", 1)
        try:
            out[g.strip()] = float(v)
        except ValueError:
            raise UserError(f"--quality: {v!r} is not a number") from None
    missing = [g for g in groups if g not in out]
    if missing:
        raise UserError(f"--quality lacks group(s): {', '.join(missing)}")
    return out


@app.command("simulate")
def simulate_cmd(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of respondents.")] = 600,
    groups: Annotated[
        str, typer.Option("--groups", callback=nonempty_list, help="Study groups, comma-separated.")
    ] = "A,B,C",
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed (default: the study's seed, else 42)."),
    ] = None,
    quality: Annotated[
        str | None, typer.Option("--quality", help="Recommender quality per group, e.g. A=-0.3,B=0,C=0.3.")
    ] = None,
    careless_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of careless respondents.")
    ] = 0.05,
    missing_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of missing answers (attentive respondents).")
    ] = 0.02,
    format: Annotated[
        str, typer.Option("--format", help=f"File format: {', '.join(WRITE_FORMATS)}.")
    ] = "csv",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write here (planted truth beside it) instead of importing into the study."
        ),
    ] = None,
    answers: Annotated[
        str | None, typer.Option("--answers", help="codes or text (answer labels); default per platform.")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option("--encoding", help="Override the platform's text encoding.")
    ] = None,
    instrument: Annotated[
        str | None, typer.Option("--instrument", help="Instrument (default: the study's).")
    ] = None,
    id_prefix: Annotated[
        str, typer.Option("--id-prefix", help="Respondent ids are PREFIX0001, PREFIX0002, …")
    ] = "R",
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Draw simulated respondents from the planted model; write a file (--out) or import into the study."""
    s = None
    if out is None or study is not None:
        s = open_study(study)
    inst = resolve_instrument(instrument, s)
    seed = seed if seed is not None else (s.config.seed if s else 42)
    group_list = [g.strip() for g in groups.split(",") if g.strip()]
    sim = simulate_responses(
        inst,
        n,
        group_list,
        seed,
        group_quality=_parse_quality(quality, group_list),
        careless_rate=careless_rate,
        missing_rate=missing_rate,
        id_prefix=id_prefix,
    )
    target = out
    if target is None:
        assert s is not None
        suffix = DEFAULT_SUFFIX.get(format, ".csv")
        target = s.artifacts / "survey" / f"simulated-{format}-seed{seed}{suffix}"
    write_responses(sim.responses, inst, target, format, answers=answers, encoding=encoding)
    truth_file = sim.truth.save(truth_path(target))
    console.print(f"wrote {n} simulated respondents to {target} (planted truth: {truth_file})")
    payload: dict[str, Any] = {"file": target, "truth": truth_file, "n": n, "seed": seed, "format": format}
    if out is None:
        assert s is not None
        report = import_file(s, target, ImportOptions(format=None if format in ("csv", "tsv") else format))
        print_import_report(report)
        payload["import"] = report
    group_means = sim.truth.group_latent_means.round(3)
    print_table(group_means, title="planted latent group means", index=True)
    write_json(json_path, payload)


@app.command("export")
def export_cmd(
    out: Annotated[
        Path, typer.Option("--out", callback=output_file, help="Output file: .csv, .parquet or .xlsx.")
    ],
    exclude_flagged: ExcludeFlaggedOption = None,
    items: Annotated[bool, typer.Option("--items", help="Also include the raw item answers.")] = False,
    min_share: MinShareOpt = DEFAULT_MIN_SHARE,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Export per-respondent scores (+ flags, optionally raw items); the format follows the extension."""
    s = open_study(study)
    excluded = excluded_flags(s, exclude_flagged)
    scores = load_scores(s, exclude_flagged=excluded, min_share=min_share)
    flags = load_flags(s).reindex(scores.index).add_prefix("flag_")
    frame = pd.concat([scores, flags], axis=1)
    if items:
        responses = load_responses(s, exclude_flagged=excluded)
        frame = pd.concat([frame, responses.drop(columns=["group", "user_id"])], axis=1)
    if out.suffix.lower() in (".csv", ".xlsx"):  # spreadsheet formats: no live formulas (OWASP)
        frame = neutralise_frame(frame, xlsx=out.suffix.lower() == ".xlsx")
    with atomic_output(out) as tmp:  # no partial file on a full disk or Ctrl-C
        export_table(frame, tmp)
    path = out
    console.print(f"exported {len(frame)} respondents × {frame.shape[1]} columns to {path}")
    write_json(json_path, {"file": path, "n": len(frame), "columns": list(frame.columns)})


@instrument_app.command("show")
def instrument_show(
    name: Annotated[
        str | None, typer.Argument(help="Built-in name or TOML file (default: the study's).")
    ] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Show an instrument: dimensions, items (both languages), reverse keying, anchors, sources."""
    if name is None:
        try:
            inst = study_instrument(open_study(study))
        except UserError:
            if study is not None:
                raise
            inst = load_instrument(DEFAULT_INSTRUMENT)
    else:
        inst = load_instrument(name)
    console.print(
        f"[bold]{inst.name}[/] {inst.title_en} / {inst.title_zh} — {len(inst.scored_items)} scored items, "
        f"{len(inst.dimensions)} dimensions, scale {inst.scale_min}–{inst.scale_max}"
    )
    dims = pd.DataFrame(
        [
            {
                "dimension": d.id,
                "name": d.name_en,
                "名称": d.name_zh,
                "items": len(inst.dimension_items()[d.id]),
                "valence": d.valence,
                "source": d.source,
            }
            for d in inst.dimension_info
        ]
    )
    print_table(dims, title="dimensions")
    items = pd.DataFrame(instrument_table(inst))
    print_table(items[["id", "dimension", "reverse", "attention_check", "text_en", "text_zh"]], title="items")
    print_table(
        pd.DataFrame([{"value": a.value, "en": a.en, "zh": a.zh} for a in inst.anchors]), title="anchors"
    )
    write_json(
        json_path,
        {
            "name": inst.name,
            "scale_min": inst.scale_min,
            "scale_max": inst.scale_max,
            "dimensions": dims,
            "items": items,
            "anchors": [{"value": a.value, "en": a.en, "zh": a.zh} for a in inst.anchors],
            "cfa_syntax": inst.cfa_syntax(),
            "builtin": builtin_instruments(),
        },
    )


@instrument_app.command("validate")
def instrument_validate(
    file: Annotated[Path, typer.Argument(help="Instrument TOML file to check.")],
    json_path: JsonOption = None,
) -> None:
    """Check an instrument file: unique ids, known dimensions, scale bounds, ≥ 3 items a dimension, wording."""
    problems = validate_instrument(file)
    write_json(json_path, {"file": file, "valid": not problems, "problems": [str(p) for p in problems]})
    if problems:
        for p in problems:
            err_console.print(f"  {p}", highlight=False, markup=False)
        raise UserError(f"{file}: {len(problems)} problem(s) in the instrument (listed above)")
    inst = load_instrument(file)
    console.print(
        f"[green]ok:[/] {inst.name}: {len(inst.scored_items)} items in {len(inst.dimensions)} dimensions, "
        f"scale {inst.scale_min}–{inst.scale_max}"
    )
