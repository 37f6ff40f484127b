"""The linkage of one study: load it (survey loader + recommender runs) and run every analysis.

:func:`run_linkage` is the whole analysis over plain inputs (what ``dancerec link``, the report, the
calibration benchmark and the study planner all run); :func:`link_study` gathers those inputs from a
study workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from dancerec.indices.linkage._common import (
    DEFAULT_K,
    DEFAULT_METRICS,
    DEFAULT_PREDICTORS,
    WITHIN_GROUP,
    metric_column,
)
from dancerec.indices.linkage.correlations import user_correlations
from dancerec.indices.linkage.group import GroupLevelResult, group_level
from dancerec.indices.linkage.join import GroupRun, MissingLinks, join_users
from dancerec.indices.linkage.multiplicity import DEFAULT_ALPHA, check_adjust
from dancerec.indices.linkage.plan import find_surprise_dimension, plan_linked_respondents
from dancerec.indices.linkage.primary import parse_primary, primary_tests
from dancerec.indices.linkage.regression import REGRESSION_METHODS, user_regressions
from dancerec.indices.linkage.report import LinkageReportMixin
from dancerec.indices.linkage.sem import SemLinkResult, metrics_sem

from dancerec.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from dancerec.workspace import Study

MIN_LINKED = 10  # fewer linked respondents than this: no user-level analysis


@dataclass
class LinkageResult(LinkageReportMixin):
    """Everything ``dancerec link`` reports (``--json`` keys: groups, correlations, regressions, sem)."""

    k: int
    group_map: dict[str, str]
    group: GroupLevelResult
    joined: pd.DataFrame
    missing: MissingLinks
    correlations: pd.DataFrame  # user level, within groups
    regressions: pd.DataFrame
    sem: SemLinkResult | None
    dimensions: list[str]
    metrics: list[str]
    predictors: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    primary: pd.DataFrame | None = None
    adjust: str = "holm"
    alpha: float = DEFAULT_ALPHA


def parse_group_map(pairs: Sequence[str]) -> dict[str, str]:
    """``["A=run1", "B=run2"]`` → ``{"A": "run1", "B": "run2"}`` (a clear error for anything else)."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        group, sep, run = pair.partition("=")
        if not sep or not group.strip() or not run.strip():
            raise UserError(f"--map {pair!r}: expected GROUP=RUN_ID")
        mapping[group.strip()] = run.strip()
    return mapping


def save_group_map(study: Study, mapping: Mapping[str, str]) -> None:
    """Store the group → run map in ``study.toml`` ``[groups]`` (merged over what is there)."""
    study.config.groups = {**study.config.groups, **{str(g): str(r) for g, r in mapping.items()}}
    study.save_config()


def load_group_runs(study: Study, group_map: Mapping[str, str]) -> dict[str, GroupRun]:
    """Load each mapped run through the recommender's public API; a run is named by its id or by a model
    name (that model's latest run, ``resolve_run``). Unknown runs are one error listing what exists."""
    from dancerec.recommender.runs import list_runs, load_run, resolve_run

    resolved, unknown = {}, {}
    for group, ref in group_map.items():
        try:
            resolved[str(group)] = resolve_run(study, str(ref))
        except UserError:
            unknown[group] = ref
    if unknown:
        known = list_runs(study)
        names = sorted({*known.get("model", []), *known.get("run_id", [])}) if len(known) else []
        listing = ", ".join(map(str, names)) or "none (evaluate a recommender first)"
        bad = ", ".join(f"{g}={r}" for g, r in unknown.items())
        raise UserError(
            f"group map names unknown recommender run(s): {bad}; models and runs in this study: {listing}"
        )
    return {g: GroupRun.from_run(load_run(study, run_id)) for g, run_id in resolved.items()}


@dataclass
class LinkageInputs:
    """What :func:`run_linkage` needs: respondents (index respondent_id; group, user_id), their dimension
    scores, their reverse-recoded item answers with the instrument's structure, and each group's run."""

    respondents: pd.DataFrame
    scores: pd.DataFrame
    items: pd.DataFrame
    structure: Mapping[str, Sequence[str]]
    runs: Mapping[str, GroupRun]
    dimensions: list[str]
    pseudonymise: Callable[[str], str] | None = None


def run_linkage(
    inputs: LinkageInputs,
    *,
    k: int = DEFAULT_K,
    metrics: Sequence[str] = DEFAULT_METRICS,
    predictors: Sequence[str] = DEFAULT_PREDICTORS,
    n_boot: int = 1000,
    seed: int = 0,
    regression: str = "fixed",
    sem: bool = True,
    adjust: str = "holm",
    alpha: float = DEFAULT_ALPHA,
    primary: Sequence[str] = (),
    min_test_items: int = 1,
) -> LinkageResult:
    """Group level, user level (within groups) and the SEM, every family with raw and adjusted p."""
    check_adjust(adjust)
    if regression not in REGRESSION_METHODS:
        raise UserError(f"--regression must be one of {', '.join(REGRESSION_METHODS)}, not {regression!r}")
    dims = list(inputs.dimensions)
    pairs = parse_primary(primary, k)
    scored = inputs.scores[dims].join(inputs.respondents[["group"]])
    group = group_level(scored, inputs.runs, dims, k=k, adjust=adjust)
    joined, missing = join_users(
        inputs.respondents[["group", "user_id"]],
        inputs.scores,
        inputs.runs,
        dims,
        k=k,
        metrics=metrics,
        pseudonymise=inputs.pseudonymise,
        min_test_items=min_test_items,
    )
    metric_cols = [c for c in (metric_column(m, k) for m in metrics) if c in joined.columns]
    pred_cols = [c for c in (metric_column(p, k) for p in predictors) if c in joined.columns]
    correlations = user_correlations(joined.iloc[0:0], metric_cols, dims, n_boot=0, adjust=adjust)
    regressions = user_regressions(joined.iloc[0:0], dims, pred_cols, adjust=adjust)
    sem_result, sem_note = None, "" if sem else "not requested (--no-sem)"
    primary_frame = primary_tests(joined, pairs, adjust=adjust, alpha=alpha) if pairs else None
    if len(joined) < MIN_LINKED:
        sem_note = f"no user-level analysis: only {len(joined)} linked respondent(s) (at least {MIN_LINKED})"
    else:
        correlations = user_correlations(joined, metric_cols, dims, n_boot=n_boot, seed=seed, adjust=adjust)
        regressions = user_regressions(joined, dims, pred_cols, method=regression, adjust=adjust)
        if sem and pred_cols:
            sem_result, sem_note = _linkage_sem(inputs, joined, pred_cols, dims, seed=seed, adjust=adjust)
    return LinkageResult(
        k=k,
        group_map={g: r.run_id for g, r in inputs.runs.items()},
        group=group,
        joined=joined,
        missing=missing,
        correlations=correlations,
        regressions=regressions,
        sem=sem_result,
        dimensions=dims,
        metrics=metric_cols,
        predictors=pred_cols,
        primary=primary_frame,
        adjust=adjust,
        alpha=alpha,
        settings={
            "k": k,
            "n_boot": n_boot,
            "seed": seed,
            "regression": regression,
            "adjust": adjust,
            "alpha": alpha,
            "primary": [f"{m}:{d}" for m, d in pairs],
            "min_test_items": min_test_items,
            "user_level": WITHIN_GROUP,
            "sem_note": sem_note if sem_result is None else "",
        },
    )


def linkage_settings(
    *,
    k: int,
    exclude_flagged: Sequence[str],
    n_boot: int,
    seed: int,
    adjust: str = "holm",
    primary: Sequence[str] = (),
    regression: str = "fixed",
    sem: bool = True,
) -> dict[str, Any]:
    """The options that decide a linkage result: the settings under which `link` stores it and the
    report looks it up (one place, so the two always agree)."""
    return {
        "k": k,
        "exclude_flagged": sorted(exclude_flagged),
        "n_boot": n_boot,
        "seed": seed,
        "adjust": adjust,
        "primary": sorted(primary),
        "regression": regression,
        "sem": sem,
    }


def _linkage_sem(
    inputs: LinkageInputs,
    joined: pd.DataFrame,
    predictors: list[str],
    dims: list[str],
    *,
    seed: int,
    adjust: str,
) -> tuple[SemLinkResult | None, str]:
    """The linkage SEM, or (None, why) when the linked sample cannot support it (e.g. fewer complete cases
    than the model needs): the reason is reported, never hidden."""
    try:
        result = metrics_sem(
            inputs.items.loc[joined.index],
            inputs.structure,
            joined[predictors],
            group=joined["group"],
            dimensions=dims,
            seed=seed,
            adjust=adjust,
        )
    except UserError as exc:
        return None, f"the SEM was not fitted: {exc}"
    return result, ""


def link_study(
    study: Study,
    *,
    group_map: Mapping[str, str] | None = None,
    exclude_flagged: Sequence[str] | str = (),
    seed: int | None = None,
    **options: Any,
) -> LinkageResult:
    """The whole linkage of a study (``options``: those of :func:`run_linkage`).

    ``group_map`` overrides/extends ``study.toml`` ``[groups]``. Survey data come from the survey
    subsystem's :func:`~dancerec.survey.loader.load_survey`, runs from the recommender's ``load_run``.
    """
    from dancerec.survey.loader import load_survey

    seed = study.config.seed if seed is None else seed
    mapping = {**study.config.groups, **dict(group_map or {})}
    if not mapping:
        raise UserError(
            "no study group is mapped to a recommender run: add a groups table to study.toml "
            "or pass --map GROUP=RUN_ID (run ids: `dancerec recommender list`)"
        )
    survey = load_survey(study, exclude_flagged=exclude_flagged)
    responses = survey.responses
    respondents = (
        responses[["group", "user_id"]]
        if "user_id" in responses
        else responses[["group"]].assign(user_id=pd.NA)
    )
    inputs = LinkageInputs(
        respondents=respondents,
        scores=survey.scores,
        items=survey.items,
        structure=survey.structure,
        runs=load_group_runs(study, mapping),
        dimensions=survey.dimensions,
        pseudonymise=study.pseudonymise,
    )
    result = run_linkage(inputs, seed=seed, **options)
    result.group_map = dict(mapping)
    result.settings["exclude_flagged"] = list(survey.exclude_flagged)
    result.settings["survey"] = survey.n_statement()
    return result


def plan_study_from_runs(
    study: Study,
    runs: Mapping[str, str],
    *,
    n_groups: int = 3,
    n_per_group: int | None = None,
    effect: float = 0.5,
    surprise_effect: float | None = None,
    k: int = DEFAULT_K,
    seed: int | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A respondent plan for a simulated user study on a study's evaluation runs, and its group map.

    ``runs``: model name (or any label) → run id, e.g. the demo's ``ctx.data["runs"]``. Up to ``n_groups``
    runs become groups ``A``, ``B``, … (MostPop first when present, so the weakest recommender is a group).
    The surprise dimension is the instrument's dimension holding the surprise items. Returns ``(plan,
    {group: run_id})``; the plan feeds ``simulate_responses(respondents=plan[["group", "user_id"]],
    latent_shift=plan.drop(columns=["group", "user_id"]))``.
    """
    from dancerec.recommender.runs import load_run
    from dancerec.survey.store import study_instrument

    seed = study.config.seed if seed is None else seed
    preferred = ["mostpop", "svd", "ease", "relation", "ncf", "als", "bpr", "itemknn", "userknn", "content"]
    labels = sorted(runs, key=lambda m: preferred.index(m) if m in preferred else len(preferred))[:n_groups]
    letters = [chr(ord("A") + i) for i in range(len(labels))]
    group_map = {g: str(runs[m]) for g, m in zip(letters, labels, strict=True)}
    per_user = {g: load_run(study, r).per_user for g, r in group_map.items()}
    surprise = find_surprise_dimension(study_instrument(study)) or "content"
    plan = plan_linked_respondents(
        per_user,
        n_per_group=n_per_group,
        effect=effect,
        surprise_effect=surprise_effect,
        k=k,
        surprise_dimension=surprise,
        seed=seed,
    )
    return plan, group_map
