"""`recommender/tune.py`: candidates, the planted best parameter (and its null), storage and `--tuned`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dancerec.recommender.base import TrainData
from dancerec.recommender.runs import list_runs, load_run
from dancerec.recommender.tune import candidates, list_tunings, parse_space, tune_model, tuned_params
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import UserError


def _pairs_world(
    pairs: bool, n_users: int = 300, n_pairs: int = 150, n_pop: int = 40, seed: int = 0
) -> TrainData:
    """Users hold 4 item *pairs* (both items of each pair) plus popular items with falling probability.

    With pairs, an item's single nearest neighbour is its partner, so ItemKNN with k = 1 recovers a held-out
    item from its partner while larger k lets many weak links to popular items win: k = 1 is the planted best.
    The null world swaps the pairs for 8 unrelated random items: nothing but popularity remains, and a small
    neighbourhood is then the worst choice.
    """
    rng = np.random.default_rng(seed)
    n_items = 2 * n_pairs + n_pop
    pop_p = np.linspace(0.6, 0.05, n_pop)
    rows = []
    for u in range(n_users):
        if pairs:
            chosen = rng.choice(n_pairs, 4, replace=False)
            items = [*(2 * chosen), *(2 * chosen + 1)]
        else:
            items = list(rng.choice(2 * n_pairs, 8, replace=False))
        items += list(2 * n_pairs + np.flatnonzero(rng.random(n_pop) < pop_p))
        rows += [(u, int(i)) for i in items]
    frame = pd.DataFrame(rows, columns=["user", "item"]).drop_duplicates().reset_index(drop=True)
    frame["score"] = 1.0
    matrix = sp.csr_matrix(
        (frame["score"].to_numpy(np.float32), (frame["user"], frame["item"])), shape=(n_users, n_items)
    )
    return TrainData(matrix, frame, np.arange(n_users).astype(str), np.arange(n_items).astype(str), seed=7)


SPACE = {"k": [1, 3, 10, 30, 100, 300]}


def test_tune_picks_the_planted_neighbourhood_size():
    tuning = tune_model("itemknn", _pairs_world(True), space=SPACE, budget=10, seed=3)
    assert tuning.strategy == "grid" and len(tuning.trials) == 6
    assert tuning.best_params == {"k": 1}
    scores = tuning.trials.set_index("k")["ndcg@10"]
    assert scores[1] > scores.drop(1).max() + 0.1  # clearly best, not by a hair
    assert tuning.n_val_users == 300


def test_tune_null_world_does_not_pick_the_planted_value():
    tuning = tune_model("itemknn", _pairs_world(False), space=SPACE, budget=10, seed=3)
    assert tuning.best_params["k"] >= 30
    scores = tuning.trials.set_index("k")["ndcg@10"]
    assert scores[1] == scores.min()


def test_candidates_full_grid_or_seeded_sample():
    space = {"a": [1, 2, 3], "b": ["x", "y"]}
    grid, how = candidates(space, 6, seed=1)
    assert how == "grid" and len(grid) == 6 and {"a": 3, "b": "y"} in grid
    sample, how = candidates(space, 4, seed=1)
    assert how == "random" and len(sample) == 4 and len({json.dumps(p) for p in sample}) == 4
    assert sample == candidates(space, 4, seed=1)[0]
    assert all(p in grid for p in sample)
    with pytest.raises(UserError):
        candidates(space, 0, seed=1)


def test_parse_space_and_errors():
    assert parse_space(["ease.l2=10,100", "itemknn.similarity=cosine,jaccard"], ["ease", "itemknn"]) == {
        "ease": {"l2": [10, 100]},
        "itemknn": {"similarity": ["cosine", "jaccard"]},
    }
    for bad in ("l2=10", "ease.l2=", "svd.n_factors=8"):
        with pytest.raises(UserError):
            parse_space([bad], ["ease"])
    with pytest.raises(UserError, match="no search space"):
        tune_model("mostpop", _pairs_world(True, n_users=40))


def test_cli_tune_stores_trials_and_evaluate_tuned_uses_them(study):
    runner = CliRunner()

    def run(*args):
        r = runner.invoke(app, ["recommender", *args, "--study", str(study.root)])
        assert r.exit_code == 0, r.output
        return r

    run("simulate", "--users", "100", "--items", "120", "--mean-items", "15", "--name", "sim")
    run("split", "sim", "--method", "random", "--name", "r")
    r = run(
        "tune", "--split", "r", "--models", "mostpop,ease", "--space", "ease.l2=1,30,3000", "--budget", "2"
    )
    assert "mostpop: nothing to tune" in " ".join(r.output.split())
    assert "random" in r.output and "chosen for" in r.output
    assert "tune-ease-" in run("list", "tunings").output
    table = list_tunings(study)
    assert len(table) == 1 and table["budget"].iloc[0] == 2 and table["split"].iloc[0] == "r"
    trials = json.loads(table["trials"].iloc[0])
    assert len(trials) == 2 and all(0 <= t["ndcg@10"] <= 1 for t in trials)
    best = max(trials, key=lambda t: t["ndcg@10"])["l2"]
    assert tuned_params(study, "ease", "r") == {"l2": best}
    run("evaluate", "--split", "r", "--models", "ease,mostpop", "--tuned", "--k", "10", "--bootstrap", "20")
    runs = list_runs(study)
    assert load_run(study, runs["run_id"].iloc[0]).params == {"l2": best}
    # an explicit --param wins over the tuned value
    run("evaluate", "--split", "r", "--models", "ease", "--tuned", "--param", "ease.l2=7", "--k", "10")
    assert load_run(study, list_runs(study)["run_id"].iloc[-1]).params == {"l2": 7}
    r = runner.invoke(
        app,
        ["recommender", "evaluate", "--split", "r", "--models", "svd", "--tuned", "--study", str(study.root)],
    )
    assert r.exit_code == 1 and "no tuning of 'svd'" in r.output
