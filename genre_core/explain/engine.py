"""explain(): attribute one recommendation to modalities, past items and words, with its trust data."""

from __future__ import annotations

import logging
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch

from genre_core.explain.integrated_gradients import integrated_gradients_shares, relative_delta
from genre_core.explain.leave_one_out import leave_one_out
from genre_core.explain.registry import EXPLAINERS
from genre_core.explain.scoring import MODALITIES, build_problem
from genre_core.explain.settings import ExplainError, ExplainSettings
from genre_core.explain.shapley import shapley_shares
from genre_core.explain.shares import method_agreement
from genre_core.schema import ITEM_ID, TITLE
from genre_core.training import item_texts

log = logging.getLogger(__name__)

CACHE_SIZE = 256
_CACHE: OrderedDict[tuple, dict] = OrderedDict()

BASELINE_TEXT = {
    "mean": "the catalogue's mean text vector, item-attribute and ID embeddings, the users' mean "
            "attribute embedding, the mean image features and log-mel spectrogram of the items that have them, "
            "and every history weight at 0",
    "zero": "zero text vector, item-attribute, ID and user-attribute embeddings, zero image features and "
            "spectrogram, and every history weight at 0",
}


def explain(recommender, user_id: str, item_id: str, versus: str | None = None, target: str = "score",
            settings: ExplainSettings | None = None) -> dict:
    """Explain why `item_id` gets its score (target="score") or ranks above `versus` (target="margin").

    With target="margin" and no `versus`, B is the item ranked right below `item_id` for this user.
    Results are cached by (model version, user, item, target, B, settings).
    Raises LookupError for an unknown user or item and ExplainError for other invalid input.
    """
    settings = settings or ExplainSettings()
    if target not in ("score", "margin"):
        raise ExplainError(f"unknown target {target!r}; choose 'score' or 'margin'")
    user_index, item_index, history = _check_request(recommender, user_id, item_id, settings)
    if versus is not None or target == "margin":
        target = "margin"
        versus_index = _check_item(recommender, versus) if versus is not None else _next_ranked(recommender, user_index, item_index)
        if versus_index == item_index:
            raise ExplainError(f"item B ({versus!r}) must differ from item A ({item_id!r}); pick another item to compare with")
    else:
        versus_index = None

    key = (recommender.version, user_index, item_index, target, versus_index, settings)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    result = _explain(recommender, user_index, item_index, versus_index, history, settings)
    _CACHE[key] = result
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return result


def clear_cache() -> None:
    _CACHE.clear()


def _explain(recommender, user_index, item_index, versus_index, history, settings) -> dict:
    start = time.perf_counter()
    targets = [item_index] if versus_index is None else [item_index, versus_index]
    problem = build_problem(recommender, user_index, targets, history, settings.baseline)
    score, baseline_score = problem.value(), problem.baseline_value()
    active = _active_modalities(recommender.model)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ig_shares, ig_history, convergence = integrated_gradients_shares(problem, settings)
        shapley, _, _ = shapley_shares(problem, settings)
        shares = {"integrated_gradients": ig_shares, "shapley": shapley}
        if settings.method not in shares:
            shares[settings.method] = EXPLAINERS[settings.method](problem, settings)[0]
        tokens = _tokens(recommender, problem, item_index, settings)
        shap_values = _shap(recommender, problem, user_index, settings)
    messages = [str(warning.message) for warning in caught]

    result = {
        "user_id": str(recommender.dataset.user_ids[user_index]),
        "item_id": str(recommender.dataset.item_ids[item_index]),
        "item_title": _title(recommender, item_index),
        "target": "score" if versus_index is None else "margin",
        "versus_item_id": None if versus_index is None else str(recommender.dataset.item_ids[versus_index]),
        "versus_title": None if versus_index is None else _title(recommender, versus_index),
        "model_version": recommender.version,
        "method": settings.method,
        "settings": settings.to_dict(),
        "baseline": settings.baseline,
        "baseline_description": BASELINE_TEXT[settings.baseline],
        "score": score,
        "baseline_score": baseline_score,
        "difference": score - baseline_score,
        "shares": _share_rows(shares[settings.method], active, score - baseline_score),
        "shares_by_method": {name: dict(zip(MODALITIES, values)) for name, values in shares.items()},
        "relative_convergence_delta": convergence.relative_delta,
        "convergence_delta": convergence.delta,
        "n_steps": convergence.n_steps,
        "converged": convergence.converged,
        "internal_batch_size": settings.internal_batch_size,
        "method_agreement": {"methods": ["integrated_gradients", "shapley"],
                             **method_agreement(ig_shares, shapley, active)},
        "history": _history_rows(recommender, problem, ig_history),
        "tokens": tokens,
        "shap": shap_values,
        "warnings": messages,
    }
    result["seconds"] = time.perf_counter() - start
    log.info("explained user %s item %s in %.2f s", result["user_id"], result["item_id"], result["seconds"])
    return result


# Requests


def _check_request(recommender, user_id, item_id, settings):
    text = recommender.config.text
    if text.tuning != "frozen" or recommender.config.model.fusion == "lm":
        raise ExplainError(
            f"explanations need frozen text vectors, but model {recommender.version} uses text.tuning "
            f"{text.tuning!r} with fusion {recommender.config.model.fusion!r}; explain a model trained with "
            "text.tuning: frozen and fusion concat_mlp or attention"
        )
    user_index = recommender.dataset.user_position(user_id)
    item_index = _check_item(recommender, item_id)
    history = recommender.histories[user_index]
    if len(history) == 0:
        raise ExplainError(
            f"user {user_id!r} has no history, so there is nothing to attribute to past items; "
            "pick a user with at least one interaction"
        )
    if settings.tokens and float(recommender.inputs.items["text_present"][item_index]) == 0:
        raise ExplainError(
            f"item {item_id!r} has no text, so there are no words to attribute; "
            "turn word attributions off (--no-tokens) or pick an item with text"
        )
    return user_index, item_index, history


def _check_item(recommender, item_id) -> int:
    return recommender.dataset.item_position(item_id)


def _next_ranked(recommender, user_index: int, item_index: int) -> int:
    """The unseen item ranked right below `item_index` for this user (right above it if it is last)."""
    history = recommender.histories[user_index]
    with torch.no_grad():
        batch = recommender.inputs.user_batch([user_index], [history], recommender.config.model.max_history,
                                              recommender.device)
        vectors = recommender.item_vectors
        scores = recommender.model.score(recommender.model.user_vectors(vectors, batch), vectors)[0].cpu()
    scores[torch.tensor(history.items)] = float("-inf")
    scores[item_index] = scores[item_index] if np.isfinite(float(scores[item_index])) else float("inf")
    order = torch.argsort(scores, descending=True).tolist()
    position = order.index(item_index)
    below = order[position + 1] if position + 1 < len(order) else order[position - 1]
    if not np.isfinite(float(scores[below])):
        below = order[position - 1]
    return below


# Result parts


def _active_modalities(model) -> list[bool]:
    item = set(model.item_tower.modalities)
    return ["text" in item, "tabular" in item, True, model.user_tower.attributes is not None,
            "image" in item, "audio" in item, True]


def _share_rows(shares, active, difference) -> list[dict]:
    return [
        {"modality": name, "share": float(value),
         "fraction": float(value / difference) if abs(difference) > 1e-12 else None}
        for name, value, used in zip(MODALITIES, shares, active) if used
    ]


def _history_rows(recommender, problem, ig_history) -> list[dict]:
    drops = leave_one_out(problem)
    items = recommender.dataset.items
    rows = []
    for position, item in enumerate(problem.history_items):
        rows.append({
            "item_id": str(recommender.dataset.item_ids[item]),
            "title": str(items.iloc[item][TITLE]) if TITLE in items.columns else str(items.iloc[item][ITEM_ID]),
            "integrated_gradients": float(ig_history[position]),
            "leave_one_out": float(drops[position]),
        })
    # Leave-one-out is what removing the item does, so it orders the rows. IG on the history weights
    # scales an item's value only: its attention key stays, so the two can disagree in sign.
    rows.sort(key=lambda row: row["leave_one_out"], reverse=True)
    return rows


def _tokens(recommender, problem, item_index, settings) -> dict | None:
    if not settings.tokens or "text" not in recommender.model.item_tower.modalities:
        return None
    from genre_core.explain.tokens import word_attributions

    text = item_texts(recommender.dataset)[item_index]
    words = word_attributions(problem, text, recommender.config.text.model, recommender.config.text.max_length, settings)
    convergence = words.pop("convergence")
    words.update(text=text, n_steps=convergence.n_steps, convergence_delta=convergence.delta,
                 relative_convergence_delta=convergence.relative_delta, converged=convergence.converged,
                 baseline="[CLS] [PAD]… [SEP]")
    return words


def _shap(recommender, problem, user_index, settings) -> dict | None:
    if not settings.shap:
        return None
    from genre_core.explain.tabular_shap import tabular_shap

    return tabular_shap(problem, recommender, user_index, settings)


def _title(recommender, index: int) -> str:
    items = recommender.dataset.items
    return str(items.iloc[index][TITLE]) if TITLE in items.columns else str(recommender.dataset.item_ids[index])
