"""The paper's protocol (balanced labelled pairs) against hand-computed values on a tiny case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dancerec.recommender.base import Recommender, TrainData
from dancerec.recommender.paper_protocol import labelled_pairs, paper_protocol

from dancerec.errors import UserError

SCORES = np.array(
    [
        [0.9, 0.2, 0.5, 0.1, 0.0, 0.0],
        [0.0, 0.3, 0.0, 0.0, 0.3, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)


class Fixed(Recommender):
    name = "fixed"

    def fit(self, train, **_):
        return self

    def score(self, users):
        return SCORES[np.asarray(users)]


def _train() -> TrainData:
    m = sp.csr_matrix((3, 6), dtype=np.float32)
    return TrainData(m, pd.DataFrame({"user": [], "item": []}), np.arange(3), np.arange(6))


TEST = pd.DataFrame(
    {
        "user": [0, 0, 0, 0, 1, 1, 1, 2],
        "item": [0, 1, 2, 3, 1, 4, 5, 0],
        "score": [5, 4, 1, 1, 5, 1, 3, 5],
    }
)


def test_metrics_equal_hand_computation():
    out = paper_protocol(Fixed(), _train(), TEST, lengths=(1, 3)).set_index(["metric", "k"])["value"]
    # user 0: pos {0, 1}, neg {2, 3}; ranking 0+ 2- 1+ 3-.  user 1: pos {1}, neg {4}; tie, item 1 first.
    # user 2: no negative -> left out.
    assert out[("accuracy", pd.NA)] == pytest.approx(4 / 6)  # u0: 2 of 4 right, u1: 2 of 2
    assert out[("auc", pd.NA)] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert out[("auc_pooled", pd.NA)] == pytest.approx(5.5 / 9)
    assert out[("precision", 1)] == pytest.approx(1.0)
    assert out[("precision", 3)] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert out[("recall", 1)] == pytest.approx((1 / 2 + 1) / 2)
    assert out[("recall", 3)] == pytest.approx(1.0)
    frame = paper_protocol(Fixed(), _train(), TEST, lengths=(1, 3))
    assert set(frame["n_users"]) == {2} and set(frame["n_pairs"]) == {6}


def test_pairs_are_balanced_per_user_and_seeded():
    test = pd.DataFrame({"user": [0] * 5, "item": [0, 1, 2, 3, 4], "score": [5, 5, 4, 1, 3]})
    a = labelled_pairs(test, 10, seed=1)
    assert list(a["label"]) == [1, 0] and a["item"].iloc[1] == 3  # m = 1: one of the three positives
    assert a.equals(labelled_pairs(test, 10, seed=1))
    draws = {int(labelled_pairs(test, 10, seed=s)["item"].iloc[0]) for s in range(20)}
    assert draws == {0, 1, 2}
    filled = labelled_pairs(test, 10, fill_unobserved=True, exclude={0: np.array([5, 6])}, seed=1)
    assert filled["label"].sum() == 3 and (filled["label"] == 0).sum() == 3
    assert not set(filled.loc[filled["label"] == 0, "item"]) & {0, 1, 2, 4, 5, 6}


def test_no_usable_user_is_a_user_error():
    with pytest.raises(UserError, match="no test user"):
        paper_protocol(Fixed(), _train(), TEST[TEST["user"] == 2])
    with pytest.raises(UserError, match="score"):
        paper_protocol(Fixed(), _train(), TEST.drop(columns="score"))
