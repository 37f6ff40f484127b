"""`dancerec recommender`: Import interaction logs, simulate, split, train, recommend, evaluate and compare recommenders."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
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
from dancerec.errors import UserError

app = typer.Typer(
    help="Import interaction logs, simulate, split, train, recommend, evaluate and compare recommenders.",
    no_args_is_help=True,
)


# --------------------------------------------------------------------------------------------
# helpers (argument parsing only; the work is in dancerec.recommender.*)
# --------------------------------------------------------------------------------------------
def _parse_value(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return tuple(value) if isinstance(value, list) else value


def _parse_params(items: list[str] | None, models: list[str]) -> dict[str, dict[str, Any]]:
    """``--param key=value`` (all models) or ``--param model.key=value`` into {model: {key: value}}."""
    out: dict[str, dict[str, Any]] = {m: {} for m in models}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--param {item!r}: expected KEY=VALUE or MODEL.KEY=VALUE")
        key, value = item.split("=", 1)
        target, _, name = key.rpartition(".")
        if target:
            if target not in out:
                raise UserError(f"--param {item!r}: model {target!r} is not among {', '.join(models)}")
            out[target][name] = _parse_value(value)
        else:
            for m in models:
                out[m][name] = _parse_value(value)
    return out


def _parse_k(text: str) -> list[int]:
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise UserError(f"--k {text!r}: expected positive integers separated by commas, e.g. 10,20") from None
    if not ks or ks[0] < 1:
        raise UserError(f"--k {text!r}: expected positive integers")
    return ks


def _parse_map(items: list[str] | None) -> dict[str, str]:
    mapping = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--map {item!r}: expected SCHEMA_COLUMN=FILE_COLUMN, e.g. user_id=user")
        a, b = item.split("=", 1)
        mapping[a.strip()] = b.strip()
    return mapping


def fit_with_progress(model, train, label: str) -> float:
    """Fit ``model`` showing a progress bar when the model reports epochs; returns seconds."""
    params = inspect.signature(model.fit).parameters
    started = time.perf_counter()
    if "progress" in params and getattr(model, "epochs", None):
        with progress() as bar:
            task = bar.add_task(f"training {label}", total=model.epochs, status="")
            model.fit(
                train, progress=lambda done, _total, status: bar.update(task, completed=done, status=status)
            )
    elif "reporter" in params:
        try:
            reporter = importlib.import_module("dancerec.recommender.relation_train").RichReporter(10)
        except (ImportError, AttributeError, TypeError):
            reporter = None
        model.fit(train, reporter=reporter)
    else:
        with progress() as bar:
            bar.add_task(f"training {label}", total=None, status="")
            model.fit(train)
    return time.perf_counter() - started


def _evaluate_with_progress(model, split, k_list, label: str, **kwargs):
    from dancerec.recommender.evaluate import evaluate

    n = len(split.test_users)
    with progress() as bar:
        task = bar.add_task(f"evaluating {label}", total=n, status="")
        return evaluate(
            model,
            split.train,
            split.test,
            k_list,
            model_name=label,
            progress=lambda b: bar.advance(task, b),
            **kwargs,
        )


HEADLINE = (
    "precision",
    "recall",
    "ndcg",
    "map",
    "mrr",
    "hit_rate",
    "novelty",
    "diversity",
    "serendipity",
    "coverage",
)


def _summary_table(evaluations: dict[str, Any], k_list: list[int]) -> pd.DataFrame:
    rows = []
    for name, ev in evaluations.items():
        row: dict[str, Any] = {"model": name, "users": ev.n_users}
        for k in k_list:
            for m in ("precision", "recall", "ndcg"):
                row[f"{m}@{k}"] = ev.mean(m, k)
        row["train s"] = ev.train_s
        row["eval s"] = ev.eval_s
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------
@app.command("import")
def import_(
    source: Annotated[
        str, typer.Argument(help="lastfm (a folder), taste-profile, movielens, table or simulated.")
    ],
    path: Annotated[Path, typer.Argument(help="The file (or, for lastfm/simulated, the folder).")],
    name: Annotated[str, typer.Option("--name", help="Dataset name in the study.")],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="For table: SCHEMA_COLUMN=FILE_COLUMN (user_id, item_id, timestamp, plays, ...)."
        ),
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="Field delimiter (default: detected).")] = None,
    no_header: Annotated[bool, typer.Option("--no-header", help="The file has no header line.")] = False,
    skip_bad_rows: Annotated[
        bool, typer.Option("--skip-bad-rows", help="Skip and count malformed rows.")
    ] = False,
    min_user_plays: Annotated[
        float, typer.Option(help="Keep users with at least this many plays (TP100: 100).")
    ] = 0,
    min_user_items: Annotated[int, typer.Option(help="Keep users with at least this many items.")] = 0,
    min_item_users: Annotated[int, typer.Option(help="Keep items with at least this many users.")] = 0,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Import an interaction log into the study (streams through DuckDB into Parquet)."""
    from dancerec.recommender.data import import_file

    st = open_study(study)
    delim = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter) if delimiter else None
    with progress() as bar:
        bar.add_task(f"importing {path}", total=None, status="")
        info = import_file(
            st,
            path,
            name,
            source=source,
            mapping=_parse_map(mapping) or None,
            delimiter=delim,
            header=not no_header,
            skip_bad_rows=skip_bad_rows,
            min_user_plays=min_user_plays,
            min_user_items=min_user_items,
            min_item_users=min_item_users,
        )
    console.print(
        f"imported [bold]{info.name}[/]: {info.n_interactions:,} interactions, {info.n_users:,} users, "
        f"{info.n_items:,} items, density {info.density:.5f}"
        + (f"; skipped {info.n_bad_rows:,} bad rows" if info.n_bad_rows else "")
    )
    write_json(json_path, info)


@app.command()
def simulate(
    name: Annotated[str, typer.Option("--name", help="Dataset name in the study.")] = "simulated",
    users: Annotated[int, typer.Option("--users", help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option("--items", help="Number of items.")] = 2000,
    mean_items: Annotated[float, typer.Option(help="Mean number of items per user.")] = 40,
    dance_share: Annotated[float, typer.Option(help="Share of dance items.")] = 0.3,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the study's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Also keep the raw Parquet files in this folder.")] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Simulate a music/dance world with signal and import it as a dataset (streams to Parquet)."""
    import shutil
    import tempfile

    from dancerec.recommender.data import import_file
    from dancerec.recommender.simulate import simulate_world

    st = open_study(study)
    seed = st.config.seed if seed is None else seed
    folder = out or Path(tempfile.mkdtemp(prefix="dancerec-sim-"))
    try:
        with progress() as bar:
            task = bar.add_task("simulating", total=users, status="")
            world = simulate_world(
                users,
                items,
                mean_items=mean_items,
                dance_share=dance_share,
                seed=seed,
                out=folder,
                progress=lambda n: bar.update(task, completed=n),
            )
        info = import_file(st, folder, name, source="simulated")
    finally:
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
    console.print(
        f"simulated [bold]{info.name}[/] (seed {seed}): {world.n_interactions:,} interactions, {info.n_users:,} users, "
        f"{info.n_items:,} items, density {info.density:.4f}"
    )
    write_json(json_path, info)


@app.command()
def split(
    dataset: Annotated[
        str | None, typer.Argument(help="Dataset to split (omit with --train/--test).")
    ] = None,
    method: Annotated[str, typer.Option(help="chronological, random or loo.")] = "chronological",
    test_frac: Annotated[float, typer.Option(help="Share of each user's items in test.")] = 0.2,
    min_user_items: Annotated[int, typer.Option(help="Users with fewer items stay wholly in train.")] = 5,
    seed: Annotated[
        int | None, typer.Option(help="Seed for the random split (default: the study's).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Split name (default DATASET-METHOD).")] = None,
    train_file: Annotated[
        Path | None, typer.Option("--train", help="A given training file (external split).")
    ] = None,
    test_file: Annotated[
        Path | None, typer.Option("--test", help="A given test file (external split).")
    ] = None,
    source: Annotated[
        str, typer.Option(help="Format of --train/--test (table, taste-profile, movielens).")
    ] = "table",
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="Column mapping for --train/--test tables.")
    ] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Split a dataset per user (chronological 80/20, random, leave-one-out) or take a given split."""
    from dancerec.recommender.data import import_file
    from dancerec.recommender.splits import split_dataset, split_external

    st = open_study(study)
    if train_file or test_file:
        if not (train_file and test_file):
            raise UserError("an external split needs both --train FILE and --test FILE")
        dataset = dataset or (name or "external")
        parts = {}
        for part, file in (("train", train_file), ("test", test_file)):
            parts[part] = import_file(
                st, file, f"{dataset}.{part}", source=source, mapping=_parse_map(mapping) or None
            ).name
        info = split_external(st, dataset, parts["train"], parts["test"], name=name)
    else:
        if dataset is None:
            raise UserError("name the dataset to split (or give --train and --test)")
        info = split_dataset(
            st, dataset, method, name=name, test_frac=test_frac, min_user_items=min_user_items, seed=seed
        )
    console.print(
        f"split [bold]{info.name}[/] ({info.method}): {info.n_train:,} train / {info.n_test:,} test interactions, "
        f"{info.n_test_users:,} users evaluated"
    )
    write_json(json_path, info)


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", help="Model name (see `dancerec recommender models`).")],
    split_name: Annotated[str, typer.Option("--split", help="Split to train on.")],
    param: Annotated[list[str] | None, typer.Option("--param", help="Model parameter KEY=VALUE.")] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Train a model on a split's training part and save it in the study."""
    from dancerec.recommender.registry import make_model
    from dancerec.recommender.runs import record_model
    from dancerec.recommender.splits import load_split

    st = open_study(study)
    data = load_split(st, split_name)
    rec = make_model(model, **_parse_params(param, [model])[model])
    train_s = fit_with_progress(rec, data.train, model)
    model_id = record_model(st, rec, name=model, split=split_name, seed=data.train.seed, train_s=train_s)
    console.print(f"trained [bold]{model}[/] on {split_name} in {train_s:.2f} s; saved as {model_id}")
    write_json(json_path, {"model_id": model_id, "model": model, "split": split_name, "train_s": train_s})


@app.command()
def recommend(
    model: Annotated[
        str, typer.Option("--model", help="A trained model id, or a model name (its latest on --split).")
    ],
    split_name: Annotated[str, typer.Option("--split", help="Split whose training data the model knows.")],
    k: Annotated[int, typer.Option("--k", help="Items per user.")] = 10,
    out: Annotated[Path, typer.Option("--out", help="CSV to write: user,item,rank,score.")] = Path(
        "recs.csv"
    ),
    users: Annotated[str | None, typer.Option(help="Comma-separated raw user ids (default: all).")] = None,
    study: StudyOption = None,
) -> None:
    """Write the top-K unseen items per user as CSV (user,item,rank,score; raw ids)."""
    from dancerec.recommender.evaluate import rank_top_k
    from dancerec.recommender.runs import find_model
    from dancerec.recommender.splits import load_split

    if k < 1:
        raise UserError("--k must be at least 1")
    st = open_study(study)
    data = load_split(st, split_name)
    model_id, rec, _ = find_model(st, model, split_name)
    if users:
        wanted = [u.strip() for u in users.split(",") if u.strip()]
        index = pd.Index(data.train.user_ids)
        pos = index.get_indexer(wanted)
        if (pos < 0).any():
            missing = [u for u, p in zip(wanted, pos, strict=True) if p < 0]
            raise UserError(f"unknown user id(s): {', '.join(missing[:5])}")
        user_idx = pos.astype(np.int64)
    else:
        user_idx = np.arange(data.train.n_users)
    with progress() as bar:
        task = bar.add_task(f"ranking with {model_id}", total=len(user_idx), status="")
        items, scores = rank_top_k(rec, data.train, user_idx, k, progress=lambda b: bar.advance(task, b))
    valid = items >= 0
    rows = pd.DataFrame(
        {
            "user": np.repeat(data.train.user_ids[user_idx], k).reshape(len(user_idx), k)[valid],
            "item": data.train.item_ids[np.maximum(items, 0)][valid],
            "rank": np.tile(np.arange(1, k + 1), (len(user_idx), 1))[valid],
            "score": scores[valid],
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out, index=False)
    console.print(f"wrote {len(rows):,} recommendations for {len(user_idx):,} users to {out}")


@app.command()
def evaluate(
    split_name: Annotated[str, typer.Option("--split", help="Split to evaluate on.")],
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated model names (trained now) or saved model ids.")
    ] = "mostpop,svd,ease",
    k: Annotated[str, typer.Option("--k", help="Cut-offs, e.g. 5,10,20,50.")] = "5,10,20,50",
    param: Annotated[list[str] | None, typer.Option("--param", help="MODEL.KEY=VALUE or KEY=VALUE.")] = None,
    sampled: Annotated[
        int | None,
        typer.Option(help="Rank test items among N sampled negatives instead of all items (labelled)."),
    ] = None,
    relevant_min_score: Annotated[
        float | None, typer.Option(help="Only test items with at least this behaviour score are relevant.")
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CIs.")] = 1000,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Train (or load) each model, evaluate with full ranking, store the runs with per-user metrics."""
    from dancerec.recommender.registry import make_model, model_names
    from dancerec.recommender.runs import find_model, load_run, record_run
    from dancerec.recommender.splits import load_split

    st = open_study(study)
    k_list = _parse_k(k)
    names = [m.strip() for m in models.split(",") if m.strip()]
    data = load_split(st, split_name)
    params = _parse_params(param, names)
    evaluations, out = {}, {}
    for name in names:
        if name in model_names():
            rec = make_model(name, **params[name])
            train_s = fit_with_progress(rec, data.train, name)
            label = name
        else:
            _, rec, meta = find_model(st, name)
            train_s, label = meta["train_s"], meta["model"]
        ev = _evaluate_with_progress(
            rec,
            data,
            k_list,
            label,
            sampled_negatives=sampled,
            relevant_min_score=relevant_min_score,
            n_bootstrap=bootstrap,
        )
        ev.train_s = train_s
        run_id = record_run(st, ev, split=split_name, seed=data.train.seed)
        evaluations[label] = ev
        run = load_run(st, run_id)
        out[label] = {
            "run_id": run_id,
            "protocol": ev.protocol,
            "n_users": ev.n_users,
            "train_s": train_s,
            "eval_s": ev.eval_s,
            "means": {f"{r.metric}@{r.k}": r.mean for r in run.summary.itertuples()},
            "per_user_path": str(
                st.root / "artifacts" / "recommender" / "runs" / run_id / "per_user.parquet"
            ),
        }
    title = (
        f"{split_name}: full ranking"
        if sampled is None
        else f"{split_name}: SAMPLED ranking ({sampled} negatives)"
    )
    print_table(_summary_table(evaluations, k_list), title=title, digits=4)
    for label, info in out.items():
        console.print(f"  {label}: run {info['run_id']}")
    write_json(json_path, out)


@app.command()
def compare(
    runs: Annotated[
        str | None, typer.Option(help="Comma-separated run ids (default: latest run of each model).")
    ] = None,
    split_name: Annotated[str | None, typer.Option("--split", help="Only runs on this split.")] = None,
    baseline: Annotated[str, typer.Option(help="Baseline model name (or run id).")] = "mostpop",
    metrics: Annotated[
        str, typer.Option(help="Per-user metrics to test.")
    ] = "precision@10,recall@10,ndcg@10",
    plot: Annotated[Path | None, typer.Option(help="PNG of the precision/recall curves over K.")] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Paired tests (Wilcoxon, t) of each run against a baseline, Holm-corrected, with bootstrap CIs."""
    st = open_study(study)
    result, curves = compare_runs(
        st, runs=runs, split=split_name, baseline=baseline, metrics=metrics.split(",")
    )
    _print_comparison(result, baseline)
    if plot is not None:
        from dancerec.recommender.plots import plot_curves

        plot_curves(curves, plot)
        console.print(f"curves: {plot}")
    write_json(json_path, {"comparison": result, "curves": curves})


def compare_runs(study, *, runs: str | None, split: str | None, baseline: str, metrics: list[str]):
    from dancerec.recommender.runs import list_runs, load_run
    from dancerec.recommender.stats import compare as compare_per_user

    table = list_runs(study)
    if runs:
        ids = [r.strip() for r in runs.split(",") if r.strip()]
    else:
        if split:
            table = table[table["split"] == split]
        if table.empty:
            raise UserError("no evaluation runs to compare; run `dancerec recommender evaluate` first")
        ids = table.groupby("model", sort=False)["run_id"].last().tolist()
    loaded = [load_run(study, r) for r in ids]
    by_model = {}
    for run in loaded:
        key = run.model if run.model not in by_model else run.run_id
        by_model[key] = run
    base = baseline
    if base not in by_model:
        match = [m for m, r in by_model.items() if r.run_id == baseline]
        if not match:
            raise UserError(f"baseline {baseline!r} is not among the compared runs ({', '.join(by_model)})")
        base = match[0]
    result = compare_per_user(
        {m: r.per_user for m, r in by_model.items()}, base, [m.strip() for m in metrics]
    )
    result.insert(1, "run_id", result["model"].map({m: r.run_id for m, r in by_model.items()}))
    curves = pd.concat([r.curves.assign(model=m) for m, r in by_model.items()], ignore_index=True)
    return result, curves


def _print_comparison(result: pd.DataFrame, baseline: str) -> None:
    show = result[
        ["model", "metric", "n_users", "mean", "ci_low", "ci_high", "diff", "p_t_holm", "p_wilcoxon_holm"]
    ]
    show = show.rename(columns={"p_t_holm": "p (t, Holm)", "p_wilcoxon_holm": "p (Wilcoxon, Holm)"})
    print_table(show, title=f"paired comparison against {baseline} (95% bootstrap CIs)", digits=4)


@app.command("models")
def models_() -> None:
    """List the registered models."""
    from dancerec.recommender.registry import MODELS

    rows = []
    for name in MODELS:
        try:
            cls = MODELS[name]
            doc = (cls.__doc__ or "").strip().splitlines()[0]
        except ImportError as exc:
            doc = f"(unavailable: {exc})"
        rows.append({"model": name, "what": doc})
    print_table(pd.DataFrame(rows), title="models")


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="datasets, splits, models or runs.")] = "runs",
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """List the datasets, splits, trained models or evaluation runs of the study."""
    from dancerec.recommender.data import list_datasets
    from dancerec.recommender.runs import list_models, list_runs
    from dancerec.recommender.splits import list_splits

    st = open_study(study)
    funcs = {"datasets": list_datasets, "splits": list_splits, "models": list_models, "runs": list_runs}
    if what not in funcs:
        raise UserError(f"cannot list {what!r} (expected one of {', '.join(funcs)})")
    frame = funcs[what](st)
    print_table(frame.drop(columns=[c for c in ("params", "path") if c in frame.columns]), title=what)
    write_json(json_path, frame)


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------
DEMO_WORLD = {"n_users": 800, "n_items": 1000, "mean_items": 30}
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "mostpop": {},
    "svd": {"n_factors": 16},
    "ncf": {"epochs": 8, "batch_size": 1024},
    "ease": {"l2": 200.0},
}


def _demo_simulate(ctx: DemoContext) -> None:
    import tempfile

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


def _demo_split(ctx: DemoContext) -> None:
    from dancerec.recommender.splits import split_dataset

    info = split_dataset(ctx.study, ctx.data["dataset"], "chronological", name="demo-chrono")
    ctx.out.print(
        f"per-user chronological 80/20 split: {info.n_train:,} train / {info.n_test:,} test, "
        f"{info.n_test_users:,} users evaluated"
    )
    ctx.data["split"] = info.name


def _demo_train_evaluate(ctx: DemoContext) -> None:
    from dancerec.recommender.evaluate import evaluate
    from dancerec.recommender.registry import make_model, model_names
    from dancerec.recommender.runs import record_run
    from dancerec.recommender.splits import load_split

    data = load_split(ctx.study, ctx.data["split"])
    models = dict(DEMO_MODELS)
    if "relation" in model_names():
        models["relation"] = {}
    k_list = (5, 10, 20)
    evaluations, runs = {}, {}
    for name, params in models.items():
        model = make_model(name, **params)
        started = time.perf_counter()
        model.fit(data.train)
        train_s = time.perf_counter() - started
        ev = evaluate(model, data.train, data.test, k_list, model_name=name, n_bootstrap=500)
        ev.train_s = train_s
        runs[name] = record_run(ctx.study, ev, split=data.name, seed=data.train.seed)
        evaluations[name] = ev
    print_table(
        _summary_table(evaluations, list(k_list)),
        title="offline evaluation (full ranking)",
        out=ctx.out,
        digits=4,
    )
    ctx.data["runs"] = runs
    test_users = data.test_users
    ctx.data["interactions_users"] = [str(u) for u in data.train.user_ids[test_users]]


def _demo_compare(ctx: DemoContext) -> None:
    from dancerec.recommender.plots import plot_curves

    ids = ",".join(ctx.data["runs"].values())
    result, curves = compare_runs(
        ctx.study, runs=ids, split=None, baseline="mostpop", metrics=["precision@10", "recall@10", "ndcg@10"]
    )
    show = result[["model", "metric", "mean", "ci_low", "ci_high", "diff", "p_t_holm", "p_wilcoxon_holm"]]
    print_table(show, title="paired tests against MostPop (Holm-corrected)", out=ctx.out, digits=4)
    path = ctx.study.artifacts / "recommender" / "demo-curves.png"
    plot_curves(curves, path)
    ctx.outputs["recommender curves"] = path


DEMO_STEPS: list[DemoStep] = [
    DemoStep("simulate a music/dance interaction log", _demo_simulate),
    DemoStep("split it per user, chronologically 80/20", _demo_split),
    DemoStep("train and evaluate the recommenders", _demo_train_evaluate),
    DemoStep("compare them with paired tests", _demo_compare),
]

# Relation-model commands (issue 6) live in their own module; registered when present.
if importlib.util.find_spec("dancerec.cli.recommender_relation") is not None:
    importlib.import_module("dancerec.cli.recommender_relation").register(app)
