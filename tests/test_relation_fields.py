"""Feature fields of the relation model: kinds, vocabularies, cut points, safe serialisation."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from dancerec.recommender.fields import FieldOptions, FieldSchema, infer_kind

from dancerec.errors import UserError


def _matrix(n_users: int, n_items: int, pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    rows, cols = zip(*pairs, strict=True)
    return sp.csr_matrix((np.ones(len(pairs), np.float32), (rows, cols)), shape=(n_users, n_items))


def test_infer_kind_by_column_content():
    assert infer_kind(pd.Series(np.linspace(0, 1, 100))) == "bucket"
    assert infer_kind(pd.Series(np.linspace(0, 1, 100)), numeric="linear") == "linear"
    assert infer_kind(pd.Series([1, 2, 3, 1, 2] * 20)) == "categorical"  # small integer codes
    assert infer_kind(pd.Series(["a", "b"] * 50)) == "categorical"
    assert infer_kind(pd.Series([["rock", "pop"], ["jazz"]] * 10)) == "tags"
    assert infer_kind(pd.Series(["rock|pop", "jazz"] * 10)) == "tags"
    assert infer_kind(pd.Series([f"artist {i}" for i in range(100)])) is None  # names: identifier-like
    assert infer_kind(pd.Series(["music"] * 100)) is None  # constant
    assert infer_kind(pd.Series([None, np.nan])) is None


def test_bucket_edges_and_encoding_hand_computed():
    # values 1..10, two buckets: the only cut is the median 5.5; missing -> 0
    items = pd.DataFrame({"tempo": [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]})
    m = _matrix(1, 10, [(0, 0)])
    users = pd.DataFrame({"region": ["a"]})
    schema = FieldSchema.fit(
        m,
        users,
        items,
        FieldOptions(
            use_ids=False, derived=False, n_buckets=2, kinds={"region": "categorical", "tempo": "bucket"}
        ),
    )
    (field,) = [f for f in schema.fields if f.name == "item:tempo"]
    assert field.kind == "bucket" and field.edges == [5.5]
    probe = pd.DataFrame({"tempo": [1.0, 5.5, 5.6, 10, np.nan, 99, 7, 3, 2, 1]})
    enc = schema.encode("item", 10, m, probe)
    assert enc.cat[:, 0].tolist() == [1, 2, 2, 2, 0, 2, 2, 1, 1, 1]


def test_categorical_unknown_and_missing_map_to_zero():
    users = pd.DataFrame({"gender": ["f", "m", None, "f"]})
    m = _matrix(4, 2, [(0, 0), (1, 1), (2, 0), (3, 1)])
    schema = FieldSchema.fit(m, users, None, FieldOptions(use_ids=False))
    field = next(f for f in schema.fields if f.name == "user:gender")
    assert field.vocab == ["f", "m"]
    enc = schema.encode("user", 4, m, pd.DataFrame({"gender": ["m", "x", None, "f"]}))
    gender_col = [f.name for f in schema.grouped("user")["cat"]].index("user:gender")
    assert enc.cat[:, gender_col].tolist() == [2, 0, 0, 1]


def test_tags_vocabulary_min_count_and_truncation():
    items = pd.DataFrame({"tags": [["rock", "pop", "indie"], ["rock", "pop"], ["jazz"], []]})
    m = _matrix(1, 4, [(0, 0)])
    schema = FieldSchema.fit(m, None, items, FieldOptions(use_ids=False, max_tags=1, min_tag_count=2))
    field = next(f for f in schema.fields if f.kind == "tags")
    assert field.vocab == ["pop", "rock"]  # jazz and indie appear once
    assert field.max_len == 1
    enc = schema.encode("item", 4, m, items)
    # first kept tag in the cell's own order (the loader orders tags by how often they were applied)
    assert enc.tags[:, 0, 0].tolist() == [2, 2, 0, 0]


def test_ids_of_unseen_rows_are_zero():
    m = _matrix(3, 4, [(0, 0), (1, 2)])
    schema = FieldSchema.fit(m, None, None)
    enc = schema.encode("item", 4, m, None, known=np.array([True, False, True, False]))
    id_col = [f.kind for f in schema.grouped("item")["cat"]].index("id")
    assert enc.cat[:, id_col].tolist() == [1, 0, 3, 0]
    pop_col = [f.name for f in schema.grouped("item")["cat"]].index("item:popularity")
    # counts 1, 0, 1, 0: items with the same count share a bucket
    pops = enc.cat[:, pop_col].tolist()
    assert pops[0] == pops[2] and pops[1] == pops[3] and pops[0] != pops[1]


def test_schema_state_round_trips_through_safe_torch_load():
    users = pd.DataFrame({"age": np.arange(20.0), "region": ["a", "b"] * 10})
    items = pd.DataFrame({"genre": ["x", "y", "z"] * 10, "tags": [["t1", "t2"], ["t2"], ["t3", "t1"]] * 10})
    m = _matrix(20, 30, [(u, (u * 7) % 30) for u in range(20)])
    schema = FieldSchema.fit(m, users, items)
    buffer = io.BytesIO()
    torch.save({"fields": schema.to_state()}, buffer)
    buffer.seek(0)
    restored = FieldSchema.from_state(torch.load(buffer, weights_only=True)["fields"])
    for side, frame, n in (("user", users, 20), ("item", items, 30)):
        a, b = schema.encode(side, n, m, frame), restored.encode(side, n, m, frame)
        assert torch.equal(a.cat, b.cat) and torch.equal(a.lin, b.lin) and torch.equal(a.tags, b.tags)
    assert schema.describe()["field"].tolist() == restored.describe()["field"].tolist()


def test_linear_numeric_is_standardised():
    items = pd.DataFrame({"energy": [0.0, 1.0, 2.0, np.nan]})
    m = _matrix(1, 4, [(0, 0)])
    schema = FieldSchema.fit(m, None, items, FieldOptions(use_ids=False, kinds={"energy": "linear"}))
    enc = schema.encode("item", 4, m, items)
    # mean 1, population std sqrt(2/3); missing -> 0 (the mean)
    np.testing.assert_allclose(enc.lin[:, 0].numpy(), [-1.2247449, 0.0, 1.2247449, 0.0], rtol=1e-6)


def test_bad_feature_tables_are_refused():
    m = _matrix(3, 4, [(0, 0)])
    with pytest.raises(UserError, match="3 user"):
        FieldSchema.fit(m, pd.DataFrame({"g": ["a", "b"]}), None)
    schema = FieldSchema.fit(m, None, pd.DataFrame({"genre": ["a", "b", "a", "b"]}))
    with pytest.raises(UserError, match="genre"):
        schema.encode("item", 4, m, pd.DataFrame({"other": [1, 2, 3, 4]}))
    with pytest.raises(UserError, match="'bucket' or 'linear'"):
        FieldSchema.fit(m, None, None, FieldOptions(numeric="log"))
    with pytest.raises(UserError, match="no user fields"):
        FieldSchema.fit(
            m, None, pd.DataFrame({"genre": list("abab")}), FieldOptions(use_ids=False, derived=False)
        )
