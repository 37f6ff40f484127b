"""Offline metrics from a hit matrix and ranked lists, item vectors for diversity, bootstrap CIs.

Pure functions, unit-tested against hand-computed values; the definitions are in
:mod:`dancerec.recommender.evaluate`, which re-exports every name here.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from dancerec.recommender.base import TrainData
from dancerec.recommender.baselines import ContentTFIDF, _vocabulary, binarize


def accuracy_at_k(hits: np.ndarray, n_relevant: np.ndarray, max_k: int) -> dict[str, np.ndarray]:
    """Per-user accuracy metrics at every K = 1..max_k from ``hits`` (users × ≥max_k, bool).

    Returns ``{metric: users × max_k array}`` where column K−1 holds metric@K.
    """
    hits = hits[:, :max_k].astype(np.float64)
    if hits.shape[1] < max_k:
        hits = np.pad(hits, ((0, 0), (0, max_k - hits.shape[1])))
    n_rel = np.asarray(n_relevant, dtype=np.float64)[:, None]
    ks = np.arange(1, max_k + 1, dtype=np.float64)[None, :]
    cum = np.cumsum(hits, axis=1)
    discount = 1.0 / np.log2(np.arange(2, max_k + 2))
    dcg = np.cumsum(hits * discount, axis=1)
    ideal_cum = np.cumsum(discount)
    n_ideal = np.minimum(n_rel, ks).astype(np.int64)  # users × K
    idcg = np.where(n_ideal > 0, ideal_cum[np.maximum(n_ideal - 1, 0)], 0.0)
    prec_at_rank = cum / ks
    ap = np.cumsum(hits * prec_at_rank, axis=1) / np.maximum(np.minimum(n_rel, ks), 1)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, max_k + 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": cum / ks,
            "recall": np.where(n_rel > 0, cum / np.maximum(n_rel, 1), 0.0),
            "ndcg": np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1), 0.0),
            "map": ap,
            "mrr": np.where(first <= ks, 1.0 / first, 0.0),
            "hit_rate": (cum > 0).astype(np.float64),
        }


def novelty(top: np.ndarray, popularity: np.ndarray, n_users: int, k: int) -> np.ndarray:
    """Mean self-information of each user's top ``k`` (−1 entries ignored)."""
    info = -np.log2((popularity + 1.0) / (n_users + 1.0))
    sub = top[:, :k]
    valid = sub >= 0
    vals = np.where(valid, info[np.maximum(sub, 0)], 0.0)
    with np.errstate(invalid="ignore"):
        return vals.sum(1) / np.where(valid.sum(1) > 0, valid.sum(1), np.nan)


def intra_list_diversity(top: np.ndarray, vectors: sp.csr_matrix, k: int) -> np.ndarray:
    """Mean pairwise cosine distance within each user's top ``k`` (L2-normalised ``vectors``).

    Σ_{i≠j} cos(i, j) = ‖Σ v_i‖² − Σ‖v_i‖², so one sparse product gives every list's mean similarity.
    """
    sub = top[:, :k]
    valid = sub >= 0
    n = valid.sum(1)
    rows = np.repeat(np.arange(len(sub)), valid.sum(1))
    ind = sp.csr_matrix((np.ones(len(rows)), (rows, sub[valid])), shape=(len(sub), vectors.shape[0]))
    summed = ind @ vectors
    sq = (
        np.asarray(summed.multiply(summed).sum(axis=1)).ravel() if sp.issparse(summed) else (summed**2).sum(1)
    )
    self_sq = ind @ np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    pairs = n * (n - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, 1.0 - (sq - self_sq) / pairs, np.nan)


def serendipity(hits: np.ndarray, top: np.ndarray, pop_top: np.ndarray, k: int) -> np.ndarray:
    """Share of the top ``k`` that are hits and not in the MostPop top ``k`` of the same user."""
    sub, ph = top[:, :k], pop_top[:, :k]
    in_pop = (sub[:, :, None] == ph[:, None, :]).any(axis=2)
    return (hits[:, :k] & ~in_pop & (sub >= 0)).sum(1) / k


def tfidf(docs: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """Row-normalised TF-IDF of token lists, as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``:
    tf = 1 + ln(count), idf = ln((1 + n_docs) / (1 + df)) + 1, each row scaled to unit L2 norm.

    Written with numpy/scipy so that evaluating a model does not import scikit-learn (over a second
    of start-up); a test checks it equals scikit-learn's to 1e-12.
    """
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    rows = np.repeat(np.arange(len(docs)), lengths)
    return tfidf_pairs(rows, list(itertools.chain.from_iterable(docs)), len(docs))


def tfidf_pairs(rows: np.ndarray, tokens: Sequence[str], n_docs: int) -> sp.csr_matrix:
    """:func:`tfidf` from (document row, token) pairs (the order of the pairs does not matter)."""
    n_vocab, cols = _vocabulary(tokens)
    return tfidf_codes(rows, cols, n_vocab, n_docs)


def tfidf_codes(rows: np.ndarray, cols: np.ndarray, n_vocab: int, n_docs: int) -> sp.csr_matrix:
    """:func:`tfidf` from (document row, token index) pairs over a vocabulary of ``n_vocab`` tokens."""
    counts = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n_docs, n_vocab))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=n_vocab)
    idf = np.log((1 + n_docs) / (1 + df)) + 1.0
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms) @ counts).tocsr()


def item_vectors(train: TrainData) -> tuple[sp.csr_matrix, str]:
    """Item vectors for intra-list diversity: feature TF-IDF when there are features, else interactions."""
    if train.item_features is not None and len(train.item_features.columns):
        rows, codes, vocabulary = ContentTFIDF()._token_codes(train.item_features)
        if len(codes):
            return (
                tfidf_codes(rows, codes, len(vocabulary), len(train.item_features)),
                "item features (TF-IDF)",
            )
    cols = binarize(train.matrix).T.tocsr().astype(np.float64)
    norms = np.sqrt(np.asarray(cols.multiply(cols).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms) @ cols).tocsr(), "training interactions"


def _pop_top(popularity: np.ndarray, train: sp.csr_matrix, users: np.ndarray, k: int) -> np.ndarray:
    """MostPop top ``k`` per user (training items excluded), without scoring the whole catalogue."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    sub = train[users]
    max_seen = int(np.diff(sub.indptr).max()) if len(users) else 0
    head = order[: min(len(order), k + max_seen)]
    seen = sub[:, head].toarray() > 0
    keep_rank = np.cumsum(~seen, axis=1)
    out = np.full((len(users), k), -1, dtype=np.int64)
    for r in range(1, k + 1):  # loop over K (≤ 50), vectorised over users and items
        pos = ((keep_rank == r) & ~seen).argmax(axis=1)
        ok = ((keep_rank == r) & ~seen).any(axis=1)
        out[ok, r - 1] = head[pos[ok]]
    return out


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int = 1000, level: float = 0.95, seed: int = 42
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (scipy.stats.bootstrap; NaNs dropped; ``n_resamples=0``: no CI)."""
    if n_resamples <= 0:
        return float("nan"), float("nan")
    from scipy.stats import bootstrap  # imported here: scipy.stats costs ~1 s of start-up

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2 or np.all(values == values[0]):
        v = float(values[0]) if len(values) else float("nan")
        return v, v
    res = bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        random_state=np.random.default_rng(seed),
        vectorized=True,
        batch=max(1, min(n_resamples, (1 << 24) // len(values))),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
