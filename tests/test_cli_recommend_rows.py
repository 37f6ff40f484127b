"""`dancerec recommender recommend`'s row assembly: raw ids, ranks from 1, padding slots (fewer unseen items
than K) left out, and `--users` resolved to positions with unknown ids named."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dancerec.cli.recommender_eval import _recommendation_rows, _user_positions
from dancerec.errors import UserError

TRAIN = SimpleNamespace(
    user_ids=np.array(["u1", "u2", "u3"], dtype=object),
    item_ids=np.array(["a", "b", "c", "d"], dtype=object),
)


def test_rows_use_raw_ids_and_drop_padding_slots():
    # users u3 and u1 (positions 2, 0); u1 has a single unseen item, so its second slot is padding (-1, NaN)
    items = np.array([[3, 0], [1, -1]])
    scores = np.array([[0.9, 0.5], [0.7, np.nan]], dtype=np.float32)
    rows = _recommendation_rows(TRAIN, np.array([2, 0]), items, scores, 2)
    expected = pd.DataFrame(
        {
            "user": ["u3", "u3", "u1"],
            "item": ["d", "a", "b"],
            "rank": [1, 2, 1],
            "score": np.array([0.9, 0.5, 0.7], dtype=np.float32),
        }
    )
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)
    assert rows["score"].dtype == np.float32


def test_user_positions_follow_the_order_given_and_name_unknown_ids():
    assert _user_positions(TRAIN, " u3, u1,,").tolist() == [2, 0]
    with pytest.raises(UserError, match=r"^unknown user id\(s\): x, y$"):
        _user_positions(TRAIN, "x,u2,y")
