"""The survey and psychometric parts of the report's data: instrument items, respondents and exclusions,
the estimator paragraph, and the psychometric sections filled from an
:class:`~dancerec.indices.battery.IndicesReport`. Split from :mod:`dancerec.reports.collect`, which
orchestrates the parts and stores their results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from dancerec.reports.data import EfaSummary, FitSummary, ReportData

from dancerec.errors import UserError


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
        "estimation": _estimation_text(survey.items, instrument),
        "items": survey.items[[i for i in item_ids if i in survey.items.columns]],
        "structure": survey.structure,
        "scores": survey.scores,
    }


def _estimation_text(items: pd.DataFrame, instrument: Any) -> str:
    """The methods paragraph on the estimator: ML (FIML with missing answers) and what the data call for."""
    from dancerec.indices.recommend import methods_paragraph, recommend_estimator

    try:
        rec = recommend_estimator(items, scale=(instrument.scale_min, instrument.scale_max))
    except UserError as exc:
        return f"The model was estimated by maximum likelihood; no estimator recommendation ({exc})."
    missing = (
        " Answers are missing, so the likelihood is the full-information (FIML) one: every respondent with "
        "at least one answer is used."
        if items.isna().to_numpy().any()
        else ""
    )
    return methods_paragraph("ML", rec) + missing


def indices_sections(data: ReportData, report: Any) -> None:
    """Fill the psychometric sections from an :class:`~dancerec.indices.battery.IndicesReport`."""
    # column names are used as the indices subsystem settles them; only the labels differ (sections/)
    table = report.items
    data.item_analysis = table.reset_index() if "item" not in table.columns else table
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
        factor_correlations=getattr(cfa, "factor_correlations", None),
        notes=[f"Estimator: {cfa.estimator}."] + [str(p) for p in cfa.problems],
    )
    data.reliability = report.reliability.table
    data.htmt = report.reliability.htmt
    data.fornell_larcker = report.reliability.fornell_larcker
    if report.sem is not None:
        sem = report.sem
        data.sem = FitSummary(
            fit=_fit_dict(sem.fit),
            paths=sem.paths,
            r2=dict(zip(sem.r2["variable"], sem.r2["r2"], strict=True)),
            indirect=sem.indirect,
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
        data.posthoc = g.posthoc
    if report.invariance is not None:
        data.invariance = report.invariance.table
