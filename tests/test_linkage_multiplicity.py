"""Multiplicity per family: the hand-written Holm and BH equal statsmodels; families, notes, primary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.linkage import add_adjusted, adjust_p, parse_primary, primary_tests
from dancerec.indices.linkage.multiplicity import family_note
from statsmodels.stats.multitest import multipletests

from dancerec.errors import UserError


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_and_bh_equal_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(size=30), rng.uniform(0, 0.01, 5), [0.02, 0.02, 1.0]])
    np.testing.assert_allclose(adjust_p(p, "holm"), multipletests(p, method="holm")[1], rtol=1e-12)
    np.testing.assert_allclose(adjust_p(p, "bh"), multipletests(p, method="fdr_bh")[1], rtol=1e-12)
    np.testing.assert_array_equal(adjust_p(p, "none"), p)


def test_nan_p_is_kept_out_of_the_family():
    p = np.array([0.01, np.nan, 0.04])
    out = adjust_p(p, "holm")
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)
    with pytest.raises(UserError, match="--adjust must be one of holm, bh, none"):
        adjust_p(p, "bonferroni-ish")


def test_families_by_term_and_significance_only_on_adjusted_p():
    frame = pd.DataFrame(
        {"term": ["a", "a", "b", "b"], "dimension": ["x", "y", "x", "y"], "p": [0.01, 0.04, 0.03, 0.5]}
    )
    out = add_adjusted(frame, "regression term", by=["term"])
    assert list(out["family"]) == ["regression term: a"] * 2 + ["regression term: b"] * 2
    np.testing.assert_allclose(out["p_adj"], [0.02, 0.04, 0.06, 0.5])
    assert list(out["significant"]) == [True, True, False, False]
    none = add_adjusted(frame, "f", adjust="none")
    assert not none["significant"].any()  # nothing is called significant on unadjusted p
    note = family_note(out)
    assert "Holm" in note and "2 families" in note and "adjusted p < 0.05" in note
    assert "4 tests" in family_note(add_adjusted(frame, "all four"))


def test_primary_hypotheses_are_their_own_family():
    assert parse_primary(["recall:usefulness", "serendipity@5:content"], 10) == [
        ("recall@10", "usefulness"),
        ("serendipity@5", "content"),
    ]
    with pytest.raises(UserError, match="METRIC:DIMENSION"):
        parse_primary(["recall"], 10)
    rng = np.random.default_rng(0)
    n = 90
    joined = pd.DataFrame({"group": np.repeat(["A", "B", "C"], n // 3), "recall@10": rng.normal(size=n)})
    joined["usefulness"] = 0.5 * joined["recall@10"] + rng.normal(size=n)
    joined["content"] = rng.normal(size=n)
    out = primary_tests(joined, [("recall@10", "usefulness"), ("recall@10", "content")], n_boot=0)
    assert set(out["family"]) == {"primary (pre-registered) hypotheses"} and set(out["role"]) == {
        "confirmatory"
    }
    np.testing.assert_allclose(out["p_adj"], multipletests(out["p"], method="holm")[1])
    assert out.set_index("dimension").loc["usefulness", "significant"]
    with pytest.raises(UserError, match="no such metric or dimension"):
        primary_tests(joined, [("ndcg@10", "usefulness")])
