"""`dancerec recommender` train, recommend, evaluate, compare and tune: argument parsing and printing only.

The work is in :mod:`dancerec.recommender.experiment` (the train–evaluate–record loop, comparisons) and
:mod:`dancerec.recommender.tune`; the tune command itself lives in :mod:`dancerec.cli.recommender_tune`.
``register(app)`` adds the commands to the recommender group (called by :mod:`dancerec.cli.recommender`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
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
from dancerec.cli.validators import finite, nonempty_list, output_file
from dancerec.errors import UserError
from dancerec.safeio import neutralise_frame
from dancerec.workspace import atomic_output

if TYPE_CHECKING:
    from dancerec.recommender.experiment import ExperimentProgress


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


@contextmanager
def experiment_bars() -> Iterator[ExperimentProgress]:
    """A progress callback for :mod:`dancerec.recommender.experiment`: one bar per model and phase."""
    with progress() as bar:
        tasks: dict[tuple[str, str], Any] = {}

        def update(label: str, phase: str, completed: int, total: int, status: str) -> None:
            key = (label, phase)
            if key not in tasks:
                verb = "training" if phase == "fit" else "evaluating"
                tasks[key] = bar.add_task(f"{verb} {label}", total=total or None, status="")
            bar.update(tasks[key], completed=completed, total=total or None, status=status)

        yield update


def fit_with_progress(model, train, label: str) -> float:
    """Fit ``model`` (the ``fit(train, *, progress)`` contract) under a progress bar; returns seconds."""
    from dancerec.recommender.experiment import fit_model

    with experiment_bars() as update:
        return fit_model(model, train, lambda c, t, s: update(label, "fit", c, t, s))


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


def recommend(
    model: Annotated[
        str, typer.Option("--model", help="A trained model id, or a model name (its latest on --split).")
    ],
    split_name: Annotated[str, typer.Option("--split", help="Split whose training data the model knows.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Items per user.")] = 10,
    out: Annotated[
        Path, typer.Option("--out", callback=output_file, help="CSV to write: user,item,rank,score.")
    ] = Path("recs.csv"),
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
    user_idx = _user_positions(data.train, users) if users else np.arange(data.train.n_users)
    with progress() as bar:
        task = bar.add_task(f"ranking with {model_id}", total=len(user_idx), status="")
        items, scores = rank_top_k(rec, data.train, user_idx, k, progress=lambda b: bar.advance(task, b))
    rows = _recommendation_rows(data.train, user_idx, items, scores, k)
    with atomic_output(out) as tmp:  # formula-like ids neutralised (OWASP CSV injection)
        neutralise_frame(rows).to_csv(tmp, index=False)
    console.print(f"wrote {len(rows):,} recommendations for {len(user_idx):,} users to {out}")


def _user_positions(train, users: str) -> np.ndarray:
    """Positions in ``train`` of the comma-separated raw user ids of ``--users`` (an error names unknown ones)."""
    wanted = [u.strip() for u in users.split(",") if u.strip()]
    index = pd.Index(train.user_ids)
    pos = index.get_indexer(wanted)
    if (pos < 0).any():
        missing = [u for u, p in zip(wanted, pos, strict=True) if p < 0]
        raise UserError(f"unknown user id(s): {', '.join(missing[:5])}")
    return pos.astype(np.int64)


def _recommendation_rows(
    train, user_idx: np.ndarray, items: np.ndarray, scores: np.ndarray, k: int
) -> pd.DataFrame:
    """The `recommend` CSV rows (user, item, rank, score; raw ids) from the users × K top-K matrices, without
    the padding slots (item -1: fewer than K unseen items)."""
    valid = items >= 0
    return pd.DataFrame(
        {
            "user": np.repeat(train.user_ids[user_idx], k).reshape(len(user_idx), k)[valid],
            "item": train.item_ids[np.maximum(items, 0)][valid],
            "rank": np.tile(np.arange(1, k + 1), (len(user_idx), 1))[valid],
            "score": scores[valid],
        }
    )


def evaluate(
    split_name: Annotated[str, typer.Option("--split", help="Split to evaluate on.")],
    models: Annotated[
        str,
        typer.Option(
            "--models",
            callback=nonempty_list,
            help="Comma-separated model names (trained now) or saved model ids.",
        ),
    ] = "mostpop,svd,ease",
    k: Annotated[str, typer.Option("--k", help="Cut-offs, e.g. 5,10,20,50.")] = "5,10,20,50",
    param: Annotated[list[str] | None, typer.Option("--param", help="MODEL.KEY=VALUE or KEY=VALUE.")] = None,
    tuned: Annotated[
        bool,
        typer.Option(
            "--tuned", help="Use the parameters `recommender tune` chose on this split (--param wins)."
        ),
    ] = False,
    sampled: Annotated[
        int | None,
        typer.Option(
            min=1, help="Rank test items among N sampled negatives instead of all items (labelled)."
        ),
    ] = None,
    relevant_min_score: Annotated[
        float | None,
        typer.Option(
            callback=finite, help="Only test items with at least this behaviour score are relevant."
        ),
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the CIs (0: none).")] = 1000,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Save the trained models so `recommend` can use them.")
    ] = True,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="ranking (full ranking, the field's protocol), paper (the relation paper's balanced labelled "
            "positive/negative pairs: accuracy, AUC, precision and recall at its lengths) or both.",
        ),
    ] = "ranking",
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Train (or load) each model, evaluate with full ranking, store the runs with per-user metrics."""
    if protocol not in ("ranking", "paper", "both"):
        raise UserError(f"--protocol must be ranking, paper or both, not {protocol!r}")
    from dancerec.recommender.experiment import Experiment
    from dancerec.recommender.splits import load_split

    st = open_study(study)
    k_list = _parse_k(k)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise UserError("--models: name at least one model")
    data = load_split(st, split_name)
    entries = _model_entries(st, names, split_name, _parse_params(param, names), tuned=tuned)
    experiment = Experiment(
        data,
        entries,
        k_list,
        sampled_negatives=sampled,
        relevant_min_score=relevant_min_score,
        n_bootstrap=bootstrap,
    )
    with experiment_bars() as bars:
        result = experiment.run(study=st, split_name=split_name, save_models=save, progress=bars)
    out = _run_summaries(st, result)
    _print_evaluation(result, out, split_name, sampled)
    if protocol in ("paper", "both"):
        for label, frame in _paper_protocol(experiment, data).items():
            out[label]["paper_protocol"] = frame.to_dict(orient="records")
    write_json(json_path, out)


def _run_summaries(study, result) -> dict[str, dict[str, Any]]:
    """The `evaluate --json` entry of each evaluated model: its stored run, parameters, timings and means."""
    out = {}
    for label, ev in result.evaluations.items():
        run_id = result.run_ids[label]
        out[label] = {
            "run_id": run_id,
            "model_id": result.model_ids.get(label),
            "params": ev.params,
            "protocol": ev.protocol,
            "n_users": ev.n_users,
            "train_s": ev.train_s,
            "eval_s": ev.eval_s,
            "means": {f"{r.metric}@{r.k}": r.mean for r in ev.summary.itertuples()},
            "per_user_path": str(
                study.root / "artifacts" / "recommender" / "runs" / run_id / "per_user.parquet"
            ),
        }
    return out


def _print_evaluation(result, out: dict[str, dict[str, Any]], split_name: str, sampled: int | None) -> None:
    """The metrics table (labelled full or sampled ranking), then the run (and saved model) of each model."""
    title = (
        f"{split_name}: full ranking"
        if sampled is None
        else f"{split_name}: SAMPLED ranking ({sampled} negatives)"
    )
    print_table(_apa_metrics(result.table()), title=title)
    for label, info in out.items():
        saved = f"; model {info['model_id']}" if info["model_id"] else ""
        console.print(f"  {label}: run {info['run_id']}{saved}")


#: the paper's recommendation lengths that still discriminate on sparse logs (about 2 positives per user)
PAPER_LENGTHS = (1, 2, 5, 10)


def _paper_protocol(experiment, data) -> dict[str, pd.DataFrame]:
    """The relation paper's own test for every fitted model of ``experiment``, printed side by side."""
    from dancerec.recommender.paper_protocol import paper_protocol

    frames = {
        entry.label: paper_protocol(
            entry.model, data.train, data.test.interactions, lengths=PAPER_LENGTHS, seed=data.train.seed
        )
        for entry in experiment.models
    }
    table = pd.concat([f.assign(model=label) for label, f in frames.items()], ignore_index=True)
    table["metric"] = table["metric"] + table["k"].map(lambda k: "" if pd.isna(k) else f"@{int(k)}")
    wide = table.pivot_table(index="model", columns="metric", values="value", sort=False).reset_index()
    print_table(wide, title="the paper's protocol (balanced labelled pairs from the behaviour scores)")
    return frames


def _model_entries(study, names: list[str], split_name: str, params: dict, *, tuned: bool) -> list:
    """Fresh models (registry names, with tuned and explicit parameters) or saved ones (model ids)."""
    from dancerec.recommender.experiment import ModelEntry
    from dancerec.recommender.registry import MODELS, make_model, model_names
    from dancerec.recommender.runs import find_model

    entries = []
    for name in names:
        if name in model_names():
            chosen: dict[str, Any] = {}
            if tuned and MODELS[name].search_space:
                from dancerec.recommender.tune import tuned_params

                chosen = tuned_params(study, name, split_name)
            entries.append(ModelEntry(name, make_model(name, **{**chosen, **params[name]}), name=name))
        else:
            model_id, rec, meta = find_model(study, name)
            # a saved model's run carries its model name, unless that name is evaluated beside it
            clash = meta["model"] in names or any(e.label == meta["model"] for e in entries)
            label = model_id if clash else meta["model"]
            entries.append(ModelEntry(label, rec, fitted=True, train_s=meta["train_s"], name=meta["model"]))
    return entries


BOUNDED_METRICS = (
    "precision",
    "recall",
    "ndcg",
    "map",
    "mrr",
    "hit_rate",
    "coverage",
    "diversity",
    "serendipity",
)


def _apa_metrics(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Format a result table for the terminal in APA style: counts with separators, metrics bounded by 1
    without a leading zero, seconds with two decimals, p values as ``< .001``."""
    from dancerec.reports import apa

    out = frame.copy()
    for col in out.columns:
        base = str(col).split("@")[0]
        if col in ("users", "n_users"):
            out[col] = out[col].map(apa.integer)
        elif base in BOUNDED_METRICS or col in ("ci_low", "ci_high", "mean", "diff"):
            out[col] = out[col].map(lambda v: apa.bounded(v, digits))
        elif str(col).startswith("p ") or str(col).startswith("p_"):
            out[col] = out[col].map(apa.p_value)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: apa.num(v, 2))
    return out


def compare(
    runs: Annotated[
        str | None,
        typer.Option(help="Comma-separated run ids or model names (default: latest run of each model)."),
    ] = None,
    split_name: Annotated[str | None, typer.Option("--split", help="Only runs on this split.")] = None,
    baseline: Annotated[
        str, typer.Option(help="Baseline model name (its latest run) or run id.")
    ] = "mostpop",
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
    """Comma-separated ``runs`` for :func:`dancerec.recommender.experiment.compare_runs` (the demo uses it)."""
    from dancerec.recommender.experiment import compare_runs as compare_stored

    refs = [r.strip() for r in runs.split(",") if r.strip()] if runs else None
    return compare_stored(study, runs=refs, split=split, baseline=baseline, metrics=metrics)


def _print_comparison(result: pd.DataFrame, baseline: str) -> None:
    from dancerec.reports import apa

    def bounded(v: Any) -> str:
        return apa.bounded(v, 4)

    show = pd.DataFrame(
        {
            "model": result["model"],
            "metric": result["metric"],
            "N": result["n_users"].map(apa.integer),
            "M": result["mean"].map(bounded),
            "95% CI": [apa.ci(lo, hi, 4) for lo, hi in zip(result["ci_low"], result["ci_high"], strict=True)],
            "diff": result["diff"].map(bounded),
            "p (t, Holm)": result["p_t_holm"].map(apa.p_value),
            "p (Wilcoxon, Holm)": result["p_wilcoxon_holm"].map(apa.p_value),
        }
    )
    print_table(show, title=f"paired comparison against {baseline} (95% bootstrap CIs; Holm over all tests)")


def register(app: typer.Typer) -> None:
    """Add the train/recommend/evaluate/compare/tune commands to ``app``."""
    # imported here: recommender_tune reuses this module's parsers, so it loads after them
    from dancerec.cli.recommender_tune import tune

    app.command()(train)
    app.command()(recommend)
    app.command()(evaluate)
    app.command()(compare)
    app.command()(tune)
