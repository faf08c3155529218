"""The steps the CLI, the app and the tests share: prepare, train, evaluate."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from genre_core import distributed
from genre_core.config import Config
from genre_core.data.dataset import Dataset, FeatureSpec, interaction_matrix
from genre_core.data.loading import load_dataset
from genre_core.data.simulate import SIMULATOR_VERSION
from genre_core.data.splits import Split, split_interactions
from genre_core.distributed import launched_by_torchrun
from genre_core.evaluation.baselines import BASELINES
from genre_core.evaluation.metrics import full_ranking_metrics
from genre_core.inputs import ModelInputs, build_histories
from genre_core.model import GenreModel, count_parameters
from genre_core.registry import ModelRegistry, RegistryError
from genre_core.features import TabularEncoding
from genre_core.training import Trainer, TrainResult, build_inputs

log = logging.getLogger(__name__)

PREPARED_FILES = ("interactions.parquet", "items.parquet", "users.parquet", "dataset.json")


# Data


def prepared_folder(config: Config) -> Path:
    return config.paths.resolve("data_dir") / config.data.name


def prepare(config: Config, progress: bool = True) -> Dataset:
    """Load the configured source, validate it, store it as Parquet and cache the text vectors."""
    dataset = load_dataset(config.data, config.paths.resolve("cache_dir"), progress=progress)
    folder = prepared_folder(config)
    folder.mkdir(parents=True, exist_ok=True)
    dataset.interactions.drop(columns=["user_idx", "item_idx"]).to_parquet(folder / "interactions.parquet", index=False)
    dataset.items.to_parquet(folder / "items.parquet", index=False)
    dataset.users.to_parquet(folder / "users.parquet", index=False)
    description = {
        "name": dataset.name,
        "source": config.data.source,
        "path": config.data.path,
        "fingerprint": dataset.fingerprint(),
        "simulated": dataset.simulated,
        "item_features": asdict(dataset.item_features),
        "user_features": asdict(dataset.user_features),
    }
    if config.data.source == "tuxpaint":
        description["simulation"] = {**asdict(config.data.simulation), "simulator_version": SIMULATOR_VERSION}
    (folder / "dataset.json").write_text(json.dumps(description, indent=2))
    log.info("prepared %s: %d interactions, %d items, %d users in %s",
             dataset.name, len(dataset.interactions), dataset.n_items, dataset.n_users, folder)

    if "text" in config.model.modalities:
        from genre_core.training import item_texts
        from genre_core.modalities.text import encode_texts

        encode_texts(item_texts(dataset), config.text.model, config.paths.resolve("cache_dir"),
                     config.text.max_length, config.text.batch_size, progress=progress)
    if {"image", "audio"} & set(config.model.modalities):
        from genre_core.training import encode_media

        encode_media(config, dataset, progress=progress)
    return dataset


def is_prepared(config: Config) -> bool:
    folder = prepared_folder(config)
    if not all((folder / name).is_file() for name in PREPARED_FILES):
        return False
    description = json.loads((folder / "dataset.json").read_text())
    same_source = description.get("source") == config.data.source and description.get("path") == config.data.path
    if config.data.source == "tuxpaint":  # simulated interactions depend on the simulation settings too
        expected = {**asdict(config.data.simulation), "simulator_version": SIMULATOR_VERSION}
        return same_source and description.get("simulation") == expected
    return same_source


def load_prepared(config: Config, progress: bool = True) -> Dataset:
    """Read the prepared Parquet files, preparing them first when they are missing or stale."""
    if not is_prepared(config):
        return prepare(config, progress=progress)
    folder = prepared_folder(config)
    description = json.loads((folder / "dataset.json").read_text())
    return Dataset(
        description["name"],
        pd.read_parquet(folder / "interactions.parquet"),
        pd.read_parquet(folder / "items.parquet"),
        pd.read_parquet(folder / "users.parquet"),
        FeatureSpec(**description["item_features"]),
        FeatureSpec(**description["user_features"]),
        simulated=description.get("simulated", False),
    )


def make_split(config: Config, dataset: Dataset, protocol: str | None = None) -> Split:
    return split_interactions(
        dataset.interactions, protocol or config.split.protocol, config.split.seed, config.split.valid_fraction
    )


# Scoring and metrics


def known_interactions(split: Split) -> pd.DataFrame:
    """Training and validation interactions: the history and the seen items at test time."""
    return pd.concat([split.train, split.valid], ignore_index=True)


def genre_score_function(model: GenreModel, inputs: ModelInputs, histories, max_history: int, device) -> Callable:
    """Return `score(user_indices) -> (users, items)` for full-ranking evaluation."""
    model.eval()
    with torch.no_grad():
        item_vectors = model.item_vectors(inputs.item_inputs(device))

    def score(users: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            batch = inputs.user_batch(users, [histories[user] for user in users], max_history, device)
            return model.score(model.user_vectors(item_vectors, batch), item_vectors)

    return score


def test_metrics_of(score_fn: Callable, dataset: Dataset, split: Split, ks: list[int], device="cpu") -> dict[str, float]:
    known = known_interactions(split)
    seen = interaction_matrix(known, dataset.n_users, dataset.n_items)
    relevant = interaction_matrix(split.test, dataset.n_users, dataset.n_items)
    return full_ranking_metrics(score_fn, seen, relevant, ks=tuple(ks), device=device)


# Training


def train(
    config: Config,
    progress: bool = True,
    on_epoch: Callable[[int, int, dict], None] | None = None,
    cancel: threading.Event | None = None,
    register: bool = True,
    dataset: Dataset | None = None,
) -> tuple[str | None, TrainResult, dict[str, float]]:
    """Train on the configured split, measure test metrics, and register a new active version.

    Under torchrun every process trains its shard; only rank 0 measures and registers,
    and the other ranks return (None, their TrainResult, {}).
    """
    if launched_by_torchrun():
        return _train_distributed(config, progress, register, dataset)
    dataset = dataset or load_prepared(config, progress=progress)
    split = make_split(config, dataset)
    result = Trainer(config, dataset, split, progress=progress, on_epoch=on_epoch, cancel=cancel).fit()
    return _register_trained(config, dataset, split, result, register)


def _train_distributed(
    config: Config, progress: bool, register: bool, dataset: Dataset | None
) -> tuple[str | None, TrainResult, dict[str, float]]:
    context = distributed.start(config.training.device)
    try:
        # Rank 0 writes the prepared data and every input cache (text vectors, token states,
        # media features) before the other ranks read them.
        if context.is_main:
            dataset = dataset or load_prepared(config, progress=progress)
            build_inputs(config, dataset, TabularEncoding.fit(dataset.items, dataset.item_features),
                         TabularEncoding.fit(dataset.users, dataset.user_features), progress=progress)
        context.barrier()
        dataset = dataset or load_prepared(config, progress=False)
        split = make_split(config, dataset)
        result = Trainer(config, dataset, split, progress=progress, distributed=context).fit()
        if not context.is_main:
            return None, result, {}
        return _register_trained(config, dataset, split, result, register)
    finally:
        distributed.stop()


def _register_trained(
    config: Config, dataset: Dataset, split: Split, result: TrainResult, register: bool
) -> tuple[str | None, TrainResult, dict[str, float]]:
    """Measure the test metrics of a finished run and register it (unless cancelled or `register` is False)."""
    if result.cancelled:
        log.warning("training cancelled after epoch %d; nothing was registered", result.epochs_run)
        return None, result, {}

    inputs = build_inputs(config, dataset, result.item_encoding, result.user_encoding, progress=False)
    histories = build_histories(known_interactions(split), dataset.n_users)
    score = genre_score_function(result.model, inputs, histories, config.model.max_history, result.device)
    metrics = test_metrics_of(score, dataset, split, config.evaluation.ks, result.device)
    log.info("test metrics (%s split): ndcg@10 %.4f, recall@10 %.4f", split.protocol, metrics["ndcg@10"], metrics["recall@10"])

    if not register:
        return None, result, metrics
    meta = {
        "dataset": dataset.name,
        "data_fingerprint": dataset.fingerprint(),
        "simulated": dataset.simulated,
        "split": split.summary(),
        "metrics": {"valid": result.valid_metrics, "test": metrics},
        "training": {
            "seconds": round(result.seconds, 2), "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early, "device": result.device, "curve": result.curve,
            "parameters": count_parameters(result.model),
        },
        "text_dim": inputs.text_dim,
        "item_encoding": result.item_encoding.to_dict(),
        "user_encoding": result.user_encoding.to_dict(),
        "status": "active",
        "source": "train",
    }
    version = ModelRegistry.for_config(config).save(result.model.state_dict(), config, meta)
    return version, result, metrics


# Loading a registered version


@dataclass
class LoadedVersion:
    """A registered model rebuilt with the data and inputs it reads."""

    model: GenreModel
    config: Config
    meta: dict
    dataset: Dataset
    inputs: ModelInputs


def load_version(config: Config, version: str | None = None) -> LoadedVersion:
    """Rebuild `version` (default: the active one) of the registry that `config` names, on the CPU."""
    state, model_config, meta = ModelRegistry.for_config(config).load(version)
    dataset = load_prepared(model_config, progress=False)
    if meta.get("data_fingerprint") not in (None, dataset.fingerprint()):
        log.warning(
            "model %s was trained on data with fingerprint %s, the prepared data has %s",
            meta.get("version"), meta.get("data_fingerprint"), dataset.fingerprint(),
        )
    item_encoding = TabularEncoding.from_dict(meta["item_encoding"])
    user_encoding = TabularEncoding.from_dict(meta["user_encoding"])
    inputs = build_inputs(model_config, dataset, item_encoding, user_encoding, progress=False)
    model = GenreModel(
        model_config.model, dataset.n_items, inputs.text_dim, item_encoding, user_encoding, text_config=model_config.text
    )
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise RegistryError(
            f"weights of model version {meta.get('version')} do not match its config: {error}; "
            "retrain with `genre train` or promote another version"
        ) from error
    return LoadedVersion(model, model_config, meta, dataset, inputs)


# Evaluation against baselines


def evaluate(config: Config, protocol: str | None = None, progress: bool = True) -> dict[str, dict[str, float]]:
    """Metrics of GENRE and every baseline on the test part of one split, keyed by model name.

    GENRE reuses the active registered model only when it was trained on this
    very split of this very data. Otherwise a fresh model is trained on the
    split's training part, so no test interaction is ever in its training data.
    Baselines are fitted on training plus validation interactions with their
    literature settings (they need no early stopping).
    """
    protocol = protocol or config.split.protocol
    dataset = load_prepared(config, progress=progress)
    split = make_split(config, dataset, protocol)
    results: dict[str, dict[str, float]] = {}

    genre_metrics, seconds = _genre_test_metrics(config, dataset, split, protocol, progress)
    results["genre"] = {**genre_metrics, "fit_seconds": seconds}

    train_matrix = interaction_matrix(known_interactions(split), dataset.n_users, dataset.n_items)
    settings = {"bpr": config.evaluation.bpr, "itemknn": config.evaluation.itemknn, "pop": None}
    for name, cls in BASELINES.items():
        start = time.perf_counter()
        baseline = cls(settings[name], seed=config.seed) if settings.get(name) is not None else cls(seed=config.seed)
        baseline.fit(train_matrix)
        fitted = time.perf_counter() - start
        metrics = test_metrics_of(baseline.score, dataset, split, config.evaluation.ks)
        results[name] = {**metrics, "fit_seconds": round(fitted, 2)}
        log.info("%s on %s: ndcg@10 %.4f (fit %.1f s)", name, protocol, metrics["ndcg@10"], fitted)
    return results


def _genre_test_metrics(config, dataset, split, protocol, progress) -> tuple[dict[str, float], float]:
    registry = ModelRegistry.for_config(config)
    if registry.has_model():
        meta = registry.info().meta
        same_split = meta.get("split", {}).get("protocol") == protocol and meta.get("split", {}).get("seed") == split.seed
        if same_split and meta.get("data_fingerprint") == dataset.fingerprint():
            log.info("evaluating the active model %s, which was trained on this split", meta.get("version"))
            return meta["metrics"]["test"], meta["training"]["seconds"]

    log.info("training GENRE on the %s split for evaluation (not registered)", protocol)
    config = _with_protocol(config, protocol)
    _, result, metrics = train(config, progress=progress, register=False, dataset=dataset)
    return metrics, round(result.seconds, 2)


def _with_protocol(config: Config, protocol: str) -> Config:
    from genre_core.config import from_dict

    raw = config.to_dict()
    raw["split"]["protocol"] = protocol
    return from_dict(raw)
