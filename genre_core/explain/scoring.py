"""The score of one (user, item) pair as a function of one input tensor per modality.

The tensors are the ones the encoders read, kept differentiable:

- text: the item's sentence vector, (n, T, text_dim);
- item attributes: the item tabular encoder's summed feature embeddings before its output
  layer, (n, T, dim);
- item ID: the item's ID embedding with its score bias appended, (n, T, dim + 1);
- user attributes: the user tabular encoder's summed feature embeddings, (n, dim);
- image: the item's cached EfficientNet-Lite0 features, (n, T, 1280), or (n, T, 1) when the model reads no image;
- audio: the item's log-mel spectrogram, (n, T, 64, 96), or (n, T, 1) when the model reads no sound;
- history: one weight per past item that scales the item's value in the user tower, (n, L).

T is 1 for the score target and 2 for the rank margin score(A) - score(B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genre_core.inputs import History
from genre_core.model import UserTower

MODALITIES = ("text", "item_attributes", "item_id", "user_attributes", "image", "audio", "history")


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
    image_present: torch.Tensor | None = None  # (T,)
    audio_present: torch.Tensor | None = None  # (T,)

    def forward(self, text, item_attributes, item_id, user_attributes, image, audio, history_weight) -> torch.Tensor:
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
            elif name == "image":
                vectors.append(encoder.project(image.reshape(rows * targets, -1)))
                present.append((self.image_present > 0).repeat(rows))
            elif name == "audio":
                vectors.append(encoder.encode(audio.reshape(rows * targets, *audio.shape[2:])))
                present.append((self.audio_present > 0).repeat(rows))
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
        # A modality the model does not read (no tabular encoder, no image) still joins the graph with
        # weight 0, because Captum's gradient methods reject an input that the output does not use.
        unused = sum((tensor * 0).flatten(1).sum(1) for tensor in (text, item_attributes, user_attributes, image, audio))
        scores = scores + unused.unsqueeze(1)
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
    image, image_present = _media_input(items, "image", index)
    audio, audio_present = _media_input(items, "audio", index)
    inputs = (
        text, item_features[index].unsqueeze(0), id_table[index].unsqueeze(0),
        user_features[user_index:user_index + 1], image, audio, batch["history_mask"].to(torch.float32),
    )
    if baseline == "mean":
        with_text = items["text_present"] > 0
        text_mean = items["text"][with_text].mean(0) if with_text.any() else torch.zeros(text.shape[-1])
        baselines = (
            text_mean.expand_as(text).clone(), item_features.mean(0).expand_as(inputs[1]).clone(),
            id_table.mean(0).expand_as(inputs[2]).clone(), user_features.mean(0, keepdim=True),
            _media_mean(items, "image").expand_as(image).clone(), _media_mean(items, "audio").expand_as(audio).clone(),
            torch.zeros_like(inputs[-1]),
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
        image_present=image_present, audio_present=audio_present,
    )


def _media_input(items, name: str, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the target items' image features or spectrograms (1, T, ...) and presence (T,), or a (1, T, 1) zero stand-in."""
    if name not in items:
        return torch.zeros(1, len(index), 1), torch.zeros(len(index))
    return items[name][index].unsqueeze(0), items[f"{name}_present"][index]


def _media_mean(items, name: str) -> torch.Tensor:
    """Mean image features or spectrogram over the items that have one (zeros when none has)."""
    if name not in items:
        return torch.zeros(1)
    present = items[f"{name}_present"] > 0
    return items[name][present].mean(0) if present.any() else torch.zeros(items[name].shape[1:])


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
