"""Seeded training with early stopping on validation NDCG@10."""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from genre_core.adapters import build_adapter
from genre_core.config import Config, ConfigError
from genre_core.data.dataset import Dataset, interaction_matrix
from genre_core.data.splits import Split
from genre_core.evaluation.metrics import full_ranking_metrics
from genre_core.features import TabularEncoding
from genre_core.inputs import History, ModelInputs, build_histories
from genre_core.model import GenreModel
from genre_core.modalities.media_files import MediaFeatures
from genre_core.modalities.text import encode_texts
from genre_core.modalities.text_layers import attach_token_states, lower_layer_states, uses_token_states
from genre_core.schema import AUDIO_PATH, IMAGE_PATH
from genre_core.distributed import DistributedContext, wrap_model
from genre_core.precision import MixedPrecision

log = logging.getLogger(__name__)

EARLY_STOPPING_METRIC = "ndcg@10"
# Targets drawn per user in one step; heavy users are subsampled to bound memory.
MAX_TARGETS_PER_USER = 256


def resolve_device(name: str) -> torch.device:
    """Map `auto`, `cpu`, `cuda` or `cuda:N` to a device, rejecting CUDA when there is none."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"config key 'training.device': invalid device {name!r}; use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'training.device': {name!r} requested but no CUDA GPU is available; use auto or cpu")
    return device


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def item_texts(dataset: Dataset) -> list[str]:
    """Join an item's text columns into one string; an item with none gets an empty string."""
    columns = dataset.item_features.text
    if not columns:
        return [""] * dataset.n_items
    parts = dataset.items[columns].fillna("").astype(str)
    return [". ".join(value.strip() for value in row if value.strip()) for row in parts.itertuples(index=False)]


def build_inputs(
    config: Config,
    dataset: Dataset,
    item_encoding: TabularEncoding,
    user_encoding: TabularEncoding,
    progress: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> ModelInputs:
    """Encode the item texts (cached on disk) and tabulate every feature of `dataset`."""
    texts = item_texts(dataset)
    present = np.array([bool(text) for text in texts], dtype=np.float32)
    if "text" in config.model.modalities:
        vectors = encode_texts(
            texts, config.text.model, config.paths.resolve("cache_dir"), config.text.max_length,
            config.text.batch_size, progress=progress, on_progress=on_progress,
        )
    else:
        vectors = np.zeros((dataset.n_items, 1), dtype=np.float32)
    media = encode_media(config, dataset, progress=progress)
    inputs = ModelInputs(dataset, item_encoding, user_encoding, vectors, present, media)
    if uses_token_states(config):  # text.tuning or lm fusion: cached lower-layer token states
        states = lower_layer_states(texts, config.text, config.paths.resolve("cache_dir"), progress=progress)
        attach_token_states(inputs, states)
    return inputs


def encode_media(config: Config, dataset: Dataset, progress: bool = True) -> dict[str, MediaFeatures]:
    """Image features and sound spectrograms (cached on disk) of the media modalities the model reads.

    An item whose path column is absent, blank or names a bad file lacks that modality; fusion masks it.
    """
    from genre_core.modalities.audio import encode_sounds
    from genre_core.modalities.image import encode_images

    cache_dir = config.paths.resolve("cache_dir")
    encoders = {"image": (IMAGE_PATH, encode_images), "audio": (AUDIO_PATH, encode_sounds)}
    media = {}
    for name, (column, encode) in encoders.items():
        if name not in config.model.modalities:
            continue
        if column not in dataset.items.columns:
            log.warning("model.modalities has %s but the items of %s have no %s column; every item lacks it",
                        name, dataset.name, column)
            paths = [None] * dataset.n_items
        else:
            paths = dataset.items[column].tolist()
        media[name] = encode(paths, cache_dir, progress=progress)
    return media


@dataclass
class TrainResult:
    model: GenreModel
    item_encoding: TabularEncoding
    user_encoding: TabularEncoding
    valid_metrics: dict[str, float]
    best_epoch: int
    epochs_run: int
    seconds: float
    device: str
    curve: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    cancelled: bool = False


class Trainer:
    """Train a :class:`GenreModel` on the training part of a split."""

    def __init__(
        self,
        config: Config,
        dataset: Dataset,
        split: Split,
        progress: bool = True,
        on_epoch: Callable[[int, int, dict], None] | None = None,
        cancel: threading.Event | None = None,
        distributed: DistributedContext | None = None,
    ):
        self.config = config
        self.dataset = dataset
        self.split = split
        self.progress = progress
        self.on_epoch = on_epoch
        self.cancel = cancel or threading.Event()
        # Under torchrun each process trains on the device its rank was given.
        self.distributed = distributed
        self.device = distributed.device if distributed is not None else resolve_device(config.training.device)
        self.precision = MixedPrecision(config.training.precision, self.device)
        _check_task(config, dataset)

    def fit(self) -> TrainResult:
        config, dataset = self.config, self.dataset
        seed_everything(config.seed)
        start = time.perf_counter()

        item_encoding = TabularEncoding.fit(dataset.items, dataset.item_features)
        user_encoding = TabularEncoding.fit(dataset.users, dataset.user_features)
        inputs = build_inputs(config, dataset, item_encoding, user_encoding, progress=self.progress)
        model = GenreModel(
            config.model, dataset.n_items, inputs.text_dim, item_encoding, user_encoding, text_config=config.text
        ).to(self.device)
        fitted = {"image": config.model.image_components, "text": config.model.text_components}
        for name in [name for name, components in fitted.items() if components]:
            encoder = model.item_tower.encoders[name] if name in model.item_tower.encoders else None
            if hasattr(encoder, "fit_components"):
                features = inputs.item_inputs(self.device)
                encoder.fit_components(features[name], features[f"{name}_present"])
        adapter = build_adapter(config.model)
        optimiser = torch.optim.AdamW(
            model.parameters(), lr=config.training.learning_rate, weight_decay=config.training.weight_decay
        )

        steps_per_epoch = -(-len(self._training_users(dataset)) // config.training.batch_size)
        scheduler = None
        if config.training.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.training.epochs * steps_per_epoch)
        train_histories = build_histories(self.split.train, dataset.n_users)
        evaluator = ValidationScorer(config, dataset, self.split, inputs, train_histories, self.device)
        users = self._training_users(dataset)
        rng = np.random.default_rng(config.seed)
        item_inputs = inputs.item_inputs(self.device)
        forward, order_rng, rng = self._distributed_setup(model, rng)
        is_main = self.distributed is None or self.distributed.is_main

        best_metric, best_state, best_epoch, bad_epochs = -1.0, None, 0, 0
        best_metrics: dict[str, float] = {}
        curve = []
        epochs = config.training.epochs
        bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not self.progress or not is_main)
        epoch = 0
        for epoch in bar:
            if self.cancel.is_set():
                break
            model.train()
            losses = []
            for batch_users in _batches(order_rng.permutation(users), config.training.batch_size):
                if self.distributed is not None:
                    batch_users = self.distributed.shard(batch_users)
                batch = self._training_batch(inputs, train_histories, batch_users, rng)
                with self.precision.autocast():
                    scores = forward(item_inputs, batch)
                    # The loss (softmax over the catalogue) is computed in float32 in every precision.
                    loss = adapter.loss(scores.float(), batch)
                self.precision.step(loss, optimiser)
                if scheduler is not None:
                    scheduler.step()
                losses.append(loss.item())

            metrics, epoch_loss = self._epoch_result(evaluator, model, losses, is_main)
            record = {"epoch": epoch, "loss": epoch_loss, **metrics}
            curve.append(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}", ndcg10=f"{metrics[EARLY_STOPPING_METRIC]:.4f}")
            if self.on_epoch is not None and is_main:
                self.on_epoch(epoch, epochs, record)

            if metrics[EARLY_STOPPING_METRIC] > best_metric:
                best_metric, best_epoch, bad_epochs = metrics[EARLY_STOPPING_METRIC], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
                best_metrics = metrics
            else:
                bad_epochs += 1
                if bad_epochs >= config.training.patience:
                    log.info("early stopping at epoch %d; best epoch %d (%s %.4f)", epoch, best_epoch, EARLY_STOPPING_METRIC, best_metric)
                    break

        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        seconds = time.perf_counter() - start
        log.info("training finished in %.1f s on %s; best validation %s %.4f", seconds, self.device, EARLY_STOPPING_METRIC, best_metric)
        return TrainResult(
            model=model, item_encoding=item_encoding, user_encoding=user_encoding,
            valid_metrics=best_metrics, best_epoch=best_epoch, epochs_run=epoch, seconds=seconds,
            device=str(self.device), curve=curve, stopped_early=bad_epochs >= config.training.patience,
            cancelled=self.cancel.is_set(),
        )

    def _distributed_setup(self, model: GenreModel, rng: np.random.Generator):
        """Return the step's forward function, the generator of the user order and the batch generator.

        A single process keeps one generator for both, as before. Under torchrun every
        rank draws the same user order (so the shards of a global batch are disjoint)
        but its own history splits, dropout masks and negatives.
        """
        if self.distributed is None:
            def forward(item_inputs, batch):
                item_vectors = model.item_vectors(item_inputs)
                return model.score(model.user_vectors(item_vectors, batch), item_vectors)
            return forward, rng, rng

        wrapped = wrap_model(model, self.distributed)
        rank = self.distributed.rank
        torch.manual_seed(self.config.seed + 1 + rank)
        order_rng = np.random.default_rng([self.config.seed, 1])
        return wrapped, order_rng, np.random.default_rng([self.config.seed, 2, rank])

    def _epoch_result(self, evaluator, model, losses: list[float], is_main: bool) -> tuple[dict[str, float], float]:
        """Validation metrics (rank 0's, broadcast under torchrun) and the mean training loss of the epoch."""
        loss = float(np.mean(losses))
        if self.distributed is None:
            return evaluator.evaluate(model), loss
        metrics = evaluator.evaluate(model) if is_main else None
        return self.distributed.broadcast(metrics), self.distributed.mean(loss)

    def _training_users(self, dataset: Dataset) -> np.ndarray:
        """Users with at least one training interaction."""
        return np.unique(self.split.train["user_idx"].to_numpy())

    def _training_batch(
        self, inputs: ModelInputs, histories: list[History], users: np.ndarray, rng: np.random.Generator
    ) -> dict[str, torch.Tensor]:
        """Split each user's training items at random into a history and held-out targets."""
        keep = self.config.training.history_keep
        n_items = self.dataset.n_items
        kept, targets = [], []
        for user in users:
            past = histories[user]
            order = rng.permutation(len(past))
            n_history = min(int(round(keep * len(past))), len(past) - 1)
            history_rows = np.sort(order[:n_history])
            target_rows = order[n_history:][:MAX_TARGETS_PER_USER]
            kept.append(History(past.items[history_rows], past.ratings[history_rows], past.timestamps[history_rows]))
            targets.append(History(past.items[target_rows], past.ratings[target_rows], past.timestamps[target_rows]))

        batch = inputs.user_batch(users, kept, self.config.model.max_history, self.device)
        width = max(len(target) for target in targets)
        target_items = np.zeros((len(users), width), dtype=np.int64)
        target_mask = np.zeros((len(users), width), dtype=np.float32)
        target_ratings = np.zeros((len(users), width), dtype=np.float32)
        history_items = np.zeros((len(users), n_items), dtype=bool)
        known_items = np.zeros((len(users), n_items), dtype=bool)
        for row, (past, target) in enumerate(zip(kept, targets)):
            target_items[row, :len(target)] = target.items
            target_mask[row, :len(target)] = 1.0
            target_ratings[row, :len(target)] = np.nan_to_num(target.ratings)
            history_items[row, past.items] = True
            known_items[row, histories[users[row]].items] = True

        batch.update(
            targets=_to_device(target_items, self.device),
            target_mask=_to_device(target_mask, self.device),
            target_ratings=_to_device(target_ratings, self.device),
            target_rated=_to_device(_rated_mask(targets, width), self.device),
            history_items_mask=_to_device(history_items, self.device),
            known_items_mask=_to_device(known_items, self.device),
        )
        return batch


class ValidationScorer:
    """Full-ranking validation metrics: history = training items, relevant = validation items."""

    def __init__(self, config, dataset, split, inputs, histories, device, batch_size: int = 256):
        self.config, self.inputs, self.histories, self.device = config, inputs, histories, device
        self.seen = interaction_matrix(split.train, dataset.n_users, dataset.n_items)
        self.relevant = interaction_matrix(split.valid, dataset.n_users, dataset.n_items)
        self.batch_size = batch_size

    @torch.no_grad()
    def evaluate(self, model: GenreModel) -> dict[str, float]:
        model.eval()
        item_vectors = model.item_vectors(self.inputs.item_inputs(self.device))

        def score(users: np.ndarray) -> torch.Tensor:
            batch = self.inputs.user_batch(
                users, [self.histories[user] for user in users], self.config.model.max_history, self.device
            )
            return model.score(model.user_vectors(item_vectors, batch), item_vectors)

        return full_ranking_metrics(score, self.seen, self.relevant, ks=(10,), batch_size=self.batch_size, device=self.device)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Copy a batch array to `device`; for a GPU through pinned memory, so the copy does not block the host."""
    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _rated_mask(targets: list[History], width: int) -> np.ndarray:
    mask = np.zeros((len(targets), width), dtype=np.float32)
    for row, target in enumerate(targets):
        mask[row, :len(target)] = np.isfinite(target.ratings)
    return mask


def _batches(values: np.ndarray, size: int):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _check_task(config: Config, dataset: Dataset) -> None:
    if config.model.task == "rating" and not dataset.has_ratings:
        raise ConfigError(
            f"config key 'model.task': 'rating' needs ratings, but dataset '{dataset.name}' has none; "
            "use task ranking or click"
        )

