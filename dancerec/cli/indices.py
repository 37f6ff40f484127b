"""`dancerec indices`: Reliability and validity indices, EFA, CFA, SEM, group comparisons and measurement invariance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from dancerec.cli.common import (
    DemoContext,
    DemoStep,
    JsonOption,
    StudyOption,
    console,
    open_study,
    print_table,
    progress,
    write_json,
)
from dancerec.cli.validators import SEED_MAX, image_file
from dancerec.errors import UserError

app = typer.Typer(
    help="Reliability and validity indices, EFA, CFA, SEM, group comparisons and measurement invariance.",
    no_args_is_help=True,
)

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
ExcludeOption = Annotated[
    bool,
    typer.Option("--exclude-flagged", help="Leave out respondents with any quality flag (study responses)."),
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


def _maybe_study(study: Path | None) -> Any | None:
    try:
        return open_study(study)
    except UserError:
        return None


def _source(
    study: Path | None,
    data: Path | None,
    instrument: str | None,
    model: Path | None,
    exclude_flagged: bool,
    group_column: str | None,
    recoded: bool = False,
    *,
    model_is_measurement: bool = True,
):
    """(ItemSource, seed) for the options every command shares."""
    from dancerec.indices.sources import from_data_file, from_study, read_measurement_model
    from dancerec.workspace import DEFAULT_INSTRUMENT

    measurement_model = model if model_is_measurement else None
    if data is not None:
        if exclude_flagged:
            raise UserError(
                "--exclude-flagged applies to the study's stored responses; --data files carry no flags"
            )
        st = _maybe_study(study)
        inst = instrument
        if inst is None and measurement_model is None:
            inst = st.config.instrument if st is not None else DEFAULT_INSTRUMENT
        gcol = group_column or (st.config.group_column if st is not None else "group")
        src = from_data_file(
            data, instrument=inst, model=measurement_model, group_column=gcol, recoded=recoded
        )
        return src, (st.config.seed if st is not None else 0)
    if instrument is not None:
        raise UserError(
            "--instrument applies to --data files; the study's responses use the study's instrument"
        )
    st = open_study(study)
    src = from_study(st, exclude_flagged="all" if exclude_flagged else ())
    if measurement_model is not None:
        spec = read_measurement_model(measurement_model)
        missing = [i for its in spec.measurement.values() for i in its if i not in src.items.columns]
        if missing:
            raise UserError(
                f"{measurement_model}: item(s) not in the study's instrument: {', '.join(missing)}"
            )
        src.structure = spec.measurement
        src.model = spec
        src.scores = None
    return src, st.config.seed


def _note(lines: list[str], out=console) -> None:
    for line in lines:
        out.print(f"[yellow]note:[/] {line}", highlight=False)


def _header(src) -> None:
    console.print(
        f"[bold]{src.description}[/]; {len(src.structure)} dimension(s), "
        f"{sum(len(v) for v in src.structure.values())} item(s)",
        highlight=False,
    )


@app.command()
def items(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    json_path: JsonOption = None,
) -> None:
    """Item analysis: n, mean, SD, skewness, kurtosis, floor/ceiling %, corrected item-total r, alpha if deleted."""
    from dancerec.indices.items import item_analysis

    src, _ = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
    table = item_analysis(src.items, src.structure, scale_min=src.scale_min, scale_max=src.scale_max)
    print_table(table, title="item analysis", digits=2)
    negative = table[table["item_total_r"] < 0]
    if len(negative):
        _note(
            [
                f"{dim}: item(s) {', '.join(g['item'])} correlate negatively with the rest of the dimension; "
                "reverse-keyed item(s) not recoded?"
                for dim, g in negative.groupby("dimension", sort=False)
            ]
        )
    write_json(json_path, {"n": len(src.items), "items": table})


@app.command()
def reliability(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    htmt_method: Annotated[
        str,
        typer.Option(
            "--htmt", help="HTMT variant: geometric (semTools default) or arithmetic (Henseler 2015)."
        ),
    ] = "geometric",
    alpha_sample: Annotated[
        str,
        typer.Option(
            "--alpha-sample",
            help="Respondents for alpha: pairwise (everyone who answered the dimension, pairwise covariances, "
            "psych::alpha's default) or complete (complete cases of all items, the CFA's sample).",
        ),
    ] = "pairwise",
    omega_h: Annotated[
        int,
        typer.Option(
            "--omega-h",
            help="Also omega hierarchical of the whole instrument with this many group factors (psych::omega; "
            "0: skip).",
        ),
    ] = 0,
    json_path: JsonOption = None,
) -> None:
    """Reliability per dimension (alpha with Feldt CI, omega, CR, AVE) and discriminant validity (HTMT, Fornell-Larcker)."""
    from dancerec.indices.reliability import reliability as run
    from dancerec.indices.validity import fornell_larcker_passes, htmt_flags

    if htmt_method not in ("geometric", "arithmetic"):
        raise UserError(f"unknown HTMT variant {htmt_method!r} (use geometric or arithmetic)")
    src, _ = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
    if alpha_sample not in ("pairwise", "complete"):
        raise UserError(f"unknown --alpha-sample {alpha_sample!r} (use pairwise or complete)")
    res = run(src.items, src.structure, htmt_method=htmt_method, alpha_sample=alpha_sample)
    cols = [
        "dimension",
        "n_items",
        "n",
        "n_total",
        "alpha",
        "alpha_ci_low",
        "alpha_ci_high",
        "alpha_std",
        "omega",
        "cr",
        "ave",
    ]
    print_table(res.table[cols], title="reliability (thresholds: alpha, omega, CR >= .70; AVE >= .50)")
    n_cfa = int(res.table["n_cfa"].iloc[0])
    console.print(
        f"alpha: N used / N total per dimension (n / n_total, {alpha_sample}); omega, CR, AVE: the CFA's "
        f"{n_cfa} / {int(res.table['n_total'].iloc[0])} complete cases",
        highlight=False,
    )
    for line in res.warnings:
        console.print(f"[bold red]warning:[/] {line}", highlight=False)
    weak = res.table[~(res.table["alpha_ok"] & res.table["cr_ok"] & res.table["ave_ok"])][
        "dimension"
    ].tolist()
    if weak:
        _note([f"below a threshold: {', '.join(weak)}"])
    if res.fornell_larcker is not None:
        print_table(res.fornell_larcker, title="Fornell-Larcker (diagonal: sqrt AVE)", index=True)
        fails = fornell_larcker_passes(res.fornell_larcker)
        if not fails.all():
            _note([f"Fornell-Larcker criterion not met for: {', '.join(fails[~fails].index)}"])
    if res.htmt is not None:
        print_table(res.htmt, title=f"HTMT ({htmt_method})", index=True)
        flags = htmt_flags(res.htmt)
        if len(flags):
            _note([f"HTMT > .85: {r.dimension_a}-{r.dimension_b} ({r.htmt:.3f})" for r in flags.itertuples()])
    payload = res.to_json()
    if omega_h:
        from dancerec.indices.omega import omega_hierarchical

        om = omega_hierarchical(
            src.items, [i for its in src.structure.values() for i in its], n_factors=omega_h
        )
        console.print(
            f"omega hierarchical = {om.omega_h:.3f}, omega total = {om.omega_total:.3f} ({om.n_factors} group "
            f"factors, N = {om.n}; reflected: {', '.join(om.reflected) or 'none'})",
            highlight=False,
        )
        payload["omega_hierarchical"] = {
            "omega_h": om.omega_h,
            "omega_total": om.omega_total,
            "n_factors": om.n_factors,
            "n": om.n,
            "reflected": om.reflected,
            "g_loadings": om.g_loadings,
            "definition": om.definition,
        }
    for key in ("alpha", "omega", "cr", "ave"):
        console.print(f"[dim]{key}: {res.definitions[key]}[/]", highlight=False)
    write_json(json_path, payload)


@app.command()
def efa(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    n_factors: Annotated[
        int | None,
        typer.Option("--n-factors", min=1, help="Factors to extract (default: parallel analysis)."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help="Extraction: minres, ml, pa (principal-axis factoring, psych fm='pa') or pc "
            "(principal components, psych::principal; 'principal' is an alias)."
        ),
    ] = "minres",
    rotation: Annotated[str, typer.Option(help="Rotation: oblimin, promax, varimax or none.")] = "oblimin",
    n_iter: Annotated[
        int,
        typer.Option("--n-iter", min=1, help="Random data sets for parallel analysis (psych's default 20)."),
    ] = 20,
    smc: Annotated[
        bool,
        typer.Option(
            "--smc",
            help="Parallel analysis on SMC-reduced eigenvalues (psych SMC = TRUE) instead of the one-factor "
            "minres eigenvalues (psych's default).",
        ),
    ] = False,
    seed: SeedOption = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            callback=image_file,
            help="Save the scree/parallel-analysis plot here (PNG).",
            show_default=False,
        ),
    ] = None,
    json_path: JsonOption = None,
) -> None:
    """Factorability (KMO, Bartlett), number of factors (parallel analysis, Kaiser) and the rotated EFA."""
    from dancerec.indices.efa import fit_efa
    from dancerec.indices.factorability import factorability

    src, default_seed = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
    cols = [i for its in src.structure.values() for i in its]
    fac = factorability(src.items, cols)
    console.print(
        f"KMO = {fac.kmo:.3f} ({fac.kmo_label}); Bartlett chi2({fac.bartlett_df}) = {fac.bartlett_chi2:.1f}, "
        f"p = {fac.bartlett_p:.3g} (pairwise correlations, N = {fac.n} of {fac.n_total})",
        highlight=False,
    )
    res = fit_efa(
        src.items,
        cols,
        n_factors=n_factors,
        method=method,
        rotation=rotation,
        structure=src.structure,
        n_iter=n_iter,
        seed=default_seed if seed is None else seed,
        smc=smc,
    )
    pa = res.parallel
    basis = "SMC-reduced" if pa.smc else "one-factor minres"
    console.print(
        f"parallel analysis ({basis} eigenvalues, {pa.n_iter} random sets, N = {pa.n}): {pa.n_factors} "
        f"factor(s), {pa.n_components} component(s); Kaiser: {pa.n_kaiser}; "
        f"extracted {res.n_factors} ({res.method}, {res.rotation}, {res.n} complete cases)",
        highlight=False,
    )
    table = res.loadings.copy()
    table.insert(0, "dimension", [d or "" for d in res.items["dimension"]])
    table["h2"] = res.communalities
    table["flag"] = [
        "cross" if c else ("weak" if w else "")
        for c, w in zip(res.items["cross_loading"], res.items["weak"], strict=True)
    ]
    print_table(table, title="pattern loadings (h2 from pattern x Phi)", index=True, digits=2)
    print_table(res.variance, title="variance accounted for")
    if res.n_factors > 1:
        print_table(res.phi, title="factor correlations", index=True)
    if plot is not None:
        from dancerec.indices.plots import scree_plot

        console.print(f"scree plot: {scree_plot(pa, plot)}")
    write_json(
        json_path,
        {
            "n": res.n,
            "kmo": fac.kmo,
            "kmo_items": fac.kmo_items,
            "factorability_n": fac.n,
            "factorability_missing": fac.missing,
            "bartlett": {"chi2": fac.bartlett_chi2, "df": fac.bartlett_df, "p": fac.bartlett_p},
            "parallel": {
                "basis": "smc" if pa.smc else "minres",
                "n_iter": pa.n_iter,
                "n": pa.n,
                "n_factors": pa.n_factors,
                "n_components": pa.n_components,
                "n_kaiser": pa.n_kaiser,
                "eigenvalues": pa.table,
            },
            "n_factors": res.n_factors,
            "method": res.method,
            "rotation": res.rotation,
            "loadings": {i: res.loadings.loc[i].to_dict() for i in res.loadings.index},
            "communalities": res.communalities,
            "factor_correlations": {f: res.phi.loc[f].to_dict() for f in res.phi.index},
            "variance": res.variance,
            "items": res.items,
        },
    )


def _export_r(path: Path, data, fitted, kind: str) -> None:
    from dancerec.indices.rexport import write_r_export

    script, csv = write_r_export(path, data, fitted, kind=kind)
    console.print(f"R script written to {script} (data: {csv.name})", highlight=False)


def _print_fit(fit, title: str, n_note: str = "") -> None:
    from dancerec.indices.cfa import fit_table

    t = fit_table(fit)
    t["value"] = t["value"].astype(float)
    print_table(t, title=title)
    if n_note:
        _note([n_note])


_EstimatorOption = Annotated[
    str,
    typer.Option(
        "--estimator",
        help="ml (normal-theory ML; FIML with missing answers), mlr (robust ML: Yuan-Bentler scaled "
        "chi2, robust CFI/TLI/RMSEA, sandwich SEs) or wlsmv (ordinal items: polychoric correlations, "
        "DWLS, scaled-shifted chi2; cfa only, complete cases).",
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


@app.command()
def cfa(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
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
    from dancerec.indices.cfa import fit_cfa
    from dancerec.indices.estimation import Estimator

    src, _ = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
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
    print_table(res.loadings, title="loadings (std = completely standardised)")
    print_table(res.factor_correlations, title="factor correlations", index=True)
    print_table(res.largest_residuals(8), title="largest residual correlations")
    payload = res.to_json()
    if mi:
        from dancerec.indices.modindices import modification_indices

        table = modification_indices(res.fitted, top=mi_top)
        print_table(
            table,
            title=f"modification indices (top {mi_top}; chi2 1 df, unadjusted screening values)",
        )
        payload["modindices"] = table.to_dict(orient="records")
    _note(res.problems)
    console.print(f"[dim]estimator: {res.estimator}[/]", highlight=False)
    if export_r is not None:
        _export_r(export_r, src.items, res.fitted, "cfa")
    write_json(json_path, payload)


def _recommend_estimator(src, chosen: str) -> None:
    """Say which estimator the items call for (few categories/floor-ceiling → WLSMV, non-normal → MLR)."""
    from dancerec.indices.recommend import recommend_estimator

    try:
        scale = (src.scale_min, src.scale_max) if src.scale_min is not None else None
        name, reasons = recommend_estimator(src.items, scale=scale)
    except UserError:
        return
    if name.lower() != chosen.lower():
        _note([f"recommended estimator: {name} (--estimator {name.lower()}): " + " ".join(reasons)])


def _cfa_wlsmv(src, json_path: Path | None) -> None:
    """The ordinal CFA (WLSMV) output: naive/scaled/robust fit, loadings, thresholds."""
    from dancerec.indices.ordinal import fit_wlsmv

    res = fit_wlsmv(src.items, src.model if src.model is not None else src.structure)
    print_table(res.fit_table(), title="CFA fit (WLSMV)")
    print_table(res.loadings, title="loadings (std = completely standardised)")
    _note(res.problems)
    console.print(f"[dim]estimator: {res.describe()}[/]", highlight=False)
    write_json(json_path, res.to_json())


@app.command()
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
    exclude_flagged: ExcludeOption = False,
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
        src, default_seed = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
        syntax = spec
    else:
        src, default_seed = _source(study, data, instrument, None, exclude_flagged, group_column, recoded)
        syntax = default_sem_syntax(src.structure, model.read_text(encoding="utf-8") if model else None)
    _header(src)
    if ci == "bootstrap" and n_boot < 1000:
        _note([f"{n_boot} bootstrap resamples: at least 1000 are recommended for percentile intervals"])
    data_frame = src.items
    if full:
        extra = [v for v in spec.observed if v not in data_frame.columns]
        if extra and data is not None:
            from dancerec.indices.sources import read_table

            data_frame = data_frame.join(read_table(data)[extra])
    with progress() as bar:
        task = bar.add_task(f"{ci} resamples", total=n_boot if ci != "none" else 1, status="")

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done)

        res = fit_sem(
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
    _note(res.problems)
    console.print(f"[dim]estimator: {res.estimator}[/]", highlight=False)
    if export_r is not None:
        _export_r(export_r, data_frame, res.fitted, "sem")
    write_json(json_path, res.to_json())


@app.command()
def groups(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    method: Annotated[str, typer.Option(help="auto (assumption checks), welch, anova or kruskal.")] = "auto",
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            callback=image_file,
            help="Save a plot of the group means here (PNG).",
            show_default=False,
        ),
    ] = None,
    json_path: JsonOption = None,
) -> None:
    """Compare groups on every dimension score: omnibus test chosen by its assumptions, post-hoc pairs, effect sizes."""
    from dancerec.indices.groups import compare_groups

    src, _ = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
    if src.group is None:
        raise UserError("no group column in the data (use --group-column)")
    res = compare_groups(src.dimension_scores(), src.group, method=method)
    wide = res.descriptives.pivot(index="dimension", columns="group", values="mean").reindex(
        list(src.structure)
    )
    print_table(wide, title="mean score per group", index=True, digits=2)
    cols = ["dimension", "test", "statistic", "df1", "df2", "p", "eta2", "omega2", "posthoc"]
    print_table(res.tests[cols], title="omnibus tests")
    sig = res.posthoc[res.posthoc["significant"]] if len(res.posthoc) else res.posthoc
    if len(sig):
        print_table(
            sig[["dimension", "group_a", "group_b", "mean_diff", "p_adj", "cohens_d", "method"]],
            title="significant post-hoc pairs",
        )
    _note(res.notes)
    if plot is not None:
        from dancerec.indices.plots import group_means_plot

        console.print(f"plot: {group_means_plot(res, plot)}")
    write_json(json_path, res.to_json())


@app.command()
def invariance(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeOption = False,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    strict: Annotated[bool, typer.Option("--strict", help="Also test equal residual variances.")] = False,
    free: Annotated[
        str | None,
        typer.Option(
            "--free",
            help="Partial invariance: release these constraints in every group, lavaan group.partial notation, "
            "comma-separated: factor=~item (loading), item~1 (intercept), item~~item (residual variance).",
            show_default=False,
        ),
    ] = None,
    n_scores: Annotated[
        int, typer.Option("--scores", help="Score tests to show for the first failing level (0: none).")
    ] = 8,
    json_path: JsonOption = None,
) -> None:
    """Measurement invariance across groups: configural, metric and scalar models with delta chi2/CFI/RMSEA,
    partial invariance (--free) and score tests suggesting which constraint to release."""
    from dancerec.indices.invariance import measurement_invariance

    src, _ = _source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    _header(src)
    if src.group is None:
        raise UserError("no group column in the data (use --group-column)")
    levels = ("configural", "metric", "scalar", "strict") if strict else ("configural", "metric", "scalar")
    res = measurement_invariance(src.items, src.structure, src.group, levels=levels, free=free)
    cols = [
        "level",
        "freed",
        "chi2",
        "df",
        "cfi",
        "rmsea",
        "srmr",
        "delta_chi2",
        "delta_df",
        "delta_p",
        "delta_cfi",
        "delta_rmsea",
        "status",
    ]
    table = res.table[cols] if res.free else res.table[[c for c in cols if c != "freed"]]
    print_table(table, title=f"measurement invariance across {', '.join(res.groups)}")
    console.print(
        f"highest level supported: [bold]{res.highest or 'none'}[/] "
        "(delta CFI >= -.010 and delta RMSEA <= .015)",
        highlight=False,
    )
    if res.free:
        console.print(f"released in every group (partial invariance): {res.free}", highlight=False)
    if res.score_tests is not None and len(res.score_tests) and n_scores > 0:
        st = res.score_tests.head(n_scores)
        print_table(
            st[["kind", "lhs", "op", "rhs", "group_b", "X2", "p", "p_holm"]],
            title=f"score tests of the {res.score_level} constraints (lavTestScore, 1 df; p_holm over "
            f"{len(res.score_tests)} constraints)",
        )
    if res.latent_means is not None:
        print_table(res.latent_means, title="latent mean differences (scalar model)")
    _note(res.notes)
    write_json(json_path, res.to_json())


# -- demo ----------------------------------------------------------------------------------------
def _demo_indices(ctx: DemoContext) -> None:
    """Reliability, CFA, SEM (default structural model) and group comparisons on the stored responses."""
    from dancerec.indices.battery import run_battery
    from dancerec.indices.sources import from_study

    study = ctx.study
    src = from_study(study, exclude_flagged="all")
    report = run_battery(
        src.items,
        src.structure,
        group=src.group,
        scores=src.dimension_scores(),
        ci="montecarlo",
        n_boot=5000,
        seed=study.config.seed,
        efa=False,
        invariance=True,
        scale_min=src.scale_min,
        scale_max=src.scale_max,
    )
    out = ctx.out
    out.print(f"{src.description}; CFA/SEM: {report.cfa.n_note}", highlight=False)
    rel = report.reliability.table
    print_table(
        rel[["dimension", "n_items", "alpha", "alpha_ci_low", "alpha_ci_high", "omega", "cr", "ave"]],
        title="reliability",
        out=out,
    )
    fit_rows = []
    for name, fit in (("CFA", report.cfa.fit), ("SEM", report.sem.fit)):
        fit_rows.append(
            {
                "model": name,
                "chi2": fit.chi2,
                "df": fit.df,
                "cfi": fit.cfi,
                "tli": fit.tli,
                "rmsea": fit.rmsea,
                "rmsea_low": fit.rmsea_ci[0],
                "rmsea_high": fit.rmsea_ci[1],
                "srmr": fit.srmr,
            }
        )
    print_table(pd.DataFrame(fit_rows), title="model fit (ML, lavaan-comparable)", out=out)
    print_table(
        report.sem.paths[["lhs", "rhs", "std", "p"]], title="structural paths (standardised)", out=out
    )
    ind = report.sem.indirect
    print_table(
        ind[["name", "std", "std_ci_low", "std_ci_high"]],
        title=f"indirect effects (95% Monte Carlo CI, {report.sem.n_resamples} draws; "
        "`dancerec indices sem` bootstraps 1000 resamples)",
        out=out,
    )
    if report.invariance is not None:
        inv = report.invariance
        print_table(
            inv.table[["level", "chi2", "df", "cfi", "rmsea", "delta_cfi", "delta_rmsea", "status"]],
            title="measurement invariance across groups",
            out=out,
        )
    if report.groups is not None:
        g = report.groups
        print_table(
            g.tests[["dimension", "test", "statistic", "p", "eta2", "omega2", "posthoc"]],
            title="group comparisons",
            out=out,
        )
        from dancerec.indices.plots import group_means_plot

        path = group_means_plot(g, study.artifacts / "indices" / "group-means.png")
        ctx.outputs["indices: group means plot"] = path
    _note(report.notes, out)
    ctx.data["indices"] = report


# Steps this group contributes to `dancerec demo`, run in order.
DEMO_STEPS: list[DemoStep] = [DemoStep("indices: reliability, CFA, SEM, group comparisons", _demo_indices)]
