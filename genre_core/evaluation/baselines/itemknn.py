"""Item-based k-nearest-neighbours with shrunk cosine similarity."""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse

from genre_core.config import ItemKNNConfig
from genre_core.evaluation.baselines.base import Baseline

log = logging.getLogger(__name__)

# Similarity columns are computed in blocks of at most this many dense cells,
# which bounds the memory of one block to about 200 MB of float32.
MAX_BLOCK_CELLS = 50_000_000


class ItemKNNBaseline(Baseline):
    """Score item j for user u as the sum of sim(i, j) over the items i that u interacted with.

    sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|) * sqrt(|U_j|) + shrink), where U_i
    is the set of users of item i. For each item j only its `neighbours` most
    similar items keep a non-zero sim(·, j), and an item is not its own neighbour.
    """

    def __init__(self, config: ItemKNNConfig | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        self.config = config if config is not None else ItemKNNConfig()
        self.similarity_: sparse.csr_matrix | None = None
        self.user_items_: sparse.csr_matrix | None = None

    def _fit(self, train: sparse.csr_matrix) -> None:
        self.user_items_ = train
        n_items = train.shape[1]
        neighbours = min(self.config.neighbours, n_items - 1)
        item_users = train.T.tocsr()
        norms = np.sqrt(np.asarray(item_users.sum(axis=1), dtype=np.float32).ravel())

        block = max(1, MAX_BLOCK_CELLS // n_items)
        blocks = []
        for start in range(0, n_items, block):
            columns = np.arange(start, min(start + block, n_items))
            blocks.append(self._similarity_columns(item_users, norms, columns, neighbours))
        self.similarity_ = sparse.hstack(blocks, format="csr")
        log.info(
            "item-kNN similarity: %d items, %d neighbours, shrink %s, %d non-zeros",
            n_items, neighbours, self.config.shrink, self.similarity_.nnz,
        )

    def _similarity_columns(
        self, item_users: sparse.csr_matrix, norms: np.ndarray, columns: np.ndarray, neighbours: int
    ) -> sparse.csc_matrix:
        """Return sim(·, j) for the items j in `columns`, pruned to the top `neighbours` rows."""
        co_counts = (item_users @ item_users[columns].T).toarray()  # (n_items, n_columns)
        similarity = co_counts / (norms[:, None] * norms[columns][None, :] + self.config.shrink + 1e-12)
        similarity[columns, np.arange(columns.size)] = 0.0

        n_items = similarity.shape[0]
        if neighbours < n_items:
            top_rows = np.argpartition(-similarity, neighbours - 1, axis=0)[:neighbours]
        else:
            top_rows = np.broadcast_to(np.arange(n_items)[:, None], similarity.shape)
        values = np.take_along_axis(similarity, top_rows, axis=0)
        column_ids = np.broadcast_to(np.arange(columns.size), top_rows.shape)
        keep = values > 0
        return sparse.csc_matrix(
            (values[keep].astype(np.float32), (top_rows[keep], column_ids[keep])),
            shape=(n_items, columns.size),
        )

    def _score(self, users: np.ndarray) -> np.ndarray:
        # (users, n_items) @ (n_items, n_items)
        return (self.user_items_[users] @ self.similarity_).toarray()
