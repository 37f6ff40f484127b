"""EASE's cheaper fit and the evaluation's item vectors are bit-identical to what they replaced."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dancerec.recommender.baselines import ContentTFIDF, _diag_q, _spd_inverse
from dancerec.recommender.evaluate import _vocabulary, tfidf, tfidf_pairs


def _product_diag(xt: sp.csr_matrix, m: np.ndarray) -> np.ndarray:
    """The formula _diag_q replaced: row sums of Xᵀ ⊙ (Xᵀ M)."""
    return np.asarray(xt.multiply(np.asarray(xt @ m, dtype=np.float64)).sum(axis=1)).ravel()


@pytest.mark.parametrize("density", [0.02, 0.08, 0.5])
@pytest.mark.parametrize("max_pairs", [5, 1 << 21])
def test_diag_q_bit_identical_to_the_product(density, max_pairs):
    x = sp.random(60, 400, density=density, random_state=3, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    x = x[np.diff(x.indptr) > 0]
    kernel = (x @ x.T).toarray().astype(np.float64)
    kernel[np.diag_indices_from(kernel)] += 5.0
    m = _spd_inverse(kernel)
    xt = x.T.tocsr()
    np.testing.assert_array_equal(_diag_q(xt, m, max_pairs=max_pairs), _product_diag(xt, m))


def test_vocabulary_equals_numpy_unique():
    rng = np.random.default_rng(0)
    tokens = [f"t={rng.integers(0, 50)}" for _ in range(500)] + ["Z", "a", "é", "t=1"]
    vocab, cols = np.unique(np.array(tokens), return_inverse=True)
    n, ours = _vocabulary(tokens)
    assert n == len(vocab)
    np.testing.assert_array_equal(ours, cols.ravel())
    assert _vocabulary([])[0] == 0


def test_item_vectors_from_pairs_equal_the_documents_path():
    """Token pairs (any order) give the same TF-IDF matrix as the per-document token lists."""
    rng = np.random.default_rng(1)
    n = 40
    features = pd.DataFrame(
        {
            "kind": ["music"] * n,
            "genre": rng.choice(["pop", "rock", ""], n),
            "tempo": rng.normal(120, 10, n),
            "tags": [list(rng.choice(list("abcdef"), rng.integers(0, 4))) for _ in range(n)],
            "name": [f"n{i}" for i in range(n)],
        }
    )
    features.loc[3, "tags"] = None
    model = ContentTFIDF()
    docs = model._documents(features)
    rows, tokens = model._token_pairs(features)
    assert sorted(zip(rows.tolist(), tokens, strict=True)) == sorted(
        (r, t) for r, d in enumerate(docs) for t in d
    )
    assert not any(t.startswith(("kind=", "name=")) for t in tokens) and "genre=" not in tokens
    a, b = tfidf(docs), tfidf_pairs(rows[::-1], tokens[::-1], n)
    assert (a != b).nnz == 0
    assert len(list(itertools.chain.from_iterable(docs))) == len(tokens)


def test_top_k_in_row_blocks_equals_one_block(monkeypatch):
    import dancerec.recommender.evaluate as ev

    rng = np.random.default_rng(4)
    scores = rng.integers(0, 6, size=(37, 50)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    whole = ev.top_k(scores, 8)
    monkeypatch.setattr(ev, "TOP_K_BLOCK", 3 * 50)  # three rows per block
    np.testing.assert_array_equal(ev.top_k(scores, 8), whole)
    # the reference: score descending, item index ascending, -inf never recommended
    for row, got in zip(scores, whole, strict=True):
        order = [i for i in np.lexsort((np.arange(50), -row)) if np.isfinite(row[i])][:8]
        assert got[: len(order)].tolist() == order and (got[len(order) :] == -1).all()


def test_scores_copied_unless_the_model_declares_them_fresh():
    from dancerec.recommender.base import Recommender
    from dancerec.recommender.evaluate import _writable_scores

    class Cached(Recommender):
        name = "cached"

        def __init__(self):
            self.table = np.ones((3, 4), dtype=np.float32)

        def fit(self, train, **_):
            return self

        def score(self, users):
            return self.table[users] if len(users) < 3 else self.table

    model = Cached()
    out = _writable_scores(model, np.arange(3))
    out[:] = -1
    assert (model.table == 1).all()  # the harness masks its own copy
    model.fresh_scores = True
    assert _writable_scores(model, np.arange(3)) is model.table


def test_mirror_lower_equals_tril_plus_transpose():
    """The in-place block mirror gives exactly np.tril(a) + np.tril(a, -1).T, for any block edge."""
    from dancerec.recommender.baselines import _mirror_lower

    rng = np.random.default_rng(3)
    for n, block in ((1, 128), (7, 3), (300, 128), (257, 64)):
        a = rng.standard_normal((n, n))
        expected = np.tril(a) + np.tril(a, -1).T
        assert np.array_equal(_mirror_lower(a.copy(), block), expected)


def test_token_codes_equal_formatting_every_token():
    """Formatting only the distinct values gives the tokens, order and vocabulary of formatting each one."""
    rng = np.random.default_rng(2)
    n = 60
    features = pd.DataFrame(
        {
            "kind": ["music"] * n,  # constant: no token
            "tags": [
                np.array(rng.choice(list("abcdefg"), rng.integers(0, 5)), dtype=object) for _ in range(n)
            ],
            "mood": [list(rng.choice(["x", "y"], rng.integers(0, 3))) for _ in range(n)],
            "tempo": rng.normal(120, 10, n),  # quantile buckets
            "genre": rng.choice(["pop", "rock", ""], n),
            "mixed": pd.Series([1, "1", 2, None] * (n // 4), dtype=object),  # 1 and "1" are one token
            "name": [f"n{i}" for i in range(n)],
        }
    )
    features.at[5, "tags"] = None
    model = ContentTFIDF()
    rows, codes, vocabulary = model._token_codes(features)
    expected_rows, expected_tokens = [], []  # the reference: every token formatted, column by column
    for col in ("tags", "mood"):
        for r, cell in enumerate(features[col]):
            if isinstance(cell, list | np.ndarray):
                expected_rows += [r] * len(cell)
                expected_tokens += [f"{col}={t}" for t in cell]
    buckets = pd.qcut(features["tempo"].rank(method="first"), 5, labels=False)
    expected_rows += list(range(n))
    expected_tokens += [f"tempo=q{int(b)}" for b in buckets]
    for col in ("genre", "mixed"):
        for r, v in enumerate(features[col]):
            if pd.notna(v) and str(v) != "":
                expected_rows.append(r)
                expected_tokens.append(f"{col}={v}")
    vocab, inverse = np.unique(np.array(expected_tokens), return_inverse=True)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(vocabulary, vocab)
    np.testing.assert_array_equal(codes, inverse.ravel())
    assert "mixed=1" in vocabulary and "mixed=None" not in vocabulary
