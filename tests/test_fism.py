"""FISM, the calibrator: recovers planted item-similarity structure, and finds none in the null world."""

from __future__ import annotations

import numpy as np
from dancerec.recommender.registry import make_model
from dancerec.recommender.relation_rank import FISM, ndcg_at_k
from item_sim_world import item_sim_split

FAST = dict(lr=0.01, users_per_batch=16, epochs=15, seed=1)


def _ndcg(model, train, test) -> float:
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    return ndcg_at_k(model.fit(train).score(users), train.matrix, test, users, 10)


def test_fism_reaches_80_percent_of_itemknn_on_planted_clusters():
    train, test = item_sim_split(seed=0)
    knn = _ndcg(make_model("itemknn"), train, test)
    fism = _ndcg(FISM(**FAST), train, test)
    pop = _ndcg(make_model("mostpop"), train, test)
    assert knn > 3 * pop  # the planted structure is there to find
    assert fism >= 0.8 * knn, (fism, knn)


def test_fism_finds_nothing_in_the_null_world():
    train, test = item_sim_split(clusters=False, seed=0)
    fism = _ndcg(FISM(**FAST), train, test)
    # uniform interactions: chance NDCG@10 with ~4 relevant items among ~224 candidates is about .02
    assert fism < 0.06, fism


def test_fism_is_registered_with_a_search_space():
    model = make_model("fism", dim=16)
    assert isinstance(model, FISM) and model.dim == 16 and model.relation == "dot"
    assert set(FISM.search_space) <= set(model.get_params())
