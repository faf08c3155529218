"""Tests of the temporal, RecBole and Microsoft Recommenders splits."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from genre_core.data.splits import PROTOCOLS, Split, split_interactions
from genre_core.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None
needs_recbole = pytest.mark.skipif(not HAS_RECBOLE, reason="MovieLens-100k ships in recbole==1.2.1, which is not installed")

RANDOM_PROTOCOLS = ("recbole", "msr")


@pytest.fixture(scope="module")
def ml100k() -> pd.DataFrame:
    from genre_core.data.movielens import load_recbole_ml100k

    return load_recbole_ml100k().interactions


@pytest.fixture(scope="module")
def ml100k_splits(ml100k) -> dict[str, Split]:
    return {protocol: split_interactions(ml100k, protocol, seed=0) for protocol in PROTOCOLS}


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame[USER_ID], frame[ITEM_ID]))


def interactions_frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    users, items, stamps = zip(*rows)
    return pd.DataFrame({USER_ID: users, ITEM_ID: items, RATING: 4.0, TIMESTAMP: np.array(stamps, dtype="int64")})


def user_frame(user: str, size: int) -> list[tuple[str, str, int]]:
    return [(user, f"{user}-i{index}", 1000 + index) for index in range(size)]


# ---------------------------------------------------------------- MovieLens-100k, every protocol


@needs_recbole
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_held_out_item_in_training(ml100k_splits, protocol):
    split = ml100k_splits[protocol]
    train = pairs(split.train)

    assert not pairs(split.test) & train
    assert not pairs(split.valid) & train


@needs_recbole
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_parts_disjoint_and_cover_data(ml100k, ml100k_splits, protocol):
    split = ml100k_splits[protocol]
    everything = pairs(ml100k)

    assert not pairs(split.valid) & pairs(split.test)
    assert len(split.train) + len(split.valid) + len(split.test) == len(everything)
    assert pairs(split.train) | pairs(split.valid) | pairs(split.test) == everything


@needs_recbole
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_part_nonempty(ml100k_splits, protocol):
    split = ml100k_splits[protocol]

    assert split.protocol == protocol
    assert len(split.train) > 0
    assert len(split.valid) > 0
    assert len(split.test) > 0


@needs_recbole
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_seed_reproduces(ml100k, ml100k_splits, protocol):
    again = split_interactions(ml100k, protocol, seed=0)
    first = ml100k_splits[protocol]

    pd.testing.assert_frame_equal(again.train, first.train)
    pd.testing.assert_frame_equal(again.valid, first.valid)
    pd.testing.assert_frame_equal(again.test, first.test)


@needs_recbole
@pytest.mark.parametrize("protocol", RANDOM_PROTOCOLS)
def test_different_seed_differs(ml100k, ml100k_splits, protocol):
    other = split_interactions(ml100k, protocol, seed=1)
    first = ml100k_splits[protocol]

    assert pairs(other.test) != pairs(first.test)
    # Per-user counts depend on the protocol only, so the sizes stay equal.
    assert len(other.test) == len(first.test)


@needs_recbole
def test_temporal_ignores_seed(ml100k, ml100k_splits):
    other = split_interactions(ml100k, "temporal", seed=1)

    assert pairs(other.test) == pairs(ml100k_splits["temporal"].test)


@needs_recbole
def test_temporal_test_is_latest(ml100k, ml100k_splits):
    split = ml100k_splits["temporal"]
    latest = ml100k.groupby(USER_ID)[TIMESTAMP].max()
    test = split.test.set_index(USER_ID)
    valid = split.valid.set_index(USER_ID)
    train_latest = split.train.groupby(USER_ID)[TIMESTAMP].max()

    assert test.index.is_unique
    assert valid.index.is_unique
    assert set(test.index) == set(latest.index)
    assert (test[TIMESTAMP] == latest.loc[test.index]).all()
    assert (valid[TIMESTAMP] <= test.loc[valid.index, TIMESTAMP]).all()
    assert (train_latest.loc[valid.index] <= valid[TIMESTAMP]).all()


@needs_recbole
def test_recbole_proportions(ml100k_splits):
    split = ml100k_splits["recbole"]
    total = len(split.train) + len(split.valid) + len(split.test)

    # RecBole rounds the validation and test counts down, so training is a
    # little above 0.8 on MovieLens-100k (about 0.808).
    assert len(split.train) / total == pytest.approx(0.8, abs=0.01)
    assert len(split.valid) / total == pytest.approx(0.1, abs=0.006)
    assert len(split.test) / total == pytest.approx(0.1, abs=0.006)
    assert len(split.valid) == len(split.test)


@needs_recbole
def test_recbole_proportions_per_user(ml100k_splits):
    split = ml100k_splits["recbole"]
    sizes = pd.DataFrame({
        "train": split.train.groupby(USER_ID).size(),
        "valid": split.valid.groupby(USER_ID).size(),
        "test": split.test.groupby(USER_ID).size(),
    }).fillna(0)
    total = sizes.sum(axis=1)

    # Every MovieLens-100k user has at least 20 ratings, so validation and
    # test each hold floor(0.1 * total) of them.
    assert (sizes["valid"] == np.floor(total * 0.1)).all()
    assert (sizes["test"] == np.floor(total * 0.1)).all()


@needs_recbole
def test_msr_proportions(ml100k_splits):
    split = ml100k_splits["msr"]
    total = len(split.train) + len(split.valid) + len(split.test)

    assert (len(split.train) + len(split.valid)) / total == pytest.approx(0.75, abs=0.005)
    assert len(split.test) / total == pytest.approx(0.25, abs=0.005)
    # Validation is the default 5% share of the 75% training part.
    assert len(split.valid) / total == pytest.approx(0.75 * 0.05, abs=0.01)


@needs_recbole
def test_msr_valid_fraction_zero(ml100k):
    split = split_interactions(ml100k, "msr", seed=0, valid_fraction=0.0)

    assert len(split.valid) == 0


# ---------------------------------------------------------------- small synthetic frames


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_short_histories_stay_in_train(protocol):
    rows = user_frame("one", 1) + user_frame("two", 2) + user_frame("many", 30)
    split = split_interactions(interactions_frame(rows), protocol, seed=0)

    for user, size in (("one", 1), ("two", 2)):
        assert (split.train[USER_ID] == user).sum() == size
        assert (split.valid[USER_ID] == user).sum() == 0
        assert (split.test[USER_ID] == user).sum() == 0
    assert (split.test[USER_ID] == "many").sum() >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_three_interactions_are_split(protocol):
    split = split_interactions(interactions_frame(user_frame("three", 3)), protocol, seed=0)

    assert len(split.test) == 1
    assert len(split.train) >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_repeated_pair_kept_once(protocol):
    rows = user_frame("u", 12) + [("u", "u-i0", 5000)]
    split = split_interactions(interactions_frame(rows), protocol, seed=3)
    parts = pd.concat([split.train, split.valid, split.test])

    assert len(parts) == 12
    assert parts[[USER_ID, ITEM_ID]].duplicated().sum() == 0
    assert parts.loc[parts[ITEM_ID] == "u-i0", TIMESTAMP].tolist() == [5000]


def test_temporal_repeat_moves_pair_to_test():
    # The repeat of u-i0 is the user's latest interaction, so it is the test item.
    rows = user_frame("u", 12) + [("u", "u-i0", 5000)]
    split = split_interactions(interactions_frame(rows), "temporal")

    assert split.test[ITEM_ID].tolist() == ["u-i0"]
    assert split.valid[ITEM_ID].tolist() == ["u-i11"]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        # Counts of RecBole 1.2.1 `Dataset._calcu_split_ids(size, [0.8, 0.1, 0.1])`.
        (3, (1, 1, 1)),
        (5, (3, 1, 1)),
        (9, (7, 1, 1)),
        (10, (8, 1, 1)),
        (20, (16, 2, 2)),
        (27, (23, 2, 2)),
        (39, (33, 3, 3)),
    ],
)
def test_recbole_counts_match_recbole(size, expected):
    split = split_interactions(interactions_frame(user_frame("u", size)), "recbole", seed=0)

    assert (len(split.train), len(split.valid), len(split.test)) == expected


@pytest.mark.parametrize(("size", "expected_test"), [(3, 1), (4, 1), (10, 3), (20, 5), (27, 7)])
def test_msr_counts_match_stratified_split(size, expected_test):
    split = split_interactions(interactions_frame(user_frame("u", size)), "msr", seed=0, valid_fraction=0.0)

    assert len(split.test) == expected_test
    assert len(split.train) == size - expected_test


def test_input_frame_not_modified():
    frame = interactions_frame(user_frame("u", 10) + user_frame("v", 10))
    before = frame.copy()

    split_interactions(frame, "recbole", seed=0)

    pd.testing.assert_frame_equal(frame, before)


def test_unknown_protocol_message():
    frame = interactions_frame(user_frame("u", 5))

    with pytest.raises(ValueError, match=r"unknown split protocol 'random'; allowed values: temporal, recbole, msr"):
        split_interactions(frame, "random")
