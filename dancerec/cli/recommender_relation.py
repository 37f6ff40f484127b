"""Relation-model commands of `dancerec recommender`: sweep, cold-start, train-ddp.

``register(app)`` adds them to the recommender group (called by ``dancerec.cli.recommender``). Training
and evaluating the relation model itself goes through the harness's ``train``/``evaluate``/``recommend``
with ``--model relation``. The CLI only parses arguments and calls ``dancerec.recommender.*``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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


def _values(text: str | None, cast) -> list | None:
    if text is None:
        return None
    try:
        return [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"cannot read {text!r} as a comma-separated list of numbers") from None


def _params(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _models(text: str, relation_params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    from dancerec.recommender.registry import model_names

    unknown = [m for m in names if m not in model_names()]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(model_names())})")
    return {m: (relation_params if m == "relation" else {}) for m in names}


def sweep(
    split_name: Annotated[str, typer.Option("--split", help="Split whose training part is swept.")],
    hidden: Annotated[
        str | None, typer.Option(help="Hidden sizes (default: the paper's 32,64,128,256).")
    ] = None,
    lr: Annotated[str | None, typer.Option(help="Learning rates (default 0.001,0.01,0.1,0.5).")] = None,
    batch: Annotated[str | None, typer.Option(help="Batch sizes (default 100,200,...,1000).")] = None,
    mode: Annotated[str, typer.Option(help="one-at-a-time (the paper's figures) or grid.")] = "one-at-a-time",
    k: Annotated[int, typer.Option("--k", help="List length for precision/recall.")] = 10,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Fixed model parameter KEY=VALUE.")
    ] = None,
    on_test: Annotated[
        bool,
        typer.Option(
            "--on-test", help="Score on the split's test part (the paper's figures) instead of validation."
        ),
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="PNG for the sweep figure (default: in the study's artifacts).")
    ] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Reproduce the paper's tuning figures: precision/recall@K for each hidden size, learning rate, batch size."""
    from dancerec.recommender.relation_experiments import PAPER_GRID, plot_sweep, sweep_configs
    from dancerec.recommender.relation_experiments import sweep as run_sweep
    from dancerec.recommender.splits import load_split

    st = open_study(study)
    data = load_split(st, split_name)
    grid = {
        "hidden": _values(hidden, int) or PAPER_GRID["hidden"],
        "lr": _values(lr, float) or PAPER_GRID["lr"],
        "batch_size": _values(batch, int) or PAPER_GRID["batch_size"],
    }
    base = {"hidden": 128, "lr": 0.01, "batch_size": 600, **_params(param)}
    total = len(sweep_configs(grid, base, mode))
    with progress() as bar:
        task = bar.add_task("relation sweep", total=total, status="")
        result = run_sweep(
            data,
            grid,
            base=base,
            mode=mode,
            k=k,
            on_test=on_test,
            progress=lambda n, _t, cfg: bar.update(task, completed=n, status=json.dumps(cfg)),
        )
    plot = plot or st.artifacts / "recommender" / f"relation-sweep-{split_name}.png"
    plot_sweep(result, plot, base)
    print_table(result, title=f"relation sweep (scored on {result['scored_on'].iloc[0]}, K={k})", digits=4)
    console.print(f"figure: {plot}")
    write_json(
        json_path, {"split": split_name, "k": k, "mode": mode, "base": base, "results": result, "plot": plot}
    )


def cold_start(
    split_name: Annotated[str, typer.Option("--split", help="Split to build the slices from.")],
    models: Annotated[
        str, typer.Option(help="Comma-separated models to compare.")
    ] = "relation,content,mostpop,ease",
    new_share: Annotated[float, typer.Option(help="Share of items made new (zero-shot slice).")] = 0.1,
    user_share: Annotated[float, typer.Option(help="Share of evaluated users thinned to 1-5 items.")] = 0.3,
    k: Annotated[str, typer.Option("--k", help="Comma-separated list lengths.")] = "10,20",
    param: Annotated[list[str] | None, typer.Option("--param", help="Relation parameter KEY=VALUE.")] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Cold start: zero-shot new items (ranked from features alone) and few-shot users (1-5 items)."""
    from dancerec.recommender.relation_experiments import few_shot_users, zero_shot_items
    from dancerec.recommender.splits import load_split

    st = open_study(study)
    data = load_split(st, split_name)
    k_list = _values(k, int)
    chosen = _models(models, _params(param))
    seed = data.train.seed
    with progress() as bar:
        bar.add_task("cold-start slices", total=None, status="zero-shot items")
        items = zero_shot_items(data, chosen, share=new_share, k_list=k_list, seed=seed)
        users = few_shot_users(data, chosen, share=user_share, k_list=k_list, seed=seed)
    table = items.summary.pivot_table(index="model", columns=["metric", "k"], values="mean", sort=False)
    table.columns = [f"{m}@{kk}" for m, kk in table.columns]
    print_table(
        table.reset_index(),
        title=f"zero-shot items: {items.info['n_new_items']} new items, "
        f"{items.info['n_users']} users (chance recall@{k_list[0]} = {items.info['chance_recall'][k_list[0]]:.4f})",
        digits=4,
    )
    few = users.summary[users.summary["metric"].isin(["precision", "recall"])]
    few = few.pivot_table(
        index=["n_train_items", "n_users"], columns=["model", "metric", "k"], values="mean", sort=False
    )
    few.columns = [f"{m} {met}@{kk}" for m, met, kk in few.columns]
    print_table(
        few.reset_index(),
        title=f"few-shot users ({users.info['n_users']} users with 1-5 training items)",
        digits=4,
    )
    write_json(
        json_path,
        {
            "split": split_name,
            "zero_shot_items": {"info": items.info, "summary": items.summary},
            "few_shot_users": {"info": users.info, "summary": users.summary},
        },
    )


def train_ddp(
    split_name: Annotated[str, typer.Option("--split", help="Split to train on.")],
    nproc: Annotated[int, typer.Option(help="Processes (DDP ranks, gloo backend).")] = 2,
    param: Annotated[list[str] | None, typer.Option("--param", help="Model parameter KEY=VALUE.")] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Train the relation model data-parallel on NPROC local processes (PyTorch DDP) and save it."""
    import time

    from dancerec.recommender.ddp import fit_distributed
    from dancerec.recommender.relation import RelationRecommender
    from dancerec.recommender.runs import record_model
    from dancerec.recommender.splits import load_split

    if nproc < 1:
        raise UserError("--nproc must be at least 1")
    st = open_study(study)
    data = load_split(st, split_name)
    try:
        model = RelationRecommender(**_params(param))
    except TypeError as exc:
        raise UserError(f"bad relation parameters: {exc}") from None
    with progress() as bar:
        bar.add_task(f"training relation on {nproc} processes", total=None, status="")
        started = time.perf_counter()
        fitted = fit_distributed(model, data.train, world_size=nproc)
        train_s = time.perf_counter() - started
    model_id = record_model(
        st, fitted, name="relation", split=split_name, seed=data.train.seed, train_s=train_s
    )
    log = fitted.training_log
    print_table(log, title="epochs (loss averaged over ranks, validation recall summed over ranks)", digits=4)
    console.print(
        f"trained relation on {split_name} with {nproc} processes in {train_s:.1f} s; saved as {model_id}"
    )
    write_json(
        json_path, {"model_id": model_id, "split": split_name, "nproc": nproc, "train_s": train_s, "log": log}
    )


def register(app: typer.Typer) -> None:
    """Add the relation-model commands to the `dancerec recommender` group."""
    app.command("sweep")(sweep)
    app.command("cold-start")(cold_start)
    app.command("train-ddp")(train_ddp)


__all__ = ["register"]
