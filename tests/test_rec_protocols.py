"""`recommender evaluate --protocol paper|both`: the relation paper's own test beside full ranking."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from dancerec.recommender.paper_protocol import paper_protocol
from dancerec.recommender.registry import make_model
from dancerec.recommender.splits import load_split
from typer.testing import CliRunner

from dancerec.cli.main import app

runner = CliRunner()


def _run(study, *args: str):
    return runner.invoke(app, ["--study", str(study.root), "recommender", *args])


def test_both_protocols_from_the_cli_equal_the_library(study, tmp_path):
    assert (
        _run(
            study, "simulate", "--users", "120", "--items", "150", "--mean-items", "15", "--name", "sim"
        ).exit_code
        == 0
    )
    assert _run(study, "split", "sim", "--method", "random", "--name", "rnd").exit_code == 0
    out = tmp_path / "ev.json"
    r = _run(study, "evaluate", "--split", "rnd", "--models", "mostpop", "--k", "10", "--bootstrap", "0",
             "--protocol", "both", "--no-save", "--json", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "the paper's protocol" in r.output
    payload = json.loads(out.read_text(encoding="utf-8"))["mostpop"]
    assert "ndcg@10" in payload["means"]  # the field's protocol is still there
    got = pd.DataFrame(payload["paper_protocol"])
    data = load_split(study, "rnd")
    model = make_model("mostpop").fit(data.train)
    want = paper_protocol(
        model, data.train, data.test.interactions, lengths=(1, 2, 5, 10), seed=data.train.seed
    )
    merged = got.merge(want, on=["metric", "k"], how="outer", suffixes=("_cli", "_lib"))
    assert len(merged) == len(want) and merged["value_cli"].to_numpy() == pytest.approx(
        merged["value_lib"].to_numpy()
    )
    assert (
        _run(study, "evaluate", "--split", "rnd", "--models", "mostpop", "--protocol", "nope").exit_code == 1
    )
