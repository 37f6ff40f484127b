"""relation-rank: shapes, determinism, checkpoint round trip, masking, factorised = pairwise path, contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dancerec.recommender.evaluate import rank_top_k
from dancerec.recommender.registry import make_model
from dancerec.recommender.relation_rank import RelationRank, _Histories, ndcg_at_k
from item_sim_world import item_sim_split

from dancerec.errors import UserError

FAST = dict(lr=0.01, users_per_batch=16, epochs=6, seed=3)


@pytest.fixture(scope="module")
def world():
    return item_sim_split(n_users=120, n_items=150, seed=2)


@pytest.fixture(scope="module")
def fitted(world):
    return RelationRank(**FAST).fit(world[0])


def test_shapes_and_finite_scores(fitted, world):
    train, _ = world
    scores = fitted.score(np.arange(7))
    assert scores.shape == (7, train.n_items) and np.isfinite(scores).all()
    assert fitted.score(np.zeros(0, dtype=int)).shape == (0, train.n_items)


def test_same_seed_same_scores_other_seed_differs(fitted, world):
    again = RelationRank(**FAST).fit(world[0])
    np.testing.assert_array_equal(again.score(np.arange(20)), fitted.score(np.arange(20)))
    other = RelationRank(**{**FAST, "seed": 4}).fit(world[0])
    assert not np.allclose(other.score(np.arange(20)), fitted.score(np.arange(20)))


def test_checkpoint_round_trip_gives_identical_scores(fitted, tmp_path):
    path = fitted.save(tmp_path / "rr.pt")
    loaded = RelationRank.load(path)
    np.testing.assert_array_equal(loaded.score(np.arange(30)), fitted.score(np.arange(30)))
    again = RelationRank(**FAST).set_state(fitted.get_state())
    np.testing.assert_array_equal(again.score(np.arange(30)), fitted.score(np.arange(30)))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"bad\.pt"):
        RelationRank.load(tmp_path / "bad.pt")


def test_full_ranking_never_recommends_training_items(fitted, world):
    train, _ = world
    users = np.arange(train.n_users)
    items, _ = rank_top_k(fitted, train, users, 10)
    seen = train.matrix[users].toarray() > 0
    assert not np.take_along_axis(seen, items, 1).any()


def test_factorised_path_equals_pairwise_path(fitted, world):
    """Mean-pooled linear relations: the aggregated matrix product equals the per-history-item sum."""
    net = fitted.net_
    hist = _Histories(fitted.history_)
    users = np.arange(25)
    fast = fitted._score_with(net, hist, users, torch.device("cpu"))
    h, s, m = (torch.from_numpy(a) for a in hist.rows(users))
    w = net.weights(s, fitted.behaviour)
    norm = m.sum(1).clamp_min(1).float().pow(-fitted.alpha)
    with torch.no_grad():
        slow = (net.bias[None, :] + fitted._pairwise_full(net, h, w, m, norm, net.target_codes())).numpy()
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)


def test_training_forward_matches_full_ranking(fitted, world):
    """The score of (u, t) for a non-training item is the same in the training forward and in score()."""
    train, _ = world
    users = np.array([0, 1, 2])
    hist = _Histories(fitted.history_)
    items = np.array([i for i in range(train.n_items) if train.matrix[0, i] == 0][:3] * 1)
    pu = np.array([0, 0, 0])
    with torch.no_grad():
        pair = fitted._pair_scores(
            fitted.net_, hist, users, pu, items, torch.device("cpu"), exclude_target=False
        )
    np.testing.assert_allclose(pair.numpy(), fitted.score(np.array([0]))[0, items], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw",
    [
        dict(act="sigmoid", pool="max"),
        dict(loss="bpr", relation="diag"),
        dict(loss="softmax", user_codes=True),
        dict(relation="bilinear", behaviour="score", max_history=5),
    ],
)
def test_variants_learn_more_than_popularity(world, kw):
    train, test = world
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    model = RelationRank(**{**FAST, **kw}).fit(train)
    pop = make_model("mostpop").fit(train)
    ours = ndcg_at_k(model.score(users), train.matrix, test, users, 10)
    assert ours > 1.5 * ndcg_at_k(pop.score(users), train.matrix, test, users, 10)


def test_progress_contract_and_refit(world):
    calls = []
    model = RelationRank(**{**FAST, "epochs": 3, "patience": 5}).fit(
        world[0], progress=lambda done, total, status: calls.append((done, total, status))
    )
    # validation phase (3 epochs) then the refit for the chosen epoch count
    assert [c[:2] for c in calls[:3]] == [(1, 3), (2, 3), (3, 3)]
    assert "val ndcg@10" in calls[0][2] and len(calls) == 3 + model.best_epochs_
    assert [e["phase"] for e in model.log_].count("refit") == model.best_epochs_


def test_bad_parameters_are_user_errors(world):
    with pytest.raises(UserError, match="pool"):
        RelationRank(pool="median").fit(world[0])
    with pytest.raises(UserError, match="not fitted"):
        RelationRank().score(np.arange(2))
