"""`dancerec indices`: Reliability and validity indices, EFA, CFA, SEM, group comparisons and measurement invariance.

The CFA and SEM commands live in :mod:`dancerec.cli.indices_models`; shared options in
:mod:`dancerec.cli.indices_common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import (
    ExcludeFlaggedOption,
    JsonOption,
    StudyOption,
    console,
    print_table,
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
from dancerec.cli.validators import image_file
from dancerec.errors import UserError
from dancerec.reports import apa

app = typer.Typer(
    help="Reliability and validity indices, EFA, CFA, SEM, group comparisons and measurement invariance.",
    no_args_is_help=True,
)


@app.command()
def items(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
    group_column: GroupColumnOption = None,
    recoded: RecodedOption = False,
    json_path: JsonOption = None,
) -> None:
    """Item analysis: n, mean, SD, skewness, kurtosis, floor/ceiling %, corrected item-total r, alpha if deleted."""
    from dancerec.indices.items import item_analysis

    src, _, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
    table = item_analysis(src.items, src.structure, scale_min=src.scale_min, scale_max=src.scale_max)
    print_table(table, title="item analysis", digits=2)
    negative = table[table["item_total_r"] < 0]
    if len(negative):
        note(
            [
                f"{dim}: item(s) {', '.join(g['item'])} correlate negatively with the rest of the dimension; "
                "reverse-keyed item(s) not recoded?"
                for dim, g in negative.groupby("dimension", sort=False)
            ]
        )
    store_result(st, "indices.items", {"exclude_flagged": exclude_flagged, "model": str(model or "")}, table)
    write_json(json_path, {"n": len(src.items), "items": table})


@app.command()
def reliability(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
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

    if htmt_method not in ("geometric", "arithmetic"):
        raise UserError(f"unknown HTMT variant {htmt_method!r} (use geometric or arithmetic)")
    src, _, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
    if alpha_sample not in ("pairwise", "complete"):
        raise UserError(f"unknown --alpha-sample {alpha_sample!r} (use pairwise or complete)")
    res = run(src.items, src.structure, htmt_method=htmt_method, alpha_sample=alpha_sample)
    _print_reliability(res, alpha_sample)
    _print_discriminant(res, htmt_method)
    payload = res.to_json()
    if omega_h:
        payload["omega_hierarchical"] = _omega_hierarchical(src, omega_h)
    for key in ("alpha", "omega", "cr", "ave"):
        console.print(f"[dim]{key}: {res.definitions[key]}[/]", highlight=False)
    settings = {"exclude_flagged": exclude_flagged, "model": str(model or ""), "htmt": htmt_method}
    store_result(st, "indices.reliability", {**settings, "alpha_sample": alpha_sample}, res)
    write_json(json_path, payload)


#: the columns of the reliability table, in the order printed
_RELIABILITY_COLUMNS = [
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


def _print_reliability(res, alpha_sample: str) -> None:
    """The per-dimension table, which sample each index used, warnings and the dimensions below a threshold."""
    print_table(
        res.table[_RELIABILITY_COLUMNS], title="reliability (thresholds: alpha, omega, CR >= .70; AVE >= .50)"
    )
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
        note([f"below a threshold: {', '.join(weak)}"])


def _print_discriminant(res, htmt_method: str) -> None:
    """Discriminant validity: the Fornell-Larcker matrix and the HTMT ratios, each with the pairs that fail."""
    from dancerec.indices.validity import fornell_larcker_passes, htmt_flags

    if res.fornell_larcker is not None:
        print_table(res.fornell_larcker, title="Fornell-Larcker (diagonal: sqrt AVE)", index=True)
        fails = fornell_larcker_passes(res.fornell_larcker)
        if not fails.all():
            note([f"Fornell-Larcker criterion not met for: {', '.join(fails[~fails].index)}"])
    if res.htmt is not None:
        print_table(res.htmt, title=f"HTMT ({htmt_method})", index=True)
        flags = htmt_flags(res.htmt)
        if len(flags):
            note([f"HTMT > .85: {r.dimension_a}-{r.dimension_b} ({r.htmt:.3f})" for r in flags.itertuples()])


def _omega_hierarchical(src, n_factors: int) -> dict:
    """`reliability --omega-h`: print omega hierarchical of the whole instrument and return its JSON entry."""
    from dancerec.indices.omega import omega_hierarchical

    om = omega_hierarchical(
        src.items, [i for its in src.structure.values() for i in its], n_factors=n_factors
    )
    console.print(
        f"omega hierarchical = {om.omega_h:.3f}, omega total = {om.omega_total:.3f} ({om.n_factors} group "
        f"factors, N = {om.n}; reflected: {', '.join(om.reflected) or 'none'})",
        highlight=False,
    )
    return {
        "omega_h": om.omega_h,
        "omega_total": om.omega_total,
        "n_factors": om.n_factors,
        "n": om.n,
        "reflected": om.reflected,
        "g_loadings": om.g_loadings,
        "definition": om.definition,
    }


@app.command()
def efa(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
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

    src, default_seed, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
    cols = [i for its in src.structure.values() for i in its]
    fac = factorability(src.items, cols)
    _print_factorability(fac)
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
    _print_retained(res)
    _print_efa(res)
    if plot is not None:
        from dancerec.indices.plots import scree_plot

        console.print(f"scree plot: {scree_plot(res.parallel, plot)}")
    settings = {"exclude_flagged": exclude_flagged, "model": str(model or ""), "method": method}
    store_result(st, "indices.efa", {**settings, "rotation": rotation, "n_factors": res.n_factors}, res)
    write_json(json_path, _efa_json(res, fac))


def _print_factorability(fac) -> None:
    """One line: KMO with its label and Bartlett's test of sphericity, with the sample they used."""
    console.print(
        f"KMO = {fac.kmo:.3f} ({fac.kmo_label}); Bartlett chi2({fac.bartlett_df}) = {fac.bartlett_chi2:.1f}, "
        f"{apa.p_clause(fac.bartlett_p)} (pairwise correlations, N = {fac.n} of {fac.n_total})",
        highlight=False,
    )


def _print_retained(res) -> None:
    """One line: how many factors parallel analysis and Kaiser suggest, and how many were extracted."""
    pa = res.parallel
    basis = "SMC-reduced" if pa.smc else "one-factor minres"
    console.print(
        f"parallel analysis ({basis} eigenvalues, {pa.n_iter} random sets, N = {pa.n}): {pa.n_factors} "
        f"factor(s), {pa.n_components} component(s); Kaiser: {pa.n_kaiser}; "
        f"extracted {res.n_factors} ({res.method}, {res.rotation}, {res.n} complete cases)",
        highlight=False,
    )


def _print_efa(res) -> None:
    """Pattern loadings with h² and flags, variance accounted for, factor correlations."""
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


def _efa_json(res, fac) -> dict:
    """The `efa --json` payload: factorability, parallel analysis, the rotated solution."""
    pa = res.parallel
    return {
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
    }


@app.command()
def groups(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
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

    src, _, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
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
    note(res.notes)
    if plot is not None:
        from dancerec.indices.plots import group_means_plot

        console.print(f"plot: {group_means_plot(res, plot)}")
    store_result(st, "indices.groups", {"exclude_flagged": exclude_flagged, "method": method}, res)
    write_json(json_path, res.to_json())


@app.command()
def invariance(
    study: StudyOption = None,
    data: DataOption = None,
    instrument: InstrumentOption = None,
    model: ModelOption = None,
    exclude_flagged: ExcludeFlaggedOption = None,
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

    src, _, st = source(study, data, instrument, model, exclude_flagged, group_column, recoded)
    header(src)
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
        top = res.score_tests.head(n_scores)
        print_table(
            top[["kind", "lhs", "op", "rhs", "group_b", "X2", "p", "p_holm"]],
            title=f"score tests of the {res.score_level} constraints (lavTestScore, 1 df; p_holm over "
            f"{len(res.score_tests)} constraints)",
        )
    if res.latent_means is not None:
        print_table(res.latent_means, title="latent mean differences (scalar model)")
    note(res.notes)
    settings = {"exclude_flagged": exclude_flagged, "model": str(model or ""), "levels": list(levels)}
    store_result(st, "indices.invariance", {**settings, "free": free or ""}, res)
    write_json(json_path, res.to_json())


# cfa and sem
from dancerec.cli.indices_models import register  # noqa: E402

register(app)
