"""The linkage holds its family-wise error rate under null links (small version of
benchmarks/linkage_calibration.py), the within-group analysis is what makes it hold, and the planted
link is recovered."""

from __future__ import annotations

import pytest
from dancerec.indices.linkage.calibration import run_calibration, study_outcome, summarise

N_NULL = 60
pytestmark = pytest.mark.slow  # 60 simulated studies without the SEM (~1 min)


@pytest.fixture(scope="module")
def null_rows():
    plan = [("off" if i % 2 else "shuffled", 1000 + i) for i in range(N_NULL)]
    return run_calibration(plan, sem=False, n_per_group=100)


def _count(rows, key):
    return sum(bool(r[key]) for r in rows)


def test_familywise_rate_with_correction_is_near_five_percent_and_without_it_is_not(null_rows):
    # binomial(60, .05): P(X >= 9) = .008, so k <= 8 is "within Monte-Carlo error of 5%"
    # uncorrected, 48 correlations "find" something in most null studies, 8 regression terms in a third
    for family, raw_floor in (
        ("user_correlations", 25),
        ("regression:recall@10", 12),
        ("regression:serendipity@10", 12),
    ):
        adjusted = _count(null_rows, f"{family}:adj")
        raw = _count(null_rows, f"{family}:raw")
        assert adjusted <= 8, (family, adjusted)
        assert raw >= raw_floor, (family, raw)
    table = summarise(null_rows)
    row = table[(table["family"] == "user_correlations") & (table["p"] == "adjusted")]
    assert (row["ci_low"] <= 0.05 + 0.1).all() and (row["n_studies"] == N_NULL // 2).all()


def test_pooled_correlations_would_mistake_group_differences_for_a_link(null_rows):
    """Shuffled within groups, the pooled (old) Spearman still sees the between-group difference."""
    shuffled = [r for r in null_rows if r["scenario"] == "shuffled"]
    assert _count(shuffled, "pooled_correlations:adj") >= 0.8 * len(shuffled)
    assert _count(shuffled, "user_correlations:adj") <= 5


def test_planted_link_is_recovered_within_groups():
    row = study_outcome("planted", 7, sem=True)
    assert row["detect:corr:usefulness~recall@10"] and row["detect:reg:usefulness~recall@10"]
    assert row["detect:sem:usefulness~recall@10"] and row["detect:sem:content~serendipity@10"]
