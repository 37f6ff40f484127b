"""Gather a study's results for the report through the other subsystems' public functions.

Each part is independent: when a subsystem has no data yet (no responses, no runs, no group map) or is not
installed, its sections are left out and the reason is listed in the report's appendix. Analyses are
re-run here from the stored data (same seeds, so the numbers match the ``indices``/``link`` commands);
pass an already computed :class:`~dancerec.indices.linkage.LinkageResult` to avoid running the linkage twice.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from dancerec.reports.data import EfaSummary, FitSummary, Methods, ReportData

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


def _items_table(instrument: Any) -> pd.DataFrame:
    rows = [
        {
            "id": it.id,
            "dimension": it.dimension,
            "text_en": it.text_en,
            "text_zh": it.text_zh,
            "reverse": bool(it.reverse),
            "source": it.source,
        }
        for it in instrument.items
        if not getattr(it, "attention_check", False)
    ]
    return pd.DataFrame(rows)


def _exclusions(flags: pd.DataFrame, excluded: Sequence[str]) -> pd.DataFrame:
    n = len(flags)
    rows = [
        {
            "flag": col,
            "n": int(flags[col].sum()),
            "percent": float(flags[col].mean()) if n else float("nan"),
            "excluded": col in excluded,
        }
        for col in flags.columns
    ]
    if n:
        rows.append(
            {
                "flag": "any flag",
                "n": int(flags.any(axis=1).sum()),
                "percent": float(flags.any(axis=1).mean()),
                "excluded": bool(excluded) and set(excluded) >= set(flags.columns),
            }
        )
    return pd.DataFrame(rows, columns=["flag", "n", "percent", "excluded"])


_CI_LABELS = {"bootstrap": "95% bootstrap CI", "montecarlo": "95% Monte Carlo CI"}


def _fit_dict(fit: Any) -> dict[str, Any]:
    keys = ("n", "chi2", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic")
    if isinstance(fit, dict):
        return {k: fit.get(k) for k in keys if k in fit}
    return {k: getattr(fit, k) for k in keys if hasattr(fit, k)}


def _survey_part(study: Any, data: ReportData, exclude: Sequence[str]) -> dict[str, Any] | None:
    from dancerec.survey.loader import load_survey
    from dancerec.survey.store import load_flags, load_responses, study_instrument

    instrument = study_instrument(study)
    data.instrument_name = instrument.name
    data.scale = (instrument.scale_min, instrument.scale_max)
    anchors = getattr(instrument, "anchors", ())
    if anchors and len(anchors) == instrument.scale_max - instrument.scale_min + 1:
        data.anchors = [f"{a.value} {a.en}" for a in sorted(anchors, key=lambda a: a.value)]
    data.items = _items_table(instrument)
    data.dimensions = list(instrument.dimensions)
    survey = load_survey(study, exclude_flagged=list(exclude))
    exclude = survey.exclude_flagged
    everyone = load_responses(study, instrument=instrument) if exclude else survey.responses
    responses = survey.responses
    flags = load_flags(study)
    data.excluded_flags = list(exclude)
    data.exclusions = _exclusions(flags, exclude)
    total = everyone.groupby("group", dropna=False).size()
    kept = responses.groupby("group", dropna=False).size()
    data.respondents = pd.DataFrame(
        {
            "group": [str(g) for g in total.index],
            "n_total": total.to_numpy(),
            "n_analysed": kept.reindex(total.index, fill_value=0).to_numpy(),
        }
    ).assign(n_excluded=lambda f: f["n_total"] - f["n_analysed"])
    item_ids = [i for i in data.items["id"] if i in responses.columns]
    data.responses = responses[[*item_ids, "group"]]
    data.scores = survey.scores[data.dimensions].join(responses[["group"]])
    return {
        "instrument": instrument,
        "responses": responses,
        "items": survey.items[[i for i in item_ids if i in survey.items.columns]],
        "structure": survey.structure,
        "scores": survey.scores,
    }


def indices_sections(data: ReportData, report: Any) -> None:
    """Fill the psychometric sections from an :class:`~dancerec.indices.battery.IndicesReport`."""
    table = report.items
    table = table.reset_index() if "item" not in table.columns else table
    table = table.rename(columns={"index": "item", "skewness": "skew", "item_total_r": "citc"})
    for col in ("floor_pct", "ceiling_pct"):
        if col in table.columns:  # percentages → proportions (the formatter prints %)
            table[col.removesuffix("_pct")] = table[col] / 100.0
    data.item_analysis = table
    f = report.factorability
    data.factorability = {
        "kmo": f.kmo,
        "bartlett_chi2": f.bartlett_chi2,
        "bartlett_df": f.bartlett_df,
        "bartlett_p": f.bartlett_p,
    }
    if report.efa is not None:
        efa = report.efa
        pa = f" Parallel analysis suggests {efa.parallel.n_factors}." if efa.parallel is not None else ""
        data.efa = EfaSummary(
            loadings=efa.loadings,
            variance=efa.variance,
            communalities=efa.communalities,
            n_factors=efa.n_factors,
            method=efa.method,
            rotation=efa.rotation,
            notes=["Number of factors fixed to the instrument's dimensions." + pa],
        )
    cfa = report.cfa
    data.cfa = FitSummary(
        fit=_fit_dict(cfa.fit),
        loadings=cfa.loadings,
        notes=[f"Estimator: {cfa.estimator}."] + [str(p) for p in cfa.problems],
    )
    data.reliability = report.reliability.table
    data.htmt = report.reliability.htmt
    data.fornell_larcker = report.reliability.fornell_larcker
    if report.sem is not None:
        sem = report.sem
        indirect = sem.indirect.rename(columns={"name": "effect"}) if sem.indirect is not None else None
        data.sem = FitSummary(
            fit=_fit_dict(sem.fit),
            paths=sem.paths.rename(columns={"lhs": "lval", "rhs": "rval"}),
            r2=dict(zip(sem.r2["variable"], sem.r2["r2"], strict=True)),
            indirect=indirect,
            indirect_ci=_CI_LABELS.get(sem.ci_method, "95% CI"),
            notes=[
                f"Estimator: {sem.estimator}; indirect-effect CIs: {sem.ci_method} ({sem.n_resamples} draws)."
            ]
            + [str(p) for p in sem.problems],
        )
    if report.groups is not None:
        g = report.groups
        data.group_descriptives = g.descriptives
        data.group_tests = g.tests.reset_index() if "dimension" not in g.tests.columns else g.tests
        data.posthoc = g.posthoc.rename(
            columns={"group_a": "group1", "group_b": "group2", "mean_diff": "diff", "cohens_d": "d"}
        )
    if report.invariance is not None:
        data.invariance = report.invariance.table


def _indices_part(data: ReportData, survey: dict[str, Any], seed: int) -> None:
    from dancerec.indices.battery import run_battery

    inst = survey["instrument"]
    report = run_battery(
        survey["items"],
        survey["structure"],
        group=survey["responses"]["group"],
        scores=survey["scores"],
        ci="montecarlo",
        n_boot=1000,
        seed=seed,
        scale_min=inst.scale_min,
        scale_max=inst.scale_max,
    )
    indices_sections(data, report)


def _recommender_part(study: Any, data: ReportData, group_map: dict[str, str], k: int, seed: int) -> None:
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
    data.runs = table[table["run_id"].isin(ids)][["run_id", "model", "split", "seed"]].reset_index(drop=True)
    data.curves = pd.concat([r.curves.assign(model=m) for m, r in runs.items()], ignore_index=True)
    metrics = [f"{m}@{k}" for m in ("precision", "recall", "ndcg")]
    baseline = "mostpop" if "mostpop" in runs else None
    if baseline and len(runs) > 1:
        cmp = compare({m: r.per_user for m, r in runs.items()}, baseline, metrics, seed=seed)
        cmp = cmp.rename(columns={"p_t_holm": "p_holm"})
        split = cmp["metric"].str.partition("@")
        data.metric_table = cmp.assign(metric=split[0], k=pd.to_numeric(split[2]))
        data.baseline = baseline
    else:
        rows = [r.summary.assign(model=m) for m, r in runs.items()]
        summary = pd.concat(rows, ignore_index=True)
        data.metric_table = summary[summary["k"] == k]


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
) -> ReportData:
    """Everything the report shows for ``study``; sections without data are listed in ``skipped``.

    ``linkage`` (a LinkageResult) and ``indices`` (an IndicesReport) reuse results computed already,
    e.g. by earlier demo steps; otherwise they are computed here with the study's seed.
    """
    seed = study.config.seed
    data = ReportData(
        title=title or f"User study report: {study.config.name}",
        study_name=study.config.name,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    skipped = data.skipped
    survey = _attempt(skipped, "Survey sections", lambda: _survey_part(study, data, list(exclude_flagged)))
    if survey is not None and indices is not None:
        indices_sections(data, indices)
    elif survey is not None:
        _attempt(skipped, "Psychometric sections", lambda: _indices_part(data, survey, seed))
    group_map = dict(study.config.groups)
    _attempt(
        skipped, "Offline recommender results", lambda: _recommender_part(study, data, group_map, k, seed)
    )
    if linkage is None and run_linkage:
        if not group_map:
            skipped.append(
                "Linkage: left out — no study group is mapped to a recommender run "
                "(set [groups] in study.toml or run `dancerec link --map GROUP=RUN_ID --save-map`)."
            )
        elif survey is not None:
            from dancerec.indices.linkage import link_study

            linkage = _attempt(
                skipped,
                "Linkage",
                lambda: link_study(
                    study, k=k, exclude_flagged=list(exclude_flagged), n_boot=n_boot, seed=seed
                ),
            )
    data.linkage = linkage
    data.methods = Methods(
        seeds={
            "study seed": seed,
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
    return data
