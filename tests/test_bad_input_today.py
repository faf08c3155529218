"""Bad input for model.text_components, the scale benchmark and the Tux Paint simulation settings."""

import argparse

import numpy as np
import pandas as pd
import pytest
import torch

from genre_core.cli_bench import _count
from genre_core.config import ConfigError, SimulationConfig, from_dict
from genre_core.data.simulate import DRIVERS, MIN_ITEMS, simulate_interactions
from genre_core.modalities.components import PrincipalComponents
from genre_core.modalities.encoders import TextProjection
from genre_core.scale import GROUP, ScaleMemoryError, benchmark_scoring, check_memory, chunks_of, top_k_chunked
from genre_core.schema import USER_ID


# model.text_components


def test_components_above_width_rejected():
    with pytest.raises(ValueError, match=r"model.text_components is 385, .* only 384 values .* at most 384"):
        TextProjection(384, 8, components=385)


def test_components_above_rank_rejected():
    """Repeated rows span fewer directions than requested: whitening them would divide by about zero."""
    vectors = torch.randn(3, 6, generator=torch.Generator().manual_seed(0)).repeat(4, 1)
    projection = TextProjection(6, 8, components=5)
    with pytest.raises(ValueError, match=r"model.text_components is 5, .* span only 2 .* at most 2"):
        projection.fit_components(vectors, torch.ones(12))


def test_constant_features_rejected():
    with pytest.raises(ValueError, match=r"span only 0 .* set model.image_components to 0"):
        PrincipalComponents(6, 2).fit(torch.ones(12, 6))


def test_components_within_rank_are_finite():
    vectors = torch.randn(3, 6, generator=torch.Generator().manual_seed(0)).repeat(4, 1)
    bottleneck = PrincipalComponents(6, 2)
    bottleneck.fit(vectors)
    assert torch.isfinite(bottleneck.weights).all()
    assert bottleneck.weights.abs().max() < 1e3


@pytest.mark.parametrize("section, key, value, hint", [
    ("model", "fusion", "lm", "model.fusion lm"),
    ("text", "tuning", "lora", "text.tuning lora"),
    ("text", "tuning", "top_layers", "text.tuning top_layers"),
])
def test_text_components_unused_rejected(section, key, value, hint):
    raw = {"model": {"text_components": 16}, "text": {}}
    raw[section][key] = value
    with pytest.raises(ConfigError, match="config key 'model.text_components'") as error:
        from_dict(raw)
    assert hint in str(error.value)
    assert "set model.text_components to 0" in str(error.value)


def test_text_components_allowed_cases():
    assert from_dict({"model": {"text_components": 16}}).model.text_components == 16
    assert from_dict({"model": {"text_components": 16, "fusion": "attention"}}).model.fusion == "attention"
    # Without the text modality the key is moot, as image_components is without images (modality ablations).
    config = from_dict({"model": {"text_components": 16, "fusion": "lm", "modalities": ["tabular", "id"]}})
    assert config.model.text_components == 16
    assert from_dict({"model": {"fusion": "lm"}, "text": {"tuning": "lora"}}).model.text_components == 0


# genre bench


def test_count_rejects_fractional_exponent():
    with pytest.raises(argparse.ArgumentTypeError, match="invalid count '2.5e0'"):
        _count("2.5e0")
    assert _count("1.5e1") == 15
    assert _count("1e6") == 1_000_000


def test_memory_check_counts_padded_groups():
    """A chunk of 1 item still uses GROUP scores per user in top_k_chunked."""
    per_padded_chunk = GROUP * 1000 * 12
    check_memory(3, 4, 1000, 1, limit_bytes=per_padded_chunk + 48, stream=False)
    with pytest.raises(ScaleMemoryError):
        check_memory(3, 4, 1000, 1, limit_bytes=per_padded_chunk, stream=False)


def test_memory_check_names_user_limit():
    with pytest.raises(ScaleMemoryError, match=r"lower --users to at most 1,365") as error:
        check_memory(3, 4, 10**12, 1, limit_bytes=2 * 2**20, stream=False)
    assert "--chunk-size" not in str(error.value)


def test_bench_chunk_clamped_to_catalogue():
    """A default chunk of 16,384 over 3 items allocates 3 score columns, as check_memory plans."""
    result = benchmark_scoring(3, 2, 4, 16_384, k=2, repeats=1, stream=True)
    assert result.chunk_size == 3
    assert result.working_bytes == 3 * 4 * 12 + 3 * 2 * 4


@pytest.mark.parametrize("n_items", [1, 2, 3, 7])
@pytest.mark.parametrize("n_users", [1, 3, 4, 7, 8, 9])
@pytest.mark.parametrize("chunk_size", [1, 2, 64])
def test_top_k_small_catalogues_match_topk(n_items, n_users, chunk_size):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # up to 16 users then run through the compiled kernel on one thread
    try:
        generator = torch.Generator().manual_seed(n_items * 100 + n_users)
        items = torch.randn(n_items, 1, generator=generator)
        users = torch.randn(n_users, 1, generator=generator)
        values, indices = top_k_chunked(users, chunks_of(items, chunk_size), 5, chunk_size)
    finally:
        torch.set_num_threads(threads)
    top = min(5, n_items)
    expected = torch.topk(users @ items.T, top, dim=1).values
    assert torch.allclose(values[:, :top], expected, atol=1e-6)
    assert torch.allclose((users @ items.T).gather(1, indices[:, :top]), expected, atol=1e-6)
    assert (indices[:, top:] == -1).all()


def test_top_k_accepts_tensors_with_grad():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        items = torch.randn(20, 4, requires_grad=True)
        for n_users in (2, 4):
            users = torch.randn(n_users, 4, requires_grad=True)
            values, _ = top_k_chunked(users, chunks_of(items, 8), 3, 8)
            assert values.shape == (n_users, 3)
    finally:
        torch.set_num_threads(threads)


# data.simulation


def test_max_items_below_minimum_rejected():
    with pytest.raises(ConfigError, match=r"data.simulation.max_items': value 11 is out of range; allowed range: \[12"):
        from_dict({"data": {"simulation": {"max_items": 11}}})
    assert from_dict({"data": {"simulation": {"max_items": MIN_ITEMS}}}).data.simulation.max_items == MIN_ITEMS


def test_too_few_property_items_message():
    properties = pd.DataFrame({name: [True, True] + [False] * 8 for name in DRIVERS})
    settings = SimulationConfig(max_items=12, users=3, interactions_per_user=3)
    with pytest.raises(ValueError, match=r"only 2 of the 10 .* at least 3; raise data.simulation.max_items \(now 12\)"):
        simulate_interactions(properties, settings)


def test_many_interactions_capped_with_warning(caplog):
    rng = np.random.default_rng(0)
    properties = pd.DataFrame({name: rng.permutation([True] * 4 + [False] * 8) for name in DRIVERS})
    settings = SimulationConfig(max_items=12, users=3, interactions_per_user=1000, noise=0.9)
    with caplog.at_level("WARNING", logger="genre_core.data.simulate"):
        users, drawn = simulate_interactions(properties, settings)
    assert "interactions_per_user is 1000" in caplog.text
    assert "at most 11 interactions" in caplog.text
    counts = drawn.groupby(USER_ID).size()
    assert counts.le(11).all()
    assert counts.ge(3).all()
    assert len(users) == 3
