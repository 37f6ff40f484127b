"""Simulated linked studies for the calibration benchmark and the study planner.

A study = G groups, each shown a recommender of a different offline quality (per-user metrics drawn here),
answering the project's instrument through the survey subsystem's simulator
(:func:`dancerec.survey.simulate.simulate_responses`: ordinal Likert answers from the planted latent
model, careless respondents, missing answers). The link is planted exactly as the demo plants it
(:func:`~dancerec.indices.linkage.plan.plan_linked_respondents`). Three scenarios:

* ``"planted"`` — the demo's link (usefulness ← recall, surprise dimension ← serendipity);
* ``"off"`` — no per-user link (effect 0), but the groups still differ in offline quality *and* in
  perceived quality (``group_quality``): a pooled analysis would call that a per-user link;
* ``"shuffled"`` — the planted study with the respondent → user link shuffled within each group, so no
  respondent's own metrics say anything about their answers while every group difference remains;
* ``"flat"`` — no link and no difference in perceived quality between groups (the null of the
  group-level tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from dancerec.indices.linkage.join import GroupRun
from dancerec.indices.linkage.plan import find_surprise_dimension, plan_linked_respondents
from dancerec.indices.linkage.study import LinkageInputs

SCENARIOS = ("planted", "off", "shuffled", "flat")
MODELS = ("mostpop", "svd", "ease", "relation", "ncf", "als", "bpr", "itemknn")


def per_user_metrics(quality: float, n_users: int, seed: int, k: int = 10) -> pd.DataFrame:
    """Per-user metrics of a recommender of offline ``quality`` (0 = weak): recall ~ Beta(1 + 2q, 4),
    the others tied to it as in real runs (precision and NDCG near-collinear, serendipity a share of
    recall, novelty and diversity independent)."""
    rng = np.random.default_rng(seed)
    recall = rng.beta(1 + 2 * quality, 4, n_users)
    return pd.DataFrame(
        {
            "user_id": [f"u{seed}_{i}" for i in range(n_users)],
            "n_test_items": rng.integers(1, 20, n_users),
            f"precision@{k}": recall * 0.3,
            f"recall@{k}": recall,
            f"ndcg@{k}": recall * 0.8 + rng.normal(0, 0.02, n_users),
            f"novelty@{k}": rng.normal(10, 1, n_users),
            f"serendipity@{k}": recall * rng.uniform(0, 1, n_users),
            f"diversity@{k}": rng.uniform(0.5, 0.9, n_users),
        }
    )


def _summary(per_user: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for col in (c for c in per_user.columns if "@" in c):
        metric, _, k = col.partition("@")
        rows.append({"metric": metric, "k": int(k), "mean": float(per_user[col].mean())})
    return pd.DataFrame(rows)


def simulate_linked_study(
    *,
    scenario: str = "planted",
    n_groups: int = 3,
    n_per_group: int = 150,
    effect: float = 0.5,
    group_quality: Sequence[float] | None = None,
    instrument: str = "dance-music-30",
    careless_rate: float = 0.05,
    missing_rate: float = 0.02,
    seed: int = 0,
) -> LinkageInputs:
    """One simulated study's linkage inputs (seeded). ``group_quality``: each group's shift of perceived
    quality (default evenly spaced from -0.3 to 0.3, so groups differ in perceived as well as offline
    quality); offline quality rises with the group index in every scenario."""
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.scoring import recode_reverse, score_dimensions
    from dancerec.survey.simulate import simulate_responses

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    rng = np.random.default_rng(seed)
    inst = load_instrument(instrument)
    groups = [chr(ord("A") + i) for i in range(n_groups)]
    quality = np.linspace(0, 2, n_groups) if n_groups > 1 else np.zeros(1)
    per_user = {
        g: per_user_metrics(float(q), max(2 * n_per_group, 50), int(rng.integers(2**31)))
        for g, q in zip(groups, quality, strict=True)
    }
    plan = plan_linked_respondents(
        per_user,
        n_per_group=n_per_group,
        effect=0.0 if scenario in ("off", "flat") else effect,
        surprise_dimension=find_surprise_dimension(inst) or "content",
        seed=int(rng.integers(2**31)),
    )
    shifts = [c for c in plan.columns if c in inst.dimensions]
    gq = np.linspace(-0.3, 0.3, n_groups) if group_quality is None else np.asarray(group_quality, float)
    if scenario == "flat":
        gq = np.zeros(n_groups)
    sim = simulate_responses(
        inst,
        seed=int(rng.integers(2**31)),
        respondents=plan[["group", "user_id"]],
        latent_shift=plan[shifts],
        group_quality=dict(zip(groups, gq.tolist(), strict=True)),
        careless_rate=careless_rate,
        missing_rate=missing_rate,
    )
    respondents = plan[["group", "user_id"]].copy()
    if scenario == "shuffled":
        respondents["user_id"] = respondents.groupby("group")["user_id"].transform(
            lambda s: rng.permutation(s.to_numpy())
        )
    responses = sim.responses
    responses.index = responses.index.astype(str)
    respondents.index = respondents.index.astype(str)
    structure = inst.dimension_items(include_attention=False)
    items = [i for its in structure.values() for i in its]
    runs = {
        g: GroupRun(f"run-{g}", MODELS[i % len(MODELS)], _summary(per_user[g]), per_user[g])
        for i, g in enumerate(groups)
    }
    return LinkageInputs(
        respondents=respondents,
        scores=score_dimensions(responses, inst),
        items=recode_reverse(responses[items], inst),
        structure=structure,
        runs=runs,
        dimensions=list(inst.dimensions),
    )


def simulate_sem_design(
    *,
    n_groups: int,
    n_per_group: int,
    rho: float,
    f: float = 0.0,
    focal_metric: str = "recall@10",
    focal_dimension: str = "usefulness",
    instrument: str = "dance-music-30",
    careless_rate: float = 0.0,
    missing_rate: float = 0.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, list[str]], pd.DataFrame, pd.Series]:
    """One simulated study for the SEM-path power of the planner: Likert answers from the survey
    subsystem's simulator, per-user metrics from :func:`per_user_metrics`.

    Each respondent's latent ``focal_dimension`` is shifted by ``c * z`` where ``z`` is their
    ``focal_metric`` standardised *within their group* and ``c = rho / sqrt(1 - rho**2)``: the simulator's
    latent scores have unit variance and are independent of ``z``, so the within-group correlation of the
    metric with the shifted latent dimension is exactly ``rho``. The groups' latent means on that
    dimension are spaced evenly with Cohen's f = ``f`` (the between-group part the SEM's group dummies
    absorb); offline quality rises with the group index as in :func:`simulate_linked_study`.

    Returns ``(items, structure, metrics, group)`` as ``link`` hands them to
    :func:`~dancerec.indices.linkage.sem.metrics_sem`: reverse-recoded item answers, dimension → items,
    per-user metric columns and each respondent's group, all on the respondent index.
    """
    from dancerec.survey.instrument import load_instrument
    from dancerec.survey.scoring import recode_reverse
    from dancerec.survey.simulate import simulate_responses

    if not -1 < rho < 1:
        raise ValueError("rho must be in (-1, 1)")
    rng = np.random.default_rng(seed)
    inst = load_instrument(instrument)
    if focal_dimension not in inst.dimensions:
        raise ValueError(f"instrument {instrument!r} has no dimension {focal_dimension!r}")
    groups = [chr(ord("A") + i) for i in range(n_groups)]
    quality = np.linspace(0, 2, n_groups) if n_groups > 1 else np.zeros(1)
    metrics = pd.concat(
        [per_user_metrics(float(q), n_per_group, int(rng.integers(2**31))) for q in quality],
        ignore_index=True,
    )
    width = len(str(len(metrics)))
    metrics.index = pd.Index([f"R{i + 1:0{width}d}" for i in range(len(metrics))], name="respondent_id")
    group = pd.Series(np.repeat(groups, n_per_group), index=metrics.index, name="group")
    focal = metrics[focal_metric]
    centred = focal - focal.groupby(group).transform("mean")
    sd = centred.groupby(group).transform("std", ddof=0).replace(0, np.nan)
    z = (centred / sd).fillna(0.0)
    means = np.linspace(-1, 1, n_groups) if n_groups > 1 else np.zeros(1)
    if n_groups > 1:
        means = means / means.std() * f
    shift = pd.DataFrame(
        {focal_dimension: np.repeat(means, n_per_group) + rho / np.sqrt(1 - rho**2) * z.to_numpy()},
        index=metrics.index,
    )
    sim = simulate_responses(
        inst,
        seed=int(rng.integers(2**31)),
        respondents=pd.DataFrame({"group": group, "user_id": metrics["user_id"]}),
        latent_shift=shift,
        group_quality=dict.fromkeys(groups, 0.0),
        careless_rate=careless_rate,
        missing_rate=missing_rate,
    )
    structure = inst.dimension_items(include_attention=False)
    item_ids = [i for its in structure.values() for i in its]
    responses = sim.responses
    items = recode_reverse(responses[item_ids], inst)
    items.index = metrics.index
    cols = [c for c in metrics.columns if "@" in c]
    return items, structure, metrics[cols], group
