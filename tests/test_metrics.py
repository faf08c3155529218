"""Tests of the ranking metrics and of full-ranking evaluation."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from genre_core.evaluation.metrics import (
    METRICS,
    full_ranking_metrics,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

ALL_METRICS = sorted(METRICS)


# --- metric functions ---------------------------------------------------------


@pytest.mark.parametrize("name", ALL_METRICS)
def test_metric_perfect_ranking_is_one(name):
    # Each user has exactly k relevant items, all ranked at the top.
    k = 5
    hits = np.zeros((3, 8), dtype=bool)
    hits[:, :k] = True
    n_relevant = np.array([k, k, k])

    values = METRICS[name](hits, n_relevant, k)

    np.testing.assert_allclose(values, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("name", ALL_METRICS)
def test_metric_no_hit_is_zero(name):
    hits = np.zeros((2, 10), dtype=bool)
    hits[:, 7] = True  # a hit below the cut-off does not count
    n_relevant = np.array([1, 4])

    values = METRICS[name](hits, n_relevant, 5)

    np.testing.assert_allclose(values, [0.0, 0.0])


def test_metrics_hand_worked_example():
    # User 0: hits at ranks 1 and 3 of 5, 4 relevant items.
    # User 1: a hit at rank 4 of 5, 1 relevant item.
    hits = np.array([
        [True, False, True, False, False],
        [False, False, False, True, False],
    ])
    n_relevant = np.array([4, 1])
    k = 5

    # recall: 2/4 and 1/1
    np.testing.assert_allclose(recall_at_k(hits, n_relevant, k), [0.5, 1.0])
    # precision: 2/5 and 1/5
    np.testing.assert_allclose(precision_at_k(hits, n_relevant, k), [0.4, 0.2])
    # user 0: DCG = 1/log2(2) + 1/log2(4) = 1.5;
    #         ideal DCG over 4 items = 1 + 0.6309298 + 0.5 + 0.4306766 = 2.5616064;
    #         NDCG = 1.5 / 2.5616064 = 0.5855700.
    # user 1: DCG = 1/log2(5) = 0.4306766, ideal DCG = 1.
    np.testing.assert_allclose(ndcg_at_k(hits, n_relevant, k), [0.5855700, 0.4306766], atol=1e-7)
    # first hit at rank 1 and at rank 4
    np.testing.assert_allclose(mrr_at_k(hits, n_relevant, k), [1.0, 0.25])
    np.testing.assert_allclose(hit_at_k(hits, n_relevant, k), [1.0, 1.0])


def test_metrics_more_relevant_than_k():
    # 10 relevant items, the top 3 are all hits.
    hits = np.ones((1, 3), dtype=bool)
    n_relevant = np.array([10])

    assert recall_at_k(hits, n_relevant, 3)[0] == pytest.approx(0.3)
    assert precision_at_k(hits, n_relevant, 3)[0] == pytest.approx(1.0)
    # The ideal DCG is cut at k, so a full top k is a perfect NDCG.
    assert ndcg_at_k(hits, n_relevant, 3)[0] == pytest.approx(1.0)


def test_metrics_use_only_first_k_columns():
    hits = np.array([[False, True, True, True]])
    n_relevant = np.array([3])

    assert precision_at_k(hits, n_relevant, 2)[0] == pytest.approx(0.5)
    assert mrr_at_k(hits, n_relevant, 1)[0] == 0.0
    assert ndcg_at_k(hits, n_relevant, 2)[0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


@pytest.mark.parametrize("name", ALL_METRICS)
@pytest.mark.parametrize(
    ("hits", "n_relevant", "k", "message"),
    [
        (np.ones((2, 5), dtype=bool), np.array([5, 5]), 0, "k must be a positive integer, got 0"),
        (np.ones((2, 5), dtype=bool), np.array([5, 5]), 2.0, "k must be a positive integer, got 2.0"),
        (np.ones((2, 5), dtype=bool), np.array([5, 5]), 6, "hits has 5 ranks per user, fewer than k=6"),
        (np.ones((2, 5), dtype=int), np.array([5, 5]), 3, "hits must be a bool matrix, got dtype int"),
        (np.ones(5, dtype=bool), np.array([5]), 3, r"hits must be a 2-D matrix .* got shape \(5,\)"),
        (np.ones((2, 5), dtype=bool), np.array([5, 5, 5]), 3, r"one entry per row of hits: shape \(2,\) expected"),
        (np.zeros((2, 5), dtype=bool), np.array([1, 0]), 3, r"n_relevant\[1\] is 0"),
        (np.ones((2, 5), dtype=bool), np.array([5, 2]), 3, r"row 1 of hits has 5 hits but n_relevant\[1\] is 2"),
    ],
)
def test_metric_rejects_invalid_input(name, hits, n_relevant, k, message):
    with pytest.raises(ValueError, match=message):
        METRICS[name](hits, n_relevant, k)


# --- full ranking -------------------------------------------------------------


def _csr(rows: list[list[int]], n_items: int) -> sparse.csr_matrix:
    matrix = sparse.lil_matrix((len(rows), n_items), dtype=np.float32)
    for user, items in enumerate(rows):
        for item in items:
            matrix[user, item] = 1.0
    return matrix.tocsr()


def _fixed_scores(scores: np.ndarray):
    return lambda users: scores[users]


def test_full_ranking_excludes_seen_items():
    # Scores rank items 0 > 1 > 2 > 3. Item 0 is seen and relevant, item 2 relevant.
    scores = np.array([[4.0, 3.0, 2.0, 1.0]])
    seen = _csr([[0]], 4)
    relevant = _csr([[0, 2]], 4)

    result = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1, 2))

    # After masking the list is 1, 2, 3: no hit at rank 1, item 2 at rank 2,
    # and item 0 no longer counts as relevant, so one relevant item is left.
    assert result["hit@1"] == 0.0
    assert result["hit@2"] == 1.0
    assert result["mrr@2"] == pytest.approx(0.5)
    assert result["recall@2"] == pytest.approx(1.0)
    assert result["users"] == 1


def test_full_ranking_warns_about_seen_relevant_items(caplog):
    scores = np.array([[4.0, 3.0, 2.0, 1.0]])

    with caplog.at_level(logging.WARNING):
        full_ranking_metrics(_fixed_scores(scores), _csr([[0, 1]], 4), _csr([[0, 2]], 4), ks=(1,))

    assert "1 relevant (user, item) pairs are also seen items" in caplog.text


def test_full_ranking_skips_users_without_relevant_items():
    scores = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    seen = _csr([[], [1], []], 3)
    relevant = _csr([[0], [1], []], 3)  # user 1's only relevant item is seen

    result = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1,))

    assert result["users"] == 1
    assert result["hit@1"] == 1.0


def test_full_ranking_per_user_table():
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    seen = _csr([[], []], 3)
    relevant = _csr([[0], [0, 1]], 3)

    table = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1, 2), per_user=True)

    assert isinstance(table, pd.DataFrame)
    assert list(table["user_idx"]) == [0, 1]
    assert list(table["n_relevant"]) == [1, 2]
    assert list(table["hit@1"]) == [1.0, 0.0]
    assert list(table["precision@2"]) == [0.5, 0.5]
    summary = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1, 2))
    assert summary["precision@2"] == pytest.approx(table["precision@2"].mean())


def test_full_ranking_metrics_subset():
    scores = np.array([[3.0, 2.0, 1.0]])
    result = full_ranking_metrics(_fixed_scores(scores), _csr([[]], 3), _csr([[0]], 3), ks=(1,), metrics=["ndcg"])

    assert set(result) == {"ndcg@1", "users"}


def test_full_ranking_matches_brute_force():
    rng = np.random.default_rng(0)
    n_users, n_items = 40, 30
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    seen = sparse.csr_matrix(rng.random((n_users, n_items)) < 0.2, dtype=np.float32)
    relevant = sparse.csr_matrix(rng.random((n_users, n_items)) < 0.15, dtype=np.float32)

    table = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(5,), batch_size=7, per_user=True)

    dense_seen = seen.toarray() > 0
    dense_relevant = (relevant.toarray() > 0) & ~dense_seen
    for row in table.to_dict("records"):
        user = row["user_idx"]
        ranking = [item for item in np.argsort(-scores[user], kind="stable") if not dense_seen[user, item]][:5]
        gains = [bool(dense_relevant[user, item]) for item in ranking]
        n_relevant = int(dense_relevant[user].sum())
        dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(n_relevant, 5)))
        assert row["n_relevant"] == n_relevant
        assert row["recall@5"] == pytest.approx(sum(gains) / n_relevant)
        assert row["ndcg@5"] == pytest.approx(dcg / ideal)
    assert len(table) == int((dense_relevant.sum(axis=1) > 0).sum())


def test_full_ranking_breaks_ties_by_item_index():
    # Every item has the same score, so the list is items 0, 1, 2, ... for any k.
    scores = np.zeros((2, 50), dtype=np.float32)
    seen = _csr([[], [0]], 50)
    relevant = _csr([[0, 2], [1, 40]], 50)

    short = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1,), per_user=True)
    long = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1, 3, 20), per_user=True)

    assert list(short["hit@1"]) == [1.0, 1.0]
    assert list(long["hit@1"]) == [1.0, 1.0]
    assert list(long["mrr@3"]) == [1.0, 1.0]
    # user 0: hits at ranks 1 and 3 of 2 relevant items
    assert long["ndcg@3"][0] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))


def test_full_ranking_batch_size_does_not_change_result():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(20, 15))
    seen = sparse.csr_matrix(rng.random((20, 15)) < 0.3, dtype=np.float32)
    relevant = sparse.csr_matrix(rng.random((20, 15)) < 0.3, dtype=np.float32)

    one = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(3, 5), batch_size=1)
    many = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(3, 5), batch_size=256)

    assert one == pytest.approx(many)


def test_full_ranking_accepts_tensor_and_leaves_scores_unchanged():
    scores = np.array([[4.0, 3.0, 2.0, 1.0]], dtype=np.float32)
    original = scores.copy()
    seen = _csr([[0]], 4)
    relevant = _csr([[1]], 4)

    from_array = full_ranking_metrics(_fixed_scores(scores), seen, relevant, ks=(1,))
    from_tensor = full_ranking_metrics(lambda users: torch.from_numpy(scores[users]), seen, relevant, ks=(1,))

    assert from_array == from_tensor
    np.testing.assert_array_equal(scores, original)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ks": (0,)}, r"every k must be a positive integer, got 0"),
        ({"ks": ()}, r"ks is empty"),
        ({"ks": (5,)}, r"k=5 is larger than the catalogue of 4 items"),
        ({"batch_size": 0}, r"batch_size must be a positive integer, got 0"),
        ({"metrics": ["map"]}, r"unknown metric 'map'; available metrics: recall, precision, ndcg, mrr, hit"),
        ({"relevant": _csr([[1], [2]], 4)}, r"seen and relevant must have the same shape"),
        ({"seen": np.zeros((1, 4))}, r"seen must be a scipy sparse matrix"),
        ({"relevant": _csr([[]], 4)}, r"relevant has no \(unseen\) item for any user"),
        ({"score_fn": lambda users: np.zeros((len(users), 3))}, r"score_fn returned shape \(1, 3\) for 1 users"),
        ({"score_fn": lambda users: np.full((len(users), 4), np.nan)}, r"score_fn returned NaN scores"),
    ],
)
def test_full_ranking_rejects_invalid_input(kwargs, message):
    arguments = {
        "score_fn": _fixed_scores(np.array([[4.0, 3.0, 2.0, 1.0]])),
        "seen": _csr([[0]], 4),
        "relevant": _csr([[1]], 4),
        "ks": (1,),
    }
    arguments.update(kwargs)

    with pytest.raises(ValueError, match=message):
        full_ranking_metrics(**arguments)
