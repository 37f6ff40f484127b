"""`dancerec indices cfa --data X.csv --model M.lav` through the start-up-lean path: the same printed output
as the full path (semopy/pandas) but for the estimator line, and none of the heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from dancerec.cli.main import app

BFI = Path(__file__).parent / "fixtures" / "R" / "data" / "bfi.csv"
MODEL = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("lean")
    data = folder / "bfi.csv"
    pd.read_csv(BFI, index_col=0).iloc[:, :25].to_csv(data, index=False)
    model = folder / "bfi.lav"
    model.write_text(MODEL, encoding="utf-8")
    return data, model


def _run(*args: str) -> list[str]:
    result = CliRunner().invoke(app, ["indices", "cfa", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _split(lines: list[str]) -> tuple[list[str], str]:
    est = [line for line in lines if line.startswith("estimator:")]
    assert len(est) == 1
    return [line for line in lines if not line.startswith("estimator:")], est[0]


@pytest.fixture
def full_path_only(monkeypatch):
    """Make the lean path decline, so that the same command runs the full (semopy/pandas) path."""
    from dancerec.indices import cfa_lean

    monkeypatch.setattr(cfa_lean, "lean_cfa", lambda *a, **k: None)


@pytest.mark.parametrize("extra", [[], ["--std-lv"]])
def test_lean_output_equals_the_full_paths(files, tmp_path, extra, request):
    data, model = files
    args = ["--data", str(data), "--model", str(model), "--missing", "listwise", *extra]
    lean, lean_est = _split(_run(*args, "--json", str(tmp_path / "lean.json")))
    request.getfixturevalue("full_path_only")
    full, full_est = _split(_run(*args, "--json", str(tmp_path / "full.json")))
    assert "mlcore" in lean_est and "semopy" in full_est  # each route was really taken
    assert lean_est.split("), ", 1)[1] == full_est.split("), ", 1)[1]  # identification, SEs, missing data
    assert ("std.lv" in lean_est) == ("--std-lv" in extra)
    assert lean == full
    assert any("CFA fit" in line for line in lean) and any("N4" in line for line in lean)
    assert any("recommended estimator: WLSMV" in line for line in lean)
    ours = json.loads((tmp_path / "lean.json").read_text())
    theirs = json.loads((tmp_path / "full.json").read_text())
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        if key == "loadings":
            assert [(r["factor"], r["item"]) for r in ours[key]] == [(r["factor"], r["item"]) for r in value]
            for a, b in zip(ours[key], value, strict=True):
                for k in ("estimate", "std", "se", "p"):
                    assert a[k] == pytest.approx(b[k], abs=2e-6), (a["item"], k)  # None == None too
        elif isinstance(value, float) or isinstance(value, list):
            assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
        else:
            assert ours[key] == value, key


def test_incomplete_data_without_listwise_takes_the_fiml_path(files):
    data, model = files
    _, est = _split(_run("--data", str(data), "--model", str(model)))
    assert "FIML" in est and "mlcore" not in est


_PROBE = """
import sys
from dancerec.cli.main import app
try:
    app(sys.argv[1:], prog_name="dancerec")
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = ("pandas", "semopy", "sympy", "scipy.stats", "scipy.optimize", "scipy.special", "duckdb",
         "sklearn", "statsmodels", "torch", "matplotlib")
print(",".join(m for m in heavy if m in sys.modules))
print("scipy.special._ufuncs" in sys.modules)
"""


def test_lean_run_imports_none_of_the_heavy_libraries(files):
    data, model = files
    args = ["indices", "cfa", "--data", str(data), "--model", str(model), "--missing", "listwise"]
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded, ufuncs = out.stdout.strip().splitlines()[-2:]
    assert loaded == ""
    assert ufuncs == "True"  # the compiled special functions alone


def test_special_functions_loaded_alone_are_scipys_own():
    code = (
        "from dancerec.indices import _dist\n"
        "import sys\n"
        "alone = 'scipy.special' not in sys.modules\n"
        "values = [_dist.chi2_sf(17.2, 5), _dist.ncx2_cdf(250.0, 265, 12.0), _dist.ncx2_sf(250.0, 265, 12.0),"
        " float(_dist.norm_sf(1.96))]\n"
        "import scipy.special\n"
        "from scipy import stats\n"
        "same = scipy.special.chdtrc is _dist._ufuncs().chdtrc\n"
        "ref = [stats.chi2.sf(17.2, 5), stats.ncx2.cdf(250.0, 265, 12.0), stats.ncx2.sf(250.0, 265, 12.0),"
        " stats.norm.sf(1.96)]\n"
        "print(alone, same, all(a == b for a, b in zip(values, ref)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr[-2000:]
