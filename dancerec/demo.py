"""`dancerec demo`: the whole pipeline on built-in generated data, one step after another.

The steps call the subsystems' public functions (never the command modules, so there is no CLI ↔ demo
cycle) and print through :mod:`dancerec.console`, as the commands do. The order runs the recommenders
first, so that the simulated user study can be planted on their per-user metrics:
recommender (simulate, split, tune, evaluate, compare) → plan → survey → indices → link → report.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from dancerec.console import print_table, write_json
from dancerec.workspace import STUDY_FILE, Study

#: the simulated interaction log
DEMO_WORLD = {"n_users": 800, "n_items": 1000, "mean_items": 30}
#: the recommenders evaluated (EASE's λ is tuned on a validation split carved from the training part)
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "mostpop": {},
    "svd": {"n_factors": 16},
    "ncf": {"epochs": 8, "batch_size": 1024},
    "ease": {},
}
DEMO_TUNED = ("ease",)
DEMO_TUNING_BUDGET = 4
#: share of answers left blank in the simulated survey (so FIML has something to do)
DEMO_MISSING_RATE = 0.01


@dataclass
class DemoContext:
    """State passed between demo steps: the study, shared intermediate results, outputs to list."""

    study: Study
    out: Console
    data: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    title: str
    run: Callable[[DemoContext], None]


# -- recommender -----------------------------------------------------------------------------------
def simulate_log(ctx: DemoContext) -> None:
    """Simulate a music/dance interaction log and import it as a dataset."""
    from dancerec.recommender.data import import_file
    from dancerec.recommender.simulate import simulate_world

    seed = ctx.study.config.seed
    folder = Path(tempfile.mkdtemp(prefix="dancerec-demo-sim-"))
    simulate_world(
        DEMO_WORLD["n_users"],
        DEMO_WORLD["n_items"],
        mean_items=DEMO_WORLD["mean_items"],
        seed=seed,
        out=folder,
    )
    info = import_file(ctx.study, folder, "demo", source="simulated")
    ctx.out.print(
        f"simulated world (seed {seed}): {info.n_interactions:,} interactions of {info.n_users:,} users with "
        f"{info.n_items:,} music/dance items (density {info.density:.3f})"
    )
    ctx.data["dataset"] = info.name


def split_log(ctx: DemoContext) -> None:
    """Per-user chronological 80/20 split."""
    from dancerec.recommender.splits import split_dataset

    info = split_dataset(ctx.study, ctx.data["dataset"], "chronological", name="demo-chrono")
    ctx.out.print(
        f"per-user chronological 80/20 split: {info.n_train:,} train / {info.n_test:,} test, "
        f"{info.n_test_users:,} users evaluated"
    )
    ctx.data["split"] = info.name


def tune_and_evaluate(ctx: DemoContext) -> None:
    """Tune EASE on a validation split of the training part, then evaluate every model (full ranking)."""
    from dancerec.recommender.experiment import Experiment
    from dancerec.recommender.registry import make_model
    from dancerec.recommender.splits import load_split
    from dancerec.recommender.tune import record_tuning, tune_model

    data = load_split(ctx.study, ctx.data["split"])
    seed = ctx.study.config.seed
    params = {name: dict(p) for name, p in DEMO_MODELS.items()}
    for name in DEMO_TUNED:
        tuning = tune_model(name, data.train, budget=DEMO_TUNING_BUDGET, seed=seed)
        record_tuning(ctx.study, tuning, split=data.name)
        params[name].update(tuning.best_params)
        ctx.out.print(f"tuned {name} on a validation split of the training part: {tuning.best_params}")
    models = {name: make_model(name, **p) for name, p in params.items()}
    result = Experiment(data, models, (5, 10, 20), n_bootstrap=500).run(study=ctx.study, split_name=data.name)
    print_table(result.table(), title="offline evaluation (full ranking; EASE tuned)", out=ctx.out, digits=4)
    ctx.data["runs"] = dict(result.run_ids)
    ctx.data["interactions_users"] = [str(u) for u in data.train.user_ids[data.test_users]]


def compare_models(ctx: DemoContext) -> None:
    """Paired per-user tests against MostPop (Holm-corrected) and precision/recall curves."""
    from dancerec.recommender.experiment import compare_runs
    from dancerec.recommender.plots import plot_curves

    result, curves = compare_runs(
        ctx.study,
        runs=list(ctx.data["runs"].values()),
        split=None,
        baseline="mostpop",
        metrics=["precision@10", "recall@10", "ndcg@10"],
    )
    show = result[["model", "metric", "mean", "ci_low", "ci_high", "diff", "p_t_holm", "p_wilcoxon_holm"]]
    print_table(show, title="paired tests against MostPop (Holm-corrected)", out=ctx.out, digits=4)
    path = ctx.study.artifacts / "recommender" / "demo-curves.png"
    plot_curves(curves, path)
    ctx.outputs["recommender curves"] = path


# -- the linked user study ----------------------------------------------------------------------------
def plan_study(ctx: DemoContext) -> None:
    """Plan the linked user study on the recommender runs (before the survey is simulated)."""
    from dancerec.indices.linkage import plan_study_from_runs

    plan, group_map = plan_study_from_runs(ctx.study, ctx.data["runs"], n_groups=3, n_per_group=150)
    ctx.data["respondent_plan"] = plan
    ctx.data["group_map"] = group_map
    shifts = plan.drop(columns=["group", "user_id"]).groupby(plan["group"]).mean()
    ctx.out.print(
        "planted link: latent usefulness + 0.5 × z(recall@10), surprise dimension + 0.5 × z(serendipity@10); "
        "groups " + ", ".join(f"{g} → {r}" for g, r in group_map.items())
    )
    print_table(shifts.reset_index(), title="mean planted latent shift per group", out=ctx.out)


def simulate_survey(ctx: DemoContext) -> None:
    """Simulate the user study, write it as a Qualtrics CSV and a 问卷星 GBK CSV, import both, score."""
    from dancerec.survey.importer import import_file
    from dancerec.survey.scoring import group_means_table
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.store import flag_counts, load_scores, study_instrument
    from dancerec.survey.writers import write_responses

    study = ctx.study
    inst = study_instrument(study)
    plan = ctx.data.get("respondent_plan")
    if isinstance(plan, pd.DataFrame):
        shift_cols = [c for c in plan.columns if c in inst.dimensions]
        respondents = plan[[c for c in ("group", "user_id") if c in plan.columns]]
        sim = simulate_responses(
            inst,
            seed=study.config.seed,
            respondents=respondents,
            latent_shift=plan[shift_cols] if shift_cols else None,
            # only the planted offline-metric link separates the groups, no extra group quality
            group_quality=dict.fromkeys(respondents["group"].unique(), 0.0),
            missing_rate=DEMO_MISSING_RATE,
        )
        source = f"the respondent plan ({len(plan)} respondents, latent shifts on {shift_cols or 'none'})"
    else:  # no recommender runs to plant a link on: an unlinked study of three groups
        sim = simulate_responses(
            inst, n=600, groups=("A", "B", "C"), seed=study.config.seed, missing_rate=DEMO_MISSING_RATE
        )
        source = "600 respondents in groups A, B, C"
    responses = sim.responses
    folder = study.artifacts / "survey"
    in_first = (responses["group"] == sim.truth.groups[0]).to_numpy(dtype=bool)
    if in_first.all():  # a single group: split by position instead
        in_first = pd.RangeIndex(len(responses)).to_numpy() < len(responses) // 2
    qualtrics = write_responses(responses[in_first], inst, folder / "qualtrics-export.csv", "qualtrics")
    wjx = write_responses(responses[~in_first], inst, folder / "wjx-export-gbk.csv", "wjx", encoding="gbk")
    truth_file = sim.truth.save(folder / "simulated-truth.json")
    ctx.out.print(f"simulated {source}; wrote {qualtrics.name} and {wjx.name}")
    for path in (qualtrics, wjx):
        report = import_file(study, path)
        state = "already present" if report.already_present else f"{report.n_new} new"
        ctx.out.print(
            f"  imported {path.name}: {report.format}, {report.encoding}, {report.n_valid} respondents ({state})"
        )
    scores = load_scores(study)
    dims = [c for c in scores.columns if c not in ("group", "user_id")]
    print_table(
        group_means_table(scores[dims], scores["group"]),
        title="mean dimension scores per group (1–5; risk: higher = more risk)",
        digits=2,
        out=ctx.out,
    )
    print_table(flag_counts(study), title="quality flags", out=ctx.out)
    ctx.data["survey_instrument"] = inst.name
    ctx.data["survey_truth"] = sim.truth
    ctx.data["survey_scores"] = scores
    ctx.outputs["survey: Qualtrics export"] = qualtrics
    ctx.outputs["survey: 问卷星 export (GBK)"] = wjx
    ctx.outputs["survey: planted truth"] = truth_file


def psychometrics(ctx: DemoContext) -> None:
    """Reliability, CFA, SEM (default structural model), invariance and group comparisons."""
    from dancerec.indices.battery import run_battery
    from dancerec.indices.plots import group_means_plot
    from dancerec.indices.sources import from_study

    study = ctx.study
    src = from_study(study, exclude_flagged="all")
    report = run_battery(
        src.items,
        src.structure,
        group=src.group,
        scores=src.dimension_scores(),
        ci="montecarlo",
        n_boot=1000,
        seed=study.config.seed,
        efa=False,
        invariance=True,
        scale_min=src.scale_min,
        scale_max=src.scale_max,
    )
    out = ctx.out
    out.print(f"{src.description}; CFA/SEM: {report.cfa.n_note}", highlight=False)
    rel = report.reliability.table
    cols = ["dimension", "n_items", "n", "alpha", "alpha_ci_low", "alpha_ci_high", "omega", "cr", "ave"]
    print_table(rel[[c for c in cols if c in rel.columns]], title="reliability", out=out)
    fits = pd.DataFrame(
        [
            {
                "model": name,
                "chi2": f.chi2,
                "df": f.df,
                "cfi": f.cfi,
                "tli": f.tli,
                "rmsea": f.rmsea,
                "srmr": f.srmr,
            }
            for name, f in (("CFA", report.cfa.fit), ("SEM", report.sem.fit))
        ]
    )
    print_table(fits, title="model fit (ML, lavaan-comparable)", out=out)
    print_table(
        report.sem.paths[["lhs", "rhs", "std", "p"]], title="structural paths (standardised)", out=out
    )
    if report.invariance is not None:
        inv = report.invariance.table
        print_table(
            inv[["level", "chi2", "df", "cfi", "rmsea", "delta_cfi", "delta_rmsea", "status"]],
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
        ctx.outputs["indices: group means plot"] = group_means_plot(
            g, study.artifacts / "indices" / "group-means.png"
        )
    for line in report.notes:
        out.print(f"[yellow]note:[/] {line}", highlight=False)
    ctx.data["indices"] = report


def link_metrics(ctx: DemoContext) -> None:
    """Link the offline metrics of each group's recommender to the perceived quality."""
    from dancerec.indices.linkage import link_study, save_group_map

    save_group_map(ctx.study, ctx.data["group_map"])
    result = link_study(ctx.study, n_boot=500)
    ctx.data["linkage"] = result
    for title, frame in result.summary_frames().items():
        if frame is not None and len(frame):
            print_table(frame, title=title, out=ctx.out)
    path = ctx.study.artifacts / "linkage.json"
    write_json(path, result.to_json())
    ctx.outputs["linkage (JSON)"] = path


def write_report(ctx: DemoContext) -> None:
    """The HTML and PDF study reports (and every table as CSV, XLSX and LaTeX)."""
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
        data,
        [folder / "report.html", folder / "report.pdf"],
        figures_dir=folder / "figures",
        tables_dir=folder / "tables",
    )
    for result in results:
        pages = f", {result.n_pages} pages" if result.n_pages else ""
        ctx.out.print(
            f"{result.format.upper()} report: {result.path} ({result.n_tables} tables, "
            f"{result.n_figures} figures{pages})"
        )
        ctx.outputs[f"report ({result.format.upper()})"] = result.path
    ctx.outputs["report figures (SVG/PNG)"] = folder / "figures"
    ctx.outputs["report tables (CSV, XLSX, LaTeX)"] = folder / "tables"
    for reason in data.skipped:
        ctx.out.print(reason, style="dim", markup=False, highlight=False)


def demo_steps() -> list[DemoStep]:
    return [
        DemoStep("simulate a music/dance interaction log", simulate_log),
        DemoStep("split it per user, chronologically 80/20", split_log),
        DemoStep("tune EASE, train and evaluate the recommenders", tune_and_evaluate),
        DemoStep("compare them with paired tests", compare_models),
        DemoStep("plan the linked user study (planted offline → perceived link)", plan_study),
        DemoStep("survey: simulate, import two export formats, score", simulate_survey),
        DemoStep("indices: reliability, CFA, SEM, invariance, group comparisons", psychometrics),
        DemoStep("link offline metrics to perceived quality", link_metrics),
        DemoStep("write the HTML and PDF study reports", write_report),
    ]


def run_demo(root: Path | None = None, *, out: Console | None = None) -> DemoContext:
    """Run every demo step in a study at ``root`` (a new temporary folder when None)."""
    out = out or Console(quiet=True)
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="dancerec-demo-")) / "study"
    study = Study.open(root) if (Path(root) / STUDY_FILE).exists() else Study.init(root, name="demo")
    ctx = DemoContext(study=study, out=out)
    ctx.outputs["study"] = study.root
    steps = demo_steps()
    for number, step in enumerate(steps, start=1):
        out.rule(f"[bold]step {number}/{len(steps)}: {step.title}")
        started = time.perf_counter()
        step.run(ctx)
        out.print(f"[dim]{step.title}: {time.perf_counter() - started:.1f} s[/]")
    return ctx
