"""Label store: analysts' labels of recommended items, validated before anything is written."""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from genre_core.config import Config
from genre_core.data.dataset import Dataset
from genre_core.feedback.database import FeedbackStoreError, database_url, open_engine, store_error
from genre_core.feedback.tables import labels, migrate
from genre_core.schema import ITEM_ID, USER_ID

log = logging.getLogger(__name__)

RELEVANT = "relevant"
IRRELEVANT = "irrelevant"
RATING_LABEL = "rating"
LABELS = (RELEVANT, IRRELEVANT, RATING_LABEL)
MAX_REASON_LENGTH = 2000

LABEL_COLUMNS = [
    "id", USER_ID, ITEM_ID, "label", "rating", "reason", "analyst", "model_version", "rank",
    "created_at", "undone", "undone_at",
]


@dataclass(frozen=True)
class RatingRange:
    minimum: float = 1.0
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum) and self.minimum < self.maximum):
            raise ValueError(
                f"invalid rating range [{self.minimum}, {self.maximum}]; set feedback.rating_min below feedback.rating_max"
            )

    @property
    def midpoint(self) -> float:
        return (self.minimum + self.maximum) / 2


class FeedbackStore:
    """Labels in a SQL database; `add` returns only after the label is committed.

    With a `dataset`, unknown user and item IDs are rejected before writing.
    """

    def __init__(self, engine: Engine, dataset: Dataset | None = None, ratings: RatingRange = RatingRange()):
        self.engine = engine
        self.dataset = dataset
        self.ratings = ratings
        try:
            migrate(engine)
        except SQLAlchemyError as error:
            raise store_error(error, engine, "open or migrate the label tables") from error

    @classmethod
    def open(cls, config: Config, dataset: Dataset | None = None, busy_timeout: float | None = None) -> FeedbackStore:
        url = database_url(config)
        engine = open_engine(url) if busy_timeout is None else open_engine(url, busy_timeout)
        return cls(engine, dataset, RatingRange(config.feedback.rating_min, config.feedback.rating_max))

    # Writing

    def add(
        self,
        user_id: str,
        item_id: str,
        label: str,
        analyst: str,
        reason: str | None = None,
        rating: float | None = None,
        model_version: str | None = None,
        rank: int | None = None,
    ) -> int:
        """Validate and commit one label; return its id once it is on disk."""
        row = self._validated(user_id, item_id, label, analyst, reason, rating, model_version, rank)
        try:
            with self.engine.begin() as connection:
                label_id = connection.execute(insert(labels).values(**row)).inserted_primary_key[0]
        except SQLAlchemyError as error:
            raise store_error(error, self.engine, f"save the label of item {item_id!r} for user {user_id!r}") from error
        log.info("label %d saved: user %s item %s %s by %s", label_id, row[USER_ID], row[ITEM_ID], label, row["analyst"])
        return int(label_id)

    def undo(self, label_id: int) -> None:
        """Mark a label as undone; it stays in the table and in exports, but retraining ignores it."""
        try:
            with self.engine.begin() as connection:
                changed = connection.execute(
                    update(labels).where(and_(labels.c.id == int(label_id), labels.c.undone.is_(False)))
                    .values(undone=True, undone_at=datetime.now(timezone.utc))
                ).rowcount
        except SQLAlchemyError as error:
            raise store_error(error, self.engine, f"undo label {label_id}") from error
        if changed == 0:
            raise LookupError(f"label {label_id} not found or already undone; list labels with `genre feedback list`")
        log.info("label %d undone", label_id)

    # Reading

    def frame(self, include_undone: bool = True, user_id: str | None = None, analyst: str | None = None) -> pd.DataFrame:
        """Labels, oldest first, as a frame with the columns of LABEL_COLUMNS."""
        query = select(*[labels.c[name] for name in LABEL_COLUMNS]).order_by(labels.c.id)
        if not include_undone:
            query = query.where(labels.c.undone.is_(False))
        if user_id is not None:
            query = query.where(labels.c.user_id == str(user_id).strip())
        if analyst is not None:
            query = query.where(labels.c.analyst == analyst.strip())
        try:
            with self.engine.begin() as connection:
                rows = connection.execute(query).mappings().all()
        except SQLAlchemyError as error:
            raise store_error(error, self.engine, "read labels") from error
        frame = pd.DataFrame([dict(row) for row in rows], columns=LABEL_COLUMNS)
        return frame.astype({"id": "int64", "rank": "Int64", "undone": "bool"})

    def active_labels(self) -> pd.DataFrame:
        """Labels not undone, the latest one per (user, item) pair, as retraining uses them."""
        frame = self.frame(include_undone=False)
        return frame.drop_duplicates([USER_ID, ITEM_ID], keep="last").reset_index(drop=True)

    def count(self) -> int:
        return len(self.frame())

    def export_csv(self, path: str | Path, include_undone: bool = True) -> int:
        """Write the labels to a CSV file and return the number of rows."""
        frame = self.frame(include_undone=include_undone)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
        return len(frame)

    # Validation

    def _validated(self, user_id, item_id, label, analyst, reason, rating, model_version, rank) -> dict[str, Any]:
        user_id, item_id = str(user_id).strip(), str(item_id).strip()
        if self.dataset is not None:
            self.dataset.user_position(user_id)
            self.dataset.item_position(item_id)
        elif not user_id or not item_id:
            raise ValueError(f"user ID and item ID must not be empty, got user {user_id!r} and item {item_id!r}")

        if label not in LABELS:
            raise ValueError(f"invalid label {label!r}; use one of {', '.join(LABELS)}")
        rating = self._checked_rating(label, rating)
        analyst = (analyst or "").strip()
        if not analyst:
            raise ValueError("analyst name is empty; give the name of the person who labels (--analyst NAME)")
        reason = (reason or "").strip() or None
        if reason is not None and len(reason) > MAX_REASON_LENGTH:
            raise ValueError(f"reason has {len(reason)} characters; shorten it to at most {MAX_REASON_LENGTH}")
        if rank is not None and (isinstance(rank, bool) or int(rank) < 1):
            raise ValueError(f"rank must be a positive integer (1 is the top), got {rank!r}")

        return {
            USER_ID: user_id, ITEM_ID: item_id, "label": label, "rating": rating, "reason": reason,
            "analyst": analyst, "model_version": model_version, "rank": None if rank is None else int(rank),
            "created_at": datetime.now(timezone.utc), "undone": False,
        }

    def _checked_rating(self, label: str, rating: float | None) -> float | None:
        if label != RATING_LABEL:
            if rating is not None:
                raise ValueError(f"a rating ({rating!r}) is only allowed with label {RATING_LABEL!r}, not {label!r}")
            return None
        low, high = self.ratings.minimum, self.ratings.maximum
        try:
            value = float(rating)
        except (TypeError, ValueError):
            raise ValueError(f"label {RATING_LABEL!r} needs a rating from {low:g} to {high:g}, got {rating!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"rating {rating!r} is out of range; give a value from {low:g} to {high:g}")
        return value


def label_direction(label: str, rating: float | None, ratings: RatingRange) -> int:
    """+1 to move an item up for its user, -1 to move it down, 0 for a rating at the midpoint."""
    if label == RELEVANT:
        return 1
    if label == IRRELEVANT:
        return -1
    if rating is None or rating == ratings.midpoint:
        return 0
    return 1 if rating > ratings.midpoint else -1


__all__ = ["FeedbackStore", "FeedbackStoreError", "RatingRange", "label_direction", "LABELS"]
