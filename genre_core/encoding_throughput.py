"""Item encoding throughput (items per second) at several batch sizes.

Two stages turn a new item into a vector: the text encoder (the pretrained
language model, then mean pooling) and the item tower (projection and fusion).
Both are timed here on synthetic inputs, so the numbers need no dataset.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from genre_core.config import ModelConfig
from genre_core.features import TabularEncoding
from genre_core.model import GenreModel

# Words of the synthetic titles; the text encoder's cost depends on the token count, not the meaning.
TITLE_WORDS = ("night", "river", "last", "summer", "city", "blue", "star", "house", "winter", "secret",
               "road", "garden", "dark", "little", "return", "island", "king", "silent", "golden", "war")


def synthetic_titles(n_texts: int, seed: int = 0) -> list[str]:
    """Titles of 2 to 6 words and a year, seeded."""
    rng = np.random.default_rng(seed)
    titles = []
    for _ in range(n_texts):
        words = rng.choice(TITLE_WORDS, size=rng.integers(2, 7))
        titles.append(f"{' '.join(words).title()} ({rng.integers(1930, 2025)})")
    return titles


def item_tower_throughput(
    batch_sizes: list[int], n_items: int = 16_384, text_dim: int = 384, dim: int = 128, repeats: int = 3
) -> list[dict]:
    """Items per second of a text-only item tower (projection and concat-MLP fusion) on random sentence vectors."""
    config = ModelConfig(dim=dim, modalities=["text"])
    model = GenreModel(config, n_items, text_dim, TabularEncoding(), TabularEncoding()).eval()
    text = torch.randn(n_items, text_dim)
    present = torch.ones(n_items)
    rows = []
    with torch.inference_mode():
        for batch_size in batch_sizes:
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                for first in range(0, n_items, batch_size):
                    model.item_vectors({"text": text[first:first + batch_size], "text_present": present[first:first + batch_size]})
                best = min(best, time.perf_counter() - start)
            rows.append({"stage": "item tower", "batch_size": batch_size, "items": n_items, "items_per_second": n_items / best})
    return rows


def text_encoder_throughput(
    batch_sizes: list[int], n_texts: int = 256, model_name: str = "all-MiniLM-L6-v2", max_length: int = 32
) -> list[dict]:
    """Items per second of the text encoder (tokenise, forward, mean-pool) on synthetic titles."""
    from genre_core.modalities.text import load_text_model, mean_pool

    model, tokenizer = load_text_model(model_name)
    titles = synthetic_titles(n_texts)
    rows = []
    with torch.inference_mode():
        for batch_size in batch_sizes:
            start = time.perf_counter()
            for first in range(0, n_texts, batch_size):
                tokens = tokenizer(titles[first:first + batch_size], padding=True, truncation=True,
                                   max_length=max_length, return_tensors="pt")
                mean_pool(model(**tokens).last_hidden_state, tokens["attention_mask"])
            seconds = time.perf_counter() - start
            rows.append({"stage": f"text encoder ({model_name})", "batch_size": batch_size, "items": n_texts,
                         "items_per_second": n_texts / seconds})
    return rows
