"""Text encoders that run the text model's top layers in the forward pass, and the choice among text encoders."""

from __future__ import annotations

import torch
from torch import nn

from genre_core.config import ModelConfig, TextConfig
from genre_core.modalities.encoders import TextProjection
from genre_core.modalities.text_layers import TopLayers, read_token_states


class TunedTextEncoder(nn.Module):
    """Top layers of the text model on cached lower-layer states, mean pooling, then a projection.

    Its output for untrained weights equals what TextProjection computes from
    the cached sentence vectors: the pooled vector is L2-normalised the same way.
    """

    modality = "text"

    def __init__(self, text_config: TextConfig, dim: int, dropout: float = 0.1):
        super().__init__()
        self.top = TopLayers(text_config)
        self.projection = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(self.top.hidden_size, dim), nn.GELU(), nn.Linear(dim, dim)
        )

    def sentence_vectors(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """L2-normalised mean-pooled output of the top layers: (items, hidden_size)."""
        hidden, mask = read_token_states(inputs, self.top)
        return nn.functional.normalize(self.top.pool(hidden, mask), dim=-1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.projection(self.sentence_vectors(inputs)), inputs["text_present"] > 0


class TitleTokenSlot(nn.Module):
    """The text slot under lm fusion, which reads the title tokens itself.

    The slot's vector is zero and unused. It only carries the text presence mask to the fusion module.
    """

    modality = "text"

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        text_present = inputs["text_present"]
        return text_present.new_zeros(text_present.shape[0], self.dim), text_present > 0


def build_text_encoder(config: ModelConfig, text_dim: int, text_config: TextConfig | None) -> nn.Module:
    """Pick the text encoder for `model.fusion` and `text.tuning`; None means frozen cached sentence vectors."""
    if config.fusion == "lm":
        return TitleTokenSlot(config.dim)
    if text_config is None or text_config.tuning == "frozen":
        return TextProjection(text_dim, config.dim, config.dropout, config.text_components)
    return TunedTextEncoder(text_config, config.dim, config.dropout)
