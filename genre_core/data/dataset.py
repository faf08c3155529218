"""The in-memory dataset every loader returns and every model reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from genre_core.schema import ITEM_ID, MULTILABEL_SEPARATOR, RATING, TIMESTAMP, USER_ID


@dataclass
class FeatureSpec:
    """Feature columns of an item or user table, grouped by the encoder that reads them."""

    text: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    multilabel: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [*self.text, *self.categorical, *self.multilabel, *self.numeric]


@dataclass
class Dataset:
    """Interactions, items and users with string IDs, plus dense index maps.

    `interactions` has the columns user_id, item_id, rating (NaN when the data
    has no ratings) and timestamp (int64 seconds). IDs are strings everywhere
    outside the model; indices are positions in `user_ids` and `item_ids`.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    item_features: FeatureSpec
    user_features: FeatureSpec
    simulated: bool = False

    def __post_init__(self) -> None:
        self.items = self.items.reset_index(drop=True)
        self.users = self.users.reset_index(drop=True)
        self.item_ids = self.items[ITEM_ID].to_numpy(dtype=object)
        self.user_ids = self.users[USER_ID].to_numpy(dtype=object)
        self.item_index = {item: index for index, item in enumerate(self.item_ids)}
        self.user_index = {user: index for index, user in enumerate(self.user_ids)}
        self.interactions = self.interactions.assign(
            user_idx=self.interactions[USER_ID].map(self.user_index).astype("int64"),
            item_idx=self.interactions[ITEM_ID].map(self.item_index).astype("int64"),
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def has_ratings(self) -> bool:
        return bool(self.interactions[RATING].notna().any())

    def fingerprint(self) -> str:
        """Hash of the interactions, items and users, to tie a model to its data."""
        digest = hashlib.sha256()
        for frame in (self.interactions[[USER_ID, ITEM_ID, RATING, TIMESTAMP]], self.items, self.users):
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def multilabel_values(self, column: str) -> list[str]:
        values = set()
        for cell in self.items[column].dropna():
            values.update(label for label in str(cell).split(MULTILABEL_SEPARATOR) if label)
        return sorted(values)

    def user_position(self, user_id: str) -> int:
        """Return the index of a user ID, or raise LookupError listing examples of valid IDs."""
        key = str(user_id).strip()
        if key not in self.user_index:
            examples = ", ".join(map(str, self.user_ids[:5]))
            raise LookupError(
                f"unknown user ID {user_id!r} in dataset '{self.name}'; "
                f"valid IDs are {self.n_users} values such as {examples}"
            )
        return self.user_index[key]

    def item_position(self, item_id: str) -> int:
        """Return the index of an item ID, or raise LookupError listing examples of valid IDs."""
        key = str(item_id).strip()
        if key not in self.item_index:
            examples = ", ".join(map(str, self.item_ids[:5]))
            raise LookupError(
                f"unknown item ID {item_id!r} in dataset '{self.name}'; "
                f"valid IDs are {self.n_items} values such as {examples}"
            )
        return self.item_index[key]


def interaction_matrix(frame: pd.DataFrame, n_users: int, n_items: int) -> sparse.csr_matrix:
    """Binary users × items CSR matrix of the interactions in `frame`."""
    rows = frame["user_idx"].to_numpy()
    cols = frame["item_idx"].to_numpy()
    data = np.ones(len(frame), dtype=np.float32)
    matrix = sparse.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))
    matrix.data[:] = 1.0  # duplicates of a (user, item) pair count once
    return matrix
