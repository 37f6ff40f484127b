"""Group comparisons against scipy/statsmodels (second implementations) and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dancerec.indices.groups import compare_groups, games_howell, tukey_hsd
from scipy import stats
from statsmodels.stats.multicomp import pairwise_tukeyhsd

from dancerec.errors import UserError


def _groups(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "A": rng.normal(3.0, 0.8, 40),
        "B": rng.normal(3.5, 1.0, 50),
        "C": rng.normal(3.2, 1.9, 35),
    }


def _frame(values):
    score = np.concatenate(list(values.values()))
    group = np.concatenate([[g] * len(v) for g, v in values.items()])
    return pd.DataFrame({"score": score}), pd.Series(group)


def test_two_groups_welch_anova_is_the_welch_t_test():
    values = {k: v for k, v in _groups().items() if k in ("A", "C")}
    scores, group = _frame(values)
    res = compare_groups(scores, group, method="welch")
    row = res.tests.iloc[0]
    t = stats.ttest_ind(values["A"], values["C"], equal_var=False)
    assert row["test"] == "Welch ANOVA"
    assert row["statistic"] == pytest.approx(t.statistic**2, rel=1e-10)
    assert row["p"] == pytest.approx(t.pvalue, rel=1e-8)
    # with two groups the studentised range reduces to |t|: Games-Howell p = Welch t-test p
    gh = res.posthoc.iloc[0]
    assert gh["method"] == "Games-Howell"
    assert gh["p_adj"] == pytest.approx(t.pvalue, rel=1e-6)
    assert gh["statistic"] == pytest.approx(t.statistic, rel=1e-10)


def test_tukey_matches_statsmodels():
    values = _groups(1)
    ours = tukey_hsd(values)
    scores, group = _frame(values)
    ref = pairwise_tukeyhsd(scores["score"].to_numpy(), group.to_numpy())
    # statsmodels: mean(group2) - mean(group1) for pairs (A,B), (A,C), (B,C)
    assert ours["mean_diff"].to_numpy() == pytest.approx(-ref.meandiffs, rel=1e-12)
    assert ours["p_adj"].to_numpy() == pytest.approx(ref.pvalues, abs=1e-6)
    assert ours["ci_low"].to_numpy() == pytest.approx(-ref.confint[:, 1], abs=1e-3)
    assert ours["ci_high"].to_numpy() == pytest.approx(-ref.confint[:, 0], abs=1e-3)


def test_games_howell_welch_statistics_by_hand():
    values = _groups(2)
    gh = games_howell(values).set_index(["group_a", "group_b"])
    a, c = values["A"], values["C"]
    va, vc = a.var(ddof=1) / len(a), c.var(ddof=1) / len(c)
    df = (va + vc) ** 2 / (va**2 / (len(a) - 1) + vc**2 / (len(c) - 1))
    row = gh.loc[("A", "C")]
    assert row["se"] == pytest.approx(np.sqrt(va + vc))
    assert row["df"] == pytest.approx(df)
    t = (a.mean() - c.mean()) / np.sqrt(va + vc)
    assert row["p_adj"] == pytest.approx(stats.studentized_range.sf(abs(t) * np.sqrt(2), 3, df))


def test_effect_sizes_by_hand():
    # groups (1, 2, 3) and (4, 5, 6): grand mean 3.5, SS_between = 3 * 1.5^2 * 2 = 13.5,
    # SS_total = 17.5, MS_within = 4 / 4 = 1: eta2 = 13.5/17.5, omega2 = (13.5 - 1) / (17.5 + 1)
    scores = pd.DataFrame({"s": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    group = pd.Series(["a", "a", "a", "b", "b", "b"])
    res = compare_groups(scores, group, method="anova", min_group_n=3)
    row = res.tests.iloc[0]
    assert row["eta2"] == pytest.approx(13.5 / 17.5)
    assert row["omega2"] == pytest.approx(12.5 / 18.5)
    assert res.posthoc.iloc[0]["cohens_d"] == pytest.approx(-3.0)  # (2 - 5) / pooled SD 1
    assert res.posthoc.iloc[0]["method"] == "Tukey HSD"


def test_assumption_checks_choose_the_test():
    rng = np.random.default_rng(5)
    # small, strongly skewed groups: Kruskal-Wallis with Dunn's test
    skewed = {g: rng.exponential(s, 15) ** 2 for g, s in (("a", 1.0), ("b", 2.5), ("c", 1.0))}
    scores, group = _frame(skewed)
    res = compare_groups(scores, group)
    row = res.tests.iloc[0]
    assert row["test"] == "Kruskal-Wallis"
    assert not row["normal"]
    h = stats.kruskal(*skewed.values())
    assert row["statistic"] == pytest.approx(h.statistic)
    assert row["epsilon2"] == pytest.approx(h.statistic / (45 - 1))
    assert set(res.posthoc["method"]) == {"Dunn (Holm)"}
    # large groups with unequal variances: Welch ANOVA with Games-Howell
    scores, group = _frame(_groups(3))
    row = compare_groups(scores, group).tests.iloc[0]
    assert row["test"] == "Welch ANOVA"
    assert not row["equal_var"]
    assert row["posthoc"] == "Games-Howell"
    assert "Levene" in row["reason"]


def test_descriptives_small_groups_and_errors():
    scores = pd.DataFrame({"s": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "group": list("aaabbbc")})
    res = compare_groups(scores, "group", min_group_n=3)
    d = res.descriptives.set_index("group")
    assert d.at["a", "mean"] == 2.0
    assert d.at["c", "n"] == 1
    assert any("'c'" in n for n in res.notes)
    with pytest.raises(UserError, match="at least 2 groups"):
        compare_groups(pd.DataFrame({"s": [1.0, 2.0]}), pd.Series(["a", "a"]))
    with pytest.raises(UserError, match="unknown method"):
        compare_groups(scores, "group", method="t")
