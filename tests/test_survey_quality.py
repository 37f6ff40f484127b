"""Data-quality flags: each statistic against a hand computation or a second implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.survey.instrument import load_instrument
from dancerec.survey.quality import (
    FLAGS,
    FlagThresholds,
    compute_flags,
    flags_wide,
    longest_run,
    mahalanobis_pvalues,
    resolve_flags,
)
from dancerec.survey.simulate import simulate_responses
from scipy.spatial.distance import mahalanobis
from scipy.stats import chi2

from dancerec.errors import UserError

INST = load_instrument("dance-music-30")


def test_longest_run_hand_cases():
    x = np.array(
        [
            [1, 1, 2, 2, 2, 3],
            [4, 4, 4, 4, 4, 4],
            [1, np.nan, 1, 1, 2, 1],  # missing breaks a run
            [np.nan] * 6,
        ],
        dtype=float,
    )
    assert longest_run(x).tolist() == [3, 6, 2, 0]


def test_mahalanobis_matches_scipy_on_complete_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2], [0, 0, 0, 1]])
    p = mahalanobis_pvalues(x)
    vi = np.linalg.inv(np.cov(x, rowvar=False))
    mu = x.mean(axis=0)
    d2 = np.array([mahalanobis(row, mu, vi) ** 2 for row in x])
    np.testing.assert_allclose(p, chi2.sf(d2, df=4), rtol=1e-9)


def test_mahalanobis_with_missing_uses_the_answered_items():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 3))
    x[0, 2] = np.nan
    p = mahalanobis_pvalues(x)
    cov = pd.DataFrame(x).cov().to_numpy()[:2, :2]
    mu = np.nanmean(x, axis=0)[:2]
    d2 = mahalanobis(x[0, :2], mu, np.linalg.inv(cov)) ** 2
    assert p[0] == pytest.approx(chi2.sf(d2, df=2))


def _responses(rows: list[dict], durations: list[float]) -> pd.DataFrame:
    df = pd.DataFrame(rows).reindex(columns=INST.item_ids).astype(float)
    df.insert(0, "duration_s", durations)
    df.index = pd.Index([f"r{i}" for i in range(len(df))], name="respondent_id")
    return df


def test_flags_on_hand_made_respondents():
    scored = [it.id for it in INST.scored_items]
    pattern = [1, 2, 3, 4, 5, 4, 3, 2, 1, 2]
    varied = {c: pattern[k % 10] for k, c in enumerate(scored)} | {"ATT1": 2}
    straight = dict.fromkeys(scored, 4) | {"ATT1": 4}  # straight-liner failing the check
    sparse = {c: pattern[k % 10] for k, c in enumerate(scored[:20])} | {"ATT1": 2}  # 10 of 30 missing
    skipped_check = dict(varied) | {"ATT1": np.nan}
    df = _responses([varied, straight, sparse, skipped_check], [300, 60, 310, 290])
    wide = flags_wide(compute_flags(df, INST))
    assert list(wide.columns) == list(FLAGS)
    assert wide.loc["r0"].sum() == 0
    assert wide.loc["r1", ["longstring", "low_irv", "attention", "speeder"]].all()
    # r1: 60 s < 1/3 of the median (300 s); nobody else is that fast
    assert wide["speeder"].tolist() == [False, True, False, False]
    assert wide.loc["r2", "missing"] and not wide.loc["r0", "missing"]
    assert wide.loc["r3", "attention"] and not wide.loc["r3", "missing"]
    long = compute_flags(df, INST)
    irv = long[(long.flag == "low_irv")].set_index("respondent_id")["value"]
    assert irv["r0"] == pytest.approx(np.std([varied[c] for c in scored], ddof=1))
    assert irv["r1"] == 0.0
    runs = long[(long.flag == "longstring")].set_index("respondent_id")
    assert runs.loc["r1", "value"] == 30 and runs.loc["r1", "threshold"] == 15


def test_thresholds_are_configurable_and_validated():
    scored = [it.id for it in INST.scored_items]
    row = dict.fromkeys(scored[:12], 3) | {c: (k % 5) + 1 for k, c in enumerate(scored[12:])} | {"ATT1": 2}
    df = _responses([row], [100])
    assert not flags_wide(compute_flags(df, INST)).loc["r0", "longstring"]  # run 12 < 15
    loose = FlagThresholds(longstring_share=0.4)  # ceil(0.4 × 30) = 12
    assert flags_wide(compute_flags(df, INST, loose)).loc["r0", "longstring"]
    with pytest.raises(UserError):
        FlagThresholds(speeder_ratio=0)


def test_flags_catch_simulated_careless_responders():
    sim = simulate_responses(INST, n=400, seed=5, careless_rate=0.1, missing_rate=0.02)
    wide = flags_wide(compute_flags(sim.responses, INST))
    kind = sim.truth.careless.reindex(wide.index)
    straight = (kind == "straightliner").to_numpy(dtype=bool)
    careless = (kind != "").to_numpy(dtype=bool)
    assert straight.sum() >= 10
    assert wide["longstring"].to_numpy()[straight].all()
    assert not wide["longstring"].to_numpy()[~careless].any()
    # careless respondents rush: most are speeders, almost no attentive respondent is
    assert wide["speeder"].to_numpy()[careless].mean() > 0.8
    assert wide["speeder"].to_numpy()[~careless].mean() < 0.02
    assert not wide["attention"].to_numpy()[~careless].any()


def test_resolve_flags():
    assert resolve_flags("speeder, longstring") == ["speeder", "longstring"]
    assert resolve_flags(["all"]) == list(FLAGS)
    assert resolve_flags(None) == []
    with pytest.raises(UserError, match="unknown quality flag 'fast'"):
        resolve_flags("fast")
