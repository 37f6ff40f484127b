"""`dancerec recommender` end to end: import, simulate, split, train, recommend, evaluate, compare, demo."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dancerec.recommender import registry
from dancerec.recommender.runs import list_runs, load_run
from typer.testing import CliRunner

from dancerec import demo
from dancerec.cli.main import app
from dancerec.demo import DemoContext

runner = CliRunner()


def _run(study, *args: str):
    result = runner.invoke(app, ["recommender", *args, "--study", str(study.root)])
    return result


def test_full_cli_workflow(study, tmp_path):
    r = _run(study, "simulate", "--users", "120", "--items", "150", "--mean-items", "15", "--name", "sim")
    assert r.exit_code == 0, r.output
    r = _run(study, "split", "sim", "--method", "chronological", "--name", "chrono")
    assert r.exit_code == 0, r.output
    r = _run(study, "train", "--model", "ease", "--split", "chrono", "--param", "l2=50")
    assert r.exit_code == 0, r.output
    recs = tmp_path / "recs.csv"
    r = _run(study, "recommend", "--model", "ease", "--split", "chrono", "--k", "5", "--out", str(recs))
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(recs, dtype={"user": str, "item": str})
    assert list(frame.columns) == ["user", "item", "rank", "score"]
    assert frame.groupby("user").size().eq(5).all() and frame["user"].nunique() == 120
    assert frame.groupby("user")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    out = tmp_path / "ev.json"
    r = _run(
        study,
        "evaluate",
        "--split",
        "chrono",
        "--models",
        "mostpop,ease",
        "--k",
        "10,20",
        "--param",
        "ease.l2=50",
        "--bootstrap",
        "100",
        "--json",
        str(out),
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(out.read_text())
    assert set(payload) == {"mostpop", "ease"}
    per_user = pd.read_parquet(payload["ease"]["per_user_path"])
    assert {
        "user_id",
        "n_test_items",
        "precision@10",
        "recall@20",
        "ndcg@10",
        "novelty@10",
        "serendipity@10",
        "diversity@10",
    } <= set(per_user.columns)
    assert payload["ease"]["means"]["ndcg@10"] == pytest.approx(per_user["ndcg@10"].mean())
    run = load_run(study, payload["ease"]["run_id"])
    assert run.split == "chrono" and run.params == {"l2": 50} and run.seed == study.config.seed
    assert run.k_list == [10, 20] and list(run.curves["k"]) == list(range(1, 51))
    assert per_user["user_id"].isin([f"u{i:03d}" for i in range(120)]).all()
    cmp_json, plot = tmp_path / "cmp.json", tmp_path / "curves.png"
    r = _run(
        study,
        "compare",
        "--split",
        "chrono",
        "--baseline",
        "mostpop",
        "--json",
        str(cmp_json),
        "--plot",
        str(plot),
    )
    assert r.exit_code == 0, r.output
    comparison = json.loads(cmp_json.read_text())["comparison"]
    ease_rows = [c for c in comparison if c["model"] == "ease"]
    assert len(ease_rows) == 3 and all(0 <= c["p_t_holm"] <= 1 for c in ease_rows)
    assert plot.stat().st_size > 1000
    assert _run(study, "list", "runs").exit_code == 0


def test_saved_model_id_evaluates_like_a_fresh_fit(study):
    _run(study, "simulate", "--users", "80", "--items", "90", "--mean-items", "12", "--name", "s")
    _run(study, "split", "s", "--method", "random", "--name", "r")
    assert _run(study, "train", "--model", "itemknn", "--split", "r", "--param", "k=20").exit_code == 0
    from dancerec.recommender.runs import list_models

    model_id = list_models(study)["model_id"].iloc[0]
    assert (
        _run(
            study,
            "evaluate",
            "--split",
            "r",
            "--models",
            f"{model_id},itemknn",
            "--param",
            "itemknn.k=20",
            "--k",
            "10",
            "--bootstrap",
            "50",
        ).exit_code
        == 0
    )
    a, b = (load_run(study, rid) for rid in list_runs(study)["run_id"])
    pd.testing.assert_frame_equal(a.per_user, b.per_user)


def test_user_errors_exit_1_with_one_line(study, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,plays\na,x,1\nb,y,many\n")
    r = _run(
        study,
        "import",
        "table",
        str(bad),
        "--name",
        "bad",
        "--map",
        "user_id=user",
        "--map",
        "item_id=item",
        "--map",
        "plays=plays",
    )
    assert r.exit_code == 1 and "row 3" in " ".join(r.output.split()) and "plays" in r.output
    r = _run(
        study,
        "import",
        "table",
        str(bad),
        "--name",
        "bad",
        "--map",
        "user_id=user",
        "--map",
        "item_id=item",
        "--map",
        "plays=plays",
        "--skip-bad-rows",
    )
    assert r.exit_code == 0 and "skipped 1 bad rows" in " ".join(r.output.split())
    assert _run(study, "split", "nope").exit_code == 1
    assert _run(study, "train", "--model", "nope", "--split", "x").exit_code == 1
    r = _run(study, "split", "bad", "--method", "chronological")
    assert r.exit_code == 1 and "timestamps" in " ".join(r.output.split())


def test_external_split_from_two_files(study, tmp_path):
    tr, te = tmp_path / "train.tsv", tmp_path / "test.tsv"
    tr.write_text("u1\ta\t3\nu1\tb\t1\nu2\ta\t5\nu2\tc\t2\n")
    te.write_text("u1\tc\t1\nu2\tb\t4\n")
    r = _run(
        study, "split", "--train", str(tr), "--test", str(te), "--source", "taste-profile", "--name", "given"
    )
    assert r.exit_code == 0, r.output
    r = _run(study, "evaluate", "--split", "given", "--models", "mostpop", "--k", "1", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    run = load_run(study, list_runs(study)["run_id"].iloc[0])
    # MostPop on train: a (2 users) first; u1 has a and b -> recommends c (hit); u2 has a, c -> b (hit)
    assert run.per_user["precision@1"].tolist() == [1.0, 1.0]


def test_demo_steps_store_runs_and_users(study, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_WORLD", {"n_users": 150, "n_items": 160, "mean_items": 15})
    monkeypatch.setattr(
        demo,
        "DEMO_MODELS",
        {"mostpop": {}, "svd": {"n_factors": 8}, "ncf": {"epochs": 2}, "ease": {"l2": 50.0}},
    )
    monkeypatch.setattr(registry, "_ENTRIES", {k: v for k, v in registry._ENTRIES.items() if k != "relation"})
    from rich.console import Console

    ctx = DemoContext(study=study, out=Console(quiet=True))
    for step in (demo.simulate_log, demo.split_log, demo.tune_and_evaluate, demo.compare_models):
        step(ctx)
    assert set(ctx.data["runs"]) == {"mostpop", "svd", "ncf", "ease"}
    run = load_run(study, ctx.data["runs"]["ease"])
    assert set(run.per_user["user_id"]) == set(ctx.data["interactions_users"])
    assert ctx.outputs["recommender curves"].exists()
