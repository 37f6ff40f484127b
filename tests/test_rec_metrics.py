"""Ranking metrics against hand-computed cases, trec_eval (pytrec_eval) and a naive second implementation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dancerec.recommender.base import Recommender, TrainData
from dancerec.recommender.evaluate import (
    accuracy_at_k,
    evaluate,
    intra_list_diversity,
    novelty,
    tfidf,
    top_k,
)


def _td(rows: list[tuple[int, int]], shape: tuple[int, int], item_features=None) -> TrainData:
    u = np.array([r[0] for r in rows], dtype=np.int64)
    i = np.array([r[1] for r in rows], dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (u, i)), shape=shape)
    inter = pd.DataFrame({"user": u, "item": i, "score": np.ones(len(rows))})
    return TrainData(
        m,
        inter,
        np.array([f"u{j}" for j in range(shape[0])]),
        np.array([f"i{j}" for j in range(shape[1])]),
        item_features=item_features,
        seed=1,
    )


class FixedScores(Recommender):
    """Returns a given score matrix (the test's 'model')."""

    name = "fixed"

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def fit(self, train: TrainData) -> FixedScores:
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.scores[users]


def test_hand_computed_single_ranking():
    # ranking: hit, miss, hit, miss, miss ; 3 relevant items in total
    hits = np.array([[1, 0, 1, 0, 0]], dtype=bool)
    m = accuracy_at_k(hits, np.array([3]), 5)
    assert m["precision"][0, 0] == 1.0
    assert m["precision"][0, 2] == pytest.approx(2 / 3)
    assert m["precision"][0, 4] == pytest.approx(2 / 5)
    assert m["recall"][0, 4] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    idcg3 = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"][0, 4] == pytest.approx(dcg / idcg3)
    idcg2 = 1 / math.log2(2) + 1 / math.log2(3)
    assert m["ndcg"][0, 1] == pytest.approx(1 / idcg2)  # @2: one hit, ideal has two
    # AP@5 = (1/1 + 2/3) / min(3, 5)
    assert m["map"][0, 4] == pytest.approx((1 + 2 / 3) / 3)
    # AP@2 = (1/1) / min(3, 2)
    assert m["map"][0, 1] == pytest.approx(0.5)
    assert m["mrr"][0, 4] == 1.0
    assert m["hit_rate"][0, 0] == 1.0


def test_hand_computed_late_hit_and_no_hit():
    hits = np.array([[0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    m = accuracy_at_k(hits, np.array([1, 2]), 4)
    assert m["mrr"][0, 3] == 0.25 and m["mrr"][0, 2] == 0.0
    assert m["ndcg"][0, 3] == pytest.approx(1 / math.log2(5))
    assert m["recall"][0, 3] == 1.0 and m["recall"][0, 2] == 0.0
    assert np.all(m["ndcg"][1] == 0) and np.all(m["map"][1] == 0) and np.all(m["hit_rate"][1] == 0)


def test_top_k_orders_breaks_ties_and_skips_minus_inf():
    scores = np.array([[0.1, 0.5, 0.5, -np.inf, 0.2]], dtype=np.float32)
    assert top_k(scores, 3).tolist() == [[1, 2, 4]]
    assert top_k(scores, 5).tolist() == [[1, 2, 4, 0, -1]]


@pytest.mark.parametrize("with_torch", [False, True])
def test_top_k_numpy_and_torch_paths_equal_a_full_sort(with_torch, monkeypatch):
    """The candidates come from numpy or torch (whichever is loaded); the result is the same exact order."""
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, (40, 30)).astype(np.float32)  # many ties, also at the k-th place
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    if with_torch:
        import torch  # noqa: F401
    else:
        monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    for k in (1, 5, 30, 40):
        got = top_k(scores, k)
        for row, s in enumerate(scores):
            order = np.lexsort((np.arange(len(s)), -s))[: min(k, len(s))]
            expected = np.where(np.isfinite(s[order]), order, -1)
            assert got[row].tolist() == expected.tolist()


def test_tfidf_equals_scikit_learn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [["rock", "indie", "rock"], [], ["jazz"], ["indie", "jazz", "jazz", "80s"], ["rock"]]
    ref = TfidfVectorizer(analyzer=lambda d: d, lowercase=False, sublinear_tf=True).fit_transform(docs)
    assert np.abs(tfidf(docs).toarray() - ref.toarray()).max() < 1e-12


def test_evaluate_masks_training_items_and_matches_hand_values():
    # 2 users × 6 items. User 0 trained on item 0 (the best-scored item: must be skipped).
    train = _td([(0, 0), (1, 5)], (2, 6))
    test = _td([(0, 2), (0, 4), (1, 0)], (2, 6))
    scores = np.array(
        [
            [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],  # ranking without item 0: 1, 2, 3, 4, 5 -> hits at 2 and 4
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],  # item 5 masked: 4, 3, 2, 1, 0 -> hit at 5
        ]
    )
    ev = evaluate(FixedScores(scores), train, test, (1, 2, 5), curve_max_k=5, n_bootstrap=50)
    pu = ev.per_user.set_index("user_id")
    assert pu.loc["u0", "precision@2"] == 0.5
    assert pu.loc["u0", "recall@5"] == 1.0
    assert pu.loc["u0", "mrr@5"] == 0.5
    assert pu.loc["u1", "mrr@5"] == pytest.approx(0.2)
    assert pu.loc["u1", "hit_rate@2"] == 0.0
    assert pu.loc["u0", "n_test_items"] == 2 and pu.loc["u0", "n_train_items"] == 1
    ideal = 1 + 1 / math.log2(3)
    assert pu.loc["u0", "ndcg@5"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    # curves are the per-user means at each K
    assert ev.curves.loc[ev.curves["k"] == 2, "precision"].item() == pytest.approx(0.25)
    # coverage@1: items 1 (u0) and 4 (u1) out of 6
    assert ev.coverage[1] == pytest.approx(2 / 6)
    # serendipity: MostPop (train pop: items 0 and 5) top-1 for u0 is item 5 -> u0's top-1 (item 1) is no hit
    assert pu.loc["u0", "serendipity@2"] == 0.5  # item 2 is relevant and not in MostPop's top 2 (5, then 1)


def test_novelty_and_diversity_by_hand():
    pop = np.array([9.0, 0.0, 4.0])
    top = np.array([[0, 1, -1]])
    nov = novelty(top, pop, n_users=9, k=3)
    expected = (-math.log2(10 / 10) - math.log2(1 / 10)) / 2
    assert nov[0] == pytest.approx(expected)
    vecs = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [math.sqrt(0.5), math.sqrt(0.5)]]))
    ild = intra_list_diversity(np.array([[0, 1, 2]]), vecs, 3)
    sims = [0.0, math.sqrt(0.5), math.sqrt(0.5)]
    assert ild[0] == pytest.approx(1 - sum(sims) / 3)
    assert np.isnan(intra_list_diversity(np.array([[0, -1, -1]]), vecs, 3)[0])


def _naive_metrics(ranked: list[int], relevant: set[int], k: int) -> dict[str, float]:
    """Deliberately plain re-implementation (loops, textbook formulas)."""
    top = ranked[:k]
    hits = [1 if i in relevant else 0 for i in top]
    prec = sum(hits) / k
    rec = sum(hits) / len(relevant)
    dcg = sum(h / math.log2(pos + 2) for pos, h in enumerate(hits))
    idcg = sum(1 / math.log2(pos + 2) for pos in range(min(len(relevant), k)))
    ap, found = 0.0, 0
    for pos, h in enumerate(hits):
        if h:
            found += 1
            ap += found / (pos + 1)
    ap /= min(len(relevant), k)
    rr = 0.0
    for pos, h in enumerate(hits):
        if h:
            rr = 1 / (pos + 1)
            break
    return {
        "precision": prec,
        "recall": rec,
        "ndcg": dcg / idcg,
        "map": ap,
        "mrr": rr,
        "hit_rate": float(any(hits)),
    }


def _random_case(seed: int, n_users: int = 40, n_items: int = 60):
    rng = np.random.default_rng(seed)
    train_rows, test_rows = [], []
    for u in range(n_users):
        items = rng.permutation(n_items)[: rng.integers(3, 20)]
        cut = max(1, len(items) // 3)
        test_rows += [(u, int(i)) for i in items[:cut]]
        train_rows += [(u, int(i)) for i in items[cut:]]
    scores = rng.random((n_users, n_items))
    return _td(train_rows, (n_users, n_items)), _td(test_rows, (n_users, n_items)), scores


def _naive_ranking(scores: np.ndarray, train: TrainData, u: int) -> list[int]:
    seen = set(train.matrix[u].indices.tolist())
    return [int(i) for i in sorted(range(scores.shape[1]), key=lambda i: (-scores[u, i], i)) if i not in seen]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_harness_agrees_with_naive_implementation(seed):
    train, test, scores = _random_case(seed)
    ev = evaluate(FixedScores(scores), train, test, (1, 3, 10), curve_max_k=10, n_bootstrap=20)
    pu = ev.per_user.set_index("user_id")
    pop = np.asarray((train.matrix > 0).sum(axis=0)).ravel()
    pop_order = sorted(range(len(pop)), key=lambda i: (-pop[i], i))
    for u in range(train.n_users):
        ranked = _naive_ranking(scores, train, u)
        relevant = set(test.matrix[u].indices.tolist())
        seen = set(train.matrix[u].indices.tolist())
        for k in (1, 3, 10):
            naive = _naive_metrics(ranked, relevant, k)
            for metric, value in naive.items():
                assert pu.loc[f"u{u}", f"{metric}@{k}"] == pytest.approx(value), (u, metric, k)
            info = [-math.log2((pop[i] + 1) / (train.n_users + 1)) for i in ranked[:k]]
            assert pu.loc[f"u{u}", f"novelty@{k}"] == pytest.approx(sum(info) / k)
            pop_top = [i for i in pop_order if i not in seen][:k]
            ser = sum(1 for i in ranked[:k] if i in relevant and i not in pop_top) / k
            assert pu.loc[f"u{u}", f"serendipity@{k}"] == pytest.approx(ser)
    for k in (1, 3, 10):
        covered = {i for u in range(train.n_users) for i in _naive_ranking(scores, train, u)[:k]}
        assert ev.coverage[k] == pytest.approx(len(covered) / train.n_items)
    means = pu[[f"precision@{k}" for k in (1, 3, 10)]].mean()
    for k in (1, 3, 10):
        assert ev.curves.loc[ev.curves["k"] == k, "precision"].item() == pytest.approx(
            means[f"precision@{k}"]
        )


def test_diversity_agrees_with_naive_pairwise_loop():
    rng = np.random.default_rng(5)
    train, test, scores = _random_case(5, n_users=15, n_items=30)
    feats = pd.DataFrame(
        {"tags": [list(rng.choice(["a", "b", "c", "d", "e"], 2, replace=False)) for _ in range(30)]}
    )
    train.item_features = feats
    ev = evaluate(FixedScores(scores), train, test, (5,), curve_max_k=5, n_bootstrap=20)
    from dancerec.recommender.evaluate import item_vectors

    vecs, space = item_vectors(train)
    assert "features" in space
    dense = vecs.toarray()
    for u in range(train.n_users):
        top = _naive_ranking(scores, train, u)[:5]
        dists = []
        for a in range(5):
            for b in range(5):
                if a != b:
                    va, vb = dense[top[a]], dense[top[b]]
                    na, nb = np.linalg.norm(va), np.linalg.norm(vb)
                    dists.append(1 - (va @ vb) / (na * nb) if na and nb else 1.0)
        assert ev.per_user.loc[u, "diversity@5"] == pytest.approx(np.mean(dists))


def test_metrics_agree_with_trec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    train, test, scores = _random_case(11, n_users=50, n_items=80)
    k_list = (5, 10, 20)
    ev = evaluate(FixedScores(scores), train, test, k_list, curve_max_k=20, n_bootstrap=20)
    pu = ev.per_user.set_index("user_id")
    qrels, run = {}, {}
    for u in range(train.n_users):
        rel = test.matrix[u].indices
        if len(rel) == 0:
            continue
        qrels[f"u{u}"] = {f"d{i}": 1 for i in rel}
        ranked = _naive_ranking(scores, train, u)
        # trec_eval sorts by score; give strictly decreasing scores in our order
        run[f"u{u}"] = {f"d{i}": float(len(ranked) - pos) for pos, i in enumerate(ranked)}
    measures = (
        {f"P_{k}" for k in k_list} | {f"recall_{k}" for k in k_list} | {f"ndcg_cut_{k}" for k in k_list}
    )
    measures |= {f"map_cut_{k}" for k in k_list}
    res = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    for u, vals in res.items():
        n_rel = len(qrels[u])
        for k in k_list:
            assert pu.loc[u, f"precision@{k}"] == pytest.approx(vals[f"P_{k}"], abs=1e-9)
            assert pu.loc[u, f"recall@{k}"] == pytest.approx(vals[f"recall_{k}"], abs=1e-9)
            assert pu.loc[u, f"ndcg@{k}"] == pytest.approx(vals[f"ndcg_cut_{k}"], abs=1e-9)
            # trec_eval's map_cut divides by |R|; ours by min(|R|, K)
            assert pu.loc[u, f"map@{k}"] * min(n_rel, k) / n_rel == pytest.approx(
                vals[f"map_cut_{k}"], abs=1e-9
            )
    # reciprocal rank over the top 10 only
    run10 = {u: dict(sorted(d.items(), key=lambda kv: -kv[1])[:10]) for u, d in run.items()}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run10)
    for u, vals in rr.items():
        assert pu.loc[u, "mrr@10"] == pytest.approx(vals["recip_rank"], abs=1e-9)


def test_sampled_protocol_is_labelled_and_ranks_among_candidates():
    train, test, scores = _random_case(3)
    ev = evaluate(
        FixedScores(scores), train, test, (10,), sampled_negatives=5, n_bootstrap=20, curve_max_k=10
    )
    assert ev.protocol == "sampled-5"
    full = evaluate(FixedScores(scores), train, test, (10,), n_bootstrap=20, curve_max_k=10)
    # among ≤ 5 negatives + the test items, recall@10 can only be higher than under full ranking
    assert ev.mean("recall", 10) > full.mean("recall", 10)
