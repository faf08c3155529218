"""Sentence vectors of edited item texts, computed in memory with the model's frozen text encoder.

The vectors match `encode_texts` (mean pooling over the attention mask, then L2
normalisation) but are never written to the disk cache, because a what-if text
must not change any file.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from genre_core.modalities.text import mean_pool

CACHE_SIZE = 512
_VECTORS: OrderedDict[tuple, np.ndarray] = OrderedDict()


@dataclass
class EncodedText:
    """An edited text's sentence vector and whether the token limit cut it."""

    text: str
    vector: np.ndarray  # (text_dim,); zeros for an empty text
    present: bool
    n_tokens: int  # word-piece tokens including [CLS] and [SEP]
    max_length: int
    kept_text: str
    n_unknown: int = 0  # word pieces the tokenizer maps to its unknown token, such as most Chinese characters

    @property
    def mostly_unknown(self) -> bool:
        """True when at least half of the text's word pieces are unknown to the text model."""
        words = max(self.n_tokens - 2, 0)
        return words > 0 and 2 * self.n_unknown >= words

    @property
    def truncated(self) -> bool:
        return self.n_tokens > self.max_length


def encode_edited_texts(texts: list[str], model_name: str, max_length: int, width: int) -> list[EncodedText]:
    """Encode `texts` with text model `model_name`, truncated to `max_length` tokens."""
    from genre_core.explain.tokens import cached_text_model

    model, tokenizer = cached_text_model(model_name)
    results: list[EncodedText | None] = [None] * len(texts)
    missing = []
    for position, text in enumerate(texts):
        ids = tokenizer(text, truncation=False, verbose=False)["input_ids"] if text.strip() else []
        kept = tokenizer.decode(ids[1:max_length - 1]) if len(ids) > max_length else text
        key = (model_name, max_length, text)
        vector = _VECTORS.get(key)
        if not text.strip():
            vector = np.zeros(width, dtype=np.float32)
        unknown = sum(1 for token in ids if token == tokenizer.unk_token_id) if tokenizer.unk_token_id is not None else 0
        results[position] = EncodedText(text, vector, bool(text.strip()), len(ids), max_length, kept, unknown)
        if vector is None:
            missing.append(position)

    if missing:
        with torch.inference_mode():
            tokens = tokenizer([texts[position] for position in missing], padding=True, truncation=True,
                               max_length=max_length, return_tensors="pt")
            pooled = mean_pool(model(**tokens).last_hidden_state, tokens["attention_mask"])
            vectors = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        for position, vector in zip(missing, vectors):
            results[position].vector = vector
            _VECTORS[(model_name, max_length, texts[position])] = vector
        while len(_VECTORS) > CACHE_SIZE:
            _VECTORS.popitem(last=False)
    return results
