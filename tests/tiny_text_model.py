"""A tiny randomly initialised BERT model folder with the real MiniLM tokenizer, for fast text-tuning tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from genre_core.modalities.text import resolve_text_model

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
HIDDEN_SIZE = 32


def make_tiny_text_model(folder: Path, layers: int = 3) -> str:
    """Write a `layers`-layer BERT (hidden size 32) into `folder` and return the folder as a text model name."""
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=HIDDEN_SIZE, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    source = resolve_text_model("all-MiniLM-L6-v2")
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    return str(folder)
