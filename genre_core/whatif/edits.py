"""Edits of one what-if scenario and their validation against the dataset and the model's vocabularies."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from genre_core.features import UNKNOWN, TabularEncoding
from genre_core.inputs import History
from genre_core.schema import MULTILABEL_SEPARATOR


class WhatIfError(ValueError):
    """A what-if request that cannot be applied: the message names the value and what to do."""


@dataclass
class Edits:
    """Changes to one user's history and attributes and to items, applied in memory only.

    `add` maps an item ID to its rating (None for no rating). `item_texts` replaces an
    item's whole text (its text columns joined with ". "), and `item_attributes` maps an
    item ID to {column: value}. A multi-label value is a list of labels or a "|"-joined string.
    """

    remove: tuple[str, ...] = ()
    add: dict[str, float | None] = field(default_factory=dict)
    ratings: dict[str, float] = field(default_factory=dict)
    user_attributes: dict[str, object] = field(default_factory=dict)
    item_texts: dict[str, str] = field(default_factory=dict)
    item_attributes: dict[str, dict[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.remove = tuple(_unique((str(item).strip() for item in self.remove), "items to remove"))
        self.add = _stripped_keys(self.add, "items to add")
        self.ratings = _stripped_keys(self.ratings, "re-rated items")
        self.item_texts = {item: str(text) for item, text in _stripped_keys(self.item_texts, "edited texts").items()}
        self.item_attributes = {item: dict(values)
                                for item, values in _stripped_keys(self.item_attributes, "edited items").items()}
        both = [item for item in self.add if item in self.remove]
        if both:
            raise WhatIfError(f"item {both[0]!r} is both added to and removed from the history; keep one of the two edits")

    @property
    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    @property
    def edits_history(self) -> bool:
        return bool(self.remove or self.add or self.ratings)

    def to_dict(self) -> dict:
        return {**asdict(self), "remove": list(self.remove)}

    def digest(self) -> str:
        """Short hash of the edits, part of the model version tag of an edited view."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def _unique(items, what: str) -> list[str]:
    """Return `items` as a list, or raise WhatIfError naming the first item listed twice."""
    seen: list[str] = []
    for item in items:
        if item in seen:
            raise WhatIfError(f"item {item!r} is listed twice in the {what}; list each item once")
        seen.append(item)
    return seen


def _stripped_keys(values: dict, what: str) -> dict:
    keys = _unique((str(item).strip() for item in values), what)
    return dict(zip(keys, values.values()))


def rating_range(dataset) -> tuple[float, float] | None:
    """Return the smallest and largest rating in the dataset, or None when it has no ratings."""
    ratings = dataset.interactions["rating"].to_numpy(dtype=float)
    ratings = ratings[np.isfinite(ratings)]
    if not len(ratings):
        return None
    return float(ratings.min()), float(ratings.max())


def check_rating(dataset, item_id: str, rating) -> float:
    """Return `rating` as a float inside the dataset's rating range, or raise WhatIfError."""
    bounds = rating_range(dataset)
    if bounds is None:
        raise WhatIfError(f"dataset '{dataset.name}' has no ratings, so item {item_id!r} cannot get rating {rating!r}; "
                          "leave the rating empty")
    low, high = bounds
    value = _finite_number(rating)
    if value is None:
        raise WhatIfError(f"rating {rating!r} of item {item_id!r} is not a number; give a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise WhatIfError(f"rating {rating!r} of item {item_id!r} is out of range; give a number from {low:g} to {high:g}")
    return value


def edited_history(recommender, user_index: int, edits: Edits) -> History:
    """Apply the history part of `edits` to the user's history; added items become the newest."""
    dataset = recommender.dataset
    history = recommender.histories[user_index]
    items, ratings, stamps = list(history.items), list(history.ratings), list(history.timestamps)
    positions = {int(item): position for position, item in enumerate(items)}
    user_id = str(dataset.user_ids[user_index])

    removed = set()
    for item_id in edits.remove:
        removed.add(_history_position(dataset, positions, item_id, user_id, "remove"))
    for item_id, rating in edits.ratings.items():
        if item_id in edits.remove:
            raise WhatIfError(f"item {item_id!r} is both removed and re-rated; keep one of the two edits")
        ratings[_history_position(dataset, positions, item_id, user_id, "re-rate")] = check_rating(dataset, item_id, rating)

    newest = int(max(stamps)) if len(stamps) else 0
    for offset, (item_id, rating) in enumerate(edits.add.items(), start=1):
        index = catalogue_position(dataset, item_id, "add")
        if index in positions:
            raise WhatIfError(f"item {item_id!r} is already in the history of user {user_id!r}; change its rating instead")
        items.append(index)
        ratings.append(math.nan if rating is None else check_rating(dataset, item_id, rating))
        stamps.append(newest + offset)
        positions[index] = len(items) - 1

    keep = [position for position, item in enumerate(items) if position not in removed]
    return History(
        np.asarray([items[position] for position in keep], dtype=np.int64),
        np.asarray([ratings[position] for position in keep], dtype=float),
        np.asarray([stamps[position] for position in keep], dtype=np.int64),
    )


def numeric_range(frame, column: str) -> tuple[float, float] | None:
    """Return the smallest and largest finite value of a numeric column, or None when it has none."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else None


def check_attributes(values: dict, spec, encoding: TabularEncoding, owner: str, frame=None) -> dict:
    """Validate {column: value} edits of one user or item row and return them in table form.

    A numeric value must lie inside the range of its column in `frame` (the dataset's
    users or items table), because the model never saw values outside it.
    """
    checked = {}
    editable = [*spec.categorical, *spec.multilabel, *spec.numeric]
    for column, value in values.items():
        if column in spec.categorical:
            allowed = [label for label in encoding.categorical.get(column, []) if label != UNKNOWN]
            if str(value) not in allowed:
                raise WhatIfError(f"{owner} attribute {column} = {value!r} is not a known value; "
                                  f"choose one of {', '.join(allowed[:30])}")
            checked[column] = str(value)
        elif column in spec.multilabel:
            labels = value.split(MULTILABEL_SEPARATOR) if isinstance(value, str) else [str(label) for label in value]
            labels = [label.strip() for label in labels if label.strip()]
            allowed = encoding.multilabel.get(column, [])
            unknown = [label for label in labels if label not in allowed]
            if unknown:
                raise WhatIfError(f"{owner} attribute {column} has unknown labels {', '.join(map(repr, unknown))}; "
                                  f"choose from {', '.join(allowed)}")
            checked[column] = MULTILABEL_SEPARATOR.join(labels)
        elif column in spec.numeric:
            number = _finite_number(value)
            bounds = numeric_range(frame, column) if frame is not None and column in frame else None
            if number is None:
                raise WhatIfError(f"{owner} attribute {column} = {value!r} is not a finite number; give a number"
                                  + (f" from {bounds[0]:g} to {bounds[1]:g}" if bounds else ""))
            if bounds and not bounds[0] <= number <= bounds[1]:
                raise WhatIfError(f"{owner} attribute {column} = {value!r} is outside the data's range; "
                                  f"give a number from {bounds[0]:g} to {bounds[1]:g}")
            checked[column] = number
        else:
            raise WhatIfError(f"{owner} has no editable attribute {column!r}; editable attributes are "
                              f"{', '.join(editable) or 'none'}")
    return checked


def _finite_number(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def shown(value, limit: int = 40) -> str:
    """Return repr(value), cut to about `limit` characters, so a pasted wall of text cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…' ({len(str(value))} characters)"


def user_position(dataset, user_id) -> int:
    """Return the index of `user_id`, or raise LookupError naming it (cut when long) and examples of valid IDs."""
    key = str(user_id).strip()
    if key not in dataset.user_index:
        examples = ", ".join(map(str, dataset.user_ids[:5]))
        raise LookupError(f"unknown user ID {shown(user_id)} in dataset '{dataset.name}'; "
                          f"valid IDs are {dataset.n_users} values such as {examples}")
    return dataset.user_index[key]


def catalogue_position(dataset, item_id, action: str) -> int:
    """Return the index of `item_id`, or raise LookupError saying what could not be done to it."""
    key = str(item_id).strip()
    if key not in dataset.item_index:
        examples = ", ".join(map(str, dataset.item_ids[:5]))
        raise LookupError(f"cannot {action} item {shown(item_id)}: unknown item ID in dataset '{dataset.name}'; "
                          f"valid IDs are {dataset.n_items} values such as {examples}")
    return dataset.item_index[key]


def _history_position(dataset, positions: dict[int, int], item_id: str, user_id: str, action: str) -> int:
    index = catalogue_position(dataset, item_id, action)
    if index not in positions:
        raise WhatIfError(f"cannot {action} item {item_id!r}: it is not in the history of user {user_id!r}; "
                          "pick one of the user's past items")
    return positions[index]
