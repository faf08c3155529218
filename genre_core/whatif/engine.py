"""Re-score one user under what-if edits, in memory: the dataset, the model and the caches on disk stay as they are."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from genre_core.features import TabularEncoding
from genre_core.inputs import History
from genre_core.schema import ITEM_ID, TITLE
from genre_core.whatif.edits import (
    Edits, WhatIfError, catalogue_position, check_attributes, edited_history, user_position,
)
from genre_core.whatif.text import encode_edited_texts

log = logging.getLogger(__name__)


@dataclass
class AppliedEdits:
    """An edited view and what applying the edits reported."""

    # A shallow copy of the Recommender with the edited parts replaced. It shares every
    # unedited tensor with the original and has the attributes that Recommender.recommend
    # and genre_core.explain.explain read, so both run on it unchanged. Its version is
    # the original's plus a hash of the edits, which keeps explanation caches apart.
    view: object
    user_index: int
    history: History
    notes: list[dict] = field(default_factory=list)


def apply_edits(recommender, user_id: str, edits: Edits) -> AppliedEdits:
    """Return a view of `recommender` in which `edits` are applied for `user_id`.

    Raises LookupError for an unknown user or item and WhatIfError for any other invalid edit.
    """
    user_index = user_position(recommender.dataset, user_id)
    history = edited_history(recommender, user_index, edits) if edits.edits_history else recommender.histories[user_index]
    view = copy.copy(recommender)
    view.version = f"{recommender.version}+whatif-{edits.digest()}" if not edits.is_empty else recommender.version
    notes: list[dict] = []

    if edits.edits_history:
        view.histories = list(recommender.histories)
        view.histories[user_index] = history
        if len(history) == 0:
            notes.append({"code": "cold_start", "user_id": str(user_id).strip(),
                          "message": f"user {str(user_id).strip()!r} has no history left, so the list is the cold-start list"})
    if edits.user_attributes:
        _edit_user(view, user_index, edits.user_attributes)
    if edits.item_texts or edits.item_attributes:
        notes += _edit_items(view, edits)
    return AppliedEdits(view, user_index, history, notes)


def _edit_user(view, user_index: int, values: dict) -> None:
    dataset = view.dataset
    encoding = TabularEncoding.from_dict(view.meta["user_encoding"])
    checked = check_attributes(values, dataset.user_features, encoding, f"user {dataset.user_ids[user_index]!r}",
                               dataset.users)
    users = dataset.users.copy()
    for column, value in checked.items():
        users.loc[user_index, column] = value
    encoded = encoding.transform(users.iloc[[user_index]])

    view.dataset = copy.copy(dataset)
    view.dataset.users = users
    view.inputs = copy.copy(view.inputs)
    view.inputs.users = dict(view.inputs.users)
    for key, value in encoded.items():
        tensor = view.inputs.users[f"user_{key}"].clone()
        tensor[user_index] = value[0]
        view.inputs.users[f"user_{key}"] = tensor


def _edit_items(view, edits: Edits) -> list[dict]:
    dataset, config = view.dataset, view.config
    encoding = TabularEncoding.from_dict(view.meta["item_encoding"])
    items = dataset.items.copy()
    tensors = {key: value.clone() for key, value in view.inputs.items.items()}
    notes, changed = [], set()

    for item_id, values in edits.item_attributes.items():
        index = catalogue_position(dataset, item_id, "edit")
        checked = check_attributes(values, dataset.item_features, encoding, f"item {item_id!r}", dataset.items)
        for column, value in checked.items():
            items.loc[index, column] = value
        for key, value in encoding.transform(items.iloc[[index]]).items():
            tensors[f"item_{key}"][index] = value[0]
        changed.add(index)

    text_columns = dataset.item_features.text
    if edits.item_texts:
        _check_text_editable(config)
    if edits.item_texts and text_columns:
        indices = [catalogue_position(dataset, item_id, "edit") for item_id in edits.item_texts]
        encoded = encode_edited_texts(list(edits.item_texts.values()), config.text.model, config.text.max_length,
                                      tensors["text"].shape[1])
        for (item_id, text), index, result in zip(edits.item_texts.items(), indices, encoded):
            tensors["text"][index] = torch.from_numpy(result.vector)
            tensors["text_present"][index] = float(result.present)
            items.loc[index, text_columns[0]] = text
            for column in text_columns[1:]:
                items.loc[index, column] = ""
            changed.add(index)
            if result.truncated:
                notes.append({
                    "code": "text_truncated", "item_id": item_id, "tokens": result.n_tokens,
                    "limit": result.max_length, "kept": result.kept_text,
                    "message": f"the text of item {item_id!r} has {result.n_tokens} tokens, more than the model's "
                               f"limit of {result.max_length}, so only its start was used: {result.kept_text!r}",
                })
            if result.mostly_unknown:
                notes.append({
                    "code": "text_unknown", "item_id": item_id, "unknown": result.n_unknown,
                    "tokens": result.n_tokens - 2, "model": config.text.model,
                    "message": f"{result.n_unknown} of the {result.n_tokens - 2} word pieces of the text of item "
                               f"{item_id!r} are unknown to the text model {config.text.model!r}, which reads them "
                               "all as one 'unknown' token; write the text in the model's language",
                })
            if not result.present:
                notes.append({"code": "text_empty", "item_id": item_id,
                              "message": f"item {item_id!r} has an empty text, so its text modality counts as missing"})
    elif edits.item_texts:
        raise WhatIfError(f"items of dataset '{dataset.name}' have no text columns, so there is no text to edit")

    view.dataset = copy.copy(dataset)
    view.dataset.items = items
    view.inputs = copy.copy(view.inputs)
    view.inputs.items = tensors
    rows = torch.as_tensor(sorted(changed), dtype=torch.long)
    with torch.no_grad():
        row_inputs = {key: value[rows].to(view.device) for key, value in tensors.items()}
        vectors = view.item_vectors.clone()
        vectors[rows.to(view.device)] = view.model.item_vectors(row_inputs)
    view.item_vectors = vectors
    return notes


def _check_text_editable(config) -> None:
    """Reject text edits of a model that does not read frozen sentence vectors, which this module recomputes."""
    tuning = getattr(config.text, "tuning", "frozen")
    if tuning != "frozen" or config.model.fusion == "lm":
        raise WhatIfError(f"text edits need a frozen text encoder and a fusion other than 'lm'; this model has "
                          f"text.tuning={tuning!r} and model.fusion={config.model.fusion!r}, so edit attributes or "
                          "the history instead")


# Scoring


def score_histories(recommender, user_index: int, histories: list[History]) -> torch.Tensor:
    """Scores of every catalogue item for one user under each history: (len(histories), items).

    Items in a row's history are -inf, because they are never recommended back.
    """
    # NOTE: this scores with the float32 model. A Recommender loaded with serving compression
    # ranks its served lists through the compressed model, so its lists can differ slightly.
    with torch.no_grad():
        batch = recommender.inputs.user_batch([user_index] * len(histories), histories,
                                              recommender.config.model.max_history, recommender.device)
        users = recommender.model.user_vectors(recommender.item_vectors, batch)
        scores = recommender.model.score(users, recommender.item_vectors).cpu()
    for row, history in enumerate(histories):
        if len(history):
            scores[row, torch.from_numpy(np.array(history.items, dtype=np.int64))] = float("-inf")
    return scores


def ranks_of(scores: torch.Tensor) -> np.ndarray:
    """1-based rank of every item among the recommendable (finite) ones, NaN for the others: (rows, items)."""
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    positions = torch.arange(1, scores.shape[-1] + 1).expand_as(order)
    ranks.scatter_(-1, order, positions)
    ranks = ranks.to(torch.float64).numpy()
    ranks[~torch.isfinite(scores).numpy()] = np.nan
    return ranks


@dataclass
class WhatIfResult:
    """Before and after rankings of one user under edits, and every item's rank and score change."""

    user_id: str
    k: int
    edits: Edits
    before: pd.DataFrame  # the top-k before: rank, item_id, title, score
    after: pd.DataFrame  # the top-k after, with rank_before, rank_change and score_change
    changes: pd.DataFrame  # every item: rank and score before and after, rank_change (> 0 moved up), score_change
    cold_start: bool
    history_size: tuple[int, int]
    notes: list[dict]
    model_version: str
    seconds: float

    def to_dict(self, rows: int | None = None) -> dict:
        """JSON-ready form; `changes` keeps the `rows` largest rank moves (default 2 k)."""
        rows = rows or 2 * self.k
        moved = self.changes.dropna(subset=["rank_change"])
        moved = moved.reindex(moved["rank_change"].abs().sort_values(ascending=False).index).head(rows)
        return {
            "user_id": self.user_id, "k": self.k, "model_version": self.model_version, "edits": self.edits.to_dict(),
            "cold_start": self.cold_start, "history_size_before": self.history_size[0],
            "history_size_after": self.history_size[1], "notes": self.notes, "seconds": round(self.seconds, 4),
            "before": _records(self.before), "after": _records(self.after), "largest_changes": _records(moved),
        }


def rescore(recommender, user_id: str, edits: Edits, k: int = 10) -> WhatIfResult:
    """Re-score `user_id` under `edits`: the new top-k and the rank and score change of every item."""
    start = time.perf_counter()
    n_items = recommender.dataset.n_items
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_items:
        raise ValueError(f"k must be an integer from 1 to {n_items}, got {k!r}")
    applied = apply_edits(recommender, user_id, edits)
    user_index = applied.user_index
    original = recommender.histories[user_index]
    before = score_histories(recommender, user_index, [original])[0]
    after = score_histories(applied.view, user_index, [applied.history])[0]
    seconds = time.perf_counter() - start

    ranks = ranks_of(torch.stack([before, after]))
    changes = pd.DataFrame({
        ITEM_ID: recommender.dataset.item_ids.astype(str), TITLE: _titles(recommender),
        "score_before": _finite(before), "score_after": _finite(after),
        "rank_before": ranks[0], "rank_after": ranks[1],
    })
    changes["score_change"] = changes["score_after"] - changes["score_before"]
    changes["rank_change"] = changes["rank_before"] - changes["rank_after"]
    top_before = changes.dropna(subset=["rank_before"]).nsmallest(k, "rank_before")
    top_after = changes.dropna(subset=["rank_after"]).nsmallest(k, "rank_after")
    notes = list(applied.notes)
    if len(top_after) < k:
        notes.append({"code": "short_list", "count": len(top_after), "k": int(k),
                      "message": f"only {len(top_after)} items are left to recommend, fewer than k = {k}, because "
                                 "every other item is in the edited history; remove some of the added items"})
    result = WhatIfResult(
        user_id=str(user_id).strip(), k=int(k), edits=edits,
        before=top_before[["rank_before", ITEM_ID, TITLE, "score_before"]].reset_index(drop=True),
        after=top_after[["rank_after", ITEM_ID, TITLE, "score_after", "rank_before", "rank_change",
                         "score_change"]].reset_index(drop=True),
        changes=changes, cold_start=len(applied.history) == 0, history_size=(len(original), len(applied.history)),
        notes=notes, model_version=applied.view.version, seconds=seconds,
    )
    log.info("what-if re-score of user %s (%d history items after edits) in %.1f ms", result.user_id,
             len(applied.history), seconds * 1000)
    return result


def explain_under_edits(recommender, user_id: str, item_id: str, edits: Edits, versus: str | None = None,
                        target: str = "score", settings=None) -> dict:
    """Attributions of one (user, item) pair, or its margin over `versus`, with `edits` applied."""
    from genre_core.explain import explain

    view = apply_edits(recommender, user_id, edits).view
    return explain(view, user_id, item_id, versus=versus, target=target, settings=settings)


def _finite(scores: torch.Tensor) -> np.ndarray:
    values = scores.to(torch.float64).numpy().copy()
    values[~np.isfinite(values)] = np.nan
    return values


def _titles(recommender) -> np.ndarray:
    items = recommender.dataset.items
    column = TITLE if TITLE in items.columns else ITEM_ID
    return items[column].astype(str).to_numpy()


def _records(frame: pd.DataFrame) -> list[dict]:
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict(orient="records")

