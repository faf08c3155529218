"""Modality encoders: each maps one kind of item input to a vector of the model width.

Every encoder returns `(vectors, present)`: vectors of shape (n, dim) and a bool
mask (n,) that is False where the item lacks that modality, so fusion can mask
it instead of reading a silent zero.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_core.features import TabularEncoding
from genre_core.modalities.components import PrincipalComponents


class TextProjection(nn.Module):
    """Project cached sentence vectors of the frozen language model to the model width.

    With `components` above 0 the vectors first pass a fixed PrincipalComponents bottleneck,
    which the trainer fits on the catalogue before training (as for the pictures).
    """

    modality = "text"

    def __init__(self, text_dim: int, dim: int, dropout: float = 0.1, components: int = 0):
        super().__init__()
        bottleneck = [PrincipalComponents(text_dim, components, "model.text_components")] if components else []
        self.project = nn.Sequential(
            *bottleneck, nn.Dropout(dropout), nn.Linear(components or text_dim, dim), nn.GELU(), nn.Linear(dim, dim)
        )

    def fit_components(self, vectors: torch.Tensor, present: torch.Tensor) -> None:
        """Fit the bottleneck, if any, on the sentence vectors of the items with a text."""
        if isinstance(self.project[0], PrincipalComponents):
            self.project[0].fit(vectors[present > 0])

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.project(inputs["text"]), inputs["text_present"] > 0


class TabularEncoder(nn.Module):
    """Encode categorical, multi-label and numeric columns of one table (items or users)."""

    modality = "tabular"

    def __init__(self, encoding: TabularEncoding, dim: int, prefix: str = "item_"):
        super().__init__()
        self.prefix = prefix
        self.categorical = nn.ModuleList(nn.Embedding(size, dim) for size in encoding.cardinalities())
        self.multilabel = nn.Linear(encoding.n_multilabel, dim, bias=False) if encoding.n_multilabel else None
        self.numeric = nn.Linear(2 * encoding.n_numeric, dim) if encoding.n_numeric else None
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        codes = inputs[self.prefix + "categorical"]
        hidden = self.bias.expand(codes.shape[0], -1)
        for position, embedding in enumerate(self.categorical):
            hidden = hidden + embedding(codes[:, position])
        if self.multilabel is not None:
            hidden = hidden + self.multilabel(inputs[self.prefix + "multilabel"])
        if self.numeric is not None:
            numeric = torch.cat([inputs[self.prefix + "numeric"], inputs[self.prefix + "numeric_present"]], dim=-1)
            hidden = hidden + self.numeric(numeric)
        present = torch.ones(codes.shape[0], dtype=torch.bool, device=codes.device)
        return self.out(hidden), present


class IdEmbedding(nn.Module):
    """A free vector per item ID."""

    modality = "id"

    def __init__(self, n_items: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.05)

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        index = inputs["item_index"]
        return self.embedding(index), torch.ones_like(index, dtype=torch.bool)


# Registry of item modality encoders by the names used in `model.modalities`.
ENCODERS = {"text": TextProjection, "tabular": TabularEncoder, "id": IdEmbedding}
