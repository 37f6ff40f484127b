"""Full-ranking offline evaluation: per-user metrics at several K, curves over K = 1..50, summary with CIs.

Protocol (default ``full``): for every user with at least one test item, the model scores **all**
items; items the user has in train are removed; the top K of the rest are compared with the user's test
items (all test items are relevant unless ``relevant_min_score`` is given). ``sampled_negatives=N``
instead ranks the test items among N sampled unobserved items per user (the NCF paper's protocol; the
run is labelled ``sampled-N`` because its numbers are not comparable with full ranking).

Metric definitions (binary relevance, R = the user's relevant items, hits at ranks 1..K):

* precision@K = hits / K; recall@K = hits / |R|; hit_rate@K = 1 if any hit;
* ndcg@K = DCG / IDCG with DCG = Σ 1/log2(rank + 1) over hits, IDCG the same for min(|R|, K) hits;
* map@K = Σ_{hit ranks r ≤ K} precision@r / min(|R|, K) (the recommender-systems convention; trec_eval's
  map_cut divides by |R| instead — the tests check the two agree up to that factor);
* mrr@K = 1 / rank of the first hit (0 when none within K);
* novelty@K = mean self-information −log2 p(i) of the recommended items, p(i) = (n_i + 1)/(n_users + 1)
  with n_i the item's number of training users (add-one keeps unseen items finite);
* diversity@K = intra-list diversity: mean pairwise cosine distance of the recommended items' vectors
  (item features as TF-IDF of tags/categories/bucketed descriptors when the data has them, else the
  items' training-interaction columns); NaN for lists shorter than 2;
* serendipity@K = share of the K recommendations that are relevant and not in the user's MostPop top K
  (unexpected *and* useful, Ge et al. 2010's operationalisation);
* coverage@K = share of the catalogue in anyone's top K (a summary, not per user).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import Recommender, TrainData
from dancerec.recommender.baselines import ContentTFIDF, binarize

from dancerec.display import frames_html
from dancerec.errors import UserError

DEFAULT_K: tuple[int, ...] = (5, 10, 20, 50)
CURVE_MAX_K = 50
ACCURACY_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")
BEYOND_METRICS = ("novelty", "diversity", "serendipity")
PER_USER_METRICS = ACCURACY_METRICS + BEYOND_METRICS


@dataclass
class Evaluation:
    """Result of :func:`evaluate`: what a run stores (see :mod:`dancerec.recommender.runs`)."""

    model: str
    params: dict
    k_list: tuple[int, ...]
    summary: pd.DataFrame  # metric, k, mean, ci_low, ci_high
    curves: pd.DataFrame  # model, k = 1..curve_max_k, precision, recall, ndcg, map, mrr, hit_rate
    per_user: pd.DataFrame  # user_id, n_test_items, n_train_items, <metric>@<k>
    coverage: dict[int, float]
    protocol: str = "full"
    diversity_space: str = ""
    eval_s: float = 0.0
    train_s: float | None = None
    extra: dict = field(default_factory=dict)

    def _repr_html_(self) -> str:
        """The notebook view: the metric table (mean and bootstrap CI per metric and K) and coverage.

        (``Evaluation.summary`` is the metric table itself, a field older than the display mixin, so an
        evaluation shows its tables here rather than through ``DisplayMixin.summary()``.)"""
        coverage = pd.DataFrame({"k": list(self.coverage), "coverage": list(self.coverage.values())})
        header = [f"model: {self.model}; protocol: {self.protocol}; params: {self.params}"]
        return frames_html("Evaluation", header, {"Metrics": self.summary, "Coverage": coverage})

    @property
    def n_users(self) -> int:
        return len(self.per_user)

    def mean(self, metric: str, k: int) -> float:
        row = self.summary[(self.summary["metric"] == metric) & (self.summary["k"] == k)]
        return float(row["mean"].iloc[0]) if len(row) else float("nan")


# --------------------------------------------------------------------------------------------
# ranking
# --------------------------------------------------------------------------------------------
def mask_rows(scores: np.ndarray, matrix: sp.csr_matrix, users: np.ndarray, value: float = -np.inf) -> None:
    """Set ``scores[b, i] = value`` for every item i that user ``users[b]`` has in ``matrix`` (in place)."""
    sub = matrix[users]
    rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    scores[rows, sub.indices] = value


TOP_K_BLOCK = 1 << 21  # scores per block of top_k: a 16 MB int64 index array, reused from the heap
# (a fresh 144 MB one per 1,024-user batch cost 0.1-0.3 s in page faults on Last.fm-2k)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first (ties: lower item index first).

    Entries equal to −inf are never recommended: their positions come back as −1. The candidates come
    from ``torch.topk`` (multi-threaded) when torch is already loaded (a neural model is in use), else
    from numpy's ``argpartition``: importing torch only for this costs more (1.5–3.5 s) than it saves on
    Last.fm-sized catalogues. Rows whose k-th score is tied with items outside the top k are redone
    exactly, so the result (order and tie-breaking) never depends on which library found the candidates.
    """
    n = scores.shape[1]
    k = min(k, n)
    rows = max(1, TOP_K_BLOCK // max(1, n))
    if len(scores) > rows:  # row blocks: every row is independent, and small index arrays are reused
        return np.concatenate([top_k(scores[lo : lo + rows], k) for lo in range(0, len(scores), rows)])
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        vals_t, idx_t = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k, dim=1, sorted=True)
        vals, idx = vals_t.numpy(), idx_t.numpy().astype(np.int64)
    else:
        idx = (
            np.argpartition(scores, n - k, axis=1)[:, n - k :]
            if k < n
            else np.tile(np.arange(n), (len(scores), 1))
        )
        idx = idx.astype(np.int64)
        vals = np.take_along_axis(scores, idx, 1)
    order = np.lexsort((idx, -vals), axis=1)
    idx, vals = np.take_along_axis(idx, order, 1), np.take_along_axis(vals, order, 1)
    threshold = vals[:, -1:]
    tied = np.flatnonzero(((scores >= threshold).sum(1) > k) & np.isfinite(threshold[:, 0]))
    for row in tied:  # boundary ties only (e.g. MostPop): exact order (score desc, index asc)
        cand = np.flatnonzero(scores[row] >= threshold[row, 0])
        best = cand[np.lexsort((cand, -scores[row, cand]))[:k]]
        idx[row], vals[row] = best, scores[row, best]
    idx[vals == -np.inf] = -1
    return idx


def rank_top_k(
    model: Recommender,
    train: TrainData,
    users: np.ndarray,
    k: int,
    *,
    batch_size: int = 1024,
    exclude_train: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items and their scores for ``users`` (training items excluded), in user batches."""
    users = np.asarray(users, dtype=np.int64)
    batch = _batch(batch_size, train.n_items)
    items = np.full((len(users), k), -1, dtype=np.int64)
    scores_out = np.full((len(users), k), np.nan, dtype=np.float32)
    for lo in range(0, len(users), batch):
        ub = users[lo : lo + batch]
        scores = _writable_scores(model, ub)
        if exclude_train:
            mask_rows(scores, train.matrix, ub)
        idx = top_k(scores, k)
        items[lo : lo + len(ub), : idx.shape[1]] = idx
        got = np.take_along_axis(scores, np.maximum(idx, 0), 1)
        scores_out[lo : lo + len(ub), : idx.shape[1]] = np.where(idx >= 0, got, np.nan)
        if progress is not None:
            progress(len(ub))
    return items, scores_out


def _writable_scores(model: Recommender, users: np.ndarray) -> np.ndarray:
    """``model.score(users)`` as a float32 array the caller may modify: copied unless the model
    declares ``fresh_scores`` (a new array per call) and the array is already float32, C-ordered."""
    raw = model.score(users)
    if (
        getattr(model, "fresh_scores", False)
        and isinstance(raw, np.ndarray)
        and raw.dtype == np.float32
        and raw.flags.c_contiguous
        and raw.flags.writeable
    ):
        return raw
    return np.array(raw, dtype=np.float32, copy=True)


def _batch(batch_size: int, n_items: int) -> int:
    return int(max(1, min(batch_size, (1 << 25) // max(1, n_items))))


# --------------------------------------------------------------------------------------------
# metrics from a hit matrix (pure functions, unit-tested against hand-computed values)
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# the harness
# --------------------------------------------------------------------------------------------
def evaluate(
    model: Recommender,
    train: TrainData,
    test: TrainData,
    k_list: Sequence[int] = DEFAULT_K,
    *,
    users: np.ndarray | None = None,
    curve_max_k: int = CURVE_MAX_K,
    relevant_min_score: float | None = None,
    sampled_negatives: int | None = None,
    batch_size: int = 1024,
    n_bootstrap: int = 1000,
    seed: int | None = None,
    model_name: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Evaluate a fitted ``model``: full ranking (default) of every test user's unseen items."""
    k_list = tuple(sorted({int(k) for k in k_list}))
    if not k_list or k_list[0] < 1:
        raise UserError(f"K values must be positive integers, got {k_list}")
    if train.matrix.shape != test.matrix.shape:
        raise UserError("train and test must share user and item indices (same matrix shape)")
    seed = train.seed if seed is None else seed
    max_k = max(max(k_list), curve_max_k)
    relevant = _relevant(test, relevant_min_score)
    n_rel_all = np.diff(relevant.indptr)
    if users is None:
        users = np.flatnonzero(n_rel_all > 0)
    users = np.asarray(users, dtype=np.int64)
    users = users[n_rel_all[users] > 0]
    if len(users) == 0:
        raise UserError("no user has a relevant test item; nothing to evaluate")
    train_bin = binarize(train.matrix)
    popularity = np.asarray(train_bin.sum(axis=0)).ravel().astype(np.float64)
    # item vectors depend only on the training data: computed once per TrainData object and reused
    cached = getattr(train, "_diversity_vectors", None)
    if cached is None:
        cached = item_vectors(train)
        train._diversity_vectors = cached
    vectors, space = cached
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    batch = _batch(batch_size, train.n_items)
    curve_sums = {m: np.zeros(max_k) for m in ACCURACY_METRICS}
    per_user: dict[str, list[np.ndarray]] = {f"{m}@{k}": [] for m in PER_USER_METRICS for k in k_list}
    recommended = {k: np.zeros(train.n_items, dtype=bool) for k in k_list}
    for lo in range(0, len(users), batch):
        ub = users[lo : lo + batch]
        scores = _writable_scores(model, ub)
        if scores.shape != (len(ub), train.n_items):
            raise RuntimeError(
                f"{type(model).__name__}.score returned shape {scores.shape}, expected {(len(ub), train.n_items)}"
            )
        mask_rows(scores, train.matrix, ub)
        if sampled_negatives is not None:
            keep = _sampled_candidates(ub, train_bin, relevant, sampled_negatives, rng)
            scores[~keep] = -np.inf
        top = top_k(scores, max_k)
        rel_sub = relevant[ub]
        rel_keys = (
            np.repeat(np.arange(len(ub), dtype=np.int64), np.diff(rel_sub.indptr)) * train.n_items
            + rel_sub.indices
        )
        top_keys = np.arange(len(ub), dtype=np.int64)[:, None] * train.n_items + top
        hits = np.isin(top_keys, rel_keys) & (top >= 0)
        acc = accuracy_at_k(hits, np.diff(rel_sub.indptr), max_k)
        for m in ACCURACY_METRICS:
            curve_sums[m] += acc[m][:, :curve_max_k].sum(0) if curve_max_k <= max_k else acc[m].sum(0)
            for k in k_list:
                per_user[f"{m}@{k}"].append(acc[m][:, k - 1])
        pop_top = _pop_top(popularity, train_bin, ub, max(k_list))
        for k in k_list:
            per_user[f"novelty@{k}"].append(novelty(top, popularity, train.n_users, k))
            per_user[f"diversity@{k}"].append(intra_list_diversity(top, vectors, k))
            per_user[f"serendipity@{k}"].append(serendipity(hits, top, pop_top, k))
            chosen = top[:, :k]
            recommended[k][chosen[chosen >= 0]] = True
        if progress is not None:
            progress(len(ub))
    eval_s = time.perf_counter() - started
    n_eval = len(users)
    frame = pd.DataFrame(
        {
            "user_id": pd.array(train.user_ids[users].astype(str), dtype="str"),
            "n_test_items": n_rel_all[users].astype(np.int64),
            "n_train_items": np.diff(train_bin.indptr)[users].astype(np.int64),
            **{col: np.concatenate(parts) for col, parts in per_user.items()},
        }
    )
    curves = pd.DataFrame({"k": np.arange(1, curve_max_k + 1)})
    curves.insert(0, "model", model_name or getattr(model, "name", type(model).__name__))
    for m in ACCURACY_METRICS:
        curves[m] = curve_sums[m][:curve_max_k] / n_eval
    coverage = {k: float(recommended[k].mean()) for k in k_list}
    return Evaluation(
        model=model_name or getattr(model, "name", type(model).__name__),
        params=model.get_params(),
        k_list=k_list,
        summary=_summary(frame, k_list, coverage, n_bootstrap, seed),
        curves=curves,
        per_user=frame,
        coverage=coverage,
        protocol="full" if sampled_negatives is None else f"sampled-{sampled_negatives}",
        diversity_space=space,
        eval_s=eval_s,
    )


def _relevant(test: TrainData, relevant_min_score: float | None) -> sp.csr_matrix:
    """Binary relevance: every test item, or those with at least ``relevant_min_score``."""
    relevant = test.matrix.tocsr().copy()
    if relevant_min_score is not None:
        relevant.data = (relevant.data >= relevant_min_score).astype(np.float32)
        relevant.eliminate_zeros()
    relevant.data[:] = 1.0
    return relevant


def _summary(
    frame: pd.DataFrame, k_list: tuple[int, ...], coverage: dict[int, float], n_bootstrap: int, seed: int
) -> pd.DataFrame:
    """metric, k, mean over users (NaN ignored), percentile bootstrap CI; coverage as a summary row."""
    rows = []
    for m in PER_USER_METRICS:
        for k in k_list:
            vals = frame[f"{m}@{k}"].to_numpy(np.float64)
            lo_ci, hi_ci = bootstrap_ci(vals, n_resamples=n_bootstrap, seed=seed)
            finite = vals[np.isfinite(vals)]
            mean = float(finite.mean()) if len(finite) else float("nan")
            rows.append({"metric": m, "k": k, "mean": mean, "ci_low": lo_ci, "ci_high": hi_ci})
    for k in k_list:
        rows.append({"metric": "coverage", "k": k, "mean": coverage[k], "ci_low": np.nan, "ci_high": np.nan})
    return pd.DataFrame(rows)


def _sampled_candidates(
    users: np.ndarray, train_bin: sp.csr_matrix, relevant: sp.csr_matrix, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Candidate mask: each user's relevant items plus ``n`` random items they never interacted with."""
    n_items = train_bin.shape[1]
    keep = np.zeros((len(users), n_items), dtype=bool)
    seen = (train_bin[users] + relevant[users]).toarray() > 0
    noise = rng.random((len(users), n_items))
    noise[seen] = np.inf
    take = min(n, n_items)
    picks = np.argpartition(noise, take - 1, axis=1)[:, :take]
    ok = np.take_along_axis(noise, picks, 1) < np.inf
    rows = np.repeat(np.arange(len(users)), take).reshape(len(users), take)
    keep[rows[ok], picks[ok]] = True
    keep |= relevant[users].toarray() > 0
    return keep
