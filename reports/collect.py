"""Gather a study's results for the report through the other subsystems' public functions.

Each part is independent: when a subsystem has no data yet (no responses, no runs, no group map) or is not
installed, its sections are left out and the reason is listed in the report's appendix. Analyses are
read from the study's stored results (:mod:`dancerec.results`) when a result for the same inputs and
settings exists, and otherwise computed here (same seeds, so the numbers match the ``indices``/``link``
commands) and stored, so the next report on an unchanged study recomputes nothing. Where each analysis came
from is listed in ``ReportData.provenance`` (the CLI prints it; the appendix shows it). Pass an already
computed :class:`~dancerec.indices.linkage.LinkageResult` to avoid running the linkage twice. The survey and
psychometric parts are filled by :mod:`dancerec.reports.collect_survey`.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dancerec.reports.collect_survey import _survey_part
from dancerec.reports.collect_survey import indices_sections as indices_sections  # re-exported
from dancerec.reports.data import Methods, ReportData

from dancerec import results
from dancerec.errors import UserError

SOFTWARE = (
    "dancerec",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "semopy",
    "factor_analyzer",
    "scikit-learn",
    "torch",
    "duckdb",
    "matplotlib",
    "jinja2",
    "weasyprint",
)


def software_versions() -> dict[str, str]:
    """Python and the versions of the packages the analyses rest on (for the methods appendix)."""
    out = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def data_files(study: Any) -> pd.DataFrame:
    """The study's ``data_file`` log: path, kind, n_bytes, sha256, recorded_at (oldest first)."""
    with study.read() as con:
        return con.execute(
            "SELECT path, kind, n_bytes, sha256, CAST(recorded_at AS VARCHAR) AS recorded_at "
            "FROM data_file ORDER BY recorded_at, path"
        ).df()


Progress = Callable[[str], None]

#: How the report runs the psychometric battery (stored with the result as its settings).
BATTERY_SETTINGS: dict[str, Any] = {"ci": "montecarlo", "n_boot": 1000}


def _stored(
    data: ReportData,
    study: Any,
    part: str,
    kind: str,
    fingerprint: dict[str, Any],
    settings: dict[str, Any],
    compute: Callable[[], Any],
    *,
    use_stored: bool = True,
) -> Any:
    """The stored result for these inputs and settings, else ``compute()`` (then stored); noted in
    ``data.provenance``. A result that cannot be stored (an object the JSON encoding does not know) is
    still used, and the provenance says it was not stored."""
    obj, status, key = results.lookup(study, kind, fingerprint, settings) if use_stored else (None, "", "")
    if obj is None:
        obj = compute()
        status = f"computed: {status}" if use_stored else "computed: not stored"
        if use_stored:
            try:
                results.save_result(study, kind, key, settings, obj, fingerprint=fingerprint)
            except TypeError as exc:  # e.g. a model object inside the result
                status = f"computed: not stored ({exc})"
    data.provenance.append({"part": part, "kind": kind, "status": status, "key": key[:12]})
    return obj


class SectionDataMissing(UserError):
    """A report part has no data yet (no runs, no responses): its section is left out with a note."""


def _attempt(skipped: list[str], what: str, fn: Callable[[], Any]) -> Any:
    """Run one part. Missing data (:class:`SectionDataMissing`, the survey loader's ``NoSurveyData``)
    leaves the section out with a note; failing to build a section whose data exist is an error that
    names the section and the cause (never a silent omission)."""
    from dancerec.survey.loader import NoSurveyData

    try:
        return fn()
    except (SectionDataMissing, NoSurveyData) as exc:
        skipped.append(f"{what}: left out — {exc}")
    except UserError as exc:
        raise UserError(f"{what} cannot be built: {exc}") from exc
    except Exception as exc:
        raise UserError(f"{what} cannot be built: {type(exc).__name__}: {exc}") from exc
    return None


def _indices_part(
    study: Any, data: ReportData, survey: dict[str, Any], exclude: Sequence[str], use_stored: bool
) -> None:
    from dancerec.indices.battery import run_battery

    inst = survey["instrument"]
    seed = study.config.seed
    settings = {**BATTERY_SETTINGS, "seed": seed, "exclude_flagged": sorted(exclude)}
    report = _stored(
        data,
        study,
        "Psychometric sections",
        "indices.battery",
        results.study_fingerprint(study),
        settings,
        lambda: run_battery(
            survey["items"],
            survey["structure"],
            group=survey["responses"]["group"],
            scores=survey["scores"],
            seed=seed,
            scale_min=inst.scale_min,
            scale_max=inst.scale_max,
            **BATTERY_SETTINGS,
        ),
        use_stored=use_stored,
    )
    indices_sections(data, report)


def _all_runs(study: Any, table: pd.DataFrame, group_map: dict[str, str], k: int) -> pd.DataFrame:
    """Every evaluated run: run_id, model, split, seed, groups (the study groups shown it), shown, and
    ``ndcg@K``/``recall@K`` means from the stored run summaries (NaN when not evaluated at K)."""
    with study.read() as con:
        summary = con.execute(
            "SELECT run_id, metric || '@' || CAST(k AS VARCHAR) AS metric, mean FROM rec_run_metric "
            "WHERE k = ? AND metric IN ('ndcg', 'recall')",
            [k],
        ).df()
    wide = summary.pivot_table(index="run_id", columns="metric", values="mean", aggfunc="first")
    runs = table[["run_id", "model", "split", "seed"]].reset_index(drop=True)
    by_run: dict[str, list[str]] = {}
    for group, run_id in group_map.items():
        by_run.setdefault(run_id, []).append(group)
    runs["groups"] = [", ".join(by_run.get(r, [])) for r in runs["run_id"]]
    runs["shown"] = runs["groups"] != ""
    for col in (f"ndcg@{k}", f"recall@{k}"):
        runs[col] = runs["run_id"].map(wide[col]) if col in wide.columns else float("nan")
    return runs


def _recommender_part(
    study: Any, data: ReportData, group_map: dict[str, str], k: int, seed: int, use_stored: bool
) -> None:
    from dancerec.recommender.runs import list_runs, load_run
    from dancerec.recommender.stats import compare

    table = list_runs(study)
    if table.empty:
        raise SectionDataMissing("the study has no evaluation runs yet")
    mapped = [r for r in group_map.values() if r in set(table["run_id"])]
    ids = mapped or table.groupby("model", sort=False)["run_id"].last().tolist()
    runs = {}
    for run_id in dict.fromkeys(ids):
        run = load_run(study, run_id)
        key = run.model if run.model not in runs else run.run_id
        runs[key] = run
    data.runs = _all_runs(study, table, group_map, k)
    data.curves = pd.concat([r.curves.assign(model=m) for m, r in runs.items()], ignore_index=True)
    metrics = [f"{m}@{k}" for m in ("precision", "recall", "ndcg")]
    baseline = "mostpop" if "mostpop" in runs else None
    if baseline and len(runs) > 1:
        cmp = _stored(
            data,
            study,
            "Offline recommender results",
            "recommender.compare",
            results.study_fingerprint(study, survey=False, recommender=True),
            {"runs": list(runs), "baseline": baseline, "metrics": metrics, "seed": seed},
            lambda: compare({m: r.per_user for m, r in runs.items()}, baseline, metrics, seed=seed),
            use_stored=use_stored,
        )
        data.metric_table = cmp
        data.baseline = baseline
    else:
        rows = [r.summary.assign(model=m) for m, r in runs.items()]
        summary = pd.concat(rows, ignore_index=True)
        data.metric_table = summary[summary["k"] == k]


def _linkage_part(
    study: Any,
    data: ReportData,
    k: int,
    exclude: Sequence[str],
    n_boot: int,
    use_stored: bool,
    adjust: str = "holm",
    primary: Sequence[str] = (),
) -> Any:
    from dancerec.indices.linkage import link_study, linkage_settings

    seed = study.config.seed
    settings = linkage_settings(
        k=k, exclude_flagged=exclude, n_boot=n_boot, seed=seed, adjust=adjust, primary=primary
    )
    return _stored(
        data,
        study,
        "Linkage",
        "link",
        results.study_fingerprint(study, recommender=True),
        settings,
        lambda: link_study(
            study,
            k=k,
            exclude_flagged=list(exclude),
            n_boot=n_boot,
            seed=seed,
            adjust=adjust,
            primary=tuple(primary),
        ),
        use_stored=use_stored,
    )


def _methods(study: Any, data: ReportData, linkage: Any, k: int, exclude_flagged: Sequence[str]) -> Methods:
    """The methods appendix: seeds, software versions, data files and the settings used."""
    return Methods(
        seeds={
            "study seed": study.config.seed,
            **({"linkage bootstrap seed": linkage.settings.get("seed")} if linkage else {}),
            **(
                {f"run {r}": s for r, s in zip(data.runs["run_id"], data.runs["seed"], strict=True)}
                if data.runs is not None
                else {}
            ),
        },
        software=software_versions(),
        data_files=data_files(study),
        settings={
            "instrument": study.config.instrument,
            "cut-off K": k,
            "excluded flags": ", ".join(exclude_flagged) or "none",
            **(
                {
                    "linkage regression": linkage.settings.get("regression"),
                    "linkage multiplicity": linkage.settings.get("adjust"),
                    "bootstrap resamples": linkage.settings.get("n_boot"),
                }
                if linkage
                else {}
            ),
        },
    )


def collect_report_data(
    study: Any,
    *,
    title: str | None = None,
    exclude_flagged: Sequence[str] = (),
    k: int = 10,
    linkage: Any | None = None,
    indices: Any | None = None,
    run_linkage: bool = True,
    n_boot: int = 1000,
    use_stored: bool = True,
    progress: Progress | None = None,
    adjust: str = "holm",
    primary: Sequence[str] = (),
) -> ReportData:
    """Everything the report shows for ``study``; sections without data are listed in ``skipped``.

    ``linkage`` (a LinkageResult) and ``indices`` (an IndicesReport) reuse results computed already,
    e.g. by earlier demo steps; otherwise they are read from the study's stored results or computed here
    with the study's seed and stored (``use_stored=False``: always compute, store nothing). ``progress`` is
    called with the name of each part as it starts. ``adjust`` and ``primary`` are the linkage's
    multiplicity correction and pre-registered hypotheses (as ``dancerec link --adjust/--primary``).
    """
    step = progress or (lambda _name: None)
    seed = study.config.seed
    data = ReportData(
        title=title or f"User study report: {study.config.name}",
        study_name=study.config.name,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    skipped = data.skipped
    step("survey data")
    survey = _attempt(skipped, "Survey sections", lambda: _survey_part(study, data, list(exclude_flagged)))
    if survey is not None and indices is not None:
        indices_sections(data, indices)
    elif survey is not None:
        step("psychometric battery")
        _attempt(
            skipped,
            "Psychometric sections",
            lambda: _indices_part(study, data, survey, list(exclude_flagged), use_stored),
        )
    group_map = dict(study.config.groups)
    step("offline recommender runs")
    _attempt(
        skipped,
        "Offline recommender results",
        lambda: _recommender_part(study, data, group_map, k, seed, use_stored),
    )
    if linkage is None and run_linkage:
        if not group_map:
            skipped.append(
                "Linkage: left out — no study group is mapped to a recommender run "
                "(set [groups] in study.toml or run `dancerec link --map GROUP=RUN_ID --save-map`)."
            )
        elif survey is not None:
            step("linkage")
            linkage = _attempt(
                skipped,
                "Linkage",
                lambda: _linkage_part(study, data, k, exclude_flagged, n_boot, use_stored, adjust, primary),
            )
    data.linkage = linkage
    data.methods = _methods(study, data, linkage, k, exclude_flagged)
    data.methods.estimation = survey["estimation"] if survey is not None else ""
    return data
