"""The linkage and the report on a real study workspace: runs recorded through the recommender's
``record_run``, respondents simulated by the survey's ``simulate_responses`` on a plan from
``plan_study_from_runs`` (the planted link), written as a CSV export and imported with ``import_file``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from dancerec.indices import linkage as L
from typer.testing import CliRunner

from dancerec.cli.main import app
from dancerec.workspace import Study

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S

runner = CliRunner()
EFFECT = 0.5
pytestmark = pytest.mark.slow  # builds whole study workspaces (~10 s each)


def _record_runs(study: Study) -> dict[str, str]:
    from dancerec.recommender.evaluate import Evaluation
    from dancerec.recommender.runs import record_run

    runs = {}
    for i, (group, quality) in enumerate(S.QUALITY.items()):
        per_user = S.per_user_metrics(quality, seed=i, n_users=600)
        model = S.MODELS[group]
        evaluation = Evaluation(
            model=model,
            params={},
            k_list=(10,),
            summary=S.summary_of(per_user).query("metric != 'coverage'"),
            curves=S.curves_of(model, quality),
            per_user=per_user,
            coverage={10: 0.1 + 0.1 * quality},
        )
        runs[model] = record_run(study, evaluation, split="synthetic", seed=1, run_id=f"run-{model}")
    return runs


def _make_study(root: Path, effect: float, *, pseudonymise: bool) -> Study:
    from dancerec.survey.importer import ImportOptions, import_file
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.simulate import simulate_responses
    from dancerec.survey.writers import write_responses

    study = Study.init(root, name="linked", seed=5)
    runs = _record_runs(study)
    plan, group_map = L.plan_study_from_runs(study, runs, n_groups=3, n_per_group=150, effect=effect)
    inst = load_instrument(study.config.instrument)
    shifts = [c for c in plan.columns if c in inst.dimensions]
    sim = simulate_responses(
        inst,
        seed=11,
        respondents=plan[["group", "user_id"]],
        latent_shift=plan[shifts],
        group_quality=dict.fromkeys(group_map, 0.0),
    )
    path = write_responses(sim.responses, inst, root / "export.csv", "csv")
    import_file(study, path, ImportOptions(pseudonymise=pseudonymise))
    L.save_group_map(study, group_map)
    return Study.open(root)


@pytest.fixture(scope="module")
def linked_study(tmp_path_factory) -> Study:
    return _make_study(tmp_path_factory.mktemp("on") / "study", EFFECT, pseudonymise=True)


@pytest.fixture(scope="module")
def linked(linked_study):
    return L.link_study(linked_study, n_boot=200)


def test_plan_from_runs_maps_groups_in_quality_order(linked_study):
    assert linked_study.config.groups == {"A": "run-mostpop", "B": "run-svd", "C": "run-ease"}


def test_linkage_joins_pseudonymised_users_and_accounts_for_everyone(linked):
    assert linked.missing.id_matching == "pseudonymised"
    assert linked.missing.n_respondents == 450 and linked.missing.n_linked == 450
    assert list(linked.group.table["model"]) == ["mostpop", "svd", "ease"]
    assert linked.group.table["coverage@10"].tolist() == pytest.approx([0.1, 0.2, 0.3])


def test_planted_link_is_recovered_from_the_study(linked, linked_study):
    sem = linked.sem.paths.set_index(["dimension", "metric"])
    # the plan adds EFFECT * z(recall) with z over everyone, so part of the planted link runs between the
    # groups (better recommender → higher group mean). The within-group path must be clearly positive but
    # smaller than the pooled path that mixes both (the survey simulator's latents are not exactly unit
    # variance and 5% careless answers attenuate, so no closed form is asserted here; see test_link_stats)
    from dancerec.survey.loader import load_survey

    joined = linked.joined
    survey = load_survey(linked_study)
    pooled = L.metrics_sem(
        survey.items.loc[joined.index], survey.structure, joined[["recall@10"]], dimensions=["usefulness"]
    ).paths.iloc[0]
    within = sem.loc[("usefulness", "recall@10"), "std"]
    assert 0.15 < within < pooled["std"] - 0.05
    assert sem.loc[("usefulness", "recall@10"), "p_adj"] < 0.05  # 30 paths in the family (Holm)
    assert sem.loc[("usefulness", "recall@10"), "significant"]
    assert sem.loc[("content", "serendipity@10"), "std"] > 0.2  # surprise tied to serendipity
    assert sem.loc[("content", "serendipity@10"), "p_adj"] < 0.05
    cors = linked.correlations.set_index(["metric", "dimension"])
    assert cors.loc[("recall@10", "usefulness"), "rho"] > 0.2
    assert cors.loc[("recall@10", "usefulness"), "p_adj"] < 1e-3
    regs = linked.regressions.set_index(["dimension", "term"])
    assert regs.loc[("usefulness", "recall@10"), "estimate"] > 0
    assert regs.loc[("usefulness", "recall@10"), "p_adj"] < 1e-3
    # groups that saw the better recommender report higher usefulness
    means = linked.group.table.set_index("group")["usefulness"]
    assert means["A"] < means["B"] < means["C"]


def test_no_link_is_found_when_switched_off(tmp_path):
    study = _make_study(tmp_path / "off", 0.0, pseudonymise=False)
    result = L.link_study(study, n_boot=200)
    assert result.missing.id_matching == "raw" and result.missing.n_linked == 450
    focus = result.correlations[result.correlations["metric"].isin(["recall@10", "serendipity@10"])]
    assert (focus["p_adj"] > 0.05).all()
    sem = result.sem.paths.set_index(["dimension", "metric"])
    assert abs(sem.loc[("usefulness", "recall@10"), "std"]) < 0.15
    assert abs(sem.loc[("content", "serendipity@10"), "std"]) < 0.15
    # no SEM path and no regression term is called significant after adjustment (the correlation table
    # and the regressions have one chance hit with this seed, novelty@10 ~ usefulness, adjusted p = .013: other simulation seeds
    # give none; the false-positive RATE is what tests/test_linkage_calibration.py checks)
    planted = result.sem.paths["metric"].isin(["recall@10", "serendipity@10"])
    assert not focus["significant"].any() and not result.sem.paths.loc[planted, "significant"].any()
    # with FIML (all 450 linked respondents) the SEM sees the same chance novelty@10 ~ usefulness
    # association as the correlations; nothing else is called significant
    hits = result.sem.paths[result.sem.paths["significant"]]
    assert set(zip(hits["metric"], hits["dimension"], strict=True)) <= {("novelty@10", "usefulness")}
    regs = result.regressions
    assert not regs.loc[regs["term"].isin(["recall@10", "serendipity@10"]), "significant"].any()


def test_link_cli_writes_json_and_reports_bad_maps(linked_study, tmp_path):
    out = tmp_path / "link.json"
    result = runner.invoke(
        app, ["link", "--study", str(linked_study.root), "--n-boot", "100", "--no-sem", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert {"groups", "correlations", "regressions", "sem"} <= set(payload)
    assert [row["group"] for row in payload["groups"]] == ["A", "B", "C"]
    assert 440 <= payload["correlations"]["user_level"][0]["n"] <= 450  # a few scores missing (proration)
    assert "Only 3 groups" in payload["correlations"]["group_level_caveat"]
    bad = runner.invoke(app, ["link", "--study", str(linked_study.root), "--map", "A=no-such-run"])
    assert bad.exit_code == 1 and "unknown recommender run" in bad.stderr and "run-ease" in bad.stderr
    bad = runner.invoke(app, ["link", "--study", str(linked_study.root), "--map", "oops"])
    assert bad.exit_code == 1 and "GROUP=RUN_ID" in bad.stderr


def test_runs_are_named_by_model_or_run_id_and_the_link_is_stored(linked_study):
    """`--map A=mostpop` means that model's latest run; the study's own linkage is stored for the report."""
    from dancerec.results import list_results

    by_name = L.load_group_runs(linked_study, {"A": "mostpop", "B": "svd", "C": "ease"})
    by_id = L.load_group_runs(linked_study, linked_study.config.groups)
    assert {g: r.run_id for g, r in by_name.items()} == {g: r.run_id for g, r in by_id.items()}
    result = runner.invoke(app, ["link", "--study", str(linked_study.root), "--n-boot", "50", "--no-sem"])
    assert result.exit_code == 0, result.output
    assert "stored as link" in result.output
    assert "link" in set(list_results(linked_study)["kind"])


def test_link_without_a_group_map_is_a_clear_error(study):
    result = runner.invoke(app, ["link", "--study", str(study.root)])
    assert result.exit_code == 1
    assert "no study group is mapped" in result.stderr and "--map GROUP=RUN_ID" in result.stderr


def test_report_cli_html_from_the_study(linked_study, tmp_path):
    out = tmp_path / "report.html"
    args = ["report", "--study", str(linked_study.root), "--out", str(out), "--n-boot", "100"]
    result = runner.invoke(app, [*args, "--exclude-flagged", "longstring,speeder"])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for title in (
        "Study overview",
        "Item analysis and reliability",
        "Factor structure",
        "Structural model",
        "Group comparisons",
        "Offline recommender results",
        "Offline metrics and perceived quality",
        "Methods appendix",
    ):
        assert title in html, title
    assert "http://" not in html and "https://" not in html
    assert "有些推荐的歌曲让我感到惊喜。" in html  # Chinese item wording from the instrument
    assert (tmp_path / "report_figures").is_dir() and len(
        list((tmp_path / "report_figures").glob("*.png"))
    ) >= 6
    assert "export.csv" in html  # the imported file is listed with its checksum
    bad = runner.invoke(app, ["report", "--study", str(linked_study.root), "--out", str(tmp_path / "r.txt")])
    assert bad.exit_code == 1 and "html or pdf" in bad.stderr


def test_report_on_an_empty_study_says_what_is_missing(study, tmp_path):
    out = tmp_path / "empty.html"
    result = runner.invoke(app, ["report", "--study", str(study.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    headings = re.findall(r"<h2>\d+\. ([^<]+)</h2>", html)
    assert headings == ["Study overview", "Instrument and item distributions", "Methods appendix"]
    assert "Survey sections: left out — the study has no survey responses yet" in html
    assert "no evaluation runs yet" in html and "no study group is mapped" in html
    assert "no evaluation runs yet" in result.output


def test_link_cli_primary_and_adjust(linked_study, tmp_path):
    out = tmp_path / "primary.json"
    args = ["link", "--study", str(linked_study.root), "--n-boot", "50", "--no-sem", "--json", str(out)]
    result = runner.invoke(app, [*args, "--primary", "recall@10:usefulness", "--adjust", "bh"])
    assert result.exit_code == 0, result.output
    assert "CONFIRMATORY" in result.output and "exploratory" in result.output
    assert "N used = 450 of 450" in result.output
    payload = json.loads(out.read_text())
    assert payload["adjust"] == "bh" and payload["settings"]["primary"] == ["recall@10:usefulness"]
    primary = payload["primary"][0]
    assert primary["family"] == "primary (pre-registered) hypotheses" and primary["significant"] is True
    user = payload["correlations"]["user_level"]
    assert all(r["adjust"] == "bh" and "p_adj" in r for r in user)
    # "significant" only ever for adjusted p < .05
    assert all(r["significant"] == (r["p_adj"] < 0.05) for r in user)
    assert isinstance(payload["significant"], list)
    assert "Benjamini" in payload["methods"] and "within-group" in payload["methods"]
    bad = runner.invoke(app, ["link", "--study", str(linked_study.root), "--adjust", "bonf"])
    assert bad.exit_code == 1 and "--adjust must be one of holm, bh, none" in bad.stderr
    bad = runner.invoke(app, ["link", "--study", str(linked_study.root), "--primary", "recall"])
    assert bad.exit_code == 1 and "METRIC:DIMENSION" in bad.stderr
