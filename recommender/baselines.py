"""Baseline recommenders: MostPop, item/user k-NN, PureSVD, content TF-IDF, EASE and implicit ALS.

All treat training interactions as implicit binary feedback (a user touched an item) unless stated,
fit on :class:`TrainData` and score a batch of users with one (sparse) matrix product. NCF lives in
:mod:`dancerec.recommender.ncf`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import FitProgress, Recommender, TrainData
from dancerec.recommender.ease_linalg import (
    _diag_q,
    _mirror_lower,  # noqa: F401  (re-exported: tests import it from here)
    _spd_inverse,
    _transposed_times,
)

from dancerec.errors import UserError


def _done(progress: FitProgress | None) -> None:
    """Closed-form fits report one finished step (the FitProgress contract, base.py)."""
    if progress is not None:
        progress(1, 1, "fitted")


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """1.0 where the user interacted with the item (float32 CSR)."""
    out = matrix.astype(np.float32, copy=True).tocsr()
    out.sum_duplicates()
    out.data[:] = 1.0
    out.eliminate_zeros()
    return out


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float32)


def top_k_sparse_rows(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row of a CSR matrix (vectorised, ties by column)."""
    matrix = matrix.tocsr()
    matrix.sum_duplicates()
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    starts = np.repeat(matrix.indptr[:-1], counts)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order)) - starts[order]  # position within its row after sorting
    keep = rank < k
    out = sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)
    return out


class MostPop(Recommender):
    """Rank items by how many training users interacted with them (the same list for everyone)."""

    name = "mostpop"

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> MostPop:
        self.popularity_ = np.asarray(binarize(train.matrix).sum(axis=0)).ravel().astype(np.float32)
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), len(self.popularity_))).copy()


def _similarity(co: sp.csr_matrix, counts: np.ndarray, kind: str, shrink: float) -> sp.csr_matrix:
    """Cosine (co / sqrt(n_a n_b)) or Jaccard (co / (n_a + n_b - co)) from co-occurrence counts."""
    co = co.tocoo()
    a, b = counts[co.row], counts[co.col]
    if kind == "cosine":
        denom = np.sqrt(a * b) + shrink
    elif kind == "jaccard":
        denom = a + b - co.data + shrink
    else:
        raise UserError(f"unknown similarity {kind!r} (expected cosine or jaccard)")
    data = np.divide(co.data, denom, out=np.zeros_like(co.data, dtype=np.float64), where=denom > 0)
    keep = co.row != co.col
    return sp.csr_matrix((data[keep].astype(np.float32), (co.row[keep], co.col[keep])), shape=co.shape)


class ItemKNN(Recommender):
    """Item-based k-NN CF: score(u, i) = Σ_{j ∈ I(u)} sim(j, i) over each item's ``k`` nearest items."""

    name = "itemknn"
    search_space: ClassVar[dict[str, list]] = {
        "k": [50, 200, 1000, 2000, 5000, 10000],
        "similarity": ["cosine", "jaccard"],
    }

    def __init__(self, k: int = 100, similarity: str = "cosine", shrink: float = 0.0) -> None:
        self.k = k
        self.similarity = similarity
        self.shrink = shrink

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> ItemKNN:
        x = binarize(train.matrix)
        self.x_ = x
        co = (x.T @ x).tocsr()
        counts = np.asarray(x.sum(axis=0)).ravel()
        sim = _similarity(co, counts, self.similarity, self.shrink)
        # neighbours of item i = top-k of row i; score = X_u · S with S[j, i] = sim(j, i) kept when j ∈ N_k(i)
        self.sim_ = top_k_sparse_rows(sim, self.k).T.tocsr()
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return _dense(self.x_[users] @ self.sim_)


class UserKNN(Recommender):
    """User-based k-NN CF: score(u, i) = Σ_{v ∈ N_k(u)} sim(u, v) · x_vi."""

    name = "userknn"
    search_space: ClassVar[dict[str, list]] = {
        "k": [5, 10, 25, 50, 100, 200],
        "similarity": ["cosine", "jaccard"],
    }

    def __init__(self, k: int = 100, similarity: str = "cosine", shrink: float = 0.0) -> None:
        self.k = k
        self.similarity = similarity
        self.shrink = shrink

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> UserKNN:
        if self.similarity not in ("cosine", "jaccard"):
            raise UserError(f"unknown similarity {self.similarity!r} (expected cosine or jaccard)")
        self.x_ = binarize(train.matrix)
        self.counts_ = np.asarray(self.x_.sum(axis=1)).ravel().astype(np.float64)
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users)
        co = _dense(self.x_[users] @ self.x_.T).astype(np.float64)
        a, b = self.counts_[users][:, None], self.counts_[None, :]
        if self.similarity == "cosine":
            denom = np.sqrt(a * b) + self.shrink
        else:
            denom = a + b - co + self.shrink
        sim = np.divide(co, denom, out=np.zeros_like(co), where=denom > 0)
        sim[np.arange(len(users)), users] = 0.0
        if self.k < sim.shape[1]:
            cut = np.partition(sim, sim.shape[1] - self.k, axis=1)[:, sim.shape[1] - self.k][:, None]
            sim = np.where(sim >= cut, sim, 0.0)
        return _dense(sp.csr_matrix(sim.astype(np.float32)) @ self.x_)


class PureSVD(Recommender):
    """PureSVD (Cremonesi et al. 2010): truncated SVD of the binary user–item matrix (unobserved = 0).

    score(u) = x_u · V · Vᵀ (the user's row projected on the top ``n_factors`` item factors).
    """

    name = "svd"
    search_space: ClassVar[dict[str, list]] = {"n_factors": [2, 4, 8, 16, 32, 64, 128, 256]}

    def __init__(self, n_factors: int = 50, seed: int | None = None) -> None:
        self.n_factors = n_factors
        self.seed = seed

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> PureSVD:
        from scipy.sparse.linalg import svds  # imported here: ~0.2 s that other models do not need

        x = binarize(train.matrix).astype(np.float64)
        f = min(self.n_factors, min(x.shape) - 1)
        if f < 1:
            raise UserError("PureSVD needs at least 2 users and 2 items")
        seed = train.seed if self.seed is None else self.seed
        v0 = np.random.default_rng(seed).uniform(-1, 1, min(x.shape))
        _, s, vt = svds(x, k=f, v0=v0, solver="arpack")
        order = np.argsort(-s)
        self.item_factors_ = np.ascontiguousarray(vt[order].T, dtype=np.float32)
        self.x_ = x.astype(np.float32)
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return _dense((self.x_[users] @ self.item_factors_) @ self.item_factors_.T)


class EASE(Recommender):
    """EASE (Steck 2019): closed-form item–item linear autoencoder with a zero diagonal.

    B = I − P · diagMat(1 ⊘ diag(P)), P = (XᵀX + λI)⁻¹. With fewer users than items (Last.fm-2k: 1,892
    users, 17,632 artists) B is kept factored and never formed (see :meth:`_fit_factored`); otherwise it
    is the dense n_items² matrix ``weights_``.
    """

    name = "ease"
    fresh_scores = True  # score builds a new float32 array per call
    search_space: ClassVar[dict[str, list]] = {"l2": [10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 3000.0]}

    def __init__(self, l2: float = 500.0) -> None:
        self.l2 = l2

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> EASE:
        self._fit_from(binarize(train.matrix))
        _done(progress)
        return self

    def _fit_from(self, x: sp.csr_matrix) -> None:
        self.x_ = x
        nonempty = np.diff(x.indptr) > 0
        rows = x[nonempty]  # users without training items add nothing to XᵀX
        self._factors = None
        self._dense = None
        if rows.shape[0] < rows.shape[1]:
            row_of = np.full(x.shape[0], -1, dtype=np.int64)  # each user's row of M (-1: no items)
            row_of[nonempty] = np.arange(rows.shape[0])
            self._factors = (row_of, *self._fit_factored(rows))
        else:
            self._dense = self._fit_dense(rows)

    def _fit_dense(self, x: sp.csr_matrix) -> np.ndarray:
        """B from P = (XᵀX + λI)⁻¹ by LAPACK potrf + potri (n_items³ flops)."""
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        p = _spd_inverse(gram)
        p /= -np.diag(p).copy()
        p[np.diag_indices_from(p)] = 0.0
        return p.astype(np.float32, copy=False)

    def _fit_factored(self, x: sp.csr_matrix) -> tuple:
        """B in factored form through the Woodbury identity (exact):

        P = (XᵀX + λI)⁻¹ = (I − Q) / λ with Q = Xᵀ M X and M = (λI + XXᵀ)⁻¹ (users × users), so for i ≠ j
        B_ij = −P_ij / P_jj = Q_ij · c_j with c_j = 1 / (1 − Q_jj), and B_jj = 0. A training user's scores
        then need no product with M at all: x_u Xᵀ M = (XXᵀ M)_u = ((λI + XXᵀ − λI) M)_u = e_u − λ M_u, so

            s = x_u B = (x_u Q) ⊙ c − x_u ⊙ diag(Q) ⊙ c = x_u − λ (M_u X) ⊙ c      (as c ⊙ (1 − diag Q) = 1)

        — one row of M times the sparse X per user, instead of an n_items² matrix (1.2 GB on Last.fm-2k,
        10–30 s to build, ~1.3·10⁹ multiply-adds per 1,000 users to apply) or the users² product
        (x_u Xᵀ) M (3.6·10⁹ per 1,000 users). Returns (Xᵀ and M as float32, c).
        """
        kernel = (x @ x.T).toarray().astype(np.float64)
        kernel[np.diag_indices_from(kernel)] += self.l2
        m = _spd_inverse(kernel)
        xt = x.T.tocsr()  # items × users, row-wise: far faster in sparse × dense than the CSC view x.T
        diag_q = _diag_q(xt, m)  # Q_jj = x_jᵀ M x_j
        c = 1.0 / (1.0 - diag_q)
        return xt.astype(np.float32), m.astype(np.float32), c

    @property
    def weights_(self) -> np.ndarray:
        """The item–item matrix B (n_items², formed on demand when the model is kept factored)."""
        if self._dense is not None:
            return self._dense
        _, xt, m, c = self._factors
        q = np.asarray(xt @ np.asarray(xt @ m).T, dtype=np.float64)  # Xᵀ M X
        q *= c[None, :]
        q[np.diag_indices_from(q)] = 0.0
        return q.astype(np.float32)

    def score(self, users: np.ndarray) -> np.ndarray:
        xu = self.x_[users]
        if self._dense is not None:
            return np.asarray(xu @ self._dense, dtype=np.float32)
        row_of, xt, m, c = self._factors
        rows = row_of[users]
        mu_t = m[:, np.maximum(rows, 0)]  # (M_u)ᵀ as columns: M is symmetric (users × batch)
        mu_t[:, rows < 0] = 0.0  # a user without training items scores 0 everywhere
        st = np.asarray(xt @ mu_t, dtype=np.float32)  # (M_u X)ᵀ: items × batch
        s = _transposed_times(st, (-self.l2 * c).astype(np.float32))  # batch × items: −λ (M_u X) ⊙ c
        coo = xu.tocoo()
        s[coo.row, coo.col] += coo.data.astype(np.float32)  # + x_u
        return s

    def get_state(self) -> dict:
        """Only the binary training matrix: the closed form recomputes the model exactly from it (a
        second on Last.fm-2k) instead of storing n_items² weights (see :meth:`set_state`)."""
        return {"x_": self.x_}

    def set_state(self, state: dict) -> EASE:
        x = state["x_"]
        self._fit_from(x.tocsr() if sp.issparse(x) else sp.csr_matrix(x))
        return self


def _vocabulary(tokens: Sequence[str]) -> tuple[int, np.ndarray]:
    """(vocabulary size, each token's index in the sorted vocabulary) — what ``np.unique(...,
    return_inverse=True)`` gives, through a hash table (pandas.factorize) and a sort of the distinct
    tokens only, several times faster than sorting every token string."""
    if not len(tokens):
        return 0, np.zeros(0, dtype=np.int64)
    codes, uniques = pd.factorize(np.asarray(tokens, dtype=object))
    order = np.argsort(np.asarray(uniques, dtype=str))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return len(order), rank[codes]


def _is_list(value) -> bool:
    return isinstance(value, list | tuple | np.ndarray)


class ContentTFIDF(Recommender):
    """Content-based: TF-IDF vectors of item tags and categorical/bucketed descriptors, cosine to the
    user's profile (the sum of the vectors of the items they interacted with), as in the source paper."""

    name = "content"
    search_space: ClassVar[dict[str, list]] = {"min_df": [1, 2, 5, 10, 20, 50], "sublinear_tf": [True, False]}

    def __init__(self, n_buckets: int = 5, min_df: int = 1, sublinear_tf: bool = True) -> None:
        self.n_buckets = n_buckets
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def _column_tokens(self, col: str, values: pd.Series) -> tuple[np.ndarray, np.ndarray, str] | None:
        """One column's (item rows, raw token values, format): tags one token each, numeric columns with
        more than ``n_buckets`` values as quantile buckets, other non-constant columns (not ``name``) as
        their value; missing and empty values give no token. The token is ``format.format(value)``."""
        listed = [_is_list(v) for v in values] if values.dtype == object else None  # lists: object columns
        if listed is not None and any(listed):
            cells = [t if ok else () for t, ok in zip(values, listed, strict=True)]
            lengths = np.array([len(t) for t in cells], dtype=np.int64)
            flat = np.empty(int(lengths.sum()), dtype=object)
            flat[:] = list(itertools.chain.from_iterable(cells))
            return np.repeat(np.arange(len(cells)), lengths), flat, col + "={}"
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > self.n_buckets:
            buckets = pd.qcut(values.rank(method="first"), self.n_buckets, labels=False)
            ok = buckets.notna().to_numpy()
            return np.flatnonzero(ok), buckets[ok].to_numpy(np.int64), col + "=q{}"
        if col not in ("name",) and values.nunique(dropna=True) > 1:  # a constant says nothing
            ok = np.array([pd.notna(v) and str(v) != "" for v in values], dtype=bool)
            return np.flatnonzero(ok), values.to_numpy(dtype=object)[ok], col + "={}"
        return None

    def _token_codes(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item row, token code) pairs, column by column, and the sorted vocabulary the codes index.

        The same tokens and order as formatting every ``column=value`` string and taking
        ``np.unique(..., return_inverse=True)``, but only the distinct values of each column are
        formatted and sorted (Last.fm-2k: 8,000 distinct of 94,000 tags; 3x faster), since the
        evaluation computes these for intra-list diversity on every run."""
        rows: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        strings: list[str] = []
        for col in features.columns:
            found = self._column_tokens(str(col), features[col])
            if found is None:
                continue
            col_rows, raw, fmt = found
            col_codes, uniques = pd.factorize(raw, use_na_sentinel=False)
            rows.append(col_rows)
            codes.append(col_codes + len(strings))
            strings.extend(fmt.format(u) for u in uniques)
        if not strings:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=str)
        # distinct values may format alike (1 and "1"): _vocabulary merges them and numbers them in order
        n_vocab, rank = _vocabulary(strings)
        vocabulary = np.empty(n_vocab, dtype=object)
        vocabulary[rank] = strings
        return np.concatenate(rows), rank[np.concatenate(codes)], vocabulary.astype(str)

    def _token_pairs(self, features: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """(item row, ``column=value`` token) pairs (see :meth:`_token_codes`)."""
        rows, codes, vocabulary = self._token_codes(features)
        return rows, vocabulary[codes].tolist()

    def _documents(self, features: pd.DataFrame) -> list[list[str]]:
        """Each item's tokens (see :meth:`_token_pairs`), in column order."""
        docs: list[list[str]] = [[] for _ in range(len(features))]
        rows, tokens = self._token_pairs(features)
        for r, t in zip(rows.tolist(), tokens, strict=True):
            docs[r].append(t)
        return docs

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> ContentTFIDF:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if train.item_features is None or len(train.item_features.columns) == 0:
            raise UserError(
                "the content model needs item features (tags, genre, audio descriptors); this data has none"
            )
        docs = self._documents(train.item_features)
        if not any(docs):
            raise UserError("the content model found no usable item features")
        vec = TfidfVectorizer(
            analyzer=lambda d: d,
            min_df=self.min_df,
            sublinear_tf=self.sublinear_tf,
            norm="l2",
            lowercase=False,
        )
        self.item_vectors_ = vec.fit_transform(docs).astype(np.float32).tocsr()
        self.x_ = binarize(train.matrix)
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        profile = self.x_[users] @ self.item_vectors_
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        profile = sp.diags(1.0 / norms) @ profile
        return _dense(profile @ self.item_vectors_.T)


class ALS(Recommender):
    """Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008),
    through the `implicit` library. Confidence = 1 + ``alpha`` on observed cells."""

    name = "als"
    search_space: ClassVar[dict[str, list]] = {
        "n_factors": [16, 32, 64, 128],
        "regularization": [1.0, 10.0, 50.0, 200.0],
        "alpha": [1.0, 10.0],
    }

    def __init__(
        self,
        n_factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, train: TrainData, *, progress: FitProgress | None = None) -> ALS:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # implicit warns about OpenBLAS threading; harmless here
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(
                factors=self.n_factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=train.seed if self.seed is None else self.seed,
                calculate_training_loss=False,
            )
            model.fit(binarize(train.matrix), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        _done(progress)
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T
