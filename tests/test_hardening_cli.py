"""Issue 13, options: every numeric/enumerated option is range-checked; the listed tracebacks are gone."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.workspace import Study

runner = CliRunner()


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_init_seed_out_of_range_is_refused_and_creates_nothing(tmp_path, seed):
    res = runner.invoke(app, ["init", str(tmp_path / "s"), "--seed", seed])
    assert res.exit_code == 2 and "--seed" in res.output
    assert not (tmp_path / "s").exists()


def test_init_seed_bounds_accepted(tmp_path):
    res = runner.invoke(app, ["init", str(tmp_path / "s"), "--seed", str(2**32 - 1)])
    assert res.exit_code == 0, res.output
    assert Study.open(tmp_path / "s").config.seed == 2**32 - 1


def test_init_unknown_instrument_is_refused_at_init(tmp_path):
    res = runner.invoke(app, ["init", str(tmp_path / "s"), "--instrument", "nope"])
    assert res.exit_code == 1 and "nope" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["link", "--k", "0"], "--k"),
        (["link", "--n-boot", "0"], "--n-boot"),
        (["report", "--out", "r.html", "--n-boot", "-1"], "--n-boot"),
        (["indices", "sem", "--bootstrap", "0"], "--bootstrap"),
        (["survey", "flags", "--irv-min", "inf"], "--irv-min"),
        (["survey", "flags", "--mahalanobis-p", "2"], "--mahalanobis-p"),
        (["survey", "simulate", "--n", "0"], "--n"),
        (["survey", "simulate", "--groups", " , "], "--groups"),
        (["recommender", "evaluate", "--split", "s", "--models", ""], "--models"),
        (["indices", "efa", "--plot", "x.txt"], "--plot"),
    ],
)
def test_bad_option_values_are_usage_errors(study, args, needle):
    res = runner.invoke(app, [*args, "--study", str(study.root)])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_output_options_naming_a_folder_are_refused(study, tmp_path):
    for args in (["report", "--out", str(tmp_path)], ["survey", "export", "--out", str(tmp_path)]):
        res = runner.invoke(app, [*args, "--study", str(study.root)])
        assert res.exit_code == 2 and "is a folder" in res.output, res.output


def test_empty_mapping_file_is_one_line(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("respondent_id,group,CON1\nr1,A,3\n", encoding="utf-8")
    empty = tmp_path / "map.csv"
    empty.write_text("", encoding="utf-8")
    res = runner.invoke(app, ["survey", "validate", str(data), "--mapping", str(empty)])
    assert res.exit_code == 1 and "mapping file is empty" in res.output


def test_binary_junk_as_interaction_table_is_one_line(study, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 20)
    res = runner.invoke(
        app,
        [
            *("recommender", "import", "table", str(junk), "--name", "j", "--study", str(study.root)),
            *("--map", "user_id=user", "--map", "item_id=item"),
        ],
    )
    assert res.exit_code == 1 and "Traceback" not in res.output and "cannot read the input" in res.output
    assert len(res.output.strip().splitlines()) <= 2
