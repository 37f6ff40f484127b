"""`dancerec recommender tune`: choose each model's parameters on a validation split carved from a training part.

Argument parsing and printing only; the search is :mod:`dancerec.recommender.tune`. Registered with the other
harness commands by :func:`dancerec.cli.recommender_eval.register`.
"""

from __future__ import annotations

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
from dancerec.cli.recommender_eval import _apa_metrics, _parse_params
from dancerec.cli.validators import SEED_MAX, nonempty_list
from dancerec.errors import UserError


def _apa_bounded(value: Any) -> str:
    """A value bounded by 1 in APA style (four decimals, no leading zero)."""
    from dancerec.reports import apa

    return apa.bounded(value, 4)


def tune(
    split_name: Annotated[str, typer.Option("--split", help="Split whose training part is tuned on.")],
    models: Annotated[
        str, typer.Option("--models", callback=nonempty_list, help="Comma-separated model names.")
    ] = "ease,itemknn",
    budget: Annotated[
        int, typer.Option("--budget", min=1, help="Trials per model (grid if it fits, else random).")
    ] = 10,
    space: Annotated[
        list[str] | None,
        typer.Option("--space", help="MODEL.PARAM=V1,V2,... overriding the model's search space."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Fixed MODEL.KEY=VALUE for every trial.")
    ] = None,
    val_frac: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of each user's training items held out.")
    ] = 0.2,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=SEED_MAX, help="Seed of the validation split and the random search."),
    ] = None,
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """Choose each model's parameters by validation NDCG@10 on a split carved from the training part."""
    from dancerec.recommender.registry import MODELS, model_names
    from dancerec.recommender.splits import load_split
    from dancerec.recommender.tune import parse_space, record_tuning, tune_model

    st = open_study(study)
    names = [m.strip() for m in models.split(",") if m.strip()]
    if budget < 1:
        raise UserError("--budget must be at least 1")
    unknown = [n for n in names if n not in model_names()]
    if unknown:
        raise UserError(
            f"--models: unknown model(s) {', '.join(unknown)} (known: {', '.join(model_names())})"
        )
    spaces = parse_space(space, names)
    fixed = _parse_params(param, names)
    data = load_split(st, split_name)
    seed = st.config.seed if seed is None else seed
    out = {}
    for name in names:
        if name not in spaces and not MODELS[name].search_space:
            console.print(
                f"  {name}: nothing to tune (no search space); `evaluate --tuned` uses its defaults"
            )
            continue
        with progress() as bar:
            task = bar.add_task(f"tuning {name}", total=budget, status="")
            tuning = tune_model(
                name,
                data.train,
                space=spaces.get(name),
                fixed=fixed[name],
                budget=budget,
                val_frac=val_frac,
                seed=seed,
                progress=lambda done, total, status, _t=task: bar.update(
                    _t, completed=done, total=total, status=status
                ),
            )
        tuning_id = record_tuning(st, tuning, split=split_name)
        print_table(
            _apa_metrics(tuning.trials),
            title=f"{name}: {len(tuning.trials)} trials ({tuning.strategy}), validation NDCG@10",
        )
        console.print(
            f"  chosen for [bold]{name}[/]: {_format_params(tuning.best_params)} "
            f"(validation NDCG@10 = {_apa_bounded(tuning.best_score)}); stored as {tuning_id}"
        )
        out[name] = {"tuning_id": tuning_id, **tuning.to_dict()}
    console.print(
        f"use them with: dancerec recommender evaluate --split {split_name} --models {models} --tuned"
    )
    write_json(json_path, out)


def _format_params(params: dict[str, Any]) -> str:
    """``l2 = 100, k = 50`` with plain Python numbers (never ``np.float64(...)``)."""
    from dancerec.recommender.tune import plain

    return ", ".join(f"{k} = {plain(v)}" for k, v in params.items()) or "(defaults)"
