"""Replay experiment: stream MovieLens in time order and compare static, periodic and adaptive models.

The first `monitoring.replay.train_fraction` of the interactions by time
trains one initial model. The rest arrives in windows of `monitoring.window`
interactions. Each window is first used to test every policy's serving model
(prequential HR@k and NDCG@k on the window's interactions, with the history
before the window), and then added to the interactions the policy has received:

- static never changes its weights;
- periodic runs an incremental update every `replay.periodic_every` windows;
- adaptive runs the actions its rules choose from the monitoring signals.

All three see the new interactions as user history, so only weight updates
differ. Each policy has its own model registry, seeded with the initial
model, and its own action log. The run, with its per-window timeline, is
saved as JSON for the Model Health page.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from genre_core.adaptation.actions import ActionExecutor, ActionLog, UpdateSettings
from genre_core.adaptation.finetune import fit_users, new_model
from genre_core.adaptation.learner import StreamLearner
from genre_core.adaptation.policy import AdaptationPolicy, Decision, WindowSignals
from genre_core.benchmarks import machine_description
from genre_core.config import Config, from_dict
from genre_core.features import TabularEncoding
from genre_core.monitoring.detectors import QualityDetector
from genre_core.monitoring.drift import compare_distributions, ks_test, psi
from genre_core.monitoring.quality import window_quality
from genre_core.monitoring.stream import InteractionStream, split_by_time
from genre_core.pipeline import load_prepared
from genre_core.registry import ModelRegistry
from genre_core.training import build_inputs, resolve_device

log = logging.getLogger(__name__)

POLICIES = ("static", "periodic", "adaptive")
# The quality drop of a window is measured against the mean NDCG@k of this many previous windows.
QUALITY_BASELINE_WINDOWS = 3
RUN_FILE = "run.json"

# on_progress(fraction from 0 to 1, message)
ProgressCallback = Callable[[float, str], None]


def replay_root(config: Config) -> Path:
    """Folder of the replay registries and the saved run, next to the serving registry."""
    return config.paths.resolve("registry_dir") / f"{config.name}-replay"


def run_file(config: Config) -> Path:
    return replay_root(config) / RUN_FILE


def load_run(config: Config) -> dict | None:
    """Return the saved replay run of `config`, or None when `genre replay` has not been run."""
    path = run_file(config)
    if not path.is_file():
        return None
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"replay run file {path} is corrupt ({error}); run `genre replay` again to rewrite it") from error
    missing = _missing_run_key(run)
    if missing:
        raise ValueError(f"replay run file {path} is corrupt (no {missing}); run `genre replay` again to rewrite it")
    return run


# Keys of a saved run that the Model Health page reads, as paths into the JSON object.
RUN_KEYS = ("created_at", "dataset", "machine", "windows", "seconds", "interactions.initial",
            "interactions.streamed", "settings.k", "settings.window")


def _missing_run_key(run) -> str | None:
    """Return the first key that the saved run lacks, or None when it has every key the page reads."""
    paths = list(RUN_KEYS) + [f"policies.{name}.{part}" for name in POLICIES for part in ("summary", "timeline")]
    for key in paths:
        value = run
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return repr(key)
            value = value[part]
    return None


def replay_model_config(config: Config) -> Config:
    """Return the config of the replay models: `config` with `model.dim` set to `monitoring.replay.dim`."""
    raw = config.to_dict()
    raw["model"]["dim"] = config.monitoring.replay.dim
    return from_dict(raw)


def run_replay(config: Config, progress: bool = True, on_progress: ProgressCallback | None = None,
               policies: tuple[str, ...] = POLICIES) -> dict:
    """Replay the configured dataset for `policies` (default: all), save the run next to the registry, and return it."""
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise ValueError(f"unknown replay policy {unknown[0]!r}; valid policies: {', '.join(POLICIES)}")
    if not policies:
        raise ValueError(f"no replay policy given; pass one or more of {', '.join(POLICIES)}")
    start = time.perf_counter()
    settings, replay = config.monitoring, config.monitoring.replay
    model_config = replay_model_config(config)
    dataset = load_prepared(config, progress=progress)
    base, rest = split_by_time(dataset.interactions, replay.train_fraction)
    stream = InteractionStream(rest)
    n_windows = stream.count_windows(settings.window, replay.max_windows)
    windows = list(stream.windows(settings.window, replay.max_windows))

    encodings = (TabularEncoding.fit(dataset.items, dataset.item_features),
                 TabularEncoding.fit(dataset.users, dataset.user_features))
    inputs = build_inputs(model_config, dataset, *encodings, progress=progress)
    device = resolve_device(model_config.training.device)
    bar = tqdm(total=1 + len(policies) * n_windows, desc="replay", unit="step", disable=not progress)
    report = _reporter(bar, on_progress)

    report(0, "training the initial model")
    initial_start = time.perf_counter()
    initial = new_model(model_config, dataset, inputs, *encodings, seed=config.seed).to(device)
    fit_users(initial, model_config, dataset, inputs, base, base["user_idx"].unique(), replay.initial_epochs,
              replay.learning_rate, model_config.training.weight_decay, config.seed, device)
    initial_seconds = time.perf_counter() - initial_start
    report(1, "initial model trained")

    root = replay_root(config)
    if root.exists():
        shutil.rmtree(root)  # a run replaces the previous run's registries, logs and timeline
    base_meta = _base_meta(dataset, inputs, encodings, base)
    features = [_feature_drift(config, dataset, base, window.frame) for window in windows]
    results = {}
    for name in policies:
        results[name] = _run_policy(name, config, model_config, dataset, inputs, encodings, base, windows, initial,
                                    features, base_meta, device, report)
    bar.close()

    run = _run_record(config, dataset, base, rest, windows, results, initial_seconds, time.perf_counter() - start)
    _save_run(run, run_file(config))
    return run


def _reporter(bar, on_progress: ProgressCallback | None) -> Callable[[int, str], None]:
    def report(steps: int, message: str) -> None:
        bar.set_postfix_str(message, refresh=False)
        bar.update(steps)
        if on_progress is not None:
            on_progress(bar.n / max(1, bar.total), message)

    return report


def _run_policy(name, config, model_config, dataset, inputs, encodings, base, windows, initial, features, base_meta,
                device, report) -> dict:
    settings, replay = config.monitoring, config.monitoring.replay
    registry = ModelRegistry(replay_root(config) / name)
    action_log = ActionLog.for_registry(registry)
    registry.save(initial.state_dict(), model_config, {**base_meta, "source": "replay_initial", "status": "active"})
    executor = ActionExecutor(
        name, registry, action_log, model_config, base_meta, settings.policy,
        UpdateSettings(replay.update_learning_rate, model_config.training.weight_decay), config.feedback.tolerance,
    )
    policy = AdaptationPolicy(settings.policy)
    detector = QualityDetector(settings.detector, settings.detector_delta, settings.detector_threshold)
    learner = StreamLearner(model_config, dataset, inputs, encodings, base, device, config.seed)
    model = initial
    # Score drift is measured against the scores served on the previous window; the initial reference is the
    # initial model's scores on the newest training interactions. Quality drop uses the previous windows' NDCG.
    reference_scores = _interaction_scores(learner.score_function(model), base.iloc[-settings.window:])
    recent_ndcg: deque[float] = deque(maxlen=QUALITY_BASELINE_WINDOWS)
    staleness = 0
    timeline = []
    start = time.perf_counter()

    for window in windows:
        report(0, f"{name}: window {window.index + 1}/{len(windows)}")
        score = learner.score_function(model)
        quality = window_quality(score, learner.seen, window.frame, settings.k, settings.positive_rating, device)
        scores = _interaction_scores(score, window.frame)
        alarms = detector.update(quality.user_ndcg) if quality.users else []
        score_psi = psi(reference_scores, scores, settings.psi_bins, "score")
        score_ks, score_p = ks_test(reference_scores, scores, "score")
        quality_drop = _relative_drop(float(np.mean(recent_ndcg)) if recent_ndcg else float("nan"), quality.ndcg)
        if np.isfinite(quality.ndcg):
            recent_ndcg.append(quality.ndcg)

        reference_scores = scores
        learner.add(window.frame)
        staleness += 1
        signals = WindowSignals(
            window=window.index, detector_alarms=sum(alarm.is_drop for alarm in alarms), quality_drop=quality_drop,
            score_psi=score_psi, feature_psi=max(result.psi for result in features[window.index]),
            staleness=staleness, update_rejected=executor.last_rejected,
        )
        decisions = _decisions(name, policy, signals, window.index, replay.periodic_every)
        records = []
        if any(decision.action in ("incremental_update", "full_retrain") for decision in decisions):
            learner.begin_update()
        for decision in decisions:
            model, record = executor.execute(decision, window.index, model, learner.update, learner.validate, signals.to_dict())
            records.append(record.to_dict())
        if any(record["promoted"] is not None for record in records):
            learner.end_update()
            staleness = 0

        timeline.append({
            "window": window.index, "first_time": window.first_time, "last_time": window.last_time,
            **quality.to_dict(), "score_psi": score_psi, "score_ks": score_ks, "score_ks_pvalue": score_p,
            "quality_drop": quality_drop, "feature_psi": signals.feature_psi,
            "features": {result.feature: result.to_dict() for result in features[window.index]},
            "alarms": [alarm.to_dict() for alarm in alarms], "actions": records,
            "active_version": registry.active_version(),
        })
        report(1, f"{name}: window {window.index + 1}/{len(windows)}")

    seconds = time.perf_counter() - start
    log.info("%s policy: %d updates, %.1f s of updates, %.1f s in all", name, executor.updates, executor.update_seconds, seconds)
    return {
        "summary": _summary(timeline, settings.k, executor, seconds),
        "timeline": timeline,
        "registry": str(registry.root),
        "action_log": str(action_log.path),
    }


def _decisions(name: str, policy: AdaptationPolicy, signals: WindowSignals, index: int, every: int) -> list[Decision]:
    if name == "static":
        return []
    if name == "periodic":
        if (index + 1) % every == 0:
            return [Decision("incremental_update", "schedule", float(index + 1), float(every))]
        return []
    return policy.decide(signals)


@torch.no_grad()
def _interaction_scores(score, window: pd.DataFrame) -> np.ndarray:
    """Model score of each window interaction's item for its user: the score distribution that drift is measured on."""
    users, rows = np.unique(window["user_idx"].to_numpy(), return_inverse=True)
    matrix = score(users)
    matrix = matrix.cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    return matrix[rows, window["item_idx"].to_numpy()]


def _relative_drop(reference: float, current: float) -> float:
    if not np.isfinite(reference) or not np.isfinite(current) or reference <= 0:
        return 0.0
    return float((reference - current) / reference)


def _feature_drift(config: Config, dataset, base: pd.DataFrame, window: pd.DataFrame):
    """PSI and KS of the user and item features of the window's interactions against the training part."""
    settings = config.monitoring
    popularity = base["item_idx"].value_counts().reindex(range(dataset.n_items), fill_value=0).to_numpy()
    activity = base["user_idx"].value_counts().reindex(range(dataset.n_users), fill_value=0).to_numpy()

    def values(frame: pd.DataFrame) -> dict[str, np.ndarray]:
        items, users = frame["item_idx"].to_numpy(), frame["user_idx"].to_numpy()
        found = {"item_popularity": np.log1p(popularity[items]), "user_activity": np.log1p(activity[users])}
        for column in dataset.item_features.numeric:
            found[f"item_{column}"] = pd.to_numeric(dataset.items[column], errors="coerce").to_numpy(dtype=float)[items]
        for column in dataset.user_features.numeric:
            found[f"user_{column}"] = pd.to_numeric(dataset.users[column], errors="coerce").to_numpy(dtype=float)[users]
        return found

    return compare_distributions(values(base), values(window), settings.psi_bins, settings.psi_threshold, settings.ks_alpha)


def _summary(timeline: list[dict], k: int, executor: ActionExecutor, seconds: float) -> dict:
    frame = pd.DataFrame(timeline)
    evaluated = frame[frame["users"] > 0]
    weights = evaluated["users"].to_numpy(dtype=float)
    return {
        # Means over every (window, user) pair that was evaluated, so a busy window weighs more.
        f"ndcg@{k}": float(np.average(evaluated[f"ndcg@{k}"], weights=weights)),
        f"hit@{k}": float(np.average(evaluated[f"hit@{k}"], weights=weights)),
        "updates": executor.updates,
        "promoted": sum(1 for row in timeline for action in row["actions"] if action["promoted"]),
        "setting_changes": sum(1 for row in timeline for action in row["actions"] if action["promoted"] is None),
        "alarms": sum(len(row["alarms"]) for row in timeline),
        "update_seconds": round(executor.update_seconds, 2),
        "seconds": round(seconds, 2),
    }


def _base_meta(dataset, inputs, encodings, base: pd.DataFrame) -> dict:
    return {
        "dataset": dataset.name, "data_fingerprint": dataset.fingerprint(), "simulated": dataset.simulated,
        "text_dim": inputs.text_dim, "item_encoding": encodings[0].to_dict(), "user_encoding": encodings[1].to_dict(),
        "replay": {"initial_interactions": len(base)},
    }


def _run_record(config, dataset, base, rest, windows, results, initial_seconds, seconds) -> dict:
    settings = config.monitoring
    return {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.name,
        "dataset": dataset.name,
        "simulated": dataset.simulated,
        "machine": machine_description(),
        "interactions": {"initial": len(base), "streamed": int(sum(len(window.frame) for window in windows)),
                         "not_streamed": len(rest) - int(sum(len(window.frame) for window in windows))},
        "windows": len(windows),
        "settings": {
            "window": settings.window, "k": settings.k, "positive_rating": settings.positive_rating,
            "psi_bins": settings.psi_bins, "psi_threshold": settings.psi_threshold, "ks_alpha": settings.ks_alpha,
            "detector": settings.detector, "detector_delta": settings.detector_delta,
            "detector_threshold": settings.detector_threshold, "tolerance": config.feedback.tolerance,
            "replay": config.to_dict()["monitoring"]["replay"],
        },
        "policy": config.to_dict()["monitoring"]["policy"],
        "initial_seconds": round(initial_seconds, 2),
        "seconds": round(seconds, 2),
        "policies": results,
    }


def _save_run(run: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(run, indent=1, default=_json_value), encoding="utf-8")
    os.replace(tmp, path)
    log.info("replay run saved to %s", path)


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
