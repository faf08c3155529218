"""Word attributions: Layer Integrated Gradients on the text model's word embeddings.

The sentence vector is recomputed live as normalize(mean_pool(text model(tokens))), so the
gradient reaches every word; the baseline keeps [CLS] and [SEP] and puts [PAD] in between.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from genre_core.explain.integrated_gradients import integrate
from genre_core.modalities.text import load_text_model, mean_pool


@functools.lru_cache(maxsize=2)
def cached_text_model(name: str):
    model, tokenizer = load_text_model(name)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, tokenizer


def word_attributions(problem, text: str, text_model: str, max_length: int, settings) -> dict:
    """Attribute the score of the first target item to the words of its text.

    Returns the words with their attributions (word pieces merged), the Convergence,
    and the score with the live-encoded text, which matches the cached vector up to float error.
    """
    model, tokenizer = cached_text_model(text_model)
    encoded = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
    ids, attention = encoded["input_ids"], encoded["attention_mask"]
    baseline_ids = torch.full_like(ids, tokenizer.pad_token_id)
    baseline_ids[:, 0], baseline_ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id

    def forward(token_ids):
        rows = token_ids.shape[0]
        mask = attention.expand(rows, -1)
        hidden = model(input_ids=token_ids, attention_mask=mask).last_hidden_state
        vector = torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1)
        text_inputs = problem.inputs[0].expand(rows, -1, -1).clone()
        text_inputs[:, 0] = vector
        others = [tensor.expand(rows, *tensor.shape[1:]) for tensor in problem.inputs[1:]]
        return problem.forward(text_inputs, *others)

    with torch.no_grad():
        score, baseline_score = float(forward(ids)[0]), float(forward(baseline_ids)[0])
    attributor = LayerIntegratedGradients(forward, model.embeddings.word_embeddings)
    attributions, convergence = integrate(forward, ids, baseline_ids, settings, score - baseline_score, attributor)
    per_token = attributions.sum(-1)[0].detach().numpy()
    tokens = tokenizer.convert_ids_to_tokens(ids[0])
    return {
        "words": merge_word_pieces(tokens, per_token),
        "score": score,
        "baseline_score": baseline_score,
        "convergence": convergence,
        "special_tokens": float(per_token[0] + per_token[-1]),
    }


def merge_word_pieces(tokens: list[str], values: np.ndarray) -> list[dict]:
    """Join '##' word pieces into whole words, summing their attributions; drop [CLS] and [SEP]."""
    words: list[dict] = []
    for token, value in zip(tokens, values):
        if token in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if token.startswith("##") and words:
            words[-1]["word"] += token[2:]
            words[-1]["attribution"] += float(value)
        else:
            words.append({"word": token, "attribution": float(value)})
    return words
