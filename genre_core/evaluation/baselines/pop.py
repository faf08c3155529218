"""Most-popular baseline: every user gets the items ranked by interaction count."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from genre_core.evaluation.baselines.base import Baseline


class PopularityBaseline(Baseline):
    """Score each item by the number of training users who interacted with it."""

    def __init__(self, config: None = None, seed: int = 0) -> None:
        if config is not None:
            raise ValueError(f"the popularity baseline has no settings; pass config=None, got {config!r}")
        super().__init__(seed)
        self.item_counts_: np.ndarray | None = None

    def _fit(self, train: sparse.csr_matrix) -> None:
        self.item_counts_ = np.asarray(train.sum(axis=0), dtype=np.float32).ravel()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_counts_, (users.size, self.n_items_))
