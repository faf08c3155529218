"""Windowed quality: HR@k and NDCG@k of the model's top k on the next interactions, and the positive-feedback rate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from genre_core.data.dataset import interaction_matrix
from genre_core.evaluation.metrics import USER_INDEX, ScoreFunction, full_ranking_metrics
from genre_core.schema import RATING


@dataclass
class WindowQuality:
    """Quality of one model on one window, before it learns from that window (prequential)."""

    k: int
    ndcg: float  # mean NDCG@k over the evaluated users; NaN when no user has an unseen item
    hit_rate: float  # mean HR@k (share of users with at least one window item in their top k)
    users: int
    interactions: int
    positive_rate: float  # share of rated interactions at or above the positive rating; NaN without ratings
    # NDCG@k of each evaluated user, in the order of the user's first interaction in the window.
    user_ndcg: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        return {
            f"ndcg@{self.k}": self.ndcg, f"hit@{self.k}": self.hit_rate, "users": self.users,
            "interactions": self.interactions, "positive_rate": self.positive_rate,
        }


def positive_rate(window: pd.DataFrame, positive_rating: float) -> float:
    """Share of the window's rated interactions whose rating is at least `positive_rating`."""
    ratings = window[RATING].to_numpy(dtype=float)
    rated = ratings[np.isfinite(ratings)]
    return float((rated >= positive_rating).mean()) if rated.size else float("nan")


def window_quality(
    score_fn: ScoreFunction,
    seen: sparse.csr_matrix,
    window: pd.DataFrame,
    k: int,
    positive_rating: float,
    device="cpu",
) -> WindowQuality:
    """Rank the catalogue for each user of `window` and score the top `k` against the user's window items.

    `seen` (users × items) contains every interaction before the window. Those
    items are removed from the ranking and from the relevant items, so a
    re-watched film is neither a hit nor a miss.
    """
    relevant = interaction_matrix(window, *seen.shape)
    rate = positive_rate(window, positive_rating)
    try:
        table = full_ranking_metrics(score_fn, seen, relevant, ks=(k,), device=device, per_user=True, metrics=("ndcg", "hit"))
    except ValueError as error:
        if "nothing to evaluate" not in str(error):
            raise
        return WindowQuality(k, float("nan"), float("nan"), 0, len(window), rate)

    first_seen = window.drop_duplicates("user_idx")["user_idx"].to_numpy()
    order = pd.Series(np.arange(len(first_seen)), index=first_seen)
    table = table.assign(order=order.reindex(table[USER_INDEX]).to_numpy()).sort_values("order")
    return WindowQuality(
        k=k,
        ndcg=float(table[f"ndcg@{k}"].mean()),
        hit_rate=float(table[f"hit@{k}"].mean()),
        users=len(table),
        interactions=len(window),
        positive_rate=rate,
        user_ndcg=table[f"ndcg@{k}"].to_numpy(dtype=float),
    )
