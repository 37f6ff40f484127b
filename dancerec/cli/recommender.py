"""`dancerec recommender`: Import interaction logs, simulate, split, train, recommend, evaluate and compare recommenders."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Annotated

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
from dancerec.cli.validators import SEED_MAX, finite
from dancerec.errors import UserError

app = typer.Typer(
    help="Import interaction logs, simulate, split, train, recommend, evaluate and compare recommenders.",
    no_args_is_help=True,
)


# --------------------------------------------------------------------------------------------
# helpers (argument parsing only; the work is in dancerec.recommender.*)
# --------------------------------------------------------------------------------------------
def _parse_map(items: list[str] | None) -> dict[str, str]:
    mapping = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--map {item!r}: expected SCHEMA_COLUMN=FILE_COLUMN, e.g. user_id=user")
        a, b = item.split("=", 1)
        mapping[a.strip()] = b.strip()
    return mapping


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
    min_user_items: Annotated[int, typer.Option(min=0, help="Keep users with at least this many items.")] = 0,
    min_item_users: Annotated[int, typer.Option(min=0, help="Keep items with at least this many users.")] = 0,
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
    users: Annotated[int, typer.Option("--users", min=1, help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option("--items", min=1, help="Number of items.")] = 2000,
    mean_items: Annotated[
        float, typer.Option(min=1.0, callback=finite, help="Mean number of items per user.")
    ] = 40,
    dance_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of dance items.")] = 0.3,
    seed: Annotated[
        int | None, typer.Option(min=0, max=SEED_MAX, help="Seed (default: the study's).")
    ] = None,
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
    method: Annotated[
        str,
        typer.Option(
            help="auto (chronological when the log has timestamps, else seeded random), chronological, random or loo."
        ),
    ] = "auto",
    test_frac: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of each user's items in test."),
    ] = 0.2,
    min_user_items: Annotated[
        int, typer.Option(min=0, help="Users with fewer items stay wholly in train.")
    ] = 5,
    seed: Annotated[
        int | None,
        typer.Option(min=0, max=SEED_MAX, help="Seed for the random split (default: the study's)."),
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
    if info.note:
        console.print(f"  note: {info.note}")
    write_json(json_path, info)


@app.command("models")
def models_() -> None:
    """List the registered models, with their full descriptions and tuning spaces."""
    from dancerec.recommender.registry import describe_models

    print_table(pd.DataFrame(describe_models()), title="models")


@app.command("list")
def list_(
    what: Annotated[str, typer.Argument(help="datasets, splits, models, runs or tunings.")] = "runs",
    study: StudyOption = None,
    json_path: JsonOption = None,
) -> None:
    """List the datasets, splits, trained models, evaluation runs or tunings of the study."""
    from dancerec.recommender.data import list_datasets
    from dancerec.recommender.runs import list_models, list_runs
    from dancerec.recommender.splits import list_splits
    from dancerec.recommender.tune import list_tunings

    st = open_study(study)
    funcs = {
        "datasets": list_datasets,
        "splits": list_splits,
        "models": list_models,
        "runs": list_runs,
        "tunings": list_tunings,
    }
    if what not in funcs:
        raise UserError(f"cannot list {what!r} (expected one of {', '.join(funcs)})")
    frame = funcs[what](st)
    hidden = ("path", "space", "trials") if what == "tunings" else ("params", "path")
    print_table(frame.drop(columns=[c for c in hidden if c in frame.columns]), title=what)
    write_json(json_path, frame)


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------


# train, recommend, evaluate, compare, tune (and compare_runs, which the demo steps use)
from dancerec.cli.recommender_eval import register  # noqa: E402

register(app)

# Relation-model commands (issue 6) live in their own module; registered when present.
if importlib.util.find_spec("dancerec.cli.recommender_relation") is not None:
    importlib.import_module("dancerec.cli.recommender_relation").register(app)
