"""Model inputs: the tensors of every item and user, and padded history batches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from genre_core.data.dataset import Dataset
from genre_core.features import TabularEncoding
from genre_core.modalities.media_files import MediaFeatures
from genre_core.schema import RATING, TIMESTAMP


@dataclass
class History:
    """One user's past items (indices), ratings (NaN if none) and timestamps, oldest first."""

    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    def __len__(self) -> int:
        return len(self.items)


def build_histories(frame: pd.DataFrame, n_users: int) -> list[History]:
    """Group an interaction frame (with user_idx and item_idx) into per-user histories."""
    ordered = frame.sort_values(["user_idx", TIMESTAMP], kind="stable")
    users = ordered["user_idx"].to_numpy()
    items = ordered["item_idx"].to_numpy()
    ratings = ordered[RATING].to_numpy(dtype=float)
    stamps = ordered[TIMESTAMP].to_numpy()
    bounds = np.searchsorted(users, np.arange(n_users + 1))
    return [
        History(items[start:end], ratings[start:end], stamps[start:end])
        for start, end in zip(bounds[:-1], bounds[1:])
    ]


def rating_buckets(ratings: np.ndarray) -> np.ndarray:
    """Map ratings to embedding buckets: 0 for no rating, else the rating rounded into 1..5."""
    buckets = np.zeros(len(ratings), dtype=np.int64)
    known = np.isfinite(ratings)
    buckets[known] = np.clip(np.rint(ratings[known]), 1, 5).astype(np.int64)
    return buckets


class ModelInputs:
    """Item and user feature tensors of a dataset, encoded once."""

    def __init__(
        self,
        dataset: Dataset,
        item_encoding: TabularEncoding,
        user_encoding: TabularEncoding,
        text_vectors: np.ndarray,
        text_present: np.ndarray,
        media: dict[str, MediaFeatures] | None = None,
    ):
        """`media` maps "image" and "audio" to their features; an absent key means the model reads no such modality."""
        items = item_encoding.transform(dataset.items)
        self.items = {
            "item_index": torch.arange(dataset.n_items),
            "text": torch.from_numpy(np.asarray(text_vectors, dtype=np.float32)),
            "text_present": torch.from_numpy(np.asarray(text_present, dtype=np.float32)),
            **{f"item_{key}": value for key, value in items.items()},
        }
        # Rows whose media file failed, by modality: {"image": {row: message}}.
        self.media_errors: dict[str, dict[int, str]] = {}
        for name, features in (media or {}).items():
            self.items[name] = torch.from_numpy(np.asarray(features.features, dtype=np.float32))
            self.items[f"{name}_present"] = torch.from_numpy(np.asarray(features.present, dtype=np.float32))
            self.media_errors[name] = dict(features.errors)
        users = user_encoding.transform(dataset.users)
        self.users = {f"user_{key}": value for key, value in users.items()}

    @property
    def text_dim(self) -> int:
        return self.items["text"].shape[1]

    def item_inputs(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        return {key: value.to(device) for key, value in self.items.items()}

    def user_batch(
        self,
        user_indices: np.ndarray,
        histories: list[History],
        max_history: int,
        device: torch.device | str = "cpu",
    ) -> dict[str, torch.Tensor]:
        """Pad the histories of `user_indices` (the most recent `max_history` items each)."""
        width = max(1, max((min(len(history), max_history) for history in histories), default=1))
        history = np.zeros((len(histories), width), dtype=np.int64)
        mask = np.zeros((len(histories), width), dtype=bool)
        ratings = np.zeros((len(histories), width), dtype=np.int64)
        for row, past in enumerate(histories):
            items = past.items[-max_history:]
            history[row, :len(items)] = items
            mask[row, :len(items)] = True
            ratings[row, :len(items)] = rating_buckets(past.ratings[-max_history:])

        index = torch.as_tensor(np.asarray(user_indices, dtype=np.int64))
        batch = {key: value[index] for key, value in self.users.items()}
        batch.update(
            history=torch.from_numpy(history), history_mask=torch.from_numpy(mask),
            history_rating=torch.from_numpy(ratings),
        )
        return {key: value.to(device, non_blocking=True) for key, value in batch.items()}
