"""Labelling queue: the recommended items whose rank the model is least sure of come first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from genre_core.schema import ITEM_ID


def labelling_queue(recommender, user_id: str, k: int = 10, size: int = 10) -> pd.DataFrame:
    """Items around the top-k cut-off of `user_id`, ordered by their score margin to that cut-off.

    An item whose score is close to the boundary between rank k and k + 1 would
    enter or leave the top-k with the smallest change, so a label on it is the
    most informative. The column `margin` is |score - boundary score|.
    """
    table = recommender.recommend(user_id, k=min(2 * k, recommender.dataset.n_items)).items
    scores = table["score"].to_numpy()
    if len(scores) <= k:
        boundary = scores[-1]
    else:
        boundary = (scores[k - 1] + scores[k]) / 2
    table = table.assign(margin=np.abs(scores - boundary))
    # NOTE: disagreement between explanation methods is not used yet; add it once attributions are stored per item.
    return table.sort_values(["margin", "rank"]).head(size).reset_index(drop=True)


def labelled_items(labels: pd.DataFrame, user_id: str) -> set[str]:
    active = labels[(labels["user_id"] == str(user_id)) & ~labels["undone"].astype(bool)]
    return set(active[ITEM_ID].astype(str))
