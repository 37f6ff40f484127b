"""Robust ML (MLR) against lavaan 0.6.14 ``cfa(model, bfi, estimator = "MLR")`` (complete cases):
tests/fixtures/R/mlr/mlr.R, bfi 5-factor model with reverse-keyed items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.estimation import Estimator
from dancerec.indices.sem import fit_sem

from dancerec.errors import UserError

HERE = Path(__file__).parent / "fixtures" / "R"
REVERSED = ["A1", "C4", "C5", "E1", "E2", "O2", "O5"]
BFI_MODEL = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")


def _bfi() -> pd.DataFrame:
    data = pd.read_csv(HERE / "data" / "bfi.csv", index_col=0).iloc[:, :25]
    for item in REVERSED:
        data[item] = 7 - data[item]
    return data


@pytest.fixture(scope="module")
def mlr():
    return fit_cfa(_bfi(), BFI_MODEL, missing="listwise", estimator=Estimator(name="mlr"))


def _ref() -> pd.Series:
    fit = pd.read_csv(HERE / "mlr" / "fit.csv")
    return fit[fit["missing"] == "listwise"].set_index("measure")["value"]


def test_scaled_and_robust_statistics_match_lavaan(mlr):
    r, f, ref = mlr.fit.robust, mlr.fit, _ref()
    assert f.n == ref["nobs"] and f.chi2 == pytest.approx(ref["chisq"], abs=1e-3)
    pairs = {
        "chisq.scaled": r.chi2_scaled,
        "chisq.scaling.factor": r.scaling_factor,
        "baseline.chisq.scaled": r.baseline_chi2_scaled,
        "baseline.chisq.scaling.factor": r.baseline_scaling_factor,
        "cfi.scaled": r.cfi_scaled,
        "tli.scaled": r.tli_scaled,
        "rmsea.scaled": r.rmsea_scaled,
        "rmsea.ci.lower.scaled": r.rmsea_ci_scaled[0],
        "rmsea.ci.upper.scaled": r.rmsea_ci_scaled[1],
        "cfi.robust": r.cfi_robust,
        "tli.robust": r.tli_robust,
        "rmsea.robust": r.rmsea_robust,
        "rmsea.ci.lower.robust": r.rmsea_ci_robust[0],
        "rmsea.ci.upper.robust": r.rmsea_ci_robust[1],
    }
    for key, mine in pairs.items():
        assert mine == pytest.approx(ref[key], abs=2e-3), key
    assert r.scaling_factor == pytest.approx(ref["chisq.scaling.factor"], abs=1e-5)


def test_sandwich_standard_errors_match_lavaan(mlr):
    p = pd.read_csv(HERE / "mlr" / "params.csv")
    p = p[p["missing"] == "listwise"].set_index(["lhs", "op", "rhs"])
    j = mlr.params.set_index(["lhs", "op", "rhs"]).join(p[["est", "se"]].add_suffix("_r"), how="inner")
    j = j[j["se_r"] > 0]
    assert len(j) == 60
    assert np.abs(j["se"] - j["se_r"]).max() < 1e-3
    # and they are not the ML (expected-information) SEs: the test would catch a silent fallback
    ml = fit_cfa(_bfi(), BFI_MODEL, missing="listwise").params.set_index(["lhs", "op", "rhs"])["se"]
    assert np.abs(j["se"] - ml.reindex(j.index)).max() > 5e-3


@pytest.mark.slow
def test_mlr_with_fiml_scaled_statistics_and_sandwich_ses_match_lavaan():
    res = fit_cfa(_bfi(), BFI_MODEL, estimator=Estimator(name="mlr"))  # incomplete: FIML
    assert res.fit.missing == "fiml" and res.n == 2800
    fit = pd.read_csv(HERE / "mlr" / "fit.csv")
    ref = fit[fit["missing"] == "ml"].set_index("measure")["value"]
    r = res.fit.robust
    assert res.fit.chi2 == pytest.approx(ref["chisq"], abs=1e-3)
    assert r.scaling_factor == pytest.approx(ref["chisq.scaling.factor"], abs=1e-5)
    pairs = {
        "chisq.scaled": r.chi2_scaled,
        "baseline.chisq.scaled": r.baseline_chi2_scaled,
        "baseline.chisq.scaling.factor": r.baseline_scaling_factor,
        "cfi.scaled": r.cfi_scaled,
        "tli.scaled": r.tli_scaled,
        "rmsea.scaled": r.rmsea_scaled,
        "rmsea.ci.lower.scaled": r.rmsea_ci_scaled[0],
        "rmsea.ci.upper.scaled": r.rmsea_ci_scaled[1],
    }
    # robust CFI/TLI/RMSEA: lavaan's FIML-corrected (V3) statistics
    pairs |= {
        "cfi.robust": r.cfi_robust,
        "tli.robust": r.tli_robust,
        "rmsea.robust": r.rmsea_robust,
        "rmsea.ci.lower.robust": r.rmsea_ci_robust[0],
        "rmsea.ci.upper.robust": r.rmsea_ci_robust[1],
    }
    for key, mine in pairs.items():
        assert mine == pytest.approx(ref[key], abs=2e-3), key
    assert r.cfi_robust == pytest.approx(ref["cfi.robust"], abs=1e-5)
    p = pd.read_csv(HERE / "mlr" / "params.csv")
    p = p[p["missing"] == "ml"].copy()
    p["rhs"] = p["rhs"].fillna("")
    p = p.set_index(["lhs", "op", "rhs"])
    j = res.params.set_index(["lhs", "op", "rhs"]).join(p[["se"]].add_suffix("_r"), how="inner")
    j = j[j["se_r"] > 0]
    assert len(j) == 85  # 60 model parameters + 25 intercepts
    assert np.abs(j["se"] - j["se_r"]).max() < 1e-3


def test_unknown_estimator_is_refused_clearly():
    with pytest.raises(UserError, match="unknown estimator"):
        Estimator(name="gls")
    with pytest.raises(UserError, match="not available for this fit"):
        fit_sem(_bfi(), BFI_MODEL + "\nA ~ C", estimator=Estimator(name="wlsmv"))
    data = _bfi().dropna().assign(age=lambda d: np.arange(len(d)) % 50)
    with pytest.raises(UserError, match="covariates"):
        fit_cfa(data, BFI_MODEL + "\nA ~ age", estimator=Estimator(name="mlr"))


def test_cli_cfa_estimator_mlr(tmp_path):
    import json

    from typer.testing import CliRunner

    from dancerec.cli.main import app

    _bfi().to_csv(tmp_path / "bfi.csv", index=False)
    (tmp_path / "bfi.lav").write_text(BFI_MODEL, encoding="utf-8")
    out = tmp_path / "cfa.json"
    args = ["indices", "cfa", "--data", str(tmp_path / "bfi.csv"), "--model", str(tmp_path / "bfi.lav")]
    args += ["--estimator", "mlr", "--missing", "listwise", "--json", str(out)]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "CFI robust" in res.stdout
    robust = json.loads(out.read_text())["robust"]
    assert robust["scaling_factor"] == pytest.approx(_ref()["chisq.scaling.factor"], abs=1e-5)


def test_mlr_with_fiml_on_holzinger_swineford_with_deleted_cells():
    hs = pd.read_csv(HERE / "fiml" / "hs_missing.csv")
    model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    r = fit_cfa(hs, model, estimator=Estimator(name="mlr")).fit.robust
    fit = pd.read_csv(HERE / "mlr" / "fit.csv")
    ref = fit[fit["missing"] == "hs_ml"].set_index("measure")["value"]
    assert r.scaling_factor == pytest.approx(ref["chisq.scaling.factor"], abs=1e-5)
    pairs = {"chisq.scaled": r.chi2_scaled, "baseline.chisq.scaling.factor": r.baseline_scaling_factor,
             "cfi.scaled": r.cfi_scaled, "cfi.robust": r.cfi_robust, "tli.robust": r.tli_robust,
             "rmsea.robust": r.rmsea_robust, "rmsea.ci.lower.robust": r.rmsea_ci_robust[0],
             "rmsea.ci.upper.robust": r.rmsea_ci_robust[1]}  # fmt: skip
    for key, mine in pairs.items():
        assert mine == pytest.approx(ref[key], abs=2e-3), key
