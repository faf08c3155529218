"""The stream learner: the interactions one policy has received so far, and how it updates and validates a model on them."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import torch

from genre_core.adaptation.actions import UpdateSettings
from genre_core.adaptation.finetune import fit_users, new_model
from genre_core.config import Config
from genre_core.data.dataset import Dataset, interaction_matrix
from genre_core.features import TabularEncoding
from genre_core.inputs import ModelInputs, build_histories
from genre_core.model import GenreModel
from genre_core.monitoring.quality import window_quality
from genre_core.pipeline import genre_score_function

log = logging.getLogger(__name__)


class StreamLearner:
    """Known interactions of one replayed policy, and the update and validation steps over them.

    `pending` contains the interactions that arrived since the last update. Each
    update holds out the newest `replay.guard_fraction` of every pending
    user's pending interactions (at least one per user): the candidate never
    trains on them, and the promotion guard compares serving model and
    candidate on them.
    """

    def __init__(self, config: Config, dataset: Dataset, inputs: ModelInputs, encodings: tuple[TabularEncoding, TabularEncoding],
                 known: pd.DataFrame, device: torch.device | str, seed: int):
        self.config = config
        self.settings = config.monitoring
        self.dataset = dataset
        self.inputs = inputs
        self.encodings = encodings
        self.device = device
        self.seed = seed
        self.known = known.reset_index(drop=True)
        self.pending = known.iloc[:0]
        self._refresh()

    def _refresh(self) -> None:
        self.seen = interaction_matrix(self.known, self.dataset.n_users, self.dataset.n_items)
        self.histories = build_histories(self.known, self.dataset.n_users)

    def score_function(self, model: GenreModel):
        return genre_score_function(model, self.inputs, self.histories, self.config.model.max_history, self.device)

    def add(self, window: pd.DataFrame) -> None:
        """Learn the window's interactions as history (no weights change) and queue them for the next update."""
        self.known = pd.concat([self.known, window], ignore_index=True)
        self.pending = pd.concat([self.pending, window], ignore_index=True)
        self._refresh()

    def begin_update(self) -> None:
        """Fix the held-out interactions for the update about to run: the newest part of each pending user's."""
        # `pending` is always the tail of `known` in time order, so its positions map onto known's rows.
        offset = len(self.known) - len(self.pending)
        users = self.pending["user_idx"]
        from_end = users.groupby(users, sort=False).cumcount(ascending=False).to_numpy()
        counts = users.map(users.value_counts()).to_numpy()
        held = np.zeros(len(self.known), dtype=bool)
        held[offset:] = from_end < np.ceil(self.settings.replay.guard_fraction * counts)
        self.holdout = self.known[held]
        self.train_frame = self.known[~held]
        self._recent_users = self.known.iloc[offset:][~held[offset:]]["user_idx"].unique()
        self._train_seen = interaction_matrix(self.train_frame, self.dataset.n_users, self.dataset.n_items)
        self._train_histories = build_histories(self.train_frame, self.dataset.n_users)

    def end_update(self) -> None:
        self.pending = self.known.iloc[:0]

    def validate(self, model: GenreModel) -> float:
        """NDCG@k on the held-out interactions, with the history before them."""
        score = genre_score_function(model, self.inputs, self._train_histories, self.config.model.max_history, self.device)
        quality = window_quality(score, self._train_seen, self.holdout, self.settings.k,
                                 self.settings.positive_rating, self.device)
        # NOTE: with no held-out user left to rank, both models score 0.0 and the guard promotes the candidate.
        return 0.0 if np.isnan(quality.ndcg) else quality.ndcg

    def update(self, action: str, model: GenreModel, settings: UpdateSettings) -> GenreModel:
        """Train a candidate for `action`; the serving `model` is left as it is."""
        replay = self.settings.replay
        self.seed += 1
        if action == "full_retrain":
            candidate = new_model(self.config, self.dataset, self.inputs, *self.encodings, seed=self.seed)
            users = self.train_frame["user_idx"].unique()
            fit_users(candidate, self.config, self.dataset, self.inputs, self.train_frame, users, replay.initial_epochs,
                      replay.learning_rate, settings.weight_decay, self.seed, self.device)
            return candidate

        candidate = copy.deepcopy(model)
        fit_users(candidate, self.config, self.dataset, self.inputs, self.train_frame, self._update_users(),
                  replay.update_epochs, settings.learning_rate, settings.weight_decay, self.seed, self.device)
        return candidate

    def _update_users(self) -> np.ndarray:
        """Users active since the last update, plus a random replay sample of the other known users."""
        recent = self._recent_users
        others = np.setdiff1d(self.train_frame["user_idx"].unique(), recent)
        count = int(round(self.settings.replay.replay_fraction * len(others)))
        rng = np.random.default_rng(self.seed)
        replayed = rng.choice(others, size=count, replace=False) if count else others[:0]
        return np.union1d(recent, replayed)
