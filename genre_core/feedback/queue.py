"""Labelling queue: first the recommended items whose rank the model is least sure of or whose explanations disagree."""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd

from genre_core.schema import ITEM_ID

log = logging.getLogger(__name__)

CACHE_SIZE = 64
_CACHE: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
NEAR_CUTOFF, METHODS_DISAGREE = "near_cutoff", "methods_disagree"


def labelling_queue(recommender, user_id: str, k: int = 10, size: int = 10, disagreement: bool = True) -> pd.DataFrame:
    """Return the `size` most informative items among the user's top 2k, most informative first.

    Two signals, each in [0, 1]:
    - `uncertainty`: 1 minus the item's score margin to the boundary between
      ranks k and k + 1, divided by the largest margin among the candidates.
      An item near the boundary enters or leaves the top-k with the smallest change.
    - `disagreement`: the total variation distance between the modality shares
      of Integrated Gradients (gradients along a path) and of feature ablation
      (occluding each modality), each normalised to absolute fractions. When a
      gradient method and a perturbation method tell different stories, the
      analyst's label says which one matches what they see.
    The two have different scales, so each is turned into its percentile among
    the candidates. `priority` is the larger percentile and `reason` names the
    signal it came from, so items at the top of either list come first.
    Results are cached by (model version, user, k, size, disagreement).
    """
    key = (recommender.version, str(user_id), k, size, disagreement)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key].copy()
    table = recommender.recommend(user_id, k=min(2 * k, recommender.dataset.n_items)).items
    scores = table["score"].to_numpy()
    boundary = scores[-1] if len(scores) <= k else (scores[k - 1] + scores[k]) / 2
    margin = np.abs(scores - boundary)
    uncertainty = 1.0 - margin / margin.max() if margin.max() > 0 else np.ones_like(margin)
    spread = _disagreement(recommender, user_id, table[ITEM_ID].astype(str).tolist()) if disagreement else np.zeros(len(table))
    uncertainty_rank, spread_rank = _percentile(uncertainty), _percentile(spread) if disagreement else np.zeros(len(table))
    table = table.assign(margin=margin, uncertainty=uncertainty, disagreement=spread,
                         priority=np.maximum(uncertainty_rank, spread_rank),
                         reason=np.where(spread_rank > uncertainty_rank, METHODS_DISAGREE, NEAR_CUTOFF))
    table = table.sort_values(["priority", "rank"], ascending=[False, True]).head(size).reset_index(drop=True)
    _CACHE[key] = table
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return table.copy()


def _percentile(values: np.ndarray) -> np.ndarray:
    """Rank each value among `values`, scaled to (0, 1]; ties share their average rank."""
    return pd.Series(values).rank(pct=True).to_numpy()


def share_disagreement(first: list[float], second: list[float], active: list[bool]) -> float:
    """Total variation distance (0 to 1) between two share vectors, as absolute fractions over the active modalities."""
    left = np.abs([share for share, used in zip(first, active) if used])
    right = np.abs([share for share, used in zip(second, active) if used])
    if left.sum() == 0 or right.sum() == 0:
        return 0.0 if left.sum() == right.sum() else 1.0
    return float(0.5 * np.abs(left / left.sum() - right / right.sum()).sum())


def _disagreement(recommender, user_id: str, item_ids: list[str]) -> np.ndarray:
    from genre_core.explain.engine import _active_modalities
    from genre_core.explain.integrated_gradients import integrated_gradients_shares
    from genre_core.explain.scoring import build_problem
    from genre_core.explain.settings import ExplainSettings
    from genre_core.explain.feature_ablation import ablation_shares

    user_index = recommender.dataset.user_position(user_id)
    history = recommender.histories[user_index]
    if len(history) == 0:
        return np.zeros(len(item_ids))  # a cold-start user has no history to attribute to
    # One IG pass without the step ladder: enough to rank candidates, fast enough for a page.
    settings = ExplainSettings(tokens=False, max_relative_delta=1.0)
    active = _active_modalities(recommender.model)
    values = []
    for item_id in item_ids:
        problem = build_problem(recommender, user_index, [recommender.dataset.item_position(item_id)], history, settings.baseline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a coarse pass; the Attributions page reports convergence in full
            integrated, _, _ = integrated_gradients_shares(problem, settings)
        ablation = ablation_shares(problem, settings)[0]
        values.append(share_disagreement(integrated, ablation, active))
    log.info("explanation disagreement of %d queue candidates for user %s computed", len(item_ids), user_id)
    return np.asarray(values)


def labelled_items(labels: pd.DataFrame, user_id: str) -> set[str]:
    active = labels[(labels["user_id"] == str(user_id)) & ~labels["undone"].astype(bool)]
    return set(active[ITEM_ID].astype(str))
