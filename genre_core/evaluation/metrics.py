"""Top-k ranking metrics with binary relevance, one value per user.

Every metric has the signature ``metric(hits, n_relevant, k) -> np.ndarray``:

- `hits` is a bool matrix (n_users, n_ranks) with n_ranks >= k, where
  ``hits[u, r]`` is True when the item at rank r + 1 of user u's list is
  relevant to u;
- `n_relevant` is the number of relevant (test) items of each user, at
  least 1;
- the result is a float64 array with one value per user.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import sparse

log = logging.getLogger(__name__)

Metric = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def check_ranking_inputs(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the arguments of a metric and return them as numpy arrays.

    Raises ValueError in these cases:

    - `k` is not a positive integer;
    - `hits` is not a 2-D bool matrix with at least `k` columns;
    - `n_relevant` does not have one entry per row of `hits`;
    - a user has no relevant item;
    - a row of `hits` has more hits than its user has relevant items.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")

    hits = np.asarray(hits)
    if hits.dtype != np.bool_:
        raise ValueError(f"hits must be a bool matrix, got dtype {hits.dtype}; convert it with hits.astype(bool)")
    if hits.ndim != 2:
        raise ValueError(f"hits must be a 2-D matrix (users × ranks), got shape {hits.shape}")
    if hits.shape[1] < k:
        raise ValueError(f"hits has {hits.shape[1]} ranks per user, fewer than k={k}; pass at least k ranks")

    n_relevant = np.asarray(n_relevant)
    if n_relevant.shape != (hits.shape[0],):
        raise ValueError(
            f"n_relevant must have one entry per row of hits: shape ({hits.shape[0]},) expected, "
            f"got {n_relevant.shape}"
        )
    if n_relevant.size and n_relevant.min() < 1:
        user = int(np.argmin(n_relevant))
        raise ValueError(
            f"n_relevant[{user}] is {n_relevant[user]}; metrics are undefined for a user without "
            "relevant items, so drop such users before ranking"
        )
    if (hits.sum(axis=1) > n_relevant).any():
        user = int(np.flatnonzero(hits.sum(axis=1) > n_relevant)[0])
        raise ValueError(
            f"row {user} of hits has {hits[user].sum()} hits but n_relevant[{user}] is {n_relevant[user]}; "
            "a user cannot hit more items than are relevant to them"
        )
    return hits, n_relevant


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Compute hits in the top k divided by the number of relevant items.

    The denominator is the full number of relevant items, not min(n_relevant, k),
    as in Microsoft Recommenders' ``recall_at_k``, so a user with more than k
    relevant items cannot reach 1.0.
    """
    hits, n_relevant = check_ranking_inputs(hits, n_relevant, k)
    return hits[:, :k].sum(axis=1) / n_relevant


def precision_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Compute hits in the top k divided by k."""
    hits, _ = check_ranking_inputs(hits, n_relevant, k)
    return hits[:, :k].sum(axis=1) / k


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Compute binary-relevance NDCG at k.

    DCG = sum over ranks r <= k of hit_r / log2(r + 1); the ideal DCG puts all
    min(n_relevant, k) relevant items at the top of the list.
    """
    hits, n_relevant = check_ranking_inputs(hits, n_relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits[:, :k] @ discounts
    ideal_dcg = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return dcg / ideal_dcg


def mrr_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Compute the reciprocal rank of the first hit within the top k, 0 when there is none."""
    hits, _ = check_ranking_inputs(hits, n_relevant, k)
    top = hits[:, :k]
    first_rank = top.argmax(axis=1) + 1
    return np.where(top.any(axis=1), 1.0 / first_rank, 0.0)


def hit_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Compute 1.0 when the top k contains at least one relevant item, else 0.0."""
    hits, _ = check_ranking_inputs(hits, n_relevant, k)
    return hits[:, :k].any(axis=1).astype(np.float64)


METRICS: dict[str, Metric] = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "mrr": mrr_at_k,
    "hit": hit_at_k,
}


# Column of the per-user table with the user's row index in the matrices.
USER_INDEX = "user_idx"
N_RELEVANT = "n_relevant"

ScoreFunction = Callable[[np.ndarray], "torch.Tensor | np.ndarray"]


def full_ranking_metrics(
    score_fn: ScoreFunction,
    seen: sparse.csr_matrix,
    relevant: sparse.csr_matrix,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    per_user: bool = False,
    metrics: Sequence[str] | None = None,
) -> dict[str, float] | pd.DataFrame:
    """Rank the whole catalogue for every user with a relevant item and score the top k.

    `score_fn(user_indices)` returns a (len(user_indices), n_items) tensor or
    array of scores, higher is better. Items in the user's row of `seen` get a
    score of -inf before ``torch.topk``, so they never take a place in the
    list. A seen item is also removed from the user's relevant items, and
    users left with no relevant item are not evaluated. Among equal scores the
    lower item index ranks first, so the result does not depend on `ks`.

    Returns the mean of each metric over the evaluated users, keyed like
    ``"ndcg@10"``, plus ``"users"``, the number of evaluated users. With
    `per_user=True` it returns a DataFrame instead, with one row per evaluated
    user and the columns user_idx, n_relevant and one per metric and k.
    """
    ks, metric_names = _check_evaluation_arguments(seen, relevant, ks, batch_size, metrics)
    relevant = _drop_seen(relevant.tocsr(), seen.tocsr())
    seen = seen.tocsr()

    relevant_counts = relevant.getnnz(axis=1)
    users = np.flatnonzero(relevant_counts > 0)
    if users.size == 0:
        raise ValueError("relevant has no (unseen) item for any user, so there is nothing to evaluate")
    log.debug(
        "full ranking of %d items for %d users on %s, k=%s", relevant.shape[1], users.size, device, list(ks)
    )

    columns: dict[str, list[np.ndarray]] = {f"{name}@{k}": [] for name in metric_names for k in ks}
    for start in range(0, users.size, batch_size):
        batch = users[start:start + batch_size]
        hits = _top_k_hits(score_fn, batch, seen, relevant, max(ks), device)
        n_relevant = relevant_counts[batch]
        for name in metric_names:
            for k in ks:
                columns[f"{name}@{k}"].append(METRICS[name](hits, n_relevant, k))

    table = pd.DataFrame({
        USER_INDEX: users,
        N_RELEVANT: relevant_counts[users],
        **{key: np.concatenate(parts) for key, parts in columns.items()},
    })
    if per_user:
        return table
    summary = {key: float(table[key].mean()) for key in columns}
    summary["users"] = int(users.size)
    return summary


def _check_evaluation_arguments(
    seen: sparse.spmatrix,
    relevant: sparse.spmatrix,
    ks: Sequence[int],
    batch_size: int,
    metrics: Sequence[str] | None,
) -> tuple[list[int], list[str]]:
    for name, matrix in (("seen", seen), ("relevant", relevant)):
        if not sparse.issparse(matrix):
            raise ValueError(f"{name} must be a scipy sparse matrix (users × items), got {type(matrix).__name__}")
    if seen.shape != relevant.shape:
        raise ValueError(
            f"seen and relevant must have the same shape (users × items), got {seen.shape} and {relevant.shape}"
        )

    ks = list(ks)
    if not ks:
        raise ValueError("ks is empty; pass at least one cut-off such as ks=(10,)")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r} in ks={ks}")
    if max(ks) > relevant.shape[1]:
        raise ValueError(f"k={max(ks)} is larger than the catalogue of {relevant.shape[1]} items; lower k")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")

    metric_names = list(METRICS) if metrics is None else list(metrics)
    unknown = [name for name in metric_names if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; available metrics: {', '.join(METRICS)}")
    unique_ks = list(dict.fromkeys(int(k) for k in ks))
    return unique_ks, metric_names


def _drop_seen(relevant: sparse.csr_matrix, seen: sparse.csr_matrix) -> sparse.csr_matrix:
    """Return `relevant` without the (user, item) pairs that are also in `seen`, as a bool CSR matrix."""
    relevant = relevant.astype(bool)
    overlap = relevant.multiply(seen.astype(bool))
    if overlap.nnz:
        log.warning(
            "%d relevant (user, item) pairs are also seen items, so they are excluded from ranking and from "
            "the relevant items; check the split for test items that leak into training", overlap.nnz,
        )
        relevant = (relevant.astype(np.int8) - overlap.astype(np.int8)).astype(bool)
    relevant.eliminate_zeros()
    relevant.sort_indices()
    return relevant


def _top_k_hits(
    score_fn: ScoreFunction,
    batch: np.ndarray,
    seen: sparse.csr_matrix,
    relevant: sparse.csr_matrix,
    k: int,
    device: str | torch.device,
) -> np.ndarray:
    """Score one batch of users, mask their seen items and mark which of the top k are relevant."""
    n_items = relevant.shape[1]
    with torch.no_grad():
        scores = torch.as_tensor(score_fn(batch), device=device)
        if scores.shape != (batch.size, n_items):
            raise ValueError(
                f"score_fn returned shape {tuple(scores.shape)} for {batch.size} users; "
                f"expected ({batch.size}, {n_items}), one score per user and item"
            )
        # Copy so that masking never writes into an array that score_fn still owns.
        scores = scores.to(torch.float32 if not scores.is_floating_point() else scores.dtype, copy=True)
        if torch.isnan(scores).any():
            raise ValueError("score_fn returned NaN scores; check the model for diverged parameters")

        seen_rows = seen[batch]
        rows = np.repeat(np.arange(batch.size), np.diff(seen_rows.indptr))
        scores[torch.as_tensor(rows, device=device), torch.as_tensor(seen_rows.indices, device=device)] = -torch.inf
        top_items = _top_k_items(scores, k).cpu().numpy()

    # A (user, item) pair is encoded as row * n_items + item, so one sorted
    # membership test covers the whole batch.
    relevant_rows = relevant[batch]
    relevant_rows.sort_indices()
    relevant_keys = (
        np.repeat(np.arange(batch.size, dtype=np.int64), np.diff(relevant_rows.indptr)) * n_items
        + relevant_rows.indices
    )
    top_keys = np.arange(batch.size, dtype=np.int64)[:, None] * n_items + top_items
    return np.isin(top_keys, relevant_keys, assume_unique=False)


def _top_k_items(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Return the indices of the k highest scores of each row, breaking ties by the lower index.

    ``torch.topk`` orders tied scores arbitrarily, and the order can change with
    k. Rows with a tie inside the top k or at its boundary are re-ranked by a
    stable sort, so that a popularity ranking gives the same list for every k.
    """
    values, indices = torch.topk(scores, k, dim=1)  # (users, k), sorted descending
    tie_at_boundary = (scores >= values[:, -1:]).sum(dim=1) > k
    tie_inside = (values[:, 1:] == values[:, :-1]).any(dim=1)
    tied_rows = torch.nonzero(tie_at_boundary | tie_inside).squeeze(1)
    if tied_rows.numel():
        stable = torch.sort(scores[tied_rows], dim=1, descending=True, stable=True).indices[:, :k]
        indices[tied_rows] = stable
    return indices
