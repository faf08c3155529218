"""Attribution maps of one item's score for one user over the item's picture and sound.

- Image: Captum Occlusion through EfficientNet-Lite0, the image projection and fusion. A
  square of the 224×224 input is painted white (the stamps' background) and the drop in the
  score is that square's attribution.
- Audio: Captum Integrated Gradients over the log-mel spectrogram (64 mel bands × 96 frames)
  through the audio CNN and fusion, from the catalogue's mean spectrogram, with the
  convergence delta reported.

The user vector and the item's other modality vectors stay fixed, so each map explains the
item side of one score: user vector · item vector + item bias.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, Occlusion

from genre_core.modalities.image import IMAGE_SIZE, image_features, load_image, load_image_model, normalise, preprocess
from genre_core.schema import AUDIO_PATH, IMAGE_PATH

log = logging.getLogger(__name__)

OCCLUSION_WINDOW = 32
AUDIO_STEPS = 64


@dataclass
class MediaMap:
    """An attribution map over one modality of one item, with what it attributes and how."""

    values: np.ndarray  # (224, 224) for an image, (64, 96) mel bands × frames for a sound
    background: np.ndarray  # the picture (224, 224, 3) in [0, 1] or the log-mel spectrogram (64, 96)
    score: float
    baseline_score: float
    method: str
    convergence_delta: float | None = None


class _ItemScore:
    """Score of one item for one user with one modality's input replaced: the function both maps attribute."""

    def __init__(self, recommender, user_id: str, item_id: str, modality: str):
        self.model = recommender.model.cpu().eval()
        self.modality = modality
        dataset = recommender.dataset
        self.item_index = dataset.item_position(item_id)
        user_index = dataset.user_position(user_id)
        if modality not in self.model.item_tower.modalities:
            raise ValueError(f"the model reads no {modality}; its modalities are {self.model.item_tower.modalities}")
        items = recommender.inputs.item_inputs("cpu")
        if float(items[f"{modality}_present"][self.item_index]) == 0:
            raise ValueError(f"item {item_id!r} has no usable {modality} file; pick an item that has one")
        self.item = {key: value[self.item_index:self.item_index + 1] for key, value in items.items()}
        self.position = self.model.item_tower.modalities.index(modality)
        with torch.no_grad():
            vectors = self.model.item_vectors(items)
            batch = recommender.inputs.user_batch(
                [user_index], [recommender.histories[user_index]], recommender.config.model.max_history, "cpu")
            self.user_vector = self.model.user_vectors(vectors, batch)[0]
            self.other_vectors, self.present = self.model.item_tower.encode_modalities(self.item)
        self.bias = self.model.item_bias[self.item_index] + self.model.global_bias

    def from_modality_vectors(self, modality_vectors: torch.Tensor) -> torch.Tensor:
        """Score for each row of the replaced modality's vectors (rows, dim)."""
        rows = modality_vectors.shape[0]
        vectors = self.other_vectors.expand(rows, -1, -1).clone()
        vectors[:, self.position] = modality_vectors
        fused = self.model.item_tower.fusion(vectors, self.present.expand(rows, -1))
        return fused @ self.user_vector + self.bias


def image_map(recommender, user_id: str, item_id: str, window: int = OCCLUSION_WINDOW) -> MediaMap:
    """Occlusion map of the item's picture: score drop when each window × window square turns white."""
    scorer = _ItemScore(recommender, user_id, item_id, "image")
    encoder = scorer.model.item_tower.encoders["image"]
    cnn = load_image_model()
    path = recommender.dataset.items.iloc[scorer.item_index][IMAGE_PATH]
    picture = preprocess(load_image(path)).unsqueeze(0)
    white = normalise(torch.ones(1, 3, IMAGE_SIZE, IMAGE_SIZE))

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        return scorer.from_modality_vectors(encoder.project(image_features(cnn, pixels)))

    with torch.no_grad():
        attribution = Occlusion(forward).attribute(
            picture, sliding_window_shapes=(3, window, window), strides=(3, window, window), baselines=white,
            perturbations_per_eval=8,
        )
        score, baseline_score = float(forward(picture)), float(forward(white))
    pixels_shown = (picture[0] * torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
             + torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)).permute(1, 2, 0).clamp(0, 1).numpy()
    return MediaMap(attribution[0].sum(0).numpy(), pixels_shown, score, baseline_score,
                    f"occlusion, {window}×{window} white squares, stride {window}")


def audio_map(recommender, user_id: str, item_id: str, n_steps: int = AUDIO_STEPS) -> MediaMap:
    """Integrated Gradients of the score over the item's log-mel spectrogram (mel bands × frames)."""
    scorer = _ItemScore(recommender, user_id, item_id, "audio")
    encoder = scorer.model.item_tower.encoders["audio"]
    items = recommender.inputs.items
    spectrogram = scorer.item["audio"]
    present = items["audio_present"] > 0
    baseline = items["audio"][present].mean(0, keepdim=True)

    def forward(spectrograms: torch.Tensor) -> torch.Tensor:
        return scorer.from_modality_vectors(encoder.encode(spectrograms))

    attribution, delta = IntegratedGradients(forward).attribute(
        spectrogram, baselines=baseline, n_steps=n_steps, return_convergence_delta=True)
    with torch.no_grad():
        score, baseline_score = float(forward(spectrogram)), float(forward(baseline))
    log.info("audio map of item %s for user %s: delta %.2e", item_id, user_id, float(delta.sum()))
    return MediaMap(attribution[0].detach().numpy(), spectrogram[0].numpy(), score, baseline_score,
                    f"integrated gradients, {n_steps} steps, baseline: mean spectrogram", float(delta.sum()))


def media_files(recommender, item_id: str) -> dict[str, str | None]:
    """Return the item's usable image and sound paths (None where it has none or the file failed to load)."""
    index = recommender.dataset.item_position(item_id)
    row = recommender.dataset.items.iloc[index]
    items = recommender.inputs.items
    files = {}
    for name, column in (("image", IMAGE_PATH), ("audio", AUDIO_PATH)):
        usable = f"{name}_present" in items and float(items[f"{name}_present"][index]) > 0
        files[name] = str(row[column]) if usable and column in row.index else None
    return files
