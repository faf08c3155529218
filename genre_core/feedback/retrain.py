"""Fine-tune the active model on analysts' labels plus a replay sample of its original training data.

The replayed interactions keep the usual ranking loss, so the model does not
forget what it learned. Each label adds a pairwise term against the user's
current top candidates: an item labelled irrelevant is pushed below them,
one labelled relevant is pulled above them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from genre_core.adapters import build_adapter
from genre_core.config import Config
from genre_core.feedback.comparison import LabelSet, compare, moved_as_labelled, serving_scores, take_snapshot
from genre_core.feedback.guard import GuardDecision, decide
from genre_core.feedback.store import FeedbackStore, RatingRange, label_direction
from genre_core.inputs import build_histories
from genre_core.model import count_parameters
from genre_core.pipeline import genre_score_function, known_interactions, load_version, make_split, test_metrics_of
from genre_core.registry import ModelRegistry, RegistryError
from genre_core.schema import ITEM_ID, USER_ID
from genre_core.training import Trainer, ValidationScorer, resolve_device, seed_everything

log = logging.getLogger(__name__)

# Candidates per labelled user that a labelled item is compared with in the label loss.
LABEL_CANDIDATES = 20

# on_progress(fraction from 0 to 1, message); it may raise to stop the run between steps.
ProgressCallback = Callable[[float, str], None]


@dataclass
class RetrainResult:
    version: str
    promoted: bool
    decision: GuardDecision
    comparison: dict
    base_version: str
    labels_used: int
    seconds: float

    def to_dict(self) -> dict:
        return {
            "version": self.version, "promoted": self.promoted, "base_version": self.base_version,
            "labels_used": self.labels_used, "seconds": round(self.seconds, 2),
            "guard": self.decision.to_dict(), "comparison": self.comparison,
        }


def retrain(config: Config, store: FeedbackStore, on_progress: ProgressCallback | None = None) -> RetrainResult:
    """Fine-tune the active model, register the result, and promote it only if the guard passes."""
    report = on_progress or (lambda fraction, message: None)
    start = time.perf_counter()
    registry = ModelRegistry.for_config(config)
    base_version = registry.active_version()
    if base_version is None:
        raise RegistryError(f"no active model in {registry.root} to retrain; train one with `genre train`")

    report(0.02, f"loading model {base_version}")
    loaded = load_version(config, base_version)
    model, model_config, meta = loaded.model, loaded.config, loaded.meta
    dataset, inputs = loaded.dataset, loaded.inputs
    device = resolve_device(model_config.training.device)
    model.to(device)

    labels = _label_set(store.active_labels(), dataset, RatingRange(config.feedback.rating_min, config.feedback.rating_max))
    if len(labels) == 0:
        raise ValueError("there are no labels to learn from; add some with `genre feedback add` or on the Feedback page")

    split = make_split(model_config, dataset)
    _check_same_split(meta, split.summary(), base_version)
    serving = build_histories(dataset.interactions, dataset.n_users)
    scorer = ValidationScorer(model_config, dataset, split, inputs, build_histories(split.train, dataset.n_users), device)
    max_history = model_config.model.max_history

    report(0.05, "measuring the current model")
    before = take_snapshot(model, inputs, serving, labels, max_history, device, scorer.evaluate(model)["ndcg@10"])
    _fine_tune(model, model_config, config, dataset, split, inputs, serving, labels, device, report)

    report(0.9, "measuring the retrained model")
    after = take_snapshot(model, inputs, serving, labels, max_history, device, scorer.evaluate(model)["ndcg@10"])
    moved = moved_as_labelled(before, after, labels).tolist()
    decision = decide(before.ndcg, after.ndcg, moved, config.feedback.tolerance)
    comparison = compare(before, after, labels, dataset)

    report(0.95, "registering the new version")
    score = genre_score_function(model, inputs, build_histories(known_interactions(split), dataset.n_users), max_history, device)
    test = test_metrics_of(score, dataset, split, model_config.evaluation.ks, device)
    seconds = time.perf_counter() - start
    new_meta = _new_meta(meta, base_version, after.ndcg, test, labels, decision, comparison, seconds, model, config, device)
    version = registry.save(model.state_dict(), model_config, new_meta, activate=decision.promote)
    if decision.promote:
        log.info("retrained model %s promoted (NDCG@10 %.4f -> %.4f)", version, before.ndcg, after.ndcg)
    else:
        log.warning("retrained model %s kept as a candidate: %s", version, "; ".join(decision.reasons))
    return RetrainResult(version, decision.promote, decision, comparison, base_version, len(labels), seconds)


def _label_set(frame: pd.DataFrame, dataset, ratings: RatingRange) -> LabelSet:
    users, items, directions, user_ids, item_ids, names = [], [], [], [], [], []
    for row in frame.itertuples(index=False):
        user_id, item_id = getattr(row, USER_ID), getattr(row, ITEM_ID)
        if user_id not in dataset.user_index or item_id not in dataset.item_index:
            log.warning("label %s skipped: user %s or item %s is not in dataset %s", row.id, user_id, item_id, dataset.name)
            continue
        rating = None if pd.isna(row.rating) else float(row.rating)
        direction = label_direction(row.label, rating, ratings)
        if direction == 0:
            continue
        users.append(dataset.user_index[user_id])
        items.append(dataset.item_index[item_id])
        directions.append(direction)
        user_ids.append(user_id)
        item_ids.append(item_id)
        names.append(row.label if row.label != "rating" else f"rating {rating:g}")
    return LabelSet(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64),
                    np.array(directions, dtype=np.int64), user_ids, item_ids, names)


def _check_same_split(meta: dict, summary: dict, version: str) -> None:
    recorded = meta.get("split", {})
    for key in ("protocol", "seed", "train", "valid", "test"):
        if key in recorded and recorded[key] != summary[key]:
            raise RegistryError(
                f"the split rebuilt for model {version} differs from the one it was trained on "
                f"({key}: {summary[key]!r} now, {recorded[key]!r} then); the prepared data changed, so retrain from scratch with `genre train`"
            )


def _fine_tune(model, model_config, config, dataset, split, inputs, serving, labels, device, report) -> None:
    settings = config.feedback
    seed_everything(model_config.seed)
    rng = np.random.default_rng(model_config.seed)
    trainer = Trainer(model_config, dataset, split, progress=False)
    adapter = build_adapter(model_config.model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=model_config.training.weight_decay)
    train_histories = build_histories(split.train, dataset.n_users)
    item_inputs = inputs.item_inputs(device)

    training_users = np.unique(split.train["user_idx"].to_numpy())
    labelled_users = np.unique(labels.users)
    replay_count = int(round(settings.replay_fraction * len(training_users)))
    for epoch in range(1, settings.epochs + 1):
        replay = rng.choice(training_users, size=replay_count, replace=False) if replay_count else training_users[:0]
        users = np.union1d(replay, np.intersect1d(labelled_users, training_users))
        candidates = _candidates(model, inputs, serving, labels, model_config.model.max_history, device)
        model.train()
        losses = []
        for batch_users in np.array_split(rng.permutation(users), max(1, -(-len(users) // model_config.training.batch_size))):
            item_vectors = model.item_vectors(item_inputs)
            loss = settings.label_weight * _label_loss(model, item_vectors, inputs, serving, labels, candidates, model_config, device)
            if len(batch_users):
                batch = trainer._training_batch(inputs, train_histories, batch_users, rng)
                loss = loss + adapter.loss(model.score(model.user_vectors(item_vectors, batch), item_vectors), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        model.eval()
        log.info("fine-tuning epoch %d/%d: loss %.4f", epoch, settings.epochs, float(np.mean(losses)))
        report(0.1 + 0.8 * epoch / settings.epochs, f"epoch {epoch}/{settings.epochs}, loss {np.mean(losses):.4f}")


def _candidates(model, inputs, serving, labels: LabelSet, max_history, device) -> dict[int, torch.Tensor]:
    """Find each labelled user's current top items, leaving out seen and labelled items."""
    users = np.unique(labels.users)
    scores = serving_scores(model, inputs, serving, users, max_history, device)
    found = {}
    for row, user in enumerate(users):
        scores[row, torch.as_tensor(labels.items[labels.users == user], device=device)] = float("-inf")
        available = int(torch.isfinite(scores[row]).sum())
        found[int(user)] = torch.topk(scores[row], max(1, min(LABEL_CANDIDATES, available))).indices
    return found


def _label_loss(model, item_vectors, inputs, serving, labels: LabelSet, candidates, model_config, device) -> torch.Tensor:
    users = np.unique(labels.users)
    batch = inputs.user_batch(users, [serving[user] for user in users], model_config.model.max_history, device)
    scores = model.score(model.user_vectors(item_vectors, batch), item_vectors)
    row_of = {int(user): row for row, user in enumerate(users)}
    rows = torch.as_tensor([row_of[int(user)] for user in labels.users], device=device)
    labelled = scores[rows, torch.as_tensor(labels.items, device=device)]  # (labels,)
    others = torch.stack([scores[row_of[int(user)], candidates[int(user)]] for user in labels.users])  # (labels, candidates)
    direction = torch.as_tensor(labels.directions, dtype=scores.dtype, device=device).unsqueeze(1)
    # softplus(-d (s_item - s_candidate)): pushes the item above (d = +1) or below (d = -1) every candidate.
    return F.softplus(-direction * (labelled.unsqueeze(1) - others)).mean()


def _new_meta(meta, base_version, valid_ndcg, test, labels, decision, comparison, seconds, model, config, device) -> dict:
    keep = ("dataset", "data_fingerprint", "simulated", "split", "text_dim", "item_encoding", "user_encoding")
    return {
        **{key: meta[key] for key in keep if key in meta},
        "metrics": {"valid": {"ndcg@10": valid_ndcg}, "test": test},
        "training": {
            "seconds": round(seconds, 2), "epochs_run": config.feedback.epochs, "best_epoch": config.feedback.epochs,
            "stopped_early": False, "device": str(device), "curve": [], "parameters": count_parameters(model),
        },
        "status": "active" if decision.promote else "candidate",
        "source": "feedback",
        "base_version": base_version,
        "guard": decision.to_dict(),
        "feedback": {
            "labels": [
                {"user_id": user, "item_id": item, "label": name}
                for user, item, name in zip(labels.user_ids, labels.item_ids, labels.labels)
            ],
            "tolerance": config.feedback.tolerance,
            "replay_fraction": config.feedback.replay_fraction,
            "epochs": config.feedback.epochs,
            "learning_rate": config.feedback.learning_rate,
        },
        "comparison": comparison,
    }
