"""The two-tower model: item tower, user tower and the dot-product score."""

from __future__ import annotations

import torch
from torch import nn

from genre_core.config import ModelConfig, TextConfig
from genre_core.features import TabularEncoding
from genre_core.fusion import FUSIONS
from genre_core.modalities.audio import AudioEncoder
from genre_core.modalities.encoders import IdEmbedding, TabularEncoder
from genre_core.modalities.image import IMAGE_DIM, ImageProjection
from genre_core.modalities.text_tuned import build_text_encoder

# History ratings are embedded as 0 (no rating) or 1..5 after rounding.
N_RATING_BUCKETS = 6


class ItemTower(nn.Module):
    """Encode each modality of an item, then fuse the modality vectors."""

    def __init__(
        self,
        config: ModelConfig,
        n_items: int,
        text_dim: int,
        item_encoding: TabularEncoding,
        text_config: TextConfig | None = None,
    ):
        """Build the encoders and the fusion; `text_config` None keeps the frozen cached sentence vectors."""
        super().__init__()
        self.modalities = list(config.modalities)
        encoders = {}
        for name in self.modalities:
            if name == "text":
                encoders[name] = build_text_encoder(config, text_dim, text_config)
            elif name == "tabular":
                encoders[name] = TabularEncoder(item_encoding, config.dim, prefix="item_")
            elif name == "image":
                encoders[name] = ImageProjection(IMAGE_DIM, config.dim, config.dropout, config.image_components)
            elif name == "audio":
                encoders[name] = AudioEncoder(config.dim, config.dropout)
            else:
                encoders[name] = IdEmbedding(n_items, config.dim)
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = FUSIONS[config.fusion](
            n_modalities=len(self.modalities), dim=config.dim, dropout=config.dropout, heads=config.attention_heads,
            modalities=self.modalities, text_config=text_config,
        )

    def encode_modalities(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Return per-modality vectors (n, m, dim) and the presence mask (n, m)."""
        outputs = [self.encoders[name](inputs) for name in self.modalities]
        return torch.stack([vector for vector, _ in outputs], 1), torch.stack([present for _, present in outputs], 1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        vectors, present = self.encode_modalities(inputs)
        if getattr(self.fusion, "reads_item_inputs", False):  # lm fusion reads the title tokens as well
            return self.fusion(vectors, present, inputs)
        return self.fusion(vectors, present)


class UserTower(nn.Module):
    """Multi-head attention of a user query over the user's history items, plus attributes.

    Keys and values are linear in the item vector and the rating embedding, so
    they are computed once per catalogue item and rating bucket and then
    gathered, rather than once per history position. A learned "no history"
    key/value pair is always present, so a user with an empty history still
    gets a vector (from that pair and the user's attributes).
    """

    def __init__(self, config: ModelConfig, user_encoding: TabularEncoding):
        super().__init__()
        dim, heads = config.dim, config.attention_heads
        if dim % heads:
            raise ValueError(f"model.dim ({dim}) must be divisible by model.attention_heads ({heads})")
        self.heads = heads
        self.item_keys = nn.Linear(dim, dim)
        self.item_values = nn.Linear(dim, dim)
        self.rating_keys = nn.Embedding(N_RATING_BUCKETS, dim)
        self.rating_values = nn.Embedding(N_RATING_BUCKETS, dim)
        self.empty_key = nn.Parameter(torch.zeros(dim))
        self.empty_value = nn.Parameter(torch.zeros(dim))
        self.query = nn.Parameter(torch.randn(dim) * 0.05)
        self.query_projection = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(config.dropout)
        self.attributes = None if user_encoding.is_empty else TabularEncoder(user_encoding, dim, prefix="user_")
        self.out = nn.Sequential(
            nn.Linear(3 * dim, 2 * dim), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(2 * dim, dim)
        )

    def forward(self, item_vectors: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        history, mask, rating = batch["history"], batch["history_mask"], batch["history_rating"]
        size, dim = history.shape[0], item_vectors.shape[1]
        weights = mask.to(item_vectors.dtype)
        if batch.get("history_weight") is not None:
            weights = weights * batch["history_weight"]

        # (users, history, dim)
        keys = self.item_keys(item_vectors)[history] + self.rating_keys(rating)
        values = (self.item_values(item_vectors)[history] + self.rating_values(rating)) * weights.unsqueeze(-1)

        if self.attributes is not None:
            attributes, _ = self.attributes(batch)
        else:
            attributes = item_vectors.new_zeros(size, dim)
        query = self.query_projection(self.query + attributes)

        keys = torch.cat([self.empty_key.expand(size, 1, dim), keys], 1)
        values = torch.cat([self.empty_value.expand(size, 1, dim), values], 1)
        valid = torch.cat([mask.new_ones(size, 1), mask], 1)

        head_dim = dim // self.heads
        # (users, heads, history + 1)
        logits = torch.einsum(
            "bhd,blhd->bhl", query.view(size, self.heads, head_dim), keys.view(size, -1, self.heads, head_dim)
        ) / head_dim**0.5
        attention = torch.softmax(logits.masked_fill(~valid.unsqueeze(1), float("-inf")), dim=-1)
        attended = torch.einsum("bhl,blhd->bhd", self.dropout(attention), values.view(size, -1, self.heads, head_dim))

        mean = values[:, 1:].sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)
        return self.out(torch.cat([attended.reshape(size, dim), mean, attributes], -1))


class GenreModel(nn.Module):
    """Score = user vector · item vector + item bias, over the fused multimodal item vectors."""

    def __init__(
        self,
        config: ModelConfig,
        n_items: int,
        text_dim: int,
        item_encoding: TabularEncoding,
        user_encoding: TabularEncoding,
        text_config: TextConfig | None = None,
    ):
        super().__init__()
        self.config = config
        self.item_tower = ItemTower(config, n_items, text_dim, item_encoding, text_config)
        self.user_tower = UserTower(config, user_encoding)
        # Score = dot product + item bias + global bias; the global bias matters for the rating task.
        self.item_bias = nn.Parameter(torch.zeros(n_items), requires_grad=config.item_bias)
        self.global_bias = nn.Parameter(torch.zeros(1))

    def item_vectors(self, item_inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.item_tower(item_inputs)

    def user_vectors(self, item_vectors: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.user_tower(item_vectors, batch)

    def score(
        self, user_vectors: torch.Tensor, item_vectors: torch.Tensor, item_indices: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores of users against items: (users, dim) × (items, dim) -> (users, items).

        `item_vectors` covers the whole catalogue unless `item_indices` names the items it holds.
        """
        bias = self.item_bias if item_indices is None else self.item_bias[item_indices]
        return user_vectors @ item_vectors.T + bias + self.global_bias


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)

