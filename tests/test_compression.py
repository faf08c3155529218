"""Compression for serving: int8 towers, float16 and int8 item vectors, and the Recommender path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from genre_core.compression import (
    COMPRESSIONS, INT8_MAX, CompressedModel, ItemVectorStore, check_compression, quantize_towers, state_size_bytes,
)
from genre_core.config import ConfigError, ModelConfig, load_config
from genre_core.features import TabularEncoding
from genre_core.model import GenreModel


def small_model(n_items: int = 50, text_dim: int = 12, dim: int = 16) -> tuple[GenreModel, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = GenreModel(ModelConfig(dim=dim, modalities=["text", "id"]), n_items, text_dim,
                       TabularEncoding(), TabularEncoding()).eval()
    inputs = {"item_index": torch.arange(n_items), "text": torch.randn(n_items, text_dim),
              "text_present": torch.ones(n_items)}
    return model, inputs


def user_batch(n_users: int = 3, width: int = 4, n_items: int = 50) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {"history": torch.randint(0, n_items, (n_users, width), generator=generator),
            "history_mask": torch.ones(n_users, width, dtype=torch.bool),
            "history_rating": torch.zeros(n_users, width, dtype=torch.long)}


def test_int8_vectors_error_within_half_step():
    vectors = torch.randn(100, 32)
    store = ItemVectorStore(vectors, "int8")

    step = vectors.abs().amax(1, keepdim=True) / INT8_MAX
    assert store.values.dtype == torch.int8
    assert torch.all((store.dequantize() - vectors).abs() <= step / 2 + 1e-6)
    assert store.nbytes == 100 * 32 + 100 * 4


def test_int8_vector_scores_match_dequantized():
    store = ItemVectorStore(torch.randn(40, 8), "int8")
    users = torch.randn(5, 8)

    assert torch.allclose(store.scores(users), users @ store.dequantize().T, atol=1e-5)


def test_float16_vectors_half_the_bytes():
    vectors = torch.randn(10, 8)
    store = ItemVectorStore(vectors, "float16")

    assert store.nbytes == vectors.numel() * 2
    assert torch.allclose(store.dequantize(), vectors, atol=1e-2)


def test_unknown_vector_format_rejected():
    with pytest.raises(ValueError, match="invalid vector format 'int4'"):
        ItemVectorStore(torch.randn(2, 2), "int4")


def test_quantize_towers_leaves_original_float():
    # Wide enough that int8 weights outweigh the per-channel scales they add.
    model, inputs = small_model(dim=128)
    quantized = quantize_towers(model)

    assert isinstance(model.item_tower.encoders["text"].project[1], nn.Linear)
    assert isinstance(quantized.item_tower.encoders["text"].project[1], DynamicQuantizedLinear)
    assert isinstance(quantized.user_tower.item_keys, DynamicQuantizedLinear)
    assert state_size_bytes(quantized) < state_size_bytes(model)


def test_attention_fusion_keeps_float_layers():
    torch.manual_seed(0)
    model = GenreModel(ModelConfig(dim=16, modalities=["text", "id"], fusion="attention"), 30, 8,
                       TabularEncoding(), TabularEncoding()).eval()
    inputs = {"item_index": torch.arange(30), "text": torch.randn(30, 8), "text_present": torch.ones(30)}
    compressed = CompressedModel(model, inputs, "int8")

    assert isinstance(compressed.model.item_tower.fusion.layer.linear1, nn.Linear)
    assert isinstance(compressed.model.item_tower.fusion.out, DynamicQuantizedLinear)
    assert compressed.score(user_batch(n_items=30)).shape == (3, 30)


def test_quantized_item_vectors_close_to_float():
    model, inputs = small_model()
    with torch.no_grad():
        exact = model.item_vectors(inputs)
        approximate = quantize_towers(model).item_vectors(inputs)

    cosine = nn.functional.cosine_similarity(exact, approximate, dim=1)
    assert cosine.min() > 0.99


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_compressed_scores_close_to_float(compression):
    model, inputs = small_model()
    batch = user_batch()
    with torch.no_grad():
        vectors = model.item_vectors(inputs)
        exact = model.score(model.user_vectors(vectors, batch), vectors)
    scores = CompressedModel(model, inputs, compression).score(batch)

    assert scores.shape == exact.shape
    assert torch.allclose(scores, exact, atol=0.05 * exact.abs().max().item())


@pytest.mark.parametrize("compression", ["int8", "int8_serving"])
def test_int8_towers_rejected_on_gpu(compression):
    with pytest.raises(ConfigError, match=f"{compression} towers run on CPU only.*fp16_vectors or int8_vectors"):
        check_compression(compression, "cuda")


def test_int8_serving_quantises_user_tower_only():
    model, inputs = small_model()
    compressed = CompressedModel(model, inputs, "int8_serving")
    with torch.no_grad():
        float_vectors = model.item_vectors(inputs)

    assert isinstance(compressed.model.user_tower.item_keys, DynamicQuantizedLinear)
    assert isinstance(compressed.model.item_tower.encoders["text"].project[1], nn.Linear)
    assert compressed.vectors.format == "int8"
    assert torch.allclose(compressed.item_vectors, float_vectors, atol=float_vectors.abs().max().item() / INT8_MAX)


def test_unknown_compression_rejected_by_config():
    with pytest.raises(ConfigError, match="serving.compression.*allowed values: none, int8, fp16_vectors, int8_vectors, int8_serving"):
        load_config(None, {"serving.compression": "int4"})


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["int8", "int8_serving"])
def test_recommender_serves_compressed_model(trained_config, compression):
    from genre_core.service import Recommender

    plain = Recommender.load(load_config(trained_config))
    compressed = Recommender.load(load_config(trained_config, {"serving.compression": compression}))
    user = plain.user_ids()[0]

    expected = plain.recommend(user, k=10).items["item_id"].tolist()
    served = compressed.recommend(user, k=10).items["item_id"].tolist()

    assert compressed.compressed is not None
    assert compressed.model_summary()["compression"] == compression
    assert plain.compressed is None
    assert len(set(expected) & set(served)) >= 8
