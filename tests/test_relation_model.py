"""The relation model: shapes, the fused full-ranking path, sampling, learning, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dancerec.recommender.relation import RelationRecommender
from dancerec.recommender.relation_net import Batch
from dancerec.recommender.relation_train import (
    HistoryIndex,
    load_checkpoint,
    sample_epoch,
    sample_negatives,
)
from relation_synth import recall_at, split, synthetic_world, to_train

from dancerec.errors import UserError

SMALL = dict(hidden=16, embed_dim=8, batch_size=128, val_users=100)


@pytest.fixture(scope="module")
def world():
    inter, users, items = synthetic_world(n_users=80, n_items=120, per_user=15, seed=3)
    train_df, test_df = split(inter, seed=4)
    return train_df, test_df, users, items


@pytest.fixture(scope="module")
def fitted(world):
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    return RelationRecommender(epochs=2, validation=0, **SMALL).fit(train), train


def _pairs_batch(model, users, items):
    """A training-path batch for every (user, item) pair with the inference history (top scores)."""
    d = model.data_
    hist, score, mask = d.full_history.top(users, model.history)
    uu = np.repeat(np.arange(len(users)), len(items))
    ii = np.tile(items, len(users))
    return Batch(
        user=d.users.take(torch.from_numpy(users[uu])),
        history=d.items.take(torch.from_numpy(hist[uu])),
        history_score=torch.from_numpy(score[uu]),
        history_mask=torch.from_numpy(mask[uu]),
        target=d.items.take(torch.from_numpy(ii)),
    )


def test_shapes_and_range(fitted):
    model, train = fitted
    users = np.array([0, 5, 7])
    scores = model.score(users)
    assert scores.shape == (3, train.n_items) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    parts = model.net_.parts(_pairs_batch(model, users, np.arange(10)))
    assert parts["prediction"].shape == (30,)
    assert parts["r"].shape == (30, model.history)
    # prediction = (max_j r_j + Y) / 2 over the valid history items
    assert torch.allclose(parts["prediction"], (parts["r"].amax(-1) + parts["y"]) / 2)


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"relation": "dot"},
        {"relation": "mlp"},
        {"personalised": False},
        {"maxpool": False},
        {"music_layers": 2},
    ],
)
def test_fused_full_ranking_equals_training_forward(world, variant):
    """score() folds W and the code projection into per-user matrices; it must equal the plain forward."""
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    model = RelationRecommender(epochs=1, validation=0, max_pairs=700, **{**SMALL, **variant}).fit(train)
    sel = np.arange(0, 80, 9)
    fast = model.score(sel)
    with torch.no_grad():
        slow = model.net_(_pairs_batch(model, sel, np.arange(120))).numpy().reshape(len(sel), 120)
    np.testing.assert_allclose(fast, slow, atol=2e-6)


def test_history_sampling_excludes_target_and_repeats():
    # user 0 has items 0..5, user 1 has items 6, 7; user 2 has none
    indptr = np.array([0, 6, 8, 8])
    hist = HistoryIndex(indptr, np.array([0, 1, 2, 3, 4, 5, 6, 7]), np.arange(8, dtype=np.float32) + 1)
    rng = np.random.default_rng(0)
    users = np.array([0] * 50 + [1] * 20 + [2] * 5)
    targets = np.r_[rng.integers(0, 6, 50), np.full(20, 6), np.full(5, 3)]
    items, scores, mask = hist.sample(rng, users, targets, 4)
    for row in range(len(users)):
        got = items[row][mask[row]]
        assert targets[row] not in got
        assert len(set(got)) == len(got)
        own = hist.items[indptr[users[row]] : indptr[users[row] + 1]]
        assert set(got) <= set(own)
        np.testing.assert_array_equal(scores[row][mask[row]], got + 1)  # each item's own score
    assert mask[:50].sum(1).tolist() == [4] * 50  # 5 candidates besides the target
    assert mask[50:70].sum(1).tolist() == [1] * 20  # only item 7 is left
    assert mask[70:].sum() == 0
    top_items, _, top_mask = hist.top(np.array([0, 2]), 3)
    assert top_items[0].tolist() == [5, 4, 3] and top_mask[1].sum() == 0


def test_negative_sampler_never_returns_training_items():
    rng = np.random.default_rng(1)
    n_items = 20
    train_keys = np.unique(np.r_[np.arange(18), 20 + np.arange(10)])  # user 0: items 0..17; user 1: 0..9
    users = np.repeat([0, 1], 500)
    items = sample_negatives(rng, users, n_items, train_keys)
    assert set(items[:500]) == {18, 19}
    assert set(items[500:]) == set(range(10, 20))
    full = sample_negatives(rng, np.array([2, 2]), 3, np.array([6, 7, 8]))  # user 2 has every item
    assert full.tolist() == [-1, -1]


def test_epoch_rows_balance_positives_and_negatives(fitted):
    model, train = fitted
    rows = sample_epoch(model.data_, model.loop_config(42), epoch=0)
    assert rows.label.sum() == train.matrix.nnz  # every interaction is a positive by default
    assert len(rows) == 2 * train.matrix.nnz  # balanced by sampled negatives
    keys = set(zip(*train.matrix.nonzero(), strict=True))
    negatives = [(u, i) for u, i, lab in zip(rows.user, rows.target, rows.label, strict=True) if lab == 0]
    assert not any(pair in keys for pair in negatives)
    again = sample_epoch(model.data_, model.loop_config(42), epoch=0)
    other = sample_epoch(model.data_, model.loop_config(42), epoch=1)
    assert np.array_equal(rows.hist, again.hist) and not np.array_equal(rows.hist, other.hist)


def test_learns_more_than_popularity(world):
    """On a world where taste follows features, the model must clearly beat the popularity ranking."""
    train_df, test_df, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    model = RelationRecommender(epochs=6, validation=0, **{**SMALL, "hidden": 32}).fit(train)
    relation = recall_at(model.score(np.arange(80)), train_df, test_df, k=10)
    pop = np.bincount(train_df["item"], minlength=120).astype(float)
    popularity = recall_at(np.tile(pop, (80, 1)), train_df, test_df, k=10)
    assert relation > popularity + 0.05, (relation, popularity)
    assert model.training_log["loss"].iloc[-1] < model.training_log["loss"].iloc[0]


def test_same_seed_same_scores_other_seed_differs(world):
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    params = dict(epochs=2, validation=0.1, **SMALL)
    a = RelationRecommender(**params).fit(train).score(np.arange(80))
    b = RelationRecommender(**params).fit(train).score(np.arange(80))
    c = RelationRecommender(seed=7, **params).fit(train).score(np.arange(80))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_checkpoint_round_trip_and_resume(world, tmp_path):
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    params = dict(validation=0.1, patience=10, **SMALL)
    straight = RelationRecommender(epochs=4, **params).fit(train)
    ckpt = tmp_path / "relation.pt"
    RelationRecommender(epochs=2, checkpoint=str(ckpt), **params).fit(train)
    assert load_checkpoint(ckpt)["loop"]["epoch"] == 2
    resumed = RelationRecommender(epochs=4, checkpoint=str(ckpt), resume=True, **params).fit(train)
    assert len(resumed.training_log) == 4
    np.testing.assert_allclose(resumed.training_log["loss"], straight.training_log["loss"], rtol=1e-6)
    np.testing.assert_array_equal(resumed.score(np.arange(80)), straight.score(np.arange(80)))
    # a saved model loads with weights_only=True and scores identically without the training data
    saved = straight.save(tmp_path / "model.pt")
    torch.load(saved, weights_only=True)
    loaded = RelationRecommender.load(saved)
    np.testing.assert_array_equal(loaded.score(np.arange(80)), straight.score(np.arange(80)))
    assert loaded.get_params()["hidden"] == SMALL["hidden"]
    assert list(loaded.item_ids_[:3]) == ["i0", "i1", "i2"]
    # resuming on other data is refused
    other = to_train(train_df[train_df["user"] != 0], users, items, 80, 120)
    with pytest.raises(UserError, match="different data"):
        RelationRecommender(epochs=4, checkpoint=str(ckpt), resume=True, **params).fit(other)


def test_bad_checkpoint_and_parameters_are_user_errors(tmp_path, world):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"junk\.pt"):
        RelationRecommender.load(junk)
    with pytest.raises(UserError, match="no such checkpoint"):
        RelationRecommender.load(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a relation-model checkpoint"):
        RelationRecommender.load(tmp_path / "other.pt")
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    with pytest.raises(UserError, match="relation must be one of"):
        RelationRecommender(relation="deep").fit(train)
    with pytest.raises(UserError, match="history"):
        RelationRecommender(history=0).fit(train)
    with pytest.raises(UserError, match="not fitted"):
        RelationRecommender().score(np.array([0]))


def test_progress_contract_once_per_epoch(world):
    train_df, _, users, items = world
    train = to_train(train_df, users, items, 80, 120)
    calls = []
    RelationRecommender(epochs=2, validation=0.1, patience=5, **SMALL).fit(
        train, progress=lambda done, total, status: calls.append((done, total, status))
    )
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]
    assert calls[0][2].startswith("loss ") and "val recall@10" in calls[0][2]
    assert set(RelationRecommender.search_space) <= set(RelationRecommender().get_params())
