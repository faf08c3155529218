"""The labelling queue on the real model: near-cut-off items and items whose explanations disagree come first."""

from __future__ import annotations

import pytest

from genre_core.config import load_config
from genre_core.feedback.queue import METHODS_DISAGREE, NEAR_CUTOFF, labelling_queue, share_disagreement
from genre_core.service import Recommender

K = 10


@pytest.fixture(scope="module")
def recommender(trained_config):
    return Recommender.load(load_config(trained_config))


def test_share_disagreement_is_total_variation_of_absolute_fractions():
    active = [True, True, False]
    assert share_disagreement([1.0, 1.0, 9.0], [2.0, 2.0, -5.0], active) == 0.0
    assert share_disagreement([1.0, 0.0, 0.0], [0.0, -3.0, 0.0], active) == 1.0
    assert share_disagreement([3.0, 1.0, 0.0], [1.0, 1.0, 0.0], active) == pytest.approx(0.25)


def test_queue_ranks_by_either_signal(recommender):
    queue = labelling_queue(recommender, "42", k=K, size=2 * K)
    candidates = recommender.recommend("42", k=2 * K).items
    assert sorted(queue["item_id"]) == sorted(candidates["item_id"])
    assert queue["priority"].is_monotonic_decreasing
    assert set(queue["reason"]) == {NEAR_CUTOFF, METHODS_DISAGREE}
    assert queue["disagreement"].between(0, 1).all()
    assert queue["uncertainty"].between(0, 1).all()
    # The item whose explanations disagree most and the item closest to the cut-off both lead the queue.
    leaders = set(queue["item_id"].head(2))
    assert queue.loc[queue["disagreement"].idxmax(), "item_id"] in leaders
    assert queue.loc[queue["margin"].idxmin(), "item_id"] in leaders


def test_queue_without_disagreement_orders_by_margin(recommender):
    queue = labelling_queue(recommender, "42", k=K, size=K, disagreement=False)
    assert queue["margin"].is_monotonic_increasing
    assert set(queue["reason"]) == {NEAR_CUTOFF}
