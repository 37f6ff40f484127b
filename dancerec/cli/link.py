"""`dancerec link`: join offline recommender metrics to perceived-quality scores and test the link."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dancerec.cli.common import (
    ExcludeFlaggedOption,
    JsonOption,
    StudyOption,
    console,
    excluded_flags,
    open_study,
    print_table,
    progress,
    store_result,
    write_json,
)
from dancerec.cli.validators import SEED_MAX
from dancerec.errors import UserError

app = typer.Typer(
    help="Join offline recommender metrics to perceived-quality scores and test the link.\n\n"
    "Each study group is mapped to the recommender run its participants saw (\\[groups] in study.toml, "
    "or --map GROUP=RUN_ID). Group level: the run's offline metrics beside the group's mean dimension "
    "scores, group tests and rank correlations across groups (the between-group association). User level "
    "(respondents with a user_id), within groups: per-user metrics of their group's run against the "
    "respondent's scores (within-group Spearman correlations, regressions with group fixed effects, an "
    "SEM with group-centred metrics predicting the latent dimensions). Every family of tests reports raw "
    "and adjusted p (--adjust); only adjusted p < .05 is called significant. `link plan` estimates power "
    "before a study. Missing links are counted, never dropped silently.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True)
def link(
    ctx: typer.Context,
    study: StudyOption = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="GROUP=RUN_ID (repeat, or comma-separate) overriding/extending \\[groups] in study.toml.",
            show_default=False,
        ),
    ] = None,
    save_map: Annotated[
        bool, typer.Option("--save-map", help="Store the --map entries in study.toml.")
    ] = False,
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off K of the offline metrics.")] = 10,
    exclude_flagged: ExcludeFlaggedOption = None,
    adjust: Annotated[
        str, typer.Option("--adjust", help="Multiplicity correction per family: holm, bh or none.")
    ] = "holm",
    primary: Annotated[
        list[str] | None,
        typer.Option(
            "--primary",
            help="Pre-registered METRIC:DIMENSION hypothesis (repeat), e.g. recall@10:usefulness; tested "
            "as its own family and shown first. Everything else is exploratory.",
            show_default=False,
        ),
    ] = None,
    regression: Annotated[
        str,
        typer.Option("--regression", help="fixed (group fixed effects), mixedlm or cluster."),
    ] = "fixed",
    n_boot: Annotated[
        int, typer.Option("--n-boot", min=1, help="Bootstrap resamples for the correlation CIs.")
    ] = 1000,
    seed: Annotated[
        int | None,
        typer.Option("--seed", min=0, max=SEED_MAX, help="Bootstrap seed (default: the study's seed)."),
    ] = None,
    no_sem: Annotated[
        bool, typer.Option("--no-sem", help="Skip the metrics → latent dimensions SEM.")
    ] = False,
    json_path: JsonOption = None,
) -> None:
    """Run the linkage analysis and print the group table, correlations, regressions and SEM paths."""
    if ctx.invoked_subcommand is not None:
        return
    from dancerec.indices.linkage import link_study, parse_group_map, save_group_map

    st = open_study(study)
    pairs = [p for item in (map_ or []) for p in item.split(",") if p.strip()]
    mapping = parse_group_map(pairs)
    flags = excluded_flags(st, exclude_flagged)
    with progress() as bar:  # the bootstrap and the SEM take a while on a real study
        bar.add_task("linking offline metrics to perceived quality", total=None, status="")
        result = link_study(
            st,
            group_map=mapping,
            k=k,
            exclude_flagged=flags,
            n_boot=n_boot,
            seed=seed,
            regression=regression,
            sem=not no_sem,
            adjust=adjust,
            primary=primary or (),
        )
    if save_map and mapping:
        save_group_map(st, mapping)
    show_linkage(result)
    if not mapping or save_map:  # the study's own group map: store it where the report looks it up
        _store(st, result, flags, adjust=adjust, primary=primary or (), regression=regression, sem=not no_sem)
    write_json(json_path, result.to_json())


def _store(st, result, flags: list[str], **options) -> None:
    """Keep the linkage in the study under the settings the report looks it up with."""
    from dancerec.indices.linkage import linkage_settings

    s = result.settings
    settings = linkage_settings(
        k=s["k"], exclude_flagged=flags, n_boot=s["n_boot"], seed=s["seed"], **options
    )
    store_result(st, "link", settings, result, recommender=True)


@app.command("plan")
def plan(
    groups: Annotated[int, typer.Option("--groups", help="Number of study groups (recommenders).")] = 3,
    n: Annotated[
        str, typer.Option("--n", help="Respondents per group, comma list (each linked to a user).")
    ] = "50,100,200",
    rho: Annotated[
        str,
        typer.Option(
            "--rho", help="Target within-group correlation of recall@10 with latent usefulness (comma list)."
        ),
    ] = "0.1,0.2,0.3",
    f: Annotated[float, typer.Option("--f", help="Target Cohen's f of the groups' latent means.")] = 0.25,
    reliability: Annotated[
        float, typer.Option("--reliability", help="Reliability of each dimension score.")
    ] = 0.8,
    dimensions: Annotated[int, typer.Option("--dimensions", help="Dimensions in the instrument.")] = 8,
    n_sims: Annotated[int, typer.Option("--n-sims", help="Simulated studies per design cell.")] = 200,
    adjust: Annotated[str, typer.Option("--adjust", help="holm, bh or none (as in `link`).")] = "holm",
    seed: Annotated[int, typer.Option("--seed", help="Simulation seed.")] = 0,
    sem: Annotated[
        bool,
        typer.Option(
            "--sem/--no-sem",
            help="Also the SEM path recall@10 -> usefulness (Likert answers from the survey simulator, "
            "the SEM of `link`; off by default because each simulated study then fits an SEM, ~0.25 s).",
        ),
    ] = False,
    figure: Annotated[
        Path | None, typer.Option("--figure", help="Save the power curve here (.png or .svg).")
    ] = None,
    json_path: JsonOption = None,
) -> None:
    """Power of a planned linked study by simulation (same analysis and correction as `link`)."""
    from dancerec.cli.common import progress
    from dancerec.indices.linkage.multiplicity import check_adjust
    from dancerec.indices.linkage.planning import plan_power

    check_adjust(adjust)
    ns, rhos = _numbers(n, int, "--n"), _numbers(rho, float, "--rho")
    if groups < 1 or min(ns) < 5 or not all(0 <= r < 1 for r in rhos) or not 0 < reliability < 1:
        raise UserError("need --groups >= 1, --n >= 5, 0 <= --rho < 1 and 0 < --reliability < 1")
    with progress() as bar:
        task = bar.add_task("simulating designs", total=len(ns) * len(rhos), status="")
        result = plan_power(
            n_groups=groups,
            n_per_group=ns,
            rho=rhos,
            f=f,
            reliability=reliability,
            n_dimensions=dimensions,
            n_sims=n_sims,
            adjust=adjust,
            sem=sem,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    print_table(result.table.drop(columns=["n_sims"]), title=f"power ({n_sims} simulated studies per row)")
    print_table(result.minimum_detectable(), title="minimum detectable effect at 80% power (simulated grid)")
    print_table(result.n_needed(), title="respondents per group needed for 80% power (simulated grid)")
    if figure is not None:
        console.print(f"power curve: {result.figure(figure)}")
    write_json(
        json_path,
        {
            "power": result.table,
            "minimum_detectable": result.minimum_detectable(),
            "n_needed": result.n_needed(),
            "settings": result.settings,
        },
    )


def _numbers(text: str, kind: type, option: str) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a comma list of numbers") from None


P_COLUMNS = ["p", "p_adj", "significant"]


def _p_table(frame, keys: list[str], out, title: str) -> None:
    """Print ``keys`` + estimates + raw/adjusted p, the family named in the title."""
    from dancerec.indices.linkage.multiplicity import family_note

    cols = [c for c in keys if c in frame.columns] + [c for c in P_COLUMNS if c in frame.columns]
    print_table(frame[cols], title=title, out=out)
    out.print(f"[dim]{family_note(frame)}[/]")


def show_linkage(result, out=None) -> None:
    """Print the linkage's key tables (rich) — shared by the command and the demo."""

    out = out or console
    k = result.k
    if result.primary is not None and len(result.primary):
        _p_table(
            result.primary,
            ["metric", "dimension", "n", "rho", "ci_low", "ci_high"],
            out,
            "CONFIRMATORY: pre-registered hypotheses (within-group Spearman rho, own family)",
        )
        out.print("[bold]Everything below is exploratory.[/]")
    table = result.group.table
    metric_cols = [c for c in table.columns if "@" in c and not c.endswith(("_ci_low", "_ci_high"))]
    dims = [d for d in result.dimensions if d in table.columns]
    print_table(
        table[["group", "model", "n", *metric_cols]], title=f"offline metrics per group (K = {k})", out=out
    )
    print_table(table[["group", *dims]], title="mean perceived quality per group", out=out)
    if not result.group.tests.empty:
        _p_table(
            result.group.tests,
            ["dimension", "test", "statistic", "df1", "df2"],
            out,
            "group tests per dimension",
        )
    corr = result.group.correlations.dropna(subset=["rho"])
    focus = corr[corr["metric"].isin([f"recall@{k}", f"serendipity@{k}"])]
    if not focus.empty:
        print_table(
            focus[["metric", "dimension", "n_groups", "rho", "p", "p_adj"]],
            title="rank correlation across groups (descriptive)",
            out=out,
        )
    out.print(f"[dim]{result.group.caveat}[/]")
    out.print(f"[dim]{result.n_statement()}; user-level estimates are within groups (group-centred).[/]")
    if not result.correlations.empty:
        top = result.correlations.sort_values("p").head(12)
        _p_table(
            top,
            ["metric", "dimension", "n", "rho", "ci_low", "ci_high"],
            out,
            "user level (within groups): Spearman rho, 12 smallest p",
        )
    if result.regressions is not None and not result.regressions.empty:
        regs = result.regressions
        focus = regs[regs["term"] == f"recall@{k}"]
        _p_table(
            focus,
            ["dimension", "term", "estimate", "ci_low", "ci_high", "n"],
            out,
            "user level (within groups): dimension ~ metrics, recall coefficient",
        )
    if result.sem is not None:
        paths = result.sem.paths
        fit = result.sem.fit
        shown = paths[paths["significant"]] if paths["significant"].any() else paths.sort_values("p").head(8)
        what = (
            "significant paths (adjusted p)"
            if paths["significant"].any()
            else "no path significant after adjustment; 8 smallest p"
        )
        _p_table(
            shown,
            ["dimension", "metric", "std"],
            out,
            f"SEM metrics → latent dimensions (N = {result.sem.n} of {result.sem.n_total}, "
            f"CFI = {fit.get('cfi', float('nan')):.3f}, RMSEA = {fit.get('rmsea', float('nan')):.3f}); {what}",
        )
    if result.sem is None and result.settings.get("sem_note"):
        out.print(f"[yellow]SEM: {result.settings['sem_note']}[/]")
    findings = result.significant_findings()
    out.print("[bold]significant after adjustment:[/] " + ("; ".join(findings) if findings else "none"))
    out.print(f"[dim]design sensitivity: {result.sensitivity()['text']}[/]")
    print_table(result.missing.table(), title="links", out=out)
