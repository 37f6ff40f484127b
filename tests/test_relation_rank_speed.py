"""relation-rank's opt-in speed options: sparse id-table updates (SparseAdam), torch.compile, device choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from dancerec.recommender.registry import make_model
from dancerec.recommender.relation_rank import FISM, ItemRelationNet, RelationRank, _Histories, ndcg_at_k
from dancerec.recommender.relation_rank_data import _keys, _negatives, _positives
from dancerec.recommender.relation_rank_opt import _Optimiser
from item_sim_world import item_sim_split

from dancerec.errors import UserError

FAST = dict(lr=0.01, users_per_batch=16, epochs=6, seed=3, device="cpu")


@pytest.fixture(scope="module")
def world():
    return item_sim_split(n_users=120, n_items=150, seed=2)


def _batch(model: RelationRank, train, users: np.ndarray, seed: int = 0):
    matrix = train.matrix.tocsr().astype(np.float32)
    hist = _Histories(matrix)
    pu, pi = _positives(matrix, users)
    ni = _negatives(
        np.random.default_rng(seed), np.repeat(pu, model.n_negatives), matrix.shape[1], _keys(matrix)
    )
    return hist, pu, pi, ni


def _net(train, sparse: bool, **kw) -> ItemRelationNet:
    torch.manual_seed(0)
    opts = {**dict(relation="dot", act="none", pool="mean", user_dim=False), **kw}
    return ItemRelationNet(train.n_users, train.n_items, 8, sparse=sparse, **opts)


@pytest.mark.parametrize(
    "kw", [{}, dict(relation="bilinear", user_dim=True), dict(act="sigmoid", pool="max")]
)
def test_sparse_gradients_equal_the_dense_ones(world, kw):
    """The sparse gather gives the same gradient as plain indexing, on the touched rows only."""
    train, _ = world
    model = RelationRank(dim=8, relation=kw.get("relation", "dot"), act=kw.get("act", "none"))
    model.pool = kw.get("pool", "mean")
    users = np.array([0, 3, 7])
    hist, pu, pi, ni = _batch(model, train, users)
    grads = []
    for sparse in (False, True):
        net = _net(train, sparse, **kw)
        model._batch_loss(net, hist, users, pu, pi, ni, torch.device("cpu")).backward()
        grads.append({k: p.grad for k, p in net.named_parameters()})
    dense, sparse = grads
    for name in ("P", "Q", "bias"):
        assert sparse[name].is_sparse and not dense[name].is_sparse
        np.testing.assert_allclose(sparse[name].to_dense().numpy(), dense[name].numpy(), rtol=1e-5, atol=1e-7)
    touched = np.unique(sparse["Q"].coalesce().indices().numpy())
    assert set(touched) == set(np.concatenate([pi, ni]).tolist())


def test_sparse_adam_updates_only_the_touched_rows(world):
    train, _ = world
    model = RelationRank(dim=8)
    users = np.array([1, 2])
    hist, pu, pi, ni = _batch(model, train, users)
    net = _net(train, True)
    before = net.Q.detach().clone()
    opt = _Optimiser(net, 0.01, 0.95, 0.0, sparse=True)
    assert [type(o).__name__ for o in opt.opts] == ["SparseAdam", "Adam"]
    model._batch_loss(net, hist, users, pu, pi, ni, torch.device("cpu")).backward()
    opt.step()
    changed = np.flatnonzero((net.Q.detach() != before).any(1).numpy())
    assert set(changed) == set(np.concatenate([pi, ni]).tolist())


def test_sparse_learns_the_planted_structure_and_is_deterministic(world):
    train, test = world
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    model = RelationRank(**FAST, sparse=True).fit(train)
    pop = make_model("mostpop").fit(train)
    ours = ndcg_at_k(model.score(users), train.matrix, test, users, 10)
    assert ours > 1.5 * ndcg_at_k(pop.score(users), train.matrix, test, users, 10)
    again = RelationRank(**FAST, sparse=True).fit(train)
    np.testing.assert_array_equal(again.score(users[:20]), model.score(users[:20]))
    assert model.get_params()["sparse"] is True
    assert set(model.net_.state_dict()) == set(RelationRank(**FAST).fit(train).net_.state_dict())


def test_sparse_rejects_weight_decay_and_fism_takes_the_options(world):
    with pytest.raises(UserError, match="weight_decay"):
        RelationRank(**FAST, sparse=True, weight_decay=1e-4).fit(world[0])
    model = FISM(**{**FAST, "epochs": 1}, sparse=True)
    assert model.get_params()["sparse"] is True and model.fit(world[0]).score(np.arange(3)).shape == (3, 150)


def test_compile_failure_is_a_clear_user_error(world, monkeypatch):
    def broken(fn, **_):
        def run(*args):
            raise RuntimeError("InductorError: no working C++ compiler found\nlong trace")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.raises(UserError, match=r"compile=True: torch.compile failed.*no working C\+\+ compiler"):
        RelationRank(**{**FAST, "epochs": 1}, compile=True).fit(world[0])


@pytest.mark.slow
def test_compiled_loss_equals_the_eager_loss(world):
    """torch.compile of the batch loss (compiles once, ~10-30 s on CPU): same value and gradients."""
    train, _ = world
    model = RelationRank(dim=8)
    users = np.array([0, 5, 9])
    hist, pu, pi, ni = _batch(model, train, users)
    from dancerec.recommender.relation_rank_opt import _compiled

    fn = _compiled(model._loss_tensors)
    out = []
    for loss_fn in (None, fn, fn):
        net = _net(train, False)
        loss = model._batch_loss(net, hist, users, pu, pi, ni, torch.device("cpu"), loss_fn)
        loss.backward()
        out.append((float(loss.detach()), net.P.grad.numpy().copy()))
    assert out[1][0] == pytest.approx(out[0][0], rel=1e-5)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=1e-4, atol=1e-7)
    assert out[2][0] == out[1][0]  # deterministic


def test_device_choice(world, monkeypatch):
    assert RelationRank(device="cpu")._device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert RelationRank(device="auto")._device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert RelationRank(device="auto")._device() == torch.device("cpu")
