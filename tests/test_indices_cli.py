"""`dancerec indices ...` end to end: data files with model files, the study's stored responses,
JSON payloads, bad input (exit 1, one line on stderr) and the demo step."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from semopy.examples import holzinger39
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.demo import DemoContext, psychometrics

runner = CliRunner()
HS_MODEL = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\n"


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def hs_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hs")
    data = holzinger39.get_data()
    data.to_csv(folder / "hs.csv", index=False)
    (folder / "hs.lav").write_text(HS_MODEL, encoding="utf-8")
    return folder


def test_cfa_from_a_csv_and_a_model_file(hs_files, tmp_path):
    out = tmp_path / "cfa.json"
    res = run("indices", "cfa", "--data", str(hs_files / "hs.csv"), "--model", str(hs_files / "hs.lav"),
              "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "CFA fit" in res.stdout
    payload = json.loads(out.read_text())
    assert set(payload) == {"n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic",
                            "loadings", "n_used", "n_total", "missing", "n_note", "loglik",
                            "npar", "robust"}  # fmt: skip
    assert payload["chi2"] == pytest.approx(85.306, abs=5e-4)
    assert payload["rmsea_ci"] == pytest.approx([0.0714, 0.1137], abs=5e-4)
    assert len(payload["loadings"]) == 9


def test_reliability_efa_and_invariance_from_a_file(hs_files, tmp_path):
    csv, lav = str(hs_files / "hs.csv"), str(hs_files / "hs.lav")
    out = tmp_path / "rel.json"
    res = run("indices", "reliability", "--data", csv, "--model", lav, "--json", str(out))
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert [d["name"] for d in payload["dimensions"]] == ["visual", "textual", "speed"]
    assert payload["dimensions"][0]["alpha"] == pytest.approx(0.6261171, abs=1e-6)
    assert payload["htmt"]["visual"]["textual"] == pytest.approx(0.3840886, abs=1e-6)
    assert payload["fornell_larcker"]["textual"]["speed"] == pytest.approx(0.2829847, abs=1e-5)
    plot = tmp_path / "scree.png"
    res = run("indices", "efa", "--data", csv, "--model", lav, "--n-iter", "20", "--plot", str(plot),
              "--json", str(tmp_path / "efa.json"))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert plot.stat().st_size > 1000
    assert json.loads((tmp_path / "efa.json").read_text())["parallel"]["n_factors"] >= 2
    res = run("indices", "invariance", "--data", csv, "--model", lav, "--group-column", "school",
              "--json", str(tmp_path / "inv.json"))  # fmt: skip
    assert res.exit_code == 0, res.output
    levels = json.loads((tmp_path / "inv.json").read_text())["levels"]
    assert [round(r["chi2"], 2) for r in levels] == [115.85, 124.04, 164.1]


@pytest.mark.parametrize(
    ("mutate", "model", "message"),
    [
        (None, "visual =~ x1 + x2 + x99\n", "x99"),
        (None, "visual =~ x1 + x2\ntextual =~ x4 + x5 + x6\n", "at least 3"),
        (lambda d: d.assign(x5=3.0), HS_MODEL, "constant item"),
        (lambda d: d.head(12), HS_MODEL, "too few respondents"),
        (lambda d: d.assign(x3=d["x1"] + d["x2"]), HS_MODEL, "not positive definite"),
        (None, "visual =~ x1 + x2 + x3\nvisual ~ 1\n", "intercepts"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, mutate, model, message):
    data = holzinger39.get_data()
    if mutate is not None:
        data = mutate(data)
    data.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.lav").write_text(model, encoding="utf-8")
    res = run("indices", "cfa", "--data", str(tmp_path / "d.csv"), "--model", str(tmp_path / "m.lav"))
    assert res.exit_code == 1
    assert message in " ".join(res.stderr.split())  # rich wraps long lines
    assert "Traceback" not in res.output
    assert res.stderr.strip().startswith("error:")


def test_non_numeric_answer_names_file_row_and_column(tmp_path):
    data = holzinger39.get_data()
    data["x2"] = data["x2"].astype(str)
    data.iloc[4, data.columns.get_loc("x2")] = "seven"  # 5th data row = file row 6
    data.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "m.lav").write_text(HS_MODEL, encoding="utf-8")
    res = run("indices", "reliability", "--data", str(tmp_path / "d.csv"), "--model", str(tmp_path / "m.lav"))
    assert res.exit_code == 1
    err = " ".join(res.stderr.split())
    assert "d.csv, row 6, column 'x2'" in err and "seven" in err


@pytest.fixture(scope="module")
def survey_study(tmp_path_factory):
    """A study with 360 simulated respondents in 3 groups imported through the survey subsystem."""
    from dancerec.survey.importer import import_file
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.writers import write_responses

    from dancerec.workspace import Study

    root = tmp_path_factory.mktemp("study") / "s"
    study = Study.init(root, name="t", seed=3)
    sim = simulate_responses("dance-music-30", n=360, groups=("A", "B", "C"), seed=3, missing_rate=0.0)
    path = write_responses(sim.responses, "dance-music-30", root / "export.csv", "qualtrics")
    import_file(study, path)
    return study, sim


def test_commands_on_the_study_responses(survey_study, tmp_path):
    study, sim = survey_study
    root = str(study.root)
    res = run("indices", "items", "--study", root, "--exclude-flagged", "all")
    assert res.exit_code == 0, res.output
    out = tmp_path / "sem.json"
    res = run(
        "indices", "sem", "--study", root, "--ci", "montecarlo", "--bootstrap", "300", "--json", str(out)
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert {"n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic", "loadings",
            "paths"} <= set(payload)  # fmt: skip
    assert len(payload["paths"]) == 14
    assert len(payload["indirect"]) == 3
    assert payload["cfi"] > 0.9
    res = run("indices", "groups", "--study", root, "--json", str(tmp_path / "g.json"), "--plot",
              str(tmp_path / "g.png"))  # fmt: skip
    assert res.exit_code == 0, res.output
    tests = json.loads((tmp_path / "g.json").read_text())["dimensions"]
    assert len(tests) == 8
    # the --data route with the instrument recodes the reverse-keyed items like the study route does
    responses = sim.responses
    responses.to_csv(tmp_path / "raw.csv")
    a = run("indices", "reliability", "--data", str(tmp_path / "raw.csv"), "--instrument", "dance-music-30",
            "--json", str(tmp_path / "r1.json"))  # fmt: skip
    b = run("indices", "reliability", "--study", root, "--json", str(tmp_path / "r2.json"))
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    r1 = json.loads((tmp_path / "r1.json").read_text())["dimensions"]
    r2 = json.loads((tmp_path / "r2.json").read_text())["dimensions"]
    assert [d["alpha"] for d in r1] == pytest.approx([d["alpha"] for d in r2], abs=1e-9)
    assert all(d["alpha"] > 0.6 for d in r1)  # FUN4/EOU4 are reverse-keyed: recoding keeps alpha high
    res = run("indices", "cfa", "--study", root, "--instrument", "dance-music-30")
    assert res.exit_code == 1 and "--instrument applies to --data" in res.stderr


def test_demo_step_fills_ctx_data(survey_study):
    study, _ = survey_study
    ctx = DemoContext(study=study, out=Console(quiet=True))
    psychometrics(ctx)
    report = ctx.data["indices"]
    assert report.cfa.fit.df == 377
    assert len(report.reliability.table) == 8
    assert report.sem is not None and len(report.sem.indirect) == 3
    assert report.groups is not None and len(report.groups.tests) == 8
    assert ctx.outputs["indices: group means plot"].exists()
    assert np.isfinite(report.sem.indirect["std_ci_low"]).all()
    assert isinstance(report.items, pd.DataFrame)


def test_sem_with_a_full_model_file_and_an_observed_covariate(hs_files, tmp_path):
    model = tmp_path / "sem.lav"
    model.write_text(HS_MODEL + "textual ~ ageyr\nspeed ~ ind*textual\n", encoding="utf-8")
    out = tmp_path / "sem.json"
    res = run("indices", "sem", "--data", str(hs_files / "hs.csv"), "--model", str(model), "--ci", "none",
              "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    paths = {(p["lhs"], p["rhs"]): p for p in json.loads(out.read_text())["paths"]}
    assert set(paths) == {("textual", "ageyr"), ("speed", "textual")}
    assert paths[("textual", "ageyr")]["p"] < 0.05  # older pupils scored lower on the textual tests
    # the ageyr variance is fixed at its sample value (fixed.x): 10 observed variables, 1 covariate moment;
    # free: 6 loadings, 9 residual variances, the visual variance, 2 latent residual variances, 2 paths
    payload = json.loads(out.read_text())
    assert payload["df"] == 10 * 11 // 2 - 1 - (6 + 9 + 1 + 2 + 2)


BFI_MODEL = "".join(f"{t} =~ {' + '.join(f'{t}{i}' for i in range(1, 6))}\n" for t in "ACENO")


@pytest.fixture(scope="module")
def bfi_files(tmp_path_factory):
    from pathlib import Path

    folder = tmp_path_factory.mktemp("bfi")
    raw = pd.read_csv(Path(__file__).parent / "fixtures" / "R" / "data" / "bfi.csv", index_col=0)
    raw.iloc[:, :25].to_csv(folder / "raw.csv", index=False)
    rec = raw.iloc[:, :25].copy()
    for item in ("A1", "C4", "C5", "E1", "E2", "O2", "O5"):
        rec[item] = 7 - rec[item]
    rec.to_csv(folder / "rec.csv", index=False)
    (folder / "bfi.lav").write_text(BFI_MODEL, encoding="utf-8")
    return folder


def test_reliability_uses_every_respondent_and_warns_about_reverse_keying(bfi_files, tmp_path):
    lav = str(bfi_files / "bfi.lav")
    out = tmp_path / "rel.json"
    res = run(
        "indices", "reliability", "--data", str(bfi_files / "rec.csv"), "--model", lav, "--json", str(out)
    )
    assert res.exit_code == 0, res.output
    dims = json.loads(out.read_text())["dimensions"]
    assert [(d["n"], d["n_total"], d["n_cfa"]) for d in dims] == [(2800, 2800, 2436)] * 5
    assert dims[2]["alpha"] == pytest.approx(0.7617328, abs=1e-6)  # psych::alpha, pairwise
    assert "warning:" not in res.stdout
    res = run("indices", "reliability", "--data", str(bfi_files / "rec.csv"), "--model", lav,
              "--alpha-sample", "complete", "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["dimensions"][2]["alpha"] == pytest.approx(0.7651224, abs=1e-6)
    res = run("indices", "reliability", "--data", str(bfi_files / "rec.csv"), "--model", lav,
              "--omega-h", "5", "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["omega_hierarchical"]["omega_h"] == pytest.approx(0.4617096, abs=1e-5)
    res = run("indices", "reliability", "--data", str(bfi_files / "raw.csv"), "--model", lav)
    assert res.exit_code == 0, res.output
    flat = " ".join(res.stdout.split())
    assert "warning: E: item(s) E1, E2, E3, E4, E5 correlate negatively" in flat
    res = run("indices", "items", "--data", str(bfi_files / "raw.csv"), "--model", lav)
    assert "A: item(s) A1 correlate negatively" in " ".join(res.stdout.split())
    res = run("indices", "reliability", "--data", str(bfi_files / "rec.csv"), "--model", lav,
              "--alpha-sample", "some")  # fmt: skip
    assert res.exit_code == 1 and "--alpha-sample" in res.stderr


def test_efa_principal_axis_and_parallel_analysis_defaults(bfi_files, tmp_path):
    out = tmp_path / "efa.json"
    res = run("indices", "efa", "--data", str(bfi_files / "rec.csv"), "--model", str(bfi_files / "bfi.lav"),
              "--method", "pa", "--seed", "3", "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["parallel"]["basis"] == "minres" and payload["parallel"]["n_iter"] == 20
    assert payload["n_factors"] == payload["parallel"]["n_factors"] == 6  # psych::fa.parallel finds 6
    assert payload["method"] == "pa"
    res = run("indices", "efa", "--data", str(bfi_files / "rec.csv"), "--model", str(bfi_files / "bfi.lav"),
              "--method", "paf")  # fmt: skip
    assert res.exit_code == 1 and "pa" in res.stderr


def test_invariance_partial_and_score_tests_from_the_cli(hs_files, tmp_path):
    csv, lav = str(hs_files / "hs.csv"), str(hs_files / "hs.lav")
    out = tmp_path / "inv.json"
    res = run("indices", "invariance", "--data", csv, "--model", lav, "--group-column", "school", "--strict",
              "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert [r["status"] for r in payload["levels"]] == ["holds", "holds", "fails", "not tested"]
    assert payload["score_tests"]["level"] == "scalar"
    assert payload["score_tests"]["tests"][0]["lhs"] == "x3"
    assert "score tests of the scalar constraints" in res.stdout
    res = run("indices", "invariance", "--data", csv, "--model", lav, "--group-column", "school",
              "--free", "visual=~x2,x7~1", "--json", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["free"] == ["visual=~x2", "x7~1"]
    assert payload["levels"][2]["chi2"] == pytest.approx(148.5866, abs=1e-3)  # lavaan group.partial
    assert payload["levels"][1]["freed"] == "visual=~x2"
    res = run("indices", "invariance", "--data", csv, "--model", lav, "--group-column", "school",
              "--free", "visual=~x1")  # fmt: skip
    assert res.exit_code == 1 and "marker" in res.stderr and "Traceback" not in res.output
