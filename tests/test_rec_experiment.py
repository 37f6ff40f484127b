"""`recommender/experiment.py` and the run grammar: one loop, stored runs, names or ids everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.recommender import registry, splits
from dancerec.recommender.baselines import EASE, MostPop
from dancerec.recommender.evaluate import evaluate
from dancerec.recommender.experiment import Experiment, compare_runs
from dancerec.recommender.runs import list_models, list_runs, load_run, resolve_run
from dancerec.recommender.simulate import simulate_world
from dancerec.recommender.stats import compare
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.errors import UserError


@pytest.fixture(scope="module")
def sim_split():
    world = simulate_world(150, 160, mean_items=15, seed=5)
    return splits.split_log(world.log, "random", seed=5)


def test_experiment_equals_separate_fit_and_evaluate(sim_split):
    calls = []
    result = Experiment(sim_split, {"pop": MostPop(), "ease": EASE(l2=50)}, (5, 10), n_bootstrap=50).run(
        progress=lambda *a: calls.append(a)
    )
    for label, model in (("pop", MostPop()), ("ease", EASE(l2=50))):
        direct = evaluate(
            model.fit(sim_split.train), sim_split.train, sim_split.test, (5, 10), n_bootstrap=50
        )
        pd.testing.assert_frame_equal(result.evaluations[label].per_user, direct.per_user)
    table = result.table()
    assert list(table["model"]) == ["pop", "ease"] and table["ndcg@10"].iloc[1] > table["ndcg@10"].iloc[0]
    # progress: each model reports a finished fit and an evaluation reaching every test user
    n_users = len(sim_split.test_users)
    for label in ("pop", "ease"):
        assert (label, "fit", 1, 1, "fitted") in calls
        assert max(c[2] for c in calls if c[:2] == (label, "evaluate")) == n_users
    cmp = result.compare("pop", ["ndcg@10"])
    expected = compare({k: v.per_user for k, v in result.evaluations.items()}, "pop", ["ndcg@10"])
    pd.testing.assert_frame_equal(cmp, expected)


def test_experiment_rejects_bad_setups(sim_split):
    with pytest.raises(UserError):
        Experiment(sim_split, {})
    with pytest.raises(UserError, match="split's name"):
        Experiment(sim_split, {"pop": MostPop()}).run(study=object())


def test_every_registered_baseline_follows_the_fit_contract(sim_split):
    """fit(train, *, progress) for the baselines; search-space values are valid constructor arguments."""
    for name in ("mostpop", "itemknn", "userknn", "svd", "ease", "als"):
        cls = registry.MODELS[name]
        for key, values in cls.search_space.items():
            registry.make_model(name, **{key: values[0]})
        calls = []
        params = {"als": {"iterations": 2, "n_factors": 8}, "svd": {"n_factors": 8}}.get(name, {})
        registry.make_model(name, **params).fit(sim_split.train, progress=lambda *a, _c=calls: _c.append(a))
        assert calls and calls[-1][0] == calls[-1][1] == 1, name


def _cli(study, *args):
    return CliRunner().invoke(app, ["recommender", *args, "--study", str(study.root)])


def test_evaluate_saves_models_so_recommend_works_and_runs_resolve_by_name(study, tmp_path):
    assert (
        _cli(
            study, "simulate", "--users", "90", "--items", "100", "--mean-items", "12", "--name", "s"
        ).exit_code
        == 0
    )
    assert _cli(study, "split", "s", "--method", "random", "--name", "r").exit_code == 0
    r = _cli(study, "evaluate", "--split", "r", "--models", "mostpop,ease", "--k", "10", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert set(list_models(study)["model"]) == {"mostpop", "ease"}
    out = tmp_path / "recs.csv"
    r = _cli(study, "recommend", "--model", "ease", "--split", "r", "--k", "3", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(out)) == 3 * 90
    r = _cli(
        study, "evaluate", "--split", "r", "--models", "svd", "--k", "10", "--no-save", "--bootstrap", "20"
    )
    assert r.exit_code == 0 and "svd" not in set(list_models(study)["model"])
    # the grammar: a model name is its latest run on the split; a run id is itself
    runs = list_runs(study)
    ease_id = runs.loc[runs["model"] == "ease", "run_id"].iloc[-1]
    assert resolve_run(study, "ease") == ease_id == resolve_run(study, ease_id)
    assert resolve_run(study, "ease", split="r") == ease_id
    with pytest.raises(UserError, match="mostpop"):
        resolve_run(study, "nope")
    with pytest.raises(UserError):
        resolve_run(study, "ease", split="other")
    by_name, _ = compare_runs(study, runs=["ease", "svd"], baseline="mostpop", metrics=["ndcg@10"])
    by_id, _ = compare_runs(
        study,
        runs=[ease_id, resolve_run(study, "svd")],
        baseline=resolve_run(study, "mostpop"),
        metrics=["ndcg@10"],
    )
    pd.testing.assert_frame_equal(by_name, by_id)
    assert set(by_name["model"]) == {"mostpop", "ease", "svd"}
    ease_row = by_name[by_name["model"] == "ease"].iloc[0]
    run = load_run(study, ease_id)
    assert ease_row["mean"] == pytest.approx(run.per_user["ndcg@10"].mean())
    r = _cli(study, "compare", "--runs", "ease,svd", "--baseline", "mostpop", "--metrics", "ndcg@10")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "0.000" not in text and "np.float64" not in text and "p = 0" not in text


def test_split_auto_falls_back_to_random_without_timestamps(study, tmp_path):
    log = tmp_path / "log.csv"
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}", int(rng.integers(1, 9)))
        for u in range(30)
        for i in rng.choice(40, 8, replace=False)
    ]
    pd.DataFrame(rows, columns=["user", "item", "plays"]).to_csv(log, index=False)
    mapping = ["--map", "user_id=user", "--map", "item_id=item", "--map", "plays=plays"]
    assert _cli(study, "import", "table", str(log), "--name", "nots", *mapping).exit_code == 0
    r = _cli(study, "split", "nots")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "no timestamps" in text and "seeded random" in text
    info = splits.split_info(study, "nots-random")
    assert info.method == "random"
    # same seed, same split as asking for random explicitly
    assert _cli(study, "split", "nots", "--method", "random", "--name", "explicit").exit_code == 0
    a, b = splits.load_split(study, "nots-random"), splits.load_split(study, "explicit")
    assert (a.test.matrix != b.test.matrix).nnz == 0
    # with timestamps, auto is chronological
    assert (
        _cli(
            study, "simulate", "--users", "40", "--items", "50", "--mean-items", "10", "--name", "ts"
        ).exit_code
        == 0
    )
    r = _cli(study, "split", "ts")
    assert r.exit_code == 0 and "note" not in r.output
    assert splits.split_info(study, "ts-chronological").method == "chronological"


def test_models_lists_full_descriptions():
    rows = {r["model"]: r for r in registry.describe_models()}
    assert rows["content"]["what"].endswith("as in the source paper.")
    assert rows["als"]["what"].endswith("on observed cells.")
    assert "l2" in rows["ease"]["tuned over"]


def test_docs_library_example_runs(tmp_path, monkeypatch):
    """The Experiment example of docs/recommender.md runs as written (on a small simulated study)."""
    import re
    from pathlib import Path

    from dancerec.recommender.data import import_log

    from dancerec.workspace import Study

    text = (Path(__file__).resolve().parents[1] / "docs" / "recommender.md").read_text(encoding="utf-8")
    code = re.search(r"## Experiments \(library\).*?```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    study = Study.init(tmp_path / "my-study", name="docs", seed=3)
    import_log(study, simulate_world(60, 80, mean_items=12, seed=3).log, "sim")
    splits.split_dataset(study, "sim", "random", name="lastfm-random")
    namespace: dict = {}
    exec(compile(code, "docs/recommender.md", "exec"), namespace)
    result = namespace["result"]
    assert set(result.run_ids) == {"mostpop", "itemknn", "ease"}
    assert set(list_models(study)["model"]) == {"mostpop", "itemknn", "ease"}
