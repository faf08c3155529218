"""Seeded, leak-free train/validation/test splits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from genre_core.schema import ITEM_ID, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)

PROTOCOLS = ("temporal", "recbole", "msr")

# A user with fewer interactions than this keeps them all in training.
MIN_INTERACTIONS_TO_SPLIT = 3

# Maps each row's user size to (training rows, validation rows) of that user.
PartCounts = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Split:
    """Interaction frames of one split; each (user, item) pair sits in one part only."""

    protocol: str
    seed: int
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def summary(self) -> dict[str, int | str]:
        return {
            "protocol": self.protocol, "seed": self.seed,
            "train": len(self.train), "valid": len(self.valid), "test": len(self.test),
        }


def split_interactions(
    interactions: pd.DataFrame, protocol: str, seed: int = 0, valid_fraction: float = 0.05
) -> Split:
    """Split `interactions` by `protocol`.

    - temporal: each user's last interaction by time is the test item and the
      one before it the validation item (leave-last-out).
    - recbole: per-user random 0.8 / 0.1 / 0.1, counted as RecBole 1.2.1 does.
    - msr: per-user random 75 / 25; then `valid_fraction` of each user's
      training part is held out for early stopping.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown split protocol {protocol!r}; allowed values: {', '.join(PROTOCOLS)}")

    # Repeated (user, item) pairs are merged into their latest interaction, so
    # that the same pair can never land in training and test at once.
    frame = (
        interactions.sort_values([USER_ID, TIMESTAMP, ITEM_ID], kind="stable")
        .drop_duplicates([USER_ID, ITEM_ID], keep="last")
        .reset_index(drop=True)
    )
    rng = np.random.default_rng(seed)

    if protocol == "temporal":
        position_from_end = frame.groupby(USER_ID, sort=False).cumcount(ascending=False).to_numpy()
        part = np.select([position_from_end == 0, position_from_end == 1], [2, 1], 0)
    elif protocol == "recbole":
        part = _random_parts(frame, rng, _recbole_counts)
    else:
        part = _random_parts(frame, rng, _msr_counts)
        part = _hold_out_validation(frame, part, rng, valid_fraction)

    counts = frame.groupby(USER_ID, sort=False)[ITEM_ID].transform("size").to_numpy()
    part = np.where(counts < MIN_INTERACTIONS_TO_SPLIT, 0, part)

    split = Split(
        protocol, seed,
        train=frame[part == 0].reset_index(drop=True),
        valid=frame[part == 1].reset_index(drop=True),
        test=frame[part == 2].reset_index(drop=True),
    )
    log.info("split %s", split.summary())
    return split


def _random_parts(frame: pd.DataFrame, rng: np.random.Generator, counts: PartCounts) -> np.ndarray:
    """Assign each row to train (0), valid (1) or test (2) by a seeded shuffle within its user.

    `counts` maps each row's user size to the number of that user's training
    and validation rows. The rest of the user's rows are test rows.
    """
    order = rng.permutation(len(frame))
    shuffled = frame.iloc[order]
    rank = np.empty(len(frame), dtype=np.int64)
    rank[order] = shuffled.groupby(USER_ID, sort=False).cumcount().to_numpy()
    size = frame.groupby(USER_ID, sort=False)[ITEM_ID].transform("size").to_numpy()

    n_train, n_valid = counts(size)
    return np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2))


def _recbole_counts(size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user counts as RecBole 1.2.1 computes a 0.8/0.1/0.1 split (`Dataset._calcu_split_ids`).

    Validation and test each get floor(0.1 * size) rows and training the rest.
    A user with fewer than 10 rows moves one training row to test and then one
    to validation, each only while training keeps more than one row.
    """
    n_valid = np.floor(size * 0.1).astype(np.int64)
    n_test = n_valid.copy()
    n_train = size - n_valid - n_test
    small = size * 0.1 < 1

    to_test = small & (n_train > 1)
    n_test, n_train = n_test + to_test, n_train - to_test
    to_valid = small & (n_train > 1)
    n_valid, n_train = n_valid + to_valid, n_train - to_valid
    return n_train, n_valid


def _msr_counts(size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user counts of Microsoft Recommenders' `python_stratified_split(ratio=0.75)`.

    Training gets floor(0.75 * size) rows (at least one) and test the rest.
    Validation rows are taken out of training afterwards.
    """
    n_train = np.maximum(1, np.floor(size * 0.75 + 1e-9)).astype(np.int64)
    return n_train, np.zeros_like(n_train)


def _hold_out_validation(
    frame: pd.DataFrame, part: np.ndarray, rng: np.random.Generator, fraction: float
) -> np.ndarray:
    """Move a seeded `fraction` of each user's training rows to validation.

    The moved count is rounded up, but every user keeps at least one training row.
    """

    def counts(size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_train = np.maximum(1, np.floor(size * (1.0 - fraction) + 1e-9)).astype(np.int64)
        return n_train, size - n_train

    train_rows = np.flatnonzero(part == 0)
    train_row_parts = _random_parts(frame.iloc[train_rows].reset_index(drop=True), rng, counts)
    part = part.copy()
    part[train_rows[train_row_parts != 0]] = 1
    return part
