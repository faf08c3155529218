"""A pretrained text model split into cached frozen lower layers and trainable top layers.

The lower layers run once per catalogue: their per-token hidden states and
attention masks are stored on disk, keyed by model name, layer split, token
limit and the item texts. The top `text.tune_layers` layers run in every
forward pass of the recommender, on those cached states, followed by mean
pooling. Only BERT-style encoders (``model.encoder.layer``) are supported.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from genre_core.config import ConfigError, TextConfig
from genre_core.modalities.text import load_text_model, mean_pool

log = logging.getLogger(__name__)

# Keys of the cached token states in ModelInputs.items.
TOKENS = "text_tokens"
TOKEN_MASK = "text_token_mask"
TUNE_LAYERS = "text_tune_layers"

# Items per run of the top layers. Items are sorted by title length first, so
# each chunk is padded only to the longest title in it.
CHUNK_SIZE = 256


@dataclass
class TokenStates:
    """Output of the frozen lower layers for every item text."""

    hidden: torch.Tensor  # (items, tokens, hidden_size) float32
    mask: torch.Tensor  # (items, tokens) bool, True on real tokens
    tune_layers: int


def uses_token_states(config) -> bool:
    """Return whether the model of `config` runs the text model's top layers (tuning or lm fusion)."""
    if "text" not in config.model.modalities:
        if config.text.tuning != "frozen" and config.model.fusion != "lm":
            log.warning("text.tuning=%s has no effect: model.modalities has no text and model.fusion is not lm",
                        config.text.tuning)
        return False
    return config.text.tuning != "frozen" or config.model.fusion == "lm"


def encoder_layers(model: nn.Module, model_name: str) -> nn.ModuleList:
    """Return the transformer layers of a BERT-style encoder, bottom first."""
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(
            f"config key 'text.tuning': text model {model_name!r} has no BERT-style encoder.layer list, "
            "so its top layers cannot be tuned; use text.tuning frozen"
        )
    return layers


def lower_layer_count(n_layers: int, tune_layers: int, model_name: str) -> int:
    """Return the number of frozen lower layers when the top `tune_layers` of `n_layers` are tuned."""
    if tune_layers > n_layers:
        raise ConfigError(
            f"config key 'text.tune_layers': {tune_layers} is more than the {n_layers} layers "
            f"of text model {model_name!r}; use a value from 1 to {n_layers}"
        )
    return n_layers - tune_layers


def token_states_key(model_name: str, tune_layers: int, max_length: int, texts: list[str]) -> str:
    digest = hashlib.sha1(f"{model_name}\x00{tune_layers}\x00{max_length}".encode())
    for text in texts:
        digest.update(b"\x00" + text.encode())
    return digest.hexdigest()


def lower_layer_states(
    texts: list[str], text_config: TextConfig, cache_dir: Path, progress: bool = True
) -> TokenStates:
    """Read the per-token output of the frozen lower layers for `texts` from the disk cache, or compute and store it."""
    from safetensors.torch import load_file, save_file

    key = token_states_key(text_config.model, text_config.tune_layers, text_config.max_length, texts)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text_config.model)
    path = Path(cache_dir) / "text_layers" / safe_name / f"{key}.safetensors"
    if path.is_file():
        log.info("reading cached lower-layer token states from %s", path)
        stored = load_file(path)
        return TokenStates(stored["hidden"], stored["mask"].bool(), text_config.tune_layers)

    states = run_lower_layers(texts, text_config, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    save_file({"hidden": states.hidden.contiguous(), "mask": states.mask.contiguous()}, partial)
    os.replace(partial, path)
    log.info("cached lower-layer token states of %d texts in %s", len(texts), path)
    return states


def run_lower_layers(texts: list[str], text_config: TextConfig, progress: bool = True) -> TokenStates:
    """Run the embeddings and the frozen lower layers of the text model on `texts`."""
    model, tokenizer = load_text_model(text_config.model)
    layers = encoder_layers(model, text_config.model)
    lower = lower_layer_count(len(layers), text_config.tune_layers, text_config.model)
    model.encoder.layer = layers[:lower]
    # Valid tokens must come first in each row, because the top layers trim chunks to their longest text.
    tokenizer.padding_side = "right"
    log.info("running the %d lower layers of %s on %d texts", lower, text_config.model, len(texts))

    hidden, masks = [], []
    batches = range(0, len(texts), text_config.batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc="caching lower text layers", disable=not progress, unit="batch"):
            chunk = texts[start:start + text_config.batch_size]
            tokens = tokenizer(chunk, padding=True, truncation=True, max_length=text_config.max_length,
                               return_tensors="pt")
            hidden.append(model(**tokens).last_hidden_state)
            masks.append(tokens["attention_mask"].bool())

    width = max(part.shape[1] for part in hidden)
    hidden = torch.cat([nn.functional.pad(part, (0, 0, 0, width - part.shape[1])) for part in hidden])
    masks = torch.cat([nn.functional.pad(part, (0, width - part.shape[1])) for part in masks])
    return TokenStates(hidden.float(), masks, text_config.tune_layers)


def attach_token_states(inputs, states: TokenStates) -> None:
    """Add the cached token states to the item tensors of a ModelInputs."""
    inputs.items[TOKENS] = states.hidden
    inputs.items[TOKEN_MASK] = states.mask
    inputs.items[TUNE_LAYERS] = torch.tensor(states.tune_layers)


class TopLayers(nn.Module):
    """The top `text.tune_layers` layers of a pretrained text model, run on cached lower-layer states.

    `text.tuning` sets what trains: frozen (nothing, for lm fusion with fixed
    weights), top_layers (every weight of these layers) or lora (only LoRA
    adapters added to them). Frozen layers always run in eval mode, without
    dropout, like the lower layers whose output is cached.
    """

    def __init__(self, text_config: TextConfig):
        super().__init__()
        model, _ = load_text_model(text_config.model)
        layers = encoder_layers(model, text_config.model)
        lower = lower_layer_count(len(layers), text_config.tune_layers, text_config.model)
        self.model_name = text_config.model
        self.tune_layers = text_config.tune_layers
        self.tuning = text_config.tuning
        self.model_config = model.config
        self.hidden_size = model.config.hidden_size
        self.layers = nn.ModuleList(layers[lower:])
        self._set_trainable(text_config)
        self.train()
        log.info("text model %s: %d cached lower layers, %d top layers (%s)",
                 text_config.model, lower, self.tune_layers, text_config.tuning)

    def _set_trainable(self, text_config: TextConfig) -> None:
        self.layers.requires_grad_(text_config.tuning == "top_layers")
        if text_config.tuning == "lora":
            from genre_core.modalities.text_lora import add_lora

            add_lora(self.layers, text_config.lora, text_config.model)

    def train(self, mode: bool = True) -> TopLayers:
        return super().train(mode and self.tuning != "frozen")

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Run the layers: (n, tokens, hidden_size) with a bool mask (n, tokens) -> (n, tokens, hidden_size)."""
        from transformers.masking_utils import create_bidirectional_mask

        # A row without any valid token attends to all of its tokens, so that
        # attention stays finite; pooling with `mask` still ignores the row.
        attend = mask | ~mask.any(1, keepdim=True)
        attention_mask = create_bidirectional_mask(config=self.model_config, inputs_embeds=hidden, attention_mask=attend)
        for layer in self.layers:
            output = layer(hidden, attention_mask)
            hidden = output[0] if isinstance(output, tuple) else output
        return hidden

    def pool(
        self,
        hidden: torch.Tensor,
        mask: torch.Tensor,
        extra: torch.Tensor | None = None,
        extra_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean-pooled output of the layers over the valid tokens: (n, hidden_size).

        `extra` (n, k, hidden_size) with `extra_mask` (n, k) are tokens appended
        after each row's text tokens. Rows of `hidden` must hold their valid
        tokens first, as right-padded tokenizer output does.
        """
        lengths = mask.sum(1)
        order = torch.argsort(lengths, stable=True)
        pieces = []
        for rows in order.split(CHUNK_SIZE):
            width = max(int(lengths[rows].max()), 1)
            tokens, valid = hidden[rows, :width], mask[rows, :width]
            if extra is not None:
                tokens = torch.cat([tokens, extra[rows]], 1)
                valid = torch.cat([valid, extra_mask[rows]], 1)
            pieces.append(mean_pool(self(tokens, valid), valid))
        return torch.cat(pieces)[torch.argsort(order)]


def read_token_states(inputs: dict[str, torch.Tensor], top: TopLayers) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the cached token states in `inputs` after checking them against the layer split of `top`."""
    if TOKENS not in inputs:
        raise ValueError(
            f"the item inputs have no cached token states, but the model runs the top {top.tune_layers} "
            f"layers of {top.model_name}; build the inputs with genre_core.training.build_inputs from the same config"
        )
    cached = int(inputs[TUNE_LAYERS])
    if cached != top.tune_layers:
        raise ValueError(
            f"the cached token states were computed for text.tune_layers={cached}, "
            f"but the model tunes {top.tune_layers} layers; build the inputs and the model from the same config"
        )
    return inputs[TOKENS], inputs[TOKEN_MASK]
