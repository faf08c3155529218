"""Output adapters: one per task, each with its loss over a training batch.

A training batch holds, per user, the history fed to the user tower and the
held-out target items (padded, with a mask). Every adapter scores with
`model.score(user_vectors, item_vectors)`, so ranking, click and rating
models serve through the same top-k.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genre_core.config import ModelConfig

# Negatives per positive for the click task when `model.num_negatives` is 0.
DEFAULT_CLICK_NEGATIVES = 4


class OutputAdapter:
    name = ""

    def __init__(self, config: ModelConfig):
        self.config = config

    def loss(self, scores: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Loss of a batch given `scores` (users, items) over the whole catalogue."""
        raise NotImplementedError


class SampledSoftmaxAdapter(OutputAdapter):
    """Ranking by softmax cross-entropy of each target against the catalogue or sampled negatives.

    The user's own history items are removed from the softmax, because they are
    known positives and are never recommended back.
    """

    name = "sampled_softmax"

    def loss(self, scores, batch):
        logits = scores / self.config.temperature
        logits = logits.masked_fill(batch["history_items_mask"], float("-inf"))
        targets, mask = batch["targets"], batch["target_mask"]

        if self.config.num_negatives == 0 or self.config.num_negatives >= scores.shape[1]:
            log_probs = torch.log_softmax(logits, dim=1).gather(1, targets)
        else:
            negatives = torch.randint(0, scores.shape[1], (self.config.num_negatives,), device=scores.device)
            negative_logits = logits[:, negatives]
            positive_logits = logits.gather(1, targets)
            log_normaliser = torch.logaddexp(
                positive_logits, torch.logsumexp(negative_logits, dim=1, keepdim=True).expand_as(positive_logits)
            )
            log_probs = positive_logits - log_normaliser
        log_probs = torch.where(mask > 0, log_probs, torch.zeros_like(log_probs))
        return -log_probs.sum() / mask.sum().clamp(min=1)


class BPRAdapter(OutputAdapter):
    """Ranking by Bayesian personalised ranking: each target against one uniform negative."""

    name = "bpr"

    def loss(self, scores, batch):
        targets, mask = batch["targets"], batch["target_mask"]
        negatives = _sample_negatives(scores.shape[1], targets.shape, batch["known_items_mask"], targets.device)
        margin = scores.gather(1, targets) - scores.gather(1, negatives)
        return (F.softplus(-margin) * mask).sum() / mask.sum().clamp(min=1)


class ClickAdapter(OutputAdapter):
    """Click prediction: binary cross-entropy, targets against sampled non-clicked items."""

    name = "click"

    def loss(self, scores, batch):
        targets, mask = batch["targets"], batch["target_mask"]
        per_positive = self.config.num_negatives or DEFAULT_CLICK_NEGATIVES
        shape = (targets.shape[0], targets.shape[1] * per_positive)
        negatives = _sample_negatives(scores.shape[1], shape, batch["known_items_mask"], targets.device)
        positive = F.binary_cross_entropy_with_logits(scores.gather(1, targets), torch.ones_like(mask), reduction="none")
        negative = F.binary_cross_entropy_with_logits(scores.gather(1, negatives), torch.zeros(shape, device=scores.device), reduction="none")
        negative_mask = mask.repeat_interleave(per_positive, dim=1)
        total = (positive * mask).sum() + (negative * negative_mask).sum()
        return total / (mask.sum() + negative_mask.sum()).clamp(min=1)


class RatingAdapter(OutputAdapter):
    """Rating prediction: mean squared error of the score against the target ratings."""

    name = "rating"

    def loss(self, scores, batch):
        mask = batch["target_mask"] * batch["target_rated"]
        error = (scores.gather(1, batch["targets"]) - batch["target_ratings"]) ** 2
        return (error * mask).sum() / mask.sum().clamp(min=1)


def _sample_negatives(n_items: int, shape: tuple, known: torch.Tensor, device) -> torch.Tensor:
    """Uniform item indices; draws that hit a known item of the user are redrawn once."""
    negatives = torch.randint(0, n_items, shape, device=device)
    hits = known.gather(1, negatives)
    redrawn = torch.randint(0, n_items, shape, device=device)
    return torch.where(hits, redrawn, negatives)


# Registry of output adapters; ranking has two losses.
ADAPTERS = {
    ("ranking", "sampled_softmax"): SampledSoftmaxAdapter,
    ("ranking", "bpr"): BPRAdapter,
    ("click", None): ClickAdapter,
    ("rating", None): RatingAdapter,
}


def build_adapter(config: ModelConfig) -> OutputAdapter:
    key = (config.task, config.loss if config.task == "ranking" else None)
    return ADAPTERS[key](config)
