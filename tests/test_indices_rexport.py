"""``--export-r``: the R script reproduces dancerec's fit in lavaan (text checks; an optional run with
Rscript compares chi2 when R and lavaan are installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dancerec.indices.rexport import lavaan_call, r_script

HERE = Path(__file__).parent / "fixtures" / "R"
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def test_lavaan_call_carries_estimator_missing_and_identification():
    assert (
        lavaan_call("cfa", "ml", "fiml", False) == 'cfa(model, data = data, estimator = "ML", missing = "ml")'
    )
    assert lavaan_call("sem", "mlr", "listwise", True) == (
        'sem(model, data = data, estimator = "MLR", missing = "listwise", std.lv = TRUE)'
    )


def test_script_text():
    text = r_script(HS_MODEL + "\nind := a*b", "hs.csv", kind="sem", reported={"chisq": 1.5, "df": 24})
    assert "model <- '\nvisual =~ x1 + x2 + x3" in text
    assert "ind := a*b\n'" in text
    assert 'read.csv(file.path(here, "hs.csv"))' in text
    assert 'fit <- sem(model, data = data, estimator = "ML", missing = "listwise")' in text
    assert 'dancerec <- setNames(c(1.5, 24.0), c("chisq", "df"))' in text


def _run_cli(tmp_path, extra):
    from typer.testing import CliRunner

    from dancerec.cli.main import app

    (tmp_path / "hs.lav").write_text(HS_MODEL, encoding="utf-8")
    data = HERE / "fiml" / "hs_missing.csv"
    script = tmp_path / "out" / "hs_fit.R"
    script.parent.mkdir()
    args = [
        "indices",
        "cfa",
        "--data",
        str(data),
        "--model",
        str(tmp_path / "hs.lav"),
        "--export-r",
        str(script),
    ]
    res = CliRunner().invoke(app, [*args, *extra], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return script


def test_cli_writes_script_and_data(tmp_path):
    script = _run_cli(tmp_path, ["--std-lv"])
    text = script.read_text()
    assert 'cfa(model, data = data, estimator = "ML", missing = "ml", std.lv = TRUE)' in text
    data = pd.read_csv(script.with_suffix(".csv"))
    assert list(data.columns) == [f"x{i}" for i in range(1, 10)]
    assert len(data) == 301 and data.isna().all(axis=1).sum() == 1  # every row: lavaan drops the empty one


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_exported_script_reproduces_chi2_in_r(tmp_path):
    script = _run_cli(tmp_path, [])
    out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, timeout=120)
    if "there is no package called" in out.stderr:
        pytest.skip("lavaan is not installed in R")
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("chisq"))
    lavaan_value, dancerec_value = (float(v) for v in row.split()[1:3])
    assert lavaan_value == pytest.approx(dancerec_value, abs=1e-3)
    assert lavaan_value == pytest.approx(69.9096, abs=1e-3)
