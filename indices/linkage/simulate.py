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
