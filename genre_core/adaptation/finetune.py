"""Training steps of the adaptation actions: a fresh model, and a few epochs on chosen users' interactions."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from genre_core.adapters import build_adapter
from genre_core.config import Config
from genre_core.data.dataset import Dataset
from genre_core.data.splits import Split
from genre_core.features import TabularEncoding
from genre_core.inputs import ModelInputs, build_histories
from genre_core.model import GenreModel
from genre_core.training import Trainer, seed_everything

log = logging.getLogger(__name__)


def new_model(config: Config, dataset: Dataset, inputs: ModelInputs, item_encoding: TabularEncoding,
              user_encoding: TabularEncoding, seed: int) -> GenreModel:
    """Return a freshly initialised model; `seed` fixes its initial weights."""
    seed_everything(seed)
    return GenreModel(config.model, dataset.n_items, inputs.text_dim, item_encoding, user_encoding,
                      text_config=config.text)


def fit_users(
    model: GenreModel,
    config: Config,
    dataset: Dataset,
    inputs: ModelInputs,
    known: pd.DataFrame,
    users: np.ndarray,
    epochs: int,
    learning_rate: float,
    weight_decay: float,
    seed: int,
    device: torch.device | str = "cpu",
) -> float:
    """Train `model` in place for `epochs` on the interactions in `known` of `users`; return the last epoch's mean loss.

    Each step splits a user's interactions at random into the history fed to
    the user tower and the targets, as the main trainer does, with a constant
    learning rate.
    """
    histories = build_histories(known, dataset.n_users)
    users = np.asarray([user for user in np.unique(users) if len(histories[user]) > 0], dtype=np.int64)
    if users.size == 0:
        raise ValueError("no user to train on: none of the chosen users has a known interaction")

    empty = known.iloc[:0]
    trainer = Trainer(config, dataset, Split("stream", seed, known, empty, empty), progress=False)
    adapter = build_adapter(config.model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # dropout draws depend on this update alone, not on what ran before it
    item_inputs = inputs.item_inputs(device)
    batch_size = config.training.batch_size

    model.to(device)
    mean_loss = float("nan")
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        order = rng.permutation(users)
        for start in range(0, len(order), batch_size):
            # The trainer's batch builder is reused (as feedback retraining does) so both train alike.
            batch = trainer._training_batch(inputs, histories, order[start:start + batch_size], rng)
            item_vectors = model.item_vectors(item_inputs)
            loss = adapter.loss(model.score(model.user_vectors(item_vectors, batch), item_vectors), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        mean_loss = float(np.mean(losses))
        log.debug("epoch %d/%d on %d users: loss %.4f", epoch, epochs, len(users), mean_loss)
    model.eval()
    return mean_loss
