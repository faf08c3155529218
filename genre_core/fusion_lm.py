"""Language-model fusion: the other modality vectors join the title tokens in the text model's top layers.

Each non-text modality vector (tabular, ID, image, audio: whatever
`model.modalities` lists) is projected to the text model's width and appended
as one extra token after the item's title tokens, with a learned embedding
per modality. A learned item token is always present, so an item with no
modality at all still has a token to attend to. The top `text.tune_layers`
layers of the text model run on the cached lower-layer title states plus
these tokens. The attention mask leaves out missing modalities and a missing
title. The mean-pooled output is projected to the model width.

Without a text modality (or when the caller names no modalities) every slot
becomes a token and no title tokens are read.
"""

from __future__ import annotations

import torch
from torch import nn

from genre_core.config import TextConfig
from genre_core.modalities.text_layers import TopLayers, read_token_states


class LanguageModelFusion(nn.Module):
    # ItemTower passes the item inputs too, because the title tokens are not modality vectors.
    reads_item_inputs = True

    def __init__(
        self,
        n_modalities: int,
        dim: int,
        dropout: float = 0.1,
        modalities: list[str] | None = None,
        text_config: TextConfig | None = None,
        **_,
    ):
        super().__init__()
        modalities = list(modalities) if modalities is not None else [f"modality {slot}" for slot in range(n_modalities)]
        if len(modalities) != n_modalities:
            raise ValueError(f"lm fusion got {n_modalities} modality slots but {len(modalities)} names: {modalities}")
        self.text_slot = modalities.index("text") if "text" in modalities else None
        self.other_slots = [slot for slot, name in enumerate(modalities) if name != "text"]
        self.top = TopLayers(text_config or TextConfig())
        width = self.top.hidden_size
        self.to_token = nn.Sequential(nn.Linear(dim, width), nn.LayerNorm(width))
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.other_slots), width))
        self.item_token = nn.Parameter(torch.zeros(1, width))
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(
        self, vectors: torch.Tensor, present: torch.Tensor, inputs: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Fuse (n, m, dim) modality vectors with the title tokens of `inputs` into (n, dim) item vectors."""
        title, title_mask = self._title_tokens(vectors, present, inputs)

        others = vectors[:, self.other_slots]
        others_present = present[:, self.other_slots]
        # Zero missing vectors before the projection, so that a NaN or inf in one
        # cannot reach the output or the gradients. The attention mask hides their tokens.
        others = torch.where(others_present.unsqueeze(-1), others, torch.zeros_like(others))
        tokens = self.to_token(others) + self.modality_embedding

        size = vectors.shape[0]
        extra = torch.cat([tokens, self.item_token.expand(size, 1, -1)], 1)
        extra_mask = torch.cat([others_present, others_present.new_ones(size, 1)], 1)
        pooled = self.top.pool(title, title_mask, extra, extra_mask)
        return self.out(nn.functional.normalize(pooled, dim=-1))

    def _title_tokens(self, vectors, present, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the cached title states (n, tokens, width) and their mask, with missing titles masked out."""
        if self.text_slot is None:
            size = vectors.shape[0]
            return vectors.new_zeros(size, 0, self.top.hidden_size), present.new_zeros(size, 0)
        if inputs is None:
            raise ValueError(
                "lm fusion reads the title tokens from the item inputs; call it as fusion(vectors, present, inputs)"
            )
        title, title_mask = read_token_states(inputs, self.top)
        return title, title_mask & present[:, self.text_slot].unsqueeze(1)
