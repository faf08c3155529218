"""Fusion modules: combine per-modality item vectors into one item vector.

Input: `vectors` of shape (n, m, dim) for m modalities and `present` (n, m)
bool. A missing modality is replaced by a learned "missing" vector (concat) or
left out of attention (attention, lm), so its input vector never reaches the output.
An item with no modality at all gets a learned vector from every module.
The lm module (genre_core.fusion_lm) also reads the item inputs, for the title tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_core.fusion_lm import LanguageModelFusion


class ConcatMLPFusion(nn.Module):
    def __init__(self, n_modalities: int, dim: int, dropout: float = 0.1, **_):
        super().__init__()
        self.missing = nn.Parameter(torch.zeros(n_modalities, dim))
        self.mlp = nn.Sequential(
            nn.Linear(n_modalities * dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )

    def forward(self, vectors: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        vectors = torch.where(present.unsqueeze(-1), vectors, self.missing.expand_as(vectors))
        return self.mlp(vectors.flatten(1))


class AttentionFusion(nn.Module):
    """Self-attention over modality tokens, then a masked mean."""

    def __init__(self, n_modalities: int, dim: int, dropout: float = 0.1, heads: int = 2, **_):
        super().__init__()
        self.modality_embedding = nn.Parameter(torch.zeros(n_modalities, dim))
        self.layer = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.out = nn.Linear(dim, dim)

    def forward(self, vectors: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        # Drop missing vectors before the layer, because a NaN or inf in one would
        # reach the output through the attention product and the masked mean (0 * nan).
        vectors = torch.where(present.unsqueeze(-1), vectors, torch.zeros_like(vectors))
        tokens = vectors + self.modality_embedding
        # An item with no modality at all would attend to nothing, so it attends
        # to its learned modality embeddings instead.
        present = present | ~present.any(dim=1, keepdim=True)
        hidden = self.layer(tokens, src_key_padding_mask=~present)
        weights = present.unsqueeze(-1).to(hidden.dtype)
        return self.out((hidden * weights).sum(1) / weights.sum(1))


# Registry of fusion modules by the names used in `model.fusion`.
FUSIONS = {"concat_mlp": ConcatMLPFusion, "attention": AttentionFusion, "lm": LanguageModelFusion}
