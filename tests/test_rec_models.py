"""Baselines: hand-checked small cases, the common interface, determinism, signal, save/load; stats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dancerec.recommender import registry, runs, splits
from dancerec.recommender.base import TrainData
from dancerec.recommender.baselines import EASE, ItemKNN, MostPop, PureSVD, UserKNN, top_k_sparse_rows
from dancerec.recommender.evaluate import bootstrap_ci, evaluate
from dancerec.recommender.simulate import simulate_world
from dancerec.recommender.stats import compare, holm
from scipy import stats as sps

X = np.array(
    [
        [1, 1, 0, 0],
        [1, 0, 1, 0],
        [0, 1, 1, 1],
        [1, 1, 1, 0],
    ],
    dtype=np.float32,
)


def _td(x: np.ndarray, item_features=None) -> TrainData:
    m = sp.csr_matrix(x)
    coo = m.tocoo()
    inter = pd.DataFrame({"user": coo.row, "item": coo.col, "score": coo.data})
    return TrainData(
        m,
        inter,
        np.array([f"u{i}" for i in range(x.shape[0])]),
        np.array([f"i{i}" for i in range(x.shape[1])]),
        item_features=item_features,
        seed=3,
    )


def test_mostpop_counts_users():
    assert MostPop().fit(_td(X)).score(np.array([0, 2]))[0].tolist() == [3, 3, 3, 1]


def test_itemknn_cosine_and_jaccard_by_hand():
    m = ItemKNN(k=10, similarity="cosine").fit(_td(X))
    # items 0 and 1: co-occur in users 0 and 3; counts 3 and 3 -> cosine 2/3
    assert m.sim_[0, 1] == pytest.approx(2 / 3)
    # user 1 (items 0, 2) score for item 3 = sim(0,3) + sim(2,3) = 0 + 1/sqrt(3*1)
    assert m.score(np.array([1]))[0, 3] == pytest.approx(1 / np.sqrt(3))
    j = ItemKNN(k=10, similarity="jaccard").fit(_td(X))
    assert j.sim_[0, 1] == pytest.approx(2 / (3 + 3 - 2))
    one = ItemKNN(k=1).fit(_td(X))  # each item keeps only its single nearest neighbour
    assert (np.diff(one.sim_.T.tocsr().indptr) <= 1).all()


def test_top_k_sparse_rows_keeps_largest():
    m = sp.csr_matrix(np.array([[0.1, 0.9, 0.5, 0.0], [0.3, 0.0, 0.0, 0.2]]))
    assert top_k_sparse_rows(m, 2).toarray().tolist() == [[0, 0.9, 0.5, 0], [0.3, 0, 0, 0.2]]


def test_userknn_by_hand():
    m = UserKNN(k=1, similarity="jaccard").fit(_td(X))
    # user 0 {0,1}: jaccard with u1 {0,2} = 1/3, u2 {1,2,3} = 1/4, u3 {0,1,2} = 2/3 -> neighbour u3
    s = m.score(np.array([0]))[0]
    assert s.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 0])


def test_ease_matches_closed_form():
    lam = 2.0
    b = EASE(l2=lam).fit(_td(X)).weights_
    g = X.T @ X + lam * np.eye(4)
    p = np.linalg.inv(g)
    expected = np.eye(4) - p / np.diag(p)
    assert np.allclose(b, expected, atol=1e-5)
    assert np.allclose(np.diag(b), 0)


@pytest.mark.parametrize("lam", [0.5, 10.0, 500.0])
def test_ease_woodbury_path_matches_closed_form(lam):
    """Fewer users than items: the Woodbury route (B from Q = Xᵀ(λI + XXᵀ)⁻¹X) equals the textbook inverse."""
    x = (np.random.default_rng(1).random((30, 80)) < 0.15).astype(np.float32)
    b = EASE(l2=lam).fit(_td(x)).weights_
    p = np.linalg.inv(x.T.astype(np.float64) @ x + lam * np.eye(80))
    assert np.abs(b - (np.eye(80) - p / np.diag(p))).max() < 1e-6
    # the factored scores are x_u B (a user with no training items scores 0 everywhere)
    x[3] = 0
    model = EASE(l2=lam).fit(_td(x))
    users = np.arange(30)
    assert np.abs(model.score(users) - x @ model.weights_).max() < 1e-5
    assert not model.score(np.array([3])).any()
    # scores come from one row of M per user (x_u Xᵀ M = e_u − λ M_u): any order, repeats, empty users
    shuffled = np.array([7, 3, 29, 7, 0, 3])
    np.testing.assert_array_equal(model.score(shuffled), model.score(users)[shuffled])


def test_puresvd_full_rank_reconstructs():
    m = PureSVD(n_factors=3).fit(_td(X))
    _u, _s, vt = np.linalg.svd(X.astype(float))
    v = vt[:3].T
    assert np.allclose(m.score(np.arange(4)), X @ v @ v.T, atol=1e-4)


@pytest.fixture(scope="module")
def sim_split():
    world = simulate_world(250, 200, mean_items=25, seed=11)
    return splits.split_log(world.log, "chronological", seed=11)


FAST = {
    "ncf": {"epochs": 3, "batch_size": 2048},
    "relation-rank": {"epochs": 3},
    "fism": {"epochs": 3},
    "als": {"iterations": 5, "n_factors": 16},
    "svd": {"n_factors": 10},
}


@pytest.mark.parametrize("name", [n for n in registry.model_names() if n != "relation"])
def test_every_baseline_fits_scores_and_is_deterministic(name, sim_split, tmp_path):
    train = sim_split.train
    users = np.array([0, 5, 17])
    a = registry.make_model(name, **FAST.get(name, {})).fit(train)
    s = a.score(users)
    assert s.shape == (3, train.n_items) and np.isfinite(s).all()
    b = registry.make_model(name, **FAST.get(name, {})).fit(train)
    assert np.allclose(s, b.score(users), atol=1e-5), "same seed, same scores"
    runs.save_model(a, tmp_path / name, name=name)
    assert np.allclose(runs.load_model(tmp_path / name).score(users), s, atol=1e-6)


@pytest.mark.parametrize("name", ["itemknn", "userknn", "ease", "svd", "als", "ncf", "content"])
def test_baselines_find_signal_beyond_random(name, sim_split):
    train, test = sim_split.train, sim_split.test
    params = {"ncf": {"epochs": 6}, "svd": {"n_factors": 10}, "als": {"n_factors": 16, "regularization": 1.0}}
    ev = evaluate(
        registry.make_model(name, **params.get(name, {})).fit(train), train, test, (10,), n_bootstrap=50
    )
    # random ranking's expected precision@10 ≈ mean share of unseen items that are relevant
    unseen = train.n_items - np.diff(train.matrix.indptr)[sim_split.test_users]
    chance = np.mean(np.diff(test.matrix.indptr)[sim_split.test_users] / unseen)
    assert ev.mean("precision", 10) > 1.5 * chance


def test_collaborative_models_beat_mostpop_on_simulated_data(sim_split):
    train, test = sim_split.train, sim_split.test
    pop = evaluate(MostPop().fit(train), train, test, (10,), n_bootstrap=50).mean("ndcg", 10)
    ease = evaluate(EASE(l2=100).fit(train), train, test, (10,), n_bootstrap=50).mean("ndcg", 10)
    assert ease > pop


def test_make_model_rejects_unknown():
    from dancerec.errors import UserError

    with pytest.raises(UserError, match="unknown model"):
        registry.make_model("nope")
    with pytest.raises(UserError, match="bad parameters"):
        registry.make_model("ease", lambda_=3)


# ---------------------------------------------------------------- statistics
def test_holm_by_hand():
    adj = holm(np.array([0.01, 0.04, 0.03, np.nan]))
    # sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert adj[:3].tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(adj[3])


def test_compare_paired_tests_match_scipy():
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(60)]
    base = pd.DataFrame({"user_id": users, "ndcg@10": rng.random(60)})
    better = pd.DataFrame(
        {"user_id": users[::-1], "ndcg@10": base["ndcg@10"].to_numpy()[::-1] + rng.normal(0.1, 0.1, 60)}
    )
    same = base.copy()
    out = compare(
        {"base": base, "better": better, "same": same}, "base", ["ndcg@10"], n_bootstrap=200
    ).set_index("model")
    m = better.set_index("user_id").loc[users, "ndcg@10"].to_numpy()
    b = base["ndcg@10"].to_numpy()
    assert out.loc["better", "p_t"] == pytest.approx(sps.ttest_rel(m, b).pvalue)
    assert out.loc["better", "p_wilcoxon"] == pytest.approx(sps.wilcoxon(m, b).pvalue)
    assert out.loc["better", "diff"] == pytest.approx((m - b).mean())
    assert out.loc["same", "p_t"] == 1.0
    assert out.loc["better", "p_t_holm"] == pytest.approx(min(1, 2 * out.loc["better", "p_t"]))
    assert out.loc["better", "diff_ci_low"] < out.loc["better", "diff"] < out.loc["better", "diff_ci_high"]


def test_bootstrap_ci_is_seeded_and_near_normal_theory():
    x = np.random.default_rng(1).normal(5, 2, 400)
    lo, hi = bootstrap_ci(x, n_resamples=2000, seed=4)
    assert (lo, hi) == bootstrap_ci(x, n_resamples=2000, seed=4)
    se = x.std(ddof=1) / np.sqrt(len(x))
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.4 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.4 * se)


def test_content_model_refuses_data_without_item_features():
    from dancerec.recommender.baselines import ContentTFIDF

    from dancerec.errors import UserError

    only_kind = pd.DataFrame({"kind": ["music"] * 4})  # e.g. Taste Profile: nothing but the item kind
    with pytest.raises(UserError, match="no usable item features"):
        ContentTFIDF().fit(_td(X, item_features=only_kind))
    tagged = pd.DataFrame({"tags": [["rock"], ["rock", "indie"], ["jazz"], []]})
    model = ContentTFIDF().fit(_td(X, item_features=tagged))
    # user 2 (items 1, 2, 3): profile covers rock, indie and jazz; item 0 (rock) shares a tag, so it scores > 0
    assert model.score(np.array([2]))[0, 0] > 0
