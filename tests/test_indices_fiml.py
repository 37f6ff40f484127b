"""Full-information ML against lavaan 0.6.14 ``cfa(model, data, missing = "fiml")``.

Reference values: tests/fixtures/R/fiml/fiml.R (psych's bfi, all 2,800 rows, and a Holzinger-Swineford
copy with ~10% of cells deleted at random plus one all-missing row), outputs fit.csv / params.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.cfa import fit_cfa
from dancerec.indices.fiml import baseline_loglik, em_saturated, loglik, missing_patterns

from dancerec.errors import UserError

HERE = Path(__file__).parent / "fixtures" / "R"
FIT = pd.read_csv(HERE / "fiml" / "fit.csv")
PARAMS = pd.read_csv(HERE / "fiml" / "params.csv")
BFI_MODEL = "\n".join(f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO")
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"


def _data(name: str) -> pd.DataFrame:
    if name == "hs":
        return pd.read_csv(HERE / "fiml" / "hs_missing.csv")
    return pd.read_csv(HERE / "data" / "bfi.csv", index_col=0).iloc[:, :25]


def _ref(name: str, missing: str) -> pd.Series:
    sub = FIT[(FIT["model"] == name) & (FIT["missing"] == missing)]
    return sub.set_index("measure")["value"]


@pytest.fixture(scope="module")
def fits():
    out = {}
    for name, model in (("hs", HS_MODEL), ("bfi", BFI_MODEL)):
        for missing in ("fiml", "listwise"):
            out[name, missing] = fit_cfa(_data(name), model, missing=missing)
    return out


@pytest.mark.parametrize("name", ["hs", "bfi"])
@pytest.mark.parametrize("missing", ["fiml", "listwise"])
def test_global_fit_matches_lavaan(fits, name, missing):
    res = fits[name, missing]
    f, r = res.fit, _ref(name, missing)
    assert f.n == r["nobs"] and f.n_total == r["norig"]
    assert f.df == r["df"] and f.npar == r["npar"]
    pairs = {
        "chisq": f.chi2,
        "cfi": f.cfi,
        "tli": f.tli,
        "rmsea": f.rmsea,
        "rmsea.ci.lower": f.rmsea_ci[0],
        "rmsea.ci.upper": f.rmsea_ci[1],
        "srmr": f.srmr,
        "logl": f.loglik,
        "aic": f.aic,
        "bic": f.bic,
        "baseline.chisq": f.baseline_chi2,
    }
    for key, mine in pairs.items():
        assert mine == pytest.approx(r[key], abs=1e-3), key
    assert res.converged
    if missing == "fiml":
        assert f.missing == "fiml"
        assert f.srmr_nomean == pytest.approx(r["srmr_bentler_nomean"], abs=1e-3)


@pytest.mark.parametrize("name", ["hs", "bfi"])
def test_estimates_standardized_loadings_and_observed_information_ses(fits, name):
    ref = PARAMS[(PARAMS["model"] == name) & (PARAMS["missing"] == "fiml")].copy()
    ref["rhs"] = ref["rhs"].fillna("")
    ref = ref.set_index(["lhs", "op", "rhs"])
    mine = fits[name, "fiml"].params.set_index(["lhs", "op", "rhs"])
    joined = mine.join(ref.rename(columns={"se": "se_r"}), how="inner")
    # every free parameter and every intercept of lavaan's table (latent means are fixed at 0 there)
    latent = set(fits[name, "fiml"].structure)
    lhs, op = ref.index.get_level_values("lhs"), ref.index.get_level_values("op")
    assert len(joined) == len(ref) - int(((op == "~1") & lhs.isin(latent)).sum())
    assert np.abs(joined["estimate"] - joined["est"]).max() < 1e-3
    assert np.abs(joined["std"] - joined["std_all"]).max() < 1e-3
    se = joined.dropna(subset=["se_r"])
    se = se[se["se_r"] > 0]
    assert np.abs(se["se"] - se["se_r"]).max() < 1e-3


def test_h1_by_em_and_the_baseline_match_lavaan():
    pat = missing_patterns(_data("bfi").to_numpy(float))
    mu, sigma, _ = em_saturated(pat)
    r = _ref("bfi", "fiml")
    assert loglik(pat, mu, sigma) == pytest.approx(r["unrestricted.logl"], abs=1e-3)
    assert 2 * (loglik(pat, mu, sigma) - baseline_loglik(pat)) == pytest.approx(r["baseline.chisq"], abs=1e-3)


def test_only_all_missing_rows_are_dropped_and_the_reason_is_given(fits):
    res = fits["hs", "fiml"]
    assert (res.n, res.fit.n_total, res.n_dropped) == (300, 301, 1)
    assert "1 with no answer at all" in res.fitted.n_note
    lw = fits["hs", "listwise"]
    assert lw.n_dropped == 301 - 118
    assert "listwise" in lw.fitted.n_note


def test_default_is_fiml_when_items_are_missing_and_ml_otherwise(fits):
    hs = _data("hs")
    res = fit_cfa(hs, HS_MODEL)
    assert res.fit.missing == "fiml"
    assert res.fit.chi2 == pytest.approx(fits["hs", "fiml"].fit.chi2, abs=1e-9)
    complete = hs.dropna()
    a = fit_cfa(complete, HS_MODEL)
    b = fit_cfa(complete, HS_MODEL, missing="fiml")
    assert a.fit.missing == b.fit.missing == "listwise"
    assert a.fit.chi2 == b.fit.chi2 == pytest.approx(_ref("hs", "listwise")["chisq"], abs=1e-6)


def test_fiml_differs_from_listwise_on_incomplete_data(fits):
    # the null check: the two handlings must not silently coincide when cells are missing
    assert abs(fits["bfi", "fiml"].fit.chi2 - fits["bfi", "listwise"].fit.chi2) > 100


def test_bad_missing_value_is_a_user_error():
    with pytest.raises(UserError, match="missing-data handling"):
        fit_cfa(_data("hs"), HS_MODEL, missing="pairwise")


def test_cli_cfa_uses_fiml_by_default_and_listwise_on_request(tmp_path):
    import json

    from typer.testing import CliRunner

    from dancerec.cli.main import app

    (tmp_path / "hs.lav").write_text(HS_MODEL, encoding="utf-8")
    data = HERE / "fiml" / "hs_missing.csv"
    runner = CliRunner()
    for flag, n, missing in (([], 300, "fiml"), (["--missing", "listwise"], 118, "listwise")):
        out = tmp_path / f"{missing}.json"
        args = [
            "indices",
            "cfa",
            "--data",
            str(data),
            "--model",
            str(tmp_path / "hs.lav"),
            "--json",
            str(out),
        ]
        res = runner.invoke(app, [*args, *flag], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        payload = json.loads(out.read_text())
        assert (payload["n_used"], payload["n_total"], payload["missing"]) == (n, 301, missing)
        assert payload["chi2"] == pytest.approx(_ref("hs", missing)["chisq"], abs=1e-3)
        assert f"N used {n} of 301" in " ".join(res.stdout.split())
    bad = runner.invoke(app, [*args, "--missing", "pairwise"])
    assert bad.exit_code == 1
    assert "pairwise" in bad.output
