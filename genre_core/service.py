"""Serving: load a registered model, precompute item vectors, serve top-k requests."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from genre_core.compression import CompressedModel
from genre_core.config import Config
from genre_core.data.dataset import Dataset
from genre_core.inputs import History, ModelInputs, build_histories
from genre_core.model import GenreModel
from genre_core.pipeline import load_version
from genre_core.schema import GENRES, ITEM_ID, MULTILABEL_SEPARATOR, RATING, TIMESTAMP, TITLE, YEAR
from genre_core.training import resolve_device

log = logging.getLogger(__name__)

MAX_K = 1000


@dataclass
class Recommendations:
    user_id: str
    items: pd.DataFrame  # rank, item_id, score and the item's display columns
    model_version: str
    device: str
    seconds: float
    cold_start: bool

    def to_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "model_version": self.model_version,
            "device": self.device,
            "cold_start": self.cold_start,
            "seconds": round(self.seconds, 4),
            "items": self.items.replace({np.nan: None}).to_dict(orient="records"),
        }


class Recommender:
    """A registered model ready to score: item vectors are computed once, on the serving device.

    A user's history for serving is every interaction the dataset holds for
    them, and items they have interacted with are never recommended back.
    """

    def __init__(
        self, config: Config, dataset: Dataset, model: GenreModel, inputs: ModelInputs, meta: dict, device,
        compression: str = "none",
    ):
        self.config = config
        self.dataset = dataset
        self.model = model.to(device).eval()
        self.inputs = inputs
        self.meta = meta
        self.device = torch.device(device)
        self.version = meta.get("version", "unregistered")
        self.histories = build_histories(dataset.interactions, dataset.n_users)
        # `model` stays float32 for explanations; recommend() scores through `compressed` when it is set.
        self.compression = compression
        self.compressed = None
        if compression != "none":
            self.compressed = CompressedModel(self.model, inputs.item_inputs(self.device), compression)
            self.item_vectors = self.compressed.item_vectors
        else:
            with torch.no_grad():
                self.item_vectors = self.model.item_vectors(inputs.item_inputs(self.device))

    @classmethod
    def load(cls, config: Config, version: str | None = None, device: str | None = None) -> Recommender:
        """Load `version` (default: the active one) of the registry that `config` names.

        `config.serving.compression` (of `config`, not of the stored version) selects the compressed serving path.
        """
        loaded = load_version(config, version)
        model_config, meta = loaded.config, loaded.meta
        device = resolve_device(device or model_config.training.device)
        log.info("serving model %s on %s", meta.get("version"), device)
        return cls(model_config, loaded.dataset, loaded.model, loaded.inputs, meta, device,
                   compression=config.serving.compression)

    # Users and items

    def user_ids(self) -> list[str]:
        return [str(user) for user in self.dataset.user_ids]

    def user_attributes(self, user_id: str) -> dict:
        row = self.dataset.users.iloc[self.dataset.user_position(user_id)]
        return {key: (None if pd.isna(value) else value) for key, value in row.items()}

    def history(self, user_id: str) -> pd.DataFrame:
        """Return the user's interactions, newest first, with the item's title, year and genres."""
        position = self.dataset.user_position(user_id)
        frame = self.dataset.interactions[self.dataset.interactions["user_idx"] == position]
        frame = frame.sort_values(TIMESTAMP, ascending=False)
        table = frame[[ITEM_ID, RATING, TIMESTAMP]].merge(self.item_table(), on=ITEM_ID, how="left")
        table["date"] = pd.to_datetime(table[TIMESTAMP], unit="s", utc=True).dt.date
        return table.reset_index(drop=True)

    def item_table(self) -> pd.DataFrame:
        columns = [ITEM_ID, *[column for column in (TITLE, YEAR, GENRES) if column in self.dataset.items.columns]]
        extra = [column for column in self.dataset.item_features.columns if column not in columns]
        return self.dataset.items[columns + extra]

    def search_users(self, query: str, limit: int = 50) -> list[str]:
        """User IDs that start with `query`, then those that contain it."""
        query = query.strip()
        users = self.user_ids()
        if not query:
            return users[:limit]
        starts = [user for user in users if user.startswith(query)]
        contains = [user for user in users if query in user and not user.startswith(query)]
        return (starts + contains)[:limit]

    # Scoring

    def recommend(self, user_id: str, k: int = 10, exclude_seen: bool = True, history: History | None = None) -> Recommendations:
        """Top-k items for a user: one matrix product and one top-k on the serving device."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= min(MAX_K, self.dataset.n_items):
            raise ValueError(f"k must be an integer from 1 to {min(MAX_K, self.dataset.n_items)}, got {k!r}")
        position = self.dataset.user_position(user_id)
        past = history if history is not None else self.histories[position]

        start = time.perf_counter()
        with torch.no_grad():
            batch = self.inputs.user_batch([position], [past], self.config.model.max_history, self.device)
            if self.compressed is not None:
                scores = self.compressed.score(batch)[0]
            else:
                scores = self.model.score(self.model.user_vectors(self.item_vectors, batch), self.item_vectors)[0]
            if exclude_seen and len(past):
                scores[torch.as_tensor(np.array(past.items), device=self.device)] = float("-inf")
            available = int(torch.isfinite(scores).sum())
            top = torch.topk(scores, min(k, available))
            indices, values = top.indices.cpu().numpy(), top.values.cpu().numpy()
        seconds = time.perf_counter() - start

        table = self.dataset.items.iloc[indices][self.item_table().columns].reset_index(drop=True)
        table.insert(0, "score", values.astype(float))
        table.insert(0, "rank", np.arange(1, len(indices) + 1))
        if GENRES in table.columns:
            table[GENRES] = table[GENRES].fillna("").str.replace(MULTILABEL_SEPARATOR, ", ", regex=False)
        return Recommendations(str(user_id).strip(), table, self.version, str(self.device), seconds, cold_start=len(past) == 0)

    def model_summary(self) -> dict:
        training = self.meta.get("training", {})
        return {
            "version": self.version,
            "created_at": self.meta.get("created_at"),
            "dataset": self.meta.get("dataset"),
            "simulated": self.meta.get("simulated", False),
            "split": self.meta.get("split", {}),
            "metrics": self.meta.get("metrics", {}),
            "training_seconds": training.get("seconds"),
            "epochs_run": training.get("epochs_run"),
            "best_epoch": training.get("best_epoch"),
            "parameters": training.get("parameters"),
            "device": str(self.device),
            "compression": self.compression,
            "modalities": list(self.config.model.modalities),
            "fusion": self.config.model.fusion,
            "task": self.config.model.task,
            "loss": self.config.model.loss,
            "text_model": self.config.text.model,
        }

