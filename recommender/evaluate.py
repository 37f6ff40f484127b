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

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from dancerec.recommender.base import Recommender, TrainData
from dancerec.recommender.baselines import binarize
from dancerec.recommender.metrics import (
    _pop_top,
    _vocabulary,  # noqa: F401  (re-exported: tests import it from here)
    accuracy_at_k,
    bootstrap_ci,
    intra_list_diversity,
    item_vectors,
    novelty,
    serendipity,
    tfidf,
    tfidf_codes,
    tfidf_pairs,
)

from dancerec.display import frames_html
from dancerec.errors import UserError

__all__ = [
    "ACCURACY_METRICS",
    "BEYOND_METRICS",
    "CURVE_MAX_K",
    "DEFAULT_K",
    "PER_USER_METRICS",
    "TOP_K_BLOCK",
    "Evaluation",
    "accuracy_at_k",
    "bootstrap_ci",
    "evaluate",
    "intra_list_diversity",
    "item_vectors",
    "mask_rows",
    "novelty",
    "rank_top_k",
    "serendipity",
    "tfidf",
    "tfidf_codes",
    "tfidf_pairs",
    "top_k",
]

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
    relevant = _relevant(test, relevant_min_score)
    users = _eval_users(relevant, users)
    train_bin = binarize(train.matrix)
    vectors, space = _cached_item_vectors(train)
    setup = _Setup(
        train=train,
        train_bin=train_bin,
        relevant=relevant,
        popularity=np.asarray(train_bin.sum(axis=0)).ravel().astype(np.float64),
        vectors=vectors,
        k_list=k_list,
        max_k=max(max(k_list), curve_max_k),
        curve_max_k=curve_max_k,
        sampled_negatives=sampled_negatives,
    )
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    batch = _batch(batch_size, train.n_items)
    totals = _Totals.empty(setup)
    for lo in range(0, len(users), batch):
        ub = users[lo : lo + batch]
        totals.add(setup, ub, _rank_batch(model, ub, setup, rng))
        if progress is not None:
            progress(len(ub))
    eval_s = time.perf_counter() - started
    name = model_name or getattr(model, "name", type(model).__name__)
    frame = _per_user_frame(setup, users, totals.per_user)
    coverage = {k: float(totals.recommended[k].mean()) for k in k_list}
    return Evaluation(
        model=name,
        params=model.get_params(),
        k_list=k_list,
        summary=_summary(frame, k_list, coverage, n_bootstrap, seed),
        curves=_curves(name, totals.curve_sums, curve_max_k, len(users)),
        per_user=frame,
        coverage=coverage,
        protocol="full" if sampled_negatives is None else f"sampled-{sampled_negatives}",
        diversity_space=space,
        eval_s=eval_s,
    )


@dataclass(frozen=True)
class _Setup:
    """What every user batch of :func:`evaluate` needs: data, relevance, popularity and the protocol."""

    train: TrainData
    train_bin: sp.csr_matrix
    relevant: sp.csr_matrix
    popularity: np.ndarray
    vectors: sp.csr_matrix
    k_list: tuple[int, ...]
    max_k: int
    curve_max_k: int
    sampled_negatives: int | None


@dataclass
class _Totals:
    """Running results over user batches: accuracy-curve sums, per-user metric columns, items shown."""

    curve_sums: dict[str, np.ndarray]
    per_user: dict[str, list[np.ndarray]]
    recommended: dict[int, np.ndarray]

    @classmethod
    def empty(cls, setup: _Setup) -> _Totals:
        """Zero sums, no users yet, no item recommended yet."""
        return cls(
            curve_sums={m: np.zeros(setup.max_k) for m in ACCURACY_METRICS},
            per_user={f"{m}@{k}": [] for m in PER_USER_METRICS for k in setup.k_list},
            recommended={k: np.zeros(setup.train.n_items, dtype=bool) for k in setup.k_list},
        )

    def add(self, setup: _Setup, ub: np.ndarray, top: np.ndarray) -> None:
        """Add the metrics of users ``ub`` whose ranked lists are ``top`` (users × max_k, −1 = none)."""
        rel_sub = setup.relevant[ub]
        hits = _hits(top, rel_sub, setup.train.n_items)
        acc = accuracy_at_k(hits, np.diff(rel_sub.indptr), setup.max_k)
        curve_max_k = setup.curve_max_k
        for m in ACCURACY_METRICS:
            self.curve_sums[m] += (
                acc[m][:, :curve_max_k].sum(0) if curve_max_k <= setup.max_k else acc[m].sum(0)
            )
            for k in setup.k_list:
                self.per_user[f"{m}@{k}"].append(acc[m][:, k - 1])
        pop_top = _pop_top(setup.popularity, setup.train_bin, ub, max(setup.k_list))
        for k in setup.k_list:
            self.per_user[f"novelty@{k}"].append(novelty(top, setup.popularity, setup.train.n_users, k))
            self.per_user[f"diversity@{k}"].append(intra_list_diversity(top, setup.vectors, k))
            self.per_user[f"serendipity@{k}"].append(serendipity(hits, top, pop_top, k))
            chosen = top[:, :k]
            self.recommended[k][chosen[chosen >= 0]] = True


def _eval_users(relevant: sp.csr_matrix, users: np.ndarray | None) -> np.ndarray:
    """The users to evaluate: those asked for (default: all) that have at least one relevant test item."""
    n_rel_all = np.diff(relevant.indptr)
    if users is None:
        users = np.flatnonzero(n_rel_all > 0)
    users = np.asarray(users, dtype=np.int64)
    users = users[n_rel_all[users] > 0]
    if len(users) == 0:
        raise UserError("no user has a relevant test item; nothing to evaluate")
    return users


def _cached_item_vectors(train: TrainData) -> tuple[sp.csr_matrix, str]:
    """Diversity item vectors: they depend only on the training data, so computed once per TrainData."""
    cached = getattr(train, "_diversity_vectors", None)
    if cached is None:
        cached = item_vectors(train)
        train._diversity_vectors = cached
    return cached


def _rank_batch(model: Recommender, ub: np.ndarray, setup: _Setup, rng: np.random.Generator) -> np.ndarray:
    """Top ``max_k`` unseen items of users ``ub`` (among the sampled candidates under ``sampled-N``)."""
    n_items = setup.train.n_items
    scores = _writable_scores(model, ub)
    if scores.shape != (len(ub), n_items):
        raise RuntimeError(
            f"{type(model).__name__}.score returned shape {scores.shape}, expected {(len(ub), n_items)}"
        )
    mask_rows(scores, setup.train.matrix, ub)
    if setup.sampled_negatives is not None:
        keep = _sampled_candidates(ub, setup.train_bin, setup.relevant, setup.sampled_negatives, rng)
        scores[~keep] = -np.inf
    return top_k(scores, setup.max_k)


def _hits(top: np.ndarray, rel_sub: sp.csr_matrix, n_items: int) -> np.ndarray:
    """``hits[b, r]``: the item at rank r of batch user b is relevant (as (user, item) keys; −1 never)."""
    n = rel_sub.shape[0]
    rel_keys = np.repeat(np.arange(n, dtype=np.int64), np.diff(rel_sub.indptr)) * n_items + rel_sub.indices
    top_keys = np.arange(n, dtype=np.int64)[:, None] * n_items + top
    return np.isin(top_keys, rel_keys) & (top >= 0)


def _per_user_frame(setup: _Setup, users: np.ndarray, per_user: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    """One row per evaluated user: raw id, test and train sizes, every ``<metric>@<k>``."""
    train = setup.train
    return pd.DataFrame(
        {
            "user_id": pd.array(train.user_ids[users].astype(str), dtype="str"),
            "n_test_items": np.diff(setup.relevant.indptr)[users].astype(np.int64),
            "n_train_items": np.diff(setup.train_bin.indptr)[users].astype(np.int64),
            **{col: np.concatenate(parts) for col, parts in per_user.items()},
        }
    )


def _curves(name: str, curve_sums: dict[str, np.ndarray], curve_max_k: int, n_eval: int) -> pd.DataFrame:
    """Mean accuracy metrics at K = 1..``curve_max_k`` (one row per K)."""
    curves = pd.DataFrame({"k": np.arange(1, curve_max_k + 1)})
    curves.insert(0, "model", name)
    for m in ACCURACY_METRICS:
        curves[m] = curve_sums[m][:curve_max_k] / n_eval
    return curves


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
