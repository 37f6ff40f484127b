"""Linkage statistics on synthetic inputs whose truth is known (tests/fixtures/report/synthetic.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from dancerec.indices import linkage as L
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "report"))
import synthetic as S
from dancerec.indices.linkage.group import _exact_spearman_p as exact_p


@pytest.fixture(scope="module")
def per_user():
    return {g: S.per_user_metrics(q, seed=i) for i, (g, q) in enumerate(S.QUALITY.items())}


@pytest.fixture(scope="module")
def runs(per_user):
    return {g: L.GroupRun(f"run-{g}", S.MODELS[g], S.summary_of(pu), pu) for g, pu in per_user.items()}


def _study(plan: pd.DataFrame, seed: int):
    items = S.likert_answers(plan, seed=seed)
    scores = pd.DataFrame({d: items[its].mean(axis=1) for d, its in S.STRUCTURE.items()})
    return items, scores


# -- the plan ---------------------------------------------------------------------------------
def test_plan_assigns_distinct_users_and_plants_standardised_recall(per_user):
    plan = L.plan_linked_respondents(per_user, n_per_group=100, effect=0.6, surprise_effect=0.3, seed=5)
    assert len(plan) == 300 and plan.index.is_unique and plan.index.name == "respondent_id"
    assert plan["user_id"].is_unique  # nobody answers for two groups
    assert plan.groupby("group").size().to_dict() == {"A": 100, "B": 100, "C": 100}
    assert list(plan.columns) == ["group", "user_id", "usefulness", "content"]
    recall = pd.Series(
        [
            per_user[g].set_index("user_id").at[u, "recall@10"]
            for g, u in zip(plan["group"], plan["user_id"], strict=True)
        ],
        index=plan.index,
    )
    expected = 0.6 * (recall - recall.mean()) / recall.std(ddof=0)
    np.testing.assert_allclose(plan["usefulness"], expected, atol=1e-12)
    assert plan["content"].std(ddof=0) == pytest.approx(0.3)
    # groups that saw the better recommender get the higher mean shift
    means = plan.groupby("group")["usefulness"].mean()
    assert means["A"] < means["B"] < means["C"]
    # users without test items are never planned
    n_test = {
        (g, u): n
        for g, pu in per_user.items()
        for u, n in zip(pu["user_id"], pu["n_test_items"], strict=True)
    }
    assert min(n_test[gu] for gu in zip(plan["group"], plan["user_id"], strict=True)) >= 1


def test_plan_switched_off_is_all_zero_and_same_seed_same_plan(per_user):
    off = L.plan_linked_respondents(per_user, n_per_group=50, effect=0.0, seed=1)
    assert (off[["usefulness", "content"]] == 0).all().all()
    again = L.plan_linked_respondents(per_user, n_per_group=50, effect=0.0, seed=1)
    pd.testing.assert_frame_equal(off, again)
    other = L.plan_linked_respondents(per_user, n_per_group=50, effect=0.0, seed=2)
    assert list(other["user_id"]) != list(off["user_id"])


def test_plan_refuses_more_users_than_exist(per_user):
    with pytest.raises(ValueError, match="unused users"):
        L.plan_linked_respondents(per_user, n_per_group=400, seed=0)


def test_find_surprise_dimension():
    def item(i, d, t):
        return SimpleNamespace(id=i, dimension=d, text_en=t, text_zh="", source="", attention_check=False)

    inst = SimpleNamespace(
        items=[
            item("CON1", "content", "The songs match my taste."),
            item("EXP1", "experience", "The recommendations surprised me in a good way."),
            item("EXP2", "experience", "I found unexpected songs I liked."),
            item("CON2", "content", "I was pleasantly surprised."),
        ]
    )
    assert L.find_surprise_dimension(inst) == "experience"
    assert L.find_surprise_dimension(SimpleNamespace(items=[item("X", "x", "plain")])) is None


# -- group level ------------------------------------------------------------------------------
def test_exact_spearman_p_matches_hand_counts():
    # 3 groups in perfect order: 1 of 6 orderings has rho = 1 and 1 has rho = -1 -> p = 2/6
    assert exact_p(np.array([1.0, 2, 3]), np.array([5.0, 6, 7])) == pytest.approx(1 / 3)
    # 4 groups in perfect order: p = 2/24
    assert exact_p(np.arange(4.0), np.arange(4.0) * 2) == pytest.approx(2 / 24)
    assert "0.333" in L.few_groups_caveat(3) and "descriptive" in L.few_groups_caveat(3)
    assert "cannot" not in L.few_groups_caveat(6) and "0.0028" in L.few_groups_caveat(6)


def test_group_level_table_has_metrics_and_dimension_means(per_user, runs):
    plan = L.plan_linked_respondents(per_user, n_per_group=60, effect=0.5, seed=3)
    _, scores = _study(plan, seed=4)
    scored = scores.join(plan[["group"]])
    scored.loc[scored.index[:5], "group"] = "D"  # a group shown no run: still tabled, no metrics
    res = L.group_level(scored, runs, S.DIMENSIONS)
    table = res.table.set_index("group")
    assert list(table.index) == ["A", "B", "C", "D"]
    assert table.loc["C", "model"] == "ease" and pd.isna(table.loc["D", "run_id"])
    assert table.loc["A", "recall@10"] == pytest.approx(per_user["A"]["recall@10"].mean())
    assert table.loc["A", "coverage@10"] == pytest.approx(0.3)
    members = scored[scored["group"] == "B"]["usefulness"]
    assert table.loc["B", "usefulness"] == pytest.approx(members.mean())
    half = stats.t.ppf(0.975, len(members) - 1) * members.std(ddof=1) / math.sqrt(len(members))
    assert table.loc["B", "usefulness_ci_high"] == pytest.approx(members.mean() + half)
    assert res.n_groups == 3 and set(res.tests["dimension"]) == set(S.DIMENSIONS)
    row = res.correlations.query("metric == 'recall@10' and dimension == 'usefulness'").iloc[0]
    assert row["n_groups"] == 3 and row["rho"] in (-1.0, -0.5, 0.5, 1.0) and row["p"] >= 1 / 3


# -- user level -------------------------------------------------------------------------------
def test_join_counts_every_missing_link(per_user, runs):
    plan = L.plan_linked_respondents(per_user, n_per_group=20, effect=0.5, seed=3)
    _, scores = _study(plan, seed=4)
    resp = plan[["group", "user_id"]].copy()
    ids = resp.index
    resp.loc[ids[0], "group"] = pd.NA
    resp.loc[ids[1:3], "group"] = "Z"
    resp.loc[ids[3:6], "user_id"] = pd.NA
    resp.loc[ids[6], "user_id"] = "no-such-user"
    zero = per_user["A"].loc[per_user["A"]["n_test_items"] == 0, "user_id"].iloc[0]
    resp.loc[ids[7], "user_id"] = zero  # group A, a user with no test items
    scores.loc[ids[8], :] = np.nan
    joined, missing = L.join_users(resp, scores, runs, S.DIMENSIONS)
    assert (missing.no_group, missing.group_without_run, missing.no_user_id) == (1, {"Z": 2}, 3)
    assert (missing.user_without_metrics, missing.too_few_test_items, missing.no_scores) == (1, 1, 1)
    assert missing.n_respondents == 60 and missing.n_linked == 60 - 9 == len(joined)
    table = missing.table().set_index("reason")["n"]
    assert table["respondents"] == 60 and table["group not mapped to a run: Z (2)"] == 2
    assert (
        joined.loc[ids[20], "recall@10"]
        == per_user["B"].set_index("user_id").at[plan.loc[ids[20], "user_id"], "recall@10"]
    )


def test_join_matches_pseudonymised_survey_ids(per_user, runs):
    plan = L.plan_linked_respondents(per_user, n_per_group=20, effect=0.5, seed=3)
    _, scores = _study(plan, seed=4)
    hasher = lambda v: f"h{abs(hash(('k', v))) % 10**12:012d}"  # noqa: E731 - stands in for study.pseudonymise
    resp = plan[["group", "user_id"]].assign(user_id=plan["user_id"].map(hasher))
    _, missing = L.join_users(resp, scores, runs, S.DIMENSIONS, pseudonymise=hasher)
    assert missing.id_matching == "pseudonymised" and missing.n_linked == 60
    plain, missing_plain = L.join_users(
        plan[["group", "user_id"]], scores, runs, S.DIMENSIONS, pseudonymise=hasher
    )
    assert missing_plain.id_matching == "raw" and len(plain) == 60


def test_user_correlations_are_within_group_partial_rank_correlations(per_user, runs):
    plan = L.plan_linked_respondents(per_user, n_per_group=40, effect=0.5, seed=3)
    _, scores = _study(plan, seed=4)
    joined, _ = L.join_users(plan[["group", "user_id"]], scores, runs, S.DIMENSIONS)
    out = L.user_correlations(joined, ["recall@10", "novelty@10"], S.DIMENSIONS, n_boot=300, seed=9)
    assert len(out) == 8 and (out["n_groups"] == 3).all()
    import statsmodels.api as sm

    for row in out.itertuples():
        # independent check (equal group sizes): OLS of within-group ranks of y on ranks of x + group
        # dummies; the partial correlation's t test is the slope's t test with n - G - 1 df
        g = joined["group"]
        rx = joined.groupby("group")[row.metric].rank()
        ry = joined.groupby("group")[row.dimension].rank()
        X = sm.add_constant(pd.concat([rx, pd.get_dummies(g, drop_first=True, dtype=float)], axis=1))
        fit = sm.OLS(ry, X).fit()
        resid_x = sm.OLS(rx, X.drop(columns=row.metric)).fit().resid
        resid_y = sm.OLS(ry, X.drop(columns=row.metric)).fit().resid
        assert row.rho == pytest.approx(np.corrcoef(resid_x, resid_y)[0, 1], abs=1e-10)
        assert row.p == pytest.approx(fit.pvalues[row.metric], rel=1e-8)
        assert row.ci_low <= row.rho <= row.ci_high
    # with a single group it is Spearman's rho with scipy's p
    one = joined[joined["group"] == "A"]
    single = L.user_correlations(one, ["recall@10"], ["usefulness"], n_boot=0).iloc[0]
    ref = stats.spearmanr(one["recall@10"], one["usefulness"])
    assert single.rho == pytest.approx(ref.statistic) and single.p == pytest.approx(ref.pvalue)
    # Holm by hand: sorted p times (m - rank), cumulative max, capped at 1
    p = out["p"].to_numpy()
    order = np.argsort(p)
    adj = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    np.testing.assert_allclose(out["p_adj"].to_numpy()[order], adj)
    assert (out["significant"] == (out["p_adj"] < 0.05)).all()
    assert set(out["family"]) == {"user-level correlations (within groups)"} and set(out["adjust"]) == {
        "holm"
    }
    again = L.user_correlations(joined, ["recall@10", "novelty@10"], S.DIMENSIONS, n_boot=300, seed=9)
    pd.testing.assert_frame_equal(out, again)


def test_fixed_effect_regression_matches_least_squares(per_user, runs):
    plan = L.plan_linked_respondents(per_user, n_per_group=50, effect=0.5, seed=3)
    _, scores = _study(plan, seed=4)
    joined, _ = L.join_users(plan[["group", "user_id"]], scores, runs, S.DIMENSIONS)
    out = L.user_regressions(joined, ["usefulness"], ["recall@10", "novelty@10"], method="fixed").set_index(
        "term"
    )

    def z(col):  # group-mean-centred, divided by the pooled within-group SD
        c = joined[col] - joined.groupby("group")[col].transform("mean")
        return c / np.sqrt((c**2).mean())

    X = np.column_stack(
        [
            np.ones(len(joined)),
            z("recall@10"),
            z("novelty@10"),
            joined["group"] == "B",
            joined["group"] == "C",
        ]
    ).astype(float)
    beta = np.linalg.lstsq(X, joined["usefulness"].to_numpy(float), rcond=None)[0]
    assert out.loc["recall@10", "estimate"] == pytest.approx(beta[1])
    assert out.loc["novelty@10", "estimate"] == pytest.approx(beta[2])
    assert (out["method"] == "fixed").all()
    with pytest.raises(ValueError, match="method"):
        L.user_regressions(joined, ["usefulness"], ["recall@10"], method="bogus")


# -- the planted link is recovered, and nothing is found when it is off -----------------------
def _analyse(per_user, runs, effect: float, seed: int):
    plan = L.plan_linked_respondents(per_user, n_per_group=200, effect=effect, seed=seed)
    items, scores = _study(plan, seed=seed + 100)
    joined, missing = L.join_users(plan[["group", "user_id"]], scores, runs, S.DIMENSIONS)
    assert missing.n_linked == 600
    cors = L.user_correlations(
        joined, ["recall@10", "serendipity@10"], ["usefulness", "content"], n_boot=200, seed=seed
    ).set_index(["metric", "dimension"])
    regs = L.user_regressions(joined, ["usefulness"], ["recall@10"]).set_index("term")
    sem = L.metrics_sem(
        items.loc[joined.index], S.STRUCTURE, joined[["recall@10"]], group=joined["group"]
    ).paths.set_index("dimension")
    recall = joined["recall@10"]
    centred = recall - recall.groupby(joined["group"]).transform("mean")
    within_share = float(np.sqrt((centred**2).mean()) / recall.std(ddof=0))  # SD within / SD total
    return cors, regs, sem, within_share


def test_planted_link_is_recovered_in_direction_and_size(per_user, runs):
    effect = 0.5
    cors, regs, sem, share = _analyse(per_user, runs, effect, seed=11)
    # latent usefulness = N(0, 1) + effect * z(recall) (z over everyone). Within groups that is a slope of
    # effect * share per within-group SD of recall; the latent's total variance is 1 + effect^2, so the
    # standardised within-group SEM path is effect * share / sqrt(1 + effect^2)
    within = effect * share
    assert 0.5 < share < 0.95  # the groups do differ in recall, so within != total
    assert sem.loc["usefulness", "std"] == pytest.approx(within / math.sqrt(1 + effect**2), abs=0.08)
    assert sem.loc["usefulness", "p"] < 1e-6
    assert abs(sem.loc["risk", "std"]) < 0.15  # untouched dimensions stay near zero
    # an item moves LOADING per latent unit: the score moves LOADING * within per within-group SD of recall
    assert regs.loc["recall@10", "estimate"] == pytest.approx(S.LOADING * within, abs=0.1)
    assert regs.loc["recall@10", "p"] < 1e-6
    assert cors.loc[("recall@10", "usefulness"), "rho"] > 0.2
    assert cors.loc[("recall@10", "usefulness"), "p_adj"] < 0.001
    assert cors.loc[("serendipity@10", "content"), "rho"] > 0.2  # surprise tied to serendipity
    assert cors.loc[("serendipity@10", "content"), "p_adj"] < 0.001


def test_switched_off_link_finds_nothing(per_user, runs):
    cors, regs, sem, _ = _analyse(per_user, runs, 0.0, seed=11)
    assert (cors["p_adj"] > 0.05).all()
    assert cors["rho"].abs().max() < 0.12
    assert abs(sem.loc["usefulness", "std"]) < 0.12 and sem.loc["usefulness", "p"] > 0.01
    assert abs(regs.loc["recall@10", "estimate"]) < 0.12
