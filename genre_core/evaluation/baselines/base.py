"""Interface shared by the baseline recommenders."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy import sparse


class Baseline(ABC):
    """A recommender fitted on a binary users × items matrix that scores the whole catalogue.

    Subclasses implement :meth:`_fit` and :meth:`_score`; the public methods
    validate their input first. Fitted state ends in an underscore.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.n_users_: int | None = None
        self.n_items_: int | None = None

    def fit(self, train: sparse.csr_matrix) -> Baseline:
        """Fit on `train`, a users × items matrix whose non-zero entries are interactions."""
        if not sparse.issparse(train):
            raise ValueError(f"train must be a scipy sparse matrix (users × items), got {type(train).__name__}")
        if train.nnz == 0:
            raise ValueError(f"train {train.shape} has no interactions; pass the training split's matrix")
        train = sparse.csr_matrix(train, dtype=np.float32)
        train.data[:] = 1.0
        self.n_users_, self.n_items_ = train.shape
        self._fit(train)
        return self

    def score(self, user_indices: np.ndarray) -> np.ndarray:
        """Return float32 scores of shape (len(user_indices), n_items); higher ranks first."""
        if self.n_items_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) before score()")
        users = np.asarray(user_indices)
        if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer):
            raise ValueError(f"user_indices must be a 1-D integer array, got dtype {users.dtype} shape {users.shape}")
        if users.size and (users.min() < 0 or users.max() >= self.n_users_):
            bad = users[(users < 0) | (users >= self.n_users_)][0]
            raise ValueError(f"user index {bad} is out of range; the model was fitted on {self.n_users_} users")
        return np.ascontiguousarray(self._score(users), dtype=np.float32)

    @abstractmethod
    def _fit(self, train: sparse.csr_matrix) -> None:
        """Fit on a binary float32 CSR matrix."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Score the whole catalogue for valid user indices."""
