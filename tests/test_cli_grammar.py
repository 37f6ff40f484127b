"""One grammar across the command line: the global --study, APA numbers in printed tables."""

from __future__ import annotations

import pandas as pd
import pytest
from dancerec.survey.instrument import load_instrument
from dancerec.survey.simulate import simulate_responses
from dancerec.survey.writers import write_responses
from rich.console import Console
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.console import print_table

runner = CliRunner()


def _study_with_responses(tmp_path, n: int = 60):
    root = tmp_path / "s"
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    sim = simulate_responses(load_instrument("dance-music-30"), n=n, groups=("A", "B"), seed=3)
    path = write_responses(sim.responses, load_instrument("dance-music-30"), tmp_path / "x.csv", "csv")
    assert runner.invoke(app, ["survey", "import", str(path), "--study", str(root)]).exit_code == 0
    return root


def test_study_works_before_the_group_and_after_the_command(tmp_path, monkeypatch):
    monkeypatch.delenv("DANCEREC_STUDY", raising=False)
    monkeypatch.chdir(tmp_path)  # not a study: only --study can make the commands work
    root = _study_with_responses(tmp_path)
    before = runner.invoke(app, ["--study", str(root), "survey", "score"])
    after = runner.invoke(app, ["survey", "score", "--study", str(root)])
    assert before.exit_code == 0, before.output
    assert after.exit_code == 0, after.output
    assert before.output == after.output
    # the root option does not leak into the next invocation
    neither = runner.invoke(app, ["survey", "score"])
    assert neither.exit_code == 1


def test_printed_tables_use_apa_numbers():
    out = Console(width=200, record=True)
    frame = pd.DataFrame(
        {
            "dimension": ["a", "b"],
            "N": [318.0, 12.0],
            "rho": [0.4512, -0.0712],
            "mean": [3.4567, 12.0],
            "p": [0.0, 0.0234],
            "p_adj": [0.0004, 1.0],
        }
    )
    print_table(frame, out=out, digits=2)
    text = out.export_text()
    assert "318" in text and "318.0" not in text
    assert ".45" in text and "0.45" not in text and "\u2212.07" in text
    assert "3.46" in text
    assert "< .001" in text and ".023" in text and "> .999" in text
    assert " 0.000" not in text and "p = 0" not in text


def test_fit_tables_print_counts_as_integers_and_indices_without_leading_zero():
    out = Console(width=200, record=True)
    table = pd.DataFrame(
        {
            "index": ["N", "df", "p", "CFI", "RMSEA 90% CI low", "AIC"],
            "value": [318.0, 24.0, 0.0, 0.931, 0.071, 7517.49],
        }
    )
    print_table(table, out=out)
    text = out.export_text()
    assert "318" in text and "318.000" not in text and "24.000" not in text
    assert "< .001" in text and ".931" in text and "0.931" not in text and ".071" in text
    assert "7517.490" in text


def test_wlsmv_is_reachable_from_fit_cfa_and_the_cli(tmp_path):
    """`--estimator wlsmv` and Estimator("wlsmv") run the ordinal estimator (numbers: test_indices_ordinal)."""
    import json

    from dancerec.indices.cfa import fit_cfa
    from dancerec.indices.estimation import Estimator
    from dancerec.indices.ordinal import OrdinalFit, fit_wlsmv
    from ordinal_data import FIVE_FACTORS, bfi_items

    items = bfi_items(complete=True).iloc[:600]
    via_cfa = fit_cfa(items, FIVE_FACTORS, estimator=Estimator(name="wlsmv"))
    assert isinstance(via_cfa, OrdinalFit)
    assert via_cfa.fit.chi2_scaled == fit_wlsmv(items, FIVE_FACTORS).fit.chi2_scaled
    data, model = tmp_path / "bfi.csv", tmp_path / "bfi.lav"
    items.to_csv(data, index_label="id")
    model.write_text(FIVE_FACTORS, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "indices",
            "cfa",
            "--data",
            str(data),
            "--model",
            str(model),
            "--estimator",
            "wlsmv",
            "--json",
            str(tmp_path / "w.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "CFA fit (WLSMV)" in result.output and "CFI scaled" in result.output
    payload = json.loads((tmp_path / "w.json").read_text(encoding="utf-8"))
    assert payload["estimator"] == "WLSMV"
    assert payload["fit"]["chi2_scaled"] == pytest.approx(via_cfa.fit.chi2_scaled)
    # ML on the same data recommends WLSMV (6-point items with floor/ceiling effects)
    ml = runner.invoke(app, ["indices", "cfa", "--data", str(data), "--model", str(model)])
    assert "recommended estimator: WLSMV" in ml.output


def test_exclude_flagged_default_lives_in_study_toml_and_the_option_overrides_it(tmp_path, monkeypatch):
    import json

    from dancerec.workspace import Study

    monkeypatch.delenv("DANCEREC_STUDY", raising=False)
    root = tmp_path / "s"
    assert runner.invoke(app, ["init", str(root), "--exclude-flagged", "all"]).exit_code == 0
    assert Study.open(root).config.exclude_flagged == ["all"]
    sim = simulate_responses(
        load_instrument("dance-music-30"), n=120, groups=("A", "B"), seed=4, careless_rate=0.2
    )
    path = write_responses(sim.responses, load_instrument("dance-music-30"), tmp_path / "x.csv", "csv")
    assert runner.invoke(app, ["--study", str(root), "survey", "import", str(path)]).exit_code == 0

    def n_used(*extra):
        out = tmp_path / "r.json"
        res = runner.invoke(app, ["--study", str(root), "indices", "items", "--json", str(out), *extra])
        assert res.exit_code == 0, res.output
        return json.loads(out.read_text(encoding="utf-8"))["n"]

    default, everyone, explicit = (
        n_used(),
        n_used("--exclude-flagged", "none"),
        n_used("--exclude-flagged", "all"),
    )
    assert default == explicit < everyone == 120


def test_indices_commands_store_their_results_in_the_study(tmp_path, monkeypatch):
    from dancerec.results import list_results
    from dancerec.workspace import Study

    monkeypatch.delenv("DANCEREC_STUDY", raising=False)
    root = _study_with_responses(tmp_path, n=300)
    for command in ("reliability", "cfa", "groups"):
        res = runner.invoke(app, ["--study", str(root), "indices", command])
        assert res.exit_code == 0, res.output
        assert f"stored as indices.{command}" in res.output
    kinds = set(list_results(Study.open(root))["kind"])
    assert {"indices.reliability", "indices.cfa", "indices.groups"} <= kinds


def test_sem_with_wlsmv_from_the_cli_equals_the_library(tmp_path):
    import json

    from dancerec.indices.ordinal import fit_wlsmv
    from ordinal_data import FIVE_FACTORS, bfi_items

    items = bfi_items(complete=True).iloc[:800]
    data, model = tmp_path / "bfi.csv", tmp_path / "sem.lav"
    items.to_csv(data, index_label="id")
    syntax = FIVE_FACTORS + "\nN ~ C + E"
    model.write_text(syntax, encoding="utf-8")
    out = tmp_path / "s.json"
    args = [
        "indices",
        "sem",
        "--data",
        str(data),
        "--model",
        str(model),
        "--estimator",
        "wlsmv",
        "--json",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "SEM fit (WLSMV)" in result.output and "structural paths" in result.output
    want = fit_wlsmv(items, syntax)
    assert json.loads(out.read_text(encoding="utf-8"))["fit"]["chi2_scaled"] == pytest.approx(
        want.fit.chi2_scaled
    )


def test_a_text_where_a_model_parameter_is_a_number_is_a_user_error():
    from dancerec.recommender.registry import make_model

    from dancerec.errors import UserError

    with pytest.raises(UserError, match="parameter 'l2' of model 'ease' must be a number, not 'abc'"):
        make_model("ease", l2="abc")
    assert make_model("ease", l2=50).l2 == 50
