"""The score of one (user, item) pair as a function of one input tensor per modality.

The tensors are the ones the encoders read, kept differentiable:

- text: the item's sentence vector, (n, T, text_dim);
- item attributes: the item tabular encoder's summed feature embeddings before its output
  layer, (n, T, dim);
- item ID: the item's ID embedding with its score bias appended, (n, T, dim + 1);
- user attributes: the user tabular encoder's summed feature embeddings, (n, dim);
- history: one weight per past item that scales the item's value in the user tower, (n, L).

T is 1 for the score target and 2 for the rank margin score(A) - score(B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genre_core.inputs import History
from genre_core.model import UserTower

MODALITIES = ("text", "item_attributes", "item_id", "user_attributes", "history")


def tabular_features(encoder, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum the feature embeddings of a TabularEncoder, the input of its output layer: (n, dim).

    NOTE: this repeats TabularEncoder.forward up to `encoder.out`; keep the two in step.
    """
    codes = inputs[encoder.prefix + "categorical"]
    hidden = encoder.bias.expand(codes.shape[0], -1)
    for position, embedding in enumerate(encoder.categorical):
        hidden = hidden + embedding(codes[:, position])
    if encoder.multilabel is not None:
        hidden = hidden + encoder.multilabel(inputs[encoder.prefix + "multilabel"])
    if encoder.numeric is not None:
        numeric = torch.cat([inputs[encoder.prefix + "numeric"], inputs[encoder.prefix + "numeric_present"]], -1)
        hidden = hidden + encoder.numeric(numeric)
    return hidden


class _UserTowerView:
    """The user tower with its attribute encoder fed from precomputed feature sums."""

    def __init__(self, tower: UserTower):
        self._tower = tower
        self.attributes = None if tower.attributes is None else self._attributes

    def _attributes(self, batch):
        return self._tower.attributes.out(batch["user_features"]), None

    def __getattr__(self, name):
        return getattr(self._tower, name)


@dataclass
class ScoringProblem:
    """Inputs, baselines and the forward function for one user and one or two target items."""

    model: torch.nn.Module
    catalogue_vectors: torch.Tensor
    inputs: tuple[torch.Tensor, ...]
    baselines: tuple[torch.Tensor, ...]
    text_present: torch.Tensor  # (T,)
    history: torch.Tensor  # (1, L) item indices
    history_mask: torch.Tensor
    history_rating: torch.Tensor
    item_indices: list[int]
    history_items: np.ndarray

    def forward(self, text, item_attributes, item_id, user_attributes, history_weight) -> torch.Tensor:
        """Score of each row: (n,) for the score target, score(A) - score(B) for the margin."""
        rows, targets = text.shape[0], text.shape[1]
        item_tower = self.model.item_tower
        vectors, present = [], []
        for name in item_tower.modalities:
            encoder = item_tower.encoders[name]
            if name == "text":
                vectors.append(encoder.project(text.reshape(rows * targets, -1)))
                present.append((self.text_present > 0).repeat(rows))
            elif name == "tabular":
                vectors.append(encoder.out(item_attributes.reshape(rows * targets, -1)))
                present.append(torch.ones(rows * targets, dtype=torch.bool))
            else:
                vectors.append(item_id[..., :-1].reshape(rows * targets, -1))
                present.append(torch.ones(rows * targets, dtype=torch.bool))
        item_vectors = item_tower.fusion(torch.stack(vectors, 1), torch.stack(present, 1)).view(rows, targets, -1)

        batch = {
            "history": self.history.expand(rows, -1), "history_mask": self.history_mask.expand(rows, -1),
            "history_rating": self.history_rating.expand(rows, -1), "history_weight": history_weight,
            "user_features": user_attributes,
        }
        user_vectors = UserTower.forward(_UserTowerView(self.model.user_tower), self.catalogue_vectors, batch)
        scores = (user_vectors.unsqueeze(1) * item_vectors).sum(-1) + item_id[..., -1] + self.model.global_bias
        return scores[:, 0] - scores[:, 1] if targets == 2 else scores[:, 0]

    def value(self, inputs: tuple[torch.Tensor, ...] | None = None) -> float:
        with torch.no_grad():
            return float(self.forward(*(self.inputs if inputs is None else inputs))[0])

    def baseline_value(self) -> float:
        return self.value(self.baselines)

    def feature_masks(self) -> tuple[torch.Tensor, ...]:
        """One group id per modality, the same id across every element of that modality's tensor."""
        return tuple(torch.full_like(tensor, group, dtype=torch.long) for group, tensor in enumerate(self.inputs))


def build_problem(recommender, user_index: int, item_indices: list[int], history: History, baseline: str) -> ScoringProblem:
    """Collect the modality tensors of a user and target items, and their baselines (`mean` or `zero`)."""
    model, device = recommender.model, torch.device("cpu")
    model.to(device)
    items = recommender.inputs.item_inputs(device)
    index = torch.as_tensor(item_indices)
    max_history = recommender.config.model.max_history
    batch = recommender.inputs.user_batch([user_index], [history], max_history, device)

    with torch.no_grad():
        catalogue = model.item_vectors(items)
        item_features = _item_features(model, items)
        users = recommender.inputs.users
        user_features = _user_features(model, users)
        id_table = _id_table(model, recommender.dataset.n_items)

    text = items["text"][index].unsqueeze(0)
    inputs = (
        text, item_features[index].unsqueeze(0), id_table[index].unsqueeze(0),
        user_features[user_index:user_index + 1], batch["history_mask"].to(torch.float32),
    )
    if baseline == "mean":
        with_text = items["text_present"] > 0
        text_mean = items["text"][with_text].mean(0) if with_text.any() else torch.zeros(text.shape[-1])
        baselines = (
            text_mean.expand_as(text).clone(), item_features.mean(0).expand_as(inputs[1]).clone(),
            id_table.mean(0).expand_as(inputs[2]).clone(), user_features.mean(0, keepdim=True),
            torch.zeros_like(inputs[4]),
        )
    else:
        baselines = tuple(torch.zeros_like(tensor) for tensor in inputs)

    # The user tower reads only the history rows of the catalogue, so it gets just those rows.
    length = min(len(history), max_history)
    return ScoringProblem(
        model=model, catalogue_vectors=catalogue[batch["history"][0]], inputs=inputs, baselines=baselines,
        text_present=items["text_present"][index], history=torch.arange(batch["history"].shape[1]).unsqueeze(0),
        history_mask=batch["history_mask"],
        history_rating=batch["history_rating"], item_indices=list(item_indices),
        history_items=np.asarray(history.items[-max_history:][:length]),
    )


def _item_features(model, items) -> torch.Tensor:
    encoders = model.item_tower.encoders
    if "tabular" in encoders:
        return tabular_features(encoders["tabular"], items)
    return torch.zeros(len(items["item_index"]), model.config.dim)


def _user_features(model, users) -> torch.Tensor:
    encoder = model.user_tower.attributes
    size = next(iter(users.values())).shape[0] if users else 1
    if encoder is None:
        return torch.zeros(size, model.config.dim)
    return tabular_features(encoder, users)


def _id_table(model, n_items: int) -> torch.Tensor:
    """Each item's ID embedding (zeros when the model has no ID modality) and its score bias: (items, dim + 1)."""
    encoders = model.item_tower.encoders
    embedding = encoders["id"].embedding.weight if "id" in encoders else torch.zeros(n_items, model.config.dim)
    return torch.cat([embedding, model.item_bias.unsqueeze(1)], 1)
