"""`dancerec indices cfa` and `dancerec indices sem`: ML (FIML), MLR and WLSMV fits, diagnostics, R export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dancerec.cli.common import (
    ExcludeFlaggedOption,
    JsonOption,
    StudyOption,
    console,
    print_table,
    progress,
    store_result,
    write_json,
)
from dancerec.cli.indices_common import (
    DataOption,
    GroupColumnOption,
    InstrumentOption,
    ModelOption,
    RecodedOption,
    SeedOption,
    header,
    note,
    source,
)
from dancerec.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


def _export_r(path: Path, data, fitted, kind: str) -> None:
    from dancerec.indices.rexport import write_r_export

    script, csv = write_r_export(path, data, fitted, kind=kind)
    console.print(f"R script written to {script} (data: {csv.name})", highlight=False)


def _print_fit(fit, title: str, n_note: str = "") -> None:
    import numpy as np

    from dancerec.indices.fitindices import fit_rows

    rows = fit_rows(fit)
    table = {"index": [label for label, _ in rows], "value": np.array([v for _, v in rows], dtype=float)}
    print_table(table, title=title)
    if n_note:
        note([n_note])


def _print_measurement(loadings, factor_correlations, residuals) -> None:
    """The CFA tables after the fit (DataFrames from the full path, column mappings from the lean one)."""
    print_table(loadings, title="loadings (std = completely standardised)")
    print_table(factor_correlations, title="factor correlations", index=True)
    print_table(residuals, title="largest residual correlations")


def _lean_cfa(data: Path, model: Path, missing: str | None, std_lv: bool, json_path: Path | None) -> bool:
    """Answer a plain ML CFA of a CSV file through :mod:`dancerec.indices.cfa_lean` (numpy only, no pandas,
    scipy.stats or semopy: their imports cost more than lavaan's whole run); False when the full path must
    answer (the lean path covers less and then gives the same numbers, never different ones)."""
    from dancerec.indices.cfa_lean import lean_cfa

    out = lean_cfa(data, model, missing=missing, std_lv=std_lv)
    if out is None:
        return False
    console.print(
        f"[bold]{out.description}[/]; {out.n_dimensions} dimension(s), {out.n_items} item(s)", highlight=False
    )
    _say_recommendation(out.recommendation, "ml")
    _print_fit(out.fit, "CFA fit", out.n_note)
    _print_measurement(out.loadings, out.factor_correlations, out.largest_residuals)
    note(out.problems)
    console.print(f"[dim]estimator: {out.estimator}[/]", highlight=False)
    write_json(json_path, out.to_json())
    return True


_EstimatorOption = Annotated[
    str,
    typer.Option(
        "--estimator",
        help="ml (normal-theory ML; FIML with missing answers), mlr (robust ML: Yuan-Bentler scaled "
        "chi2, robust CFI/TLI/RMSEA, sandwich SEs) or wlsmv (ordinal items: polychoric correlations, "
        "DWLS, scaled-shifted chi2; complete cases).",
    ),
]
_StdLvOption = Annotated[
    bool,
    typer.Option(
        "--std-lv", help="Identify factors by unit variances (lavaan std.lv = TRUE) instead of markers."
    ),
]
_ExportROption = Annotated[
    Path | None,
    typer.Option(
        "--export-r",
        help="Write an R script (and the analysed data as a CSV beside it) that reproduces this fit in lavaan.",
        show_default=False,
    ),
]
_MissingOption = Annotated[
    str | None,
    typer.Option(
        "--missing",
        help="Missing answers: fiml (full-information ML, every respondent with an answer is used; the "
        "default when answers are missing) or listwise (complete cases only).",
        show_default=False,
    ),
]


def cfa(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    missing: _MissingOption = None,
    estimator: _EstimatorOption = "ml",
    std_lv: _StdLvOption = False,
    export_r: _ExportROption = None,
    mi: Annotated[
        bool,
        typer.Option("--mi", help="Modification indices (lavaan's modindices: score tests with EPC)."),
    ] = False,
    mi_top: Annotated[int, typer.Option("--mi-top", help="How many modification indices to show.")] = 10,
    json_path: JsonOption = None,
) -> None:
    """Confirmatory factor analysis of the measurement model (ML, lavaan-comparable fit indices)."""
    lean = data is not None and model is not None and instrument is None and not recoded
    lean = lean and exclude_flagged in (None, "none") and estimator.lower() == "ml"
    lean = lean and not mi and export_r is None
    if lean and _lean_cfa(data, model, missing, std_lv, json_path):
        return
    from dancerec.indices.cfa import fit_cfa
    from dancerec.indices.estimation import Estimator

    src, _, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
    _recommend_estimator(src, estimator)
    if estimator.lower() == "wlsmv":
        _cfa_wlsmv(src, json_path)
        return
    res = fit_cfa(
        src.items,
        src.model if src.model is not None else src.structure,
        source=str(model or "model"),
        missing=missing,
        estimator=Estimator(name=estimator.lower()),
        std_lv=std_lv,
    )
    _print_fit(res.fit, "CFA fit", res.n_note)
    _print_measurement(res.loadings, res.factor_correlations, res.largest_residuals(8))
    payload = res.to_json()
    if mi:
        from dancerec.indices.modindices import modification_indices

        table = modification_indices(res.fitted, top=mi_top)
        print_table(
            table,
            title=f"modification indices (top {mi_top}; chi2 1 df, unadjusted screening values)",
        )
        payload["modindices"] = table.to_dict(orient="records")
    note(res.problems)
    console.print(f"[dim]estimator: {res.estimator}[/]", highlight=False)
    if export_r is not None:
        _export_r(export_r, src.items, res.fitted, "cfa")
    settings = {"exclude_flagged": exclude_flagged, "model": str(model or ""), "missing": missing or "auto"}
    store_result(st, "indices.cfa", {**settings, "estimator": estimator.lower(), "std_lv": std_lv}, res)
    write_json(json_path, payload)


def _recommend_estimator(src, chosen: str) -> None:
    """Say which estimator the items call for (few categories/floor-ceiling → WLSMV, non-normal → MLR)."""
    from dancerec.indices.recommend import recommend_estimator

    try:
        scale = (src.scale_min, src.scale_max) if src.scale_min is not None else None
        recommendation = recommend_estimator(src.items, scale=scale)
    except UserError:
        return
    _say_recommendation(recommendation, chosen)


def _say_recommendation(recommendation, chosen: str) -> None:
    """A note naming the recommended estimator when it is not the one chosen (nothing when unknown)."""
    if recommendation is None:
        return
    name, reasons = recommendation
    if name.lower() != chosen.lower():
        note([f"recommended estimator: {name} (--estimator {name.lower()}): " + " ".join(reasons)])


def _cfa_wlsmv(src, json_path: Path | None) -> None:
    """The ordinal CFA (WLSMV) output: naive/scaled/robust fit, loadings, thresholds."""
    from dancerec.indices.ordinal import fit_wlsmv

    res = fit_wlsmv(src.items, src.model if src.model is not None else src.structure)
    print_table(res.fit_table(), title="CFA fit (WLSMV)")
    print_table(res.loadings, title="loadings (std = completely standardised)")
    note(res.problems)
    console.print(f"[dim]estimator: {res.describe()}[/]", highlight=False)
    write_json(json_path, res.to_json())


def sem(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="lavaan-style model file: the structural part (measurement from the instrument) or a full "
            "model with =~ lines. Default: the shipped structural model for the 8 dimensions.",
            show_default=False,
        ),
    ] = None,
    exclude_flagged: ExcludeFlaggedOption = None,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    ci: Annotated[
        str, typer.Option("--ci", help="Indirect-effect CIs: bootstrap, montecarlo or none.")
    ] = "bootstrap",
    n_boot: Annotated[
        int, typer.Option("--bootstrap", min=1, help="Resamples (bootstrap) or draws (montecarlo).")
    ] = 1000,
    seed: SeedOption = None,
    missing: _MissingOption = None,
    estimator: _EstimatorOption = "ml",
    std_lv: _StdLvOption = False,
    export_r: _ExportROption = None,
    json_path: JsonOption = None,
) -> None:
    """Structural equation model: standardised paths, R^2 and indirect effects with confidence intervals."""
    from dancerec.indices.estimation import Estimator
    from dancerec.indices.sem import default_sem_syntax, fit_sem
    from dancerec.indices.syntax import read_model_file

    spec = read_model_file(model) if model is not None else None
    full = spec is not None and bool(spec.measurement)
    if full:
        # a full model names its own items: read the data with its measurement part
        src, default_seed, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
        syntax = spec
    else:
        src, default_seed, st = source(study, data, instrument, None, exclude_flagged, group_column, recoded)
        syntax = default_sem_syntax(src.structure, model.read_text(encoding="utf-8") if model else None)
    header(src)
    if ci == "bootstrap" and n_boot < 1000:
        note([f"{n_boot} bootstrap resamples: at least 1000 are recommended for percentile intervals"])
    data_frame = _with_observed(src.items, spec, data) if full else src.items
    if estimator.lower() == "wlsmv":
        _sem_wlsmv(data_frame, syntax, json_path)
        return

    def fit(tick: Callable[[int, int], None]):
        return fit_sem(
            data_frame,
            syntax,
            ci=ci,
            n_boot=n_boot,
            seed=default_seed if seed is None else seed,
            progress=tick,
            missing=missing,
            estimator=Estimator(name=estimator.lower()),
            std_lv=std_lv,
        )

    res = _with_resample_bar(fit, ci, n_boot)
    _print_sem(res)
    if export_r is not None:
        _export_r(export_r, data_frame, res.fitted, "sem")
    settings = {"exclude_flagged": exclude_flagged, "model": str(model or ""), "missing": missing or "auto"}
    settings |= {"estimator": estimator.lower(), "ci": ci, "n_boot": n_boot, "seed": seed, "std_lv": std_lv}
    store_result(st, "indices.sem", settings, res)
    write_json(json_path, res.to_json())


def _with_observed(items: pd.DataFrame, spec, data: Path | None) -> pd.DataFrame:
    """The items plus the observed variables a full model names beyond them (covariates), read from --data."""
    extra = [v for v in spec.observed if v not in items.columns]
    if extra and data is not None:
        from dancerec.indices.sources import read_table

        return items.join(read_table(data)[extra])
    return items


def _with_resample_bar(fit: Callable, ci: str, n_boot: int):
    """Run ``fit(tick)`` under a progress bar over the bootstrap resamples or Monte Carlo draws."""
    with progress() as bar:
        task = bar.add_task(f"{ci} resamples", total=n_boot if ci != "none" else 1, status="")

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done)

        return fit(tick)


def _print_sem(res) -> None:
    """The SEM output: fit, standardised paths, R², indirect effects with their CIs, problems, estimator."""
    _print_fit(res.fit, "SEM fit", res.n_note)
    print_table(res.paths.drop(columns=["label"]), title="structural paths (std = completely standardised)")
    print_table(res.r2, title="R^2 of the endogenous variables")
    if len(res.indirect):
        cols = ["name", "estimate", "se_delta", "p", "std", "std_ci_low", "std_ci_high"]
        print_table(
            res.indirect[cols],
            title=f"indirect effects ({int(res.level * 100)}% {res.ci_method} CI of std, "
            f"{res.n_resamples} resamples)",
        )
    note(res.problems)
    console.print(f"[dim]estimator: {res.estimator}[/]", highlight=False)


def _sem_wlsmv(data_frame: pd.DataFrame, syntax, json_path: Path | None) -> None:
    """The ordinal SEM (WLSMV): naive/scaled/robust fit, standardised paths, R²."""
    from dancerec.indices.ordinal import fit_wlsmv

    res = fit_wlsmv(data_frame, syntax)
    print_table(res.fit_table(), title="SEM fit (WLSMV)")
    paths = res.params[res.params["kind"] == "regression"]
    print_table(
        paths[["lhs", "op", "rhs", "estimate", "std", "se", "z", "p"]], title="structural paths (std.all)"
    )
    print_table(
        res.r2.rename("r2").rename_axis("variable").reset_index(), title="R^2 of the endogenous variables"
    )
    note(res.problems)
    console.print(f"[dim]estimator: {res.describe()}[/]", highlight=False)
    write_json(json_path, res.to_json())


def register(app: typer.Typer) -> None:
    """Add the cfa and sem commands to the `indices` group."""
    app.command()(cfa)
    app.command()(sem)
