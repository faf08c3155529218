"""Monitoring: the interaction stream and its bad inputs, windowed quality, and PSI / KS drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from genre_core.monitoring.drift import compare_distributions, ks_test, psi
from genre_core.monitoring.quality import positive_rate, window_quality
from genre_core.monitoring.stream import InteractionStream, StreamError, split_by_time
from genre_core.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID


def _frame(stamps, users=None, items=None, ratings=None) -> pd.DataFrame:
    count = len(stamps)
    users = users if users is not None else list(range(count))
    items = items if items is not None else list(range(count))
    return pd.DataFrame({
        USER_ID: [str(user) for user in users], ITEM_ID: [str(item) for item in items],
        RATING: ratings if ratings is not None else [4.0] * count, TIMESTAMP: stamps,
        "user_idx": users, "item_idx": items,
    })


# Stream


def test_stream_windows_cover_stream():
    stream = InteractionStream(_frame(list(range(10))))

    windows = list(stream.windows(4))

    assert [len(window.frame) for window in windows] == [4, 4, 2]
    assert [window.start for window in windows] == [0, 4, 8]
    assert windows[1].first_time == 4
    assert windows[1].last_time == 7


def test_stream_max_windows_stops_early():
    stream = InteractionStream(_frame(list(range(10))))

    assert len(list(stream.windows(2, max_windows=3))) == 3
    assert stream.count_windows(2, max_windows=3) == 3


def test_window_larger_than_stream_rejected():
    stream = InteractionStream(_frame([1, 2, 3]))

    with pytest.raises(StreamError, match=r"window of 5 interactions is larger than the stream of 3; set monitoring.window to at most 3"):
        list(stream.windows(5))


@pytest.mark.parametrize("size", [0, -2, 1.5, True])
def test_window_size_must_be_positive_integer(size):
    stream = InteractionStream(_frame([1, 2, 3]))

    with pytest.raises(StreamError, match="window size must be a positive integer"):
        list(stream.windows(size))


def test_out_of_order_stream_rejected_with_row():
    frame = _frame([10, 20, 15, 30, 5])

    with pytest.raises(StreamError, match=r"out of order at row 2 .*timestamp 15 comes after 20; 2 rows go back in time"):
        InteractionStream(frame)


def test_out_of_order_stream_sorted_when_asked():
    stream = InteractionStream(_frame([10, 20, 15, 30, 5]), sort=True)

    assert stream.frame[TIMESTAMP].tolist() == [5, 10, 15, 20, 30]
    assert stream.frame[ITEM_ID].tolist() == ["4", "0", "2", "1", "3"]


def test_stream_missing_column_rejected():
    with pytest.raises(StreamError, match="missing the column 'timestamp'"):
        InteractionStream(_frame([1, 2]).drop(columns=[TIMESTAMP]))


def test_split_by_time_keeps_order():
    first, rest = split_by_time(_frame([5, 1, 4, 2, 3]), 0.4)

    assert first[TIMESTAMP].tolist() == [1, 2]
    assert rest[TIMESTAMP].tolist() == [3, 4, 5]


def test_split_by_time_rejects_empty_part():
    with pytest.raises(StreamError, match="leaves one part empty"):
        split_by_time(_frame([1, 2, 3]), 0.1)


# Quality


def _scores(table: np.ndarray):
    return lambda users: torch.as_tensor(table[users], dtype=torch.float32)


def test_window_quality_perfect_and_missed():
    # Item scores rank item 0 first for both users; user 0 interacts with item 0, user 1 with item 2.
    table = np.array([[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0]])
    seen = sparse.csr_matrix((2, 4))
    window = _frame([1, 2], users=[0, 1], items=[0, 3], ratings=[5.0, 2.0])

    quality = window_quality(_scores(table), seen, window, k=1, positive_rating=4.0)

    assert quality.users == 2
    assert quality.ndcg == pytest.approx(0.5)
    assert quality.hit_rate == pytest.approx(0.5)
    assert quality.positive_rate == pytest.approx(0.5)
    assert quality.user_ndcg.tolist() == [1.0, 0.0]


def test_window_quality_worked_example():
    # One user whose two window items sit at ranks 1 and 3: DCG = 1 + 1/2, ideal = 1 + 1/log2(3).
    table = np.array([[4.0, 3.0, 2.0, 1.0]])
    window = _frame([1, 2], users=[0, 0], items=[0, 2])

    quality = window_quality(_scores(table), sparse.csr_matrix((1, 4)), window, k=3, positive_rating=4.0)

    assert quality.ndcg == pytest.approx(1.5 / (1 + 1 / np.log2(3)))
    assert quality.hit_rate == 1.0


def test_window_quality_orders_users_by_first_interaction():
    table = np.array([[1.0, 0.0], [0.0, 1.0]])
    window = _frame([1, 2], users=[1, 0], items=[0, 0])

    quality = window_quality(_scores(table), sparse.csr_matrix((2, 2)), window, k=1, positive_rating=4.0)

    # User 1 came first and missed (item 0 ranks second for it); user 0 hit.
    assert quality.user_ndcg.tolist() == [0.0, 1.0]


def test_window_quality_seen_items_not_counted():
    seen = sparse.csr_matrix(np.array([[1.0, 0.0, 0.0]]))
    window = _frame([1], users=[0], items=[0])

    quality = window_quality(_scores(np.array([[1.0, 2.0, 3.0]])), seen, window, k=2, positive_rating=4.0)

    assert quality.users == 0
    assert np.isnan(quality.ndcg)
    assert quality.interactions == 1


def test_positive_rate_without_ratings_is_nan():
    window = _frame([1, 2], ratings=[np.nan, np.nan])

    assert np.isnan(positive_rate(window, 4.0))


# Drift


def test_psi_zero_for_same_distribution():
    values = np.random.default_rng(0).normal(size=5000)

    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)


def test_psi_large_for_shifted_distribution():
    rng = np.random.default_rng(0)
    reference, shifted, same = rng.normal(size=5000), rng.normal(1.0, 1.0, size=5000), rng.normal(size=5000)

    assert psi(reference, shifted) > 0.25
    assert psi(reference, same) < 0.02


def test_psi_worked_example():
    # Two bins split at the reference median: shares (0.5, 0.5) against (0.2, 0.8).
    reference = np.array([0.0, 0.0, 1.0, 1.0])
    current = np.array([0.0, 1.0, 1.0, 1.0, 1.0])

    expected = (0.2 - 0.5) * np.log(0.2 / 0.5) + (0.8 - 0.5) * np.log(0.8 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(expected)


def test_ks_detects_shift():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=2000)

    _, shifted_p = ks_test(reference, rng.normal(0.5, 1.0, size=2000))
    _, same_p = ks_test(reference, rng.normal(size=2000))

    assert shifted_p < 1e-6
    assert same_p > 0.01


def test_compare_distributions_flags_drifted_feature():
    rng = np.random.default_rng(2)
    reference = {"age": rng.normal(30, 5, 3000), "year": rng.normal(1990, 5, 3000)}
    current = {"age": rng.normal(40, 5, 1000), "year": rng.normal(1990, 5, 1000)}

    results = {result.feature: result for result in compare_distributions(reference, current, psi_threshold=0.2)}

    assert results["age"].drifted
    assert not results["year"].drifted
    assert results["age"].current_size == 1000


def test_drift_rejects_empty_sample():
    with pytest.raises(ValueError, match="current sample of 'age' has no finite value"):
        psi([1.0, 2.0], [np.nan], name="age")


def test_drift_rejects_missing_feature():
    with pytest.raises(ValueError, match="current sample has no values for year"):
        compare_distributions({"year": [1.0]}, {"age": [1.0]})
