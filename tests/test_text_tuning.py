"""Text-model tuning: cached lower layers, trainable top layers, LoRA adapters, and the unchanged frozen path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genre_core.config import ConfigError, ModelConfig, TextConfig, TextLoraConfig, from_dict, load_config
from genre_core.model import ItemTower
from genre_core.modalities import text_layers
from genre_core.modalities.encoders import TextProjection
from genre_core.modalities.text import encode_texts, load_text_model
from genre_core.modalities.text_layers import TOKEN_MASK, TOKENS, TUNE_LAYERS, lower_layer_states
from genre_core.modalities.text_tuned import TunedTextEncoder
from tests.tiny_text_model import make_tiny_text_model

TITLES = ["Toy Story", "GoldenEye", "Four Rooms", "Shanghai Triad (Yao a yao yao dao waipo qiao)", ""]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_text_model(tmp_path_factory.mktemp("tiny_bert"))


def item_inputs(states, present=None) -> dict[str, torch.Tensor]:
    count = states.hidden.shape[0]
    text_present = torch.ones(count) if present is None else torch.as_tensor(present, dtype=torch.float32)
    return {TOKENS: states.hidden, TOKEN_MASK: states.mask, TUNE_LAYERS: torch.tensor(states.tune_layers),
            "text_present": text_present, "item_index": torch.arange(count)}


def test_lower_states_cached_on_disk(tiny_model, tmp_path, monkeypatch):
    config = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=1)
    first = lower_layer_states(TITLES, config, tmp_path, progress=False)
    assert first.hidden.shape[:2] == first.mask.shape
    assert first.mask.sum(1).tolist()[-1] == 2  # an empty title is [CLS] [SEP]

    def fail(*args, **kwargs):
        raise AssertionError("the lower layers ran although their states are cached")

    monkeypatch.setattr(text_layers, "run_lower_layers", fail)
    second = lower_layer_states(TITLES, config, tmp_path, progress=False)
    assert torch.equal(first.hidden, second.hidden)
    assert torch.equal(first.mask, second.mask)

    other_split = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=2)
    with pytest.raises(AssertionError, match="lower layers ran"):
        lower_layer_states(TITLES, other_split, tmp_path, progress=False)
    with pytest.raises(AssertionError, match="lower layers ran"):
        lower_layer_states(TITLES[:-1], config, tmp_path, progress=False)


def test_lower_states_match_model_layers(tiny_model, tmp_path):
    config = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=2)
    states = lower_layer_states(TITLES, config, tmp_path, progress=False)
    model, tokenizer = load_text_model(tiny_model)
    tokens = tokenizer(TITLES, padding=True, truncation=True, max_length=config.max_length, return_tensors="pt")
    with torch.no_grad():
        after_first_layer = model(**tokens, output_hidden_states=True).hidden_states[1]
    valid = tokens["attention_mask"].bool()
    torch.testing.assert_close(states.hidden[valid], after_first_layer[valid], atol=1e-5, rtol=1e-5)


def test_frozen_tower_unchanged(tiny_model):
    config = ModelConfig(dim=8, modalities=["text", "id"])
    torch.manual_seed(3)
    default = ItemTower(config, n_items=4, text_dim=6, item_encoding=None)
    torch.manual_seed(3)
    frozen = ItemTower(config, n_items=4, text_dim=6, item_encoding=None, text_config=TextConfig(model=tiny_model))
    assert isinstance(frozen.encoders["text"], TextProjection)
    assert default.state_dict().keys() == frozen.state_dict().keys()
    for name, tensor in default.state_dict().items():
        assert torch.equal(tensor, frozen.state_dict()[name]), name

    inputs = {"text": torch.randn(4, 6), "text_present": torch.tensor([1.0, 1.0, 0.0, 1.0]), "item_index": torch.arange(4)}
    default.eval()
    frozen.eval()
    assert torch.equal(default(inputs), frozen(inputs))


def test_frozen_config_builds_no_token_states():
    config = load_config(None)
    assert config.text.tuning == "frozen"
    assert not text_layers.uses_token_states(config)
    assert text_layers.uses_token_states(load_config(None, {"text.tuning": "lora"}))
    assert text_layers.uses_token_states(load_config(None, {"model.fusion": "lm"}))


def test_top_layers_gradients_reach_top_only(tiny_model, tmp_path):
    config = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=2)
    states = lower_layer_states(TITLES, config, tmp_path, progress=False)
    encoder = TunedTextEncoder(config, dim=8, dropout=0.0)
    pretrained, _ = load_text_model(tiny_model)
    assert len(encoder.top.layers) == 2
    # The kept layers are the top two (1 and 2) of the three, not the bottom ones.
    for kept, source in zip(encoder.top.layers, pretrained.encoder.layer[1:]):
        for (name, mine), theirs in zip(kept.state_dict().items(), source.state_dict().values()):
            assert torch.equal(mine, theirs), name

    vectors, present = encoder(item_inputs(states, present=[1, 1, 1, 1, 0]))
    vectors.pow(2).sum().backward()
    assert present.tolist() == [True, True, True, True, False]
    assert not states.hidden.requires_grad
    for name, parameter in encoder.named_parameters():
        assert parameter.requires_grad, name
        assert parameter.grad is not None, name
    assert encoder.top.layers[0].attention.self.query.weight.grad.abs().sum() > 0
    assert encoder.top.layers[1].output.dense.weight.grad.abs().sum() > 0


def test_lora_trains_only_adapters(tiny_model, tmp_path):
    lora = TextLoraConfig(r=2, alpha=4.0, target_modules=["query", "intermediate.dense"])
    config = TextConfig(model=tiny_model, tuning="lora", tune_layers=1, lora=lora)
    states = lower_layer_states(TITLES, config, tmp_path, progress=False)
    encoder = TunedTextEncoder(config, dim=8, dropout=0.0)

    trainable = [name for name, parameter in encoder.top.named_parameters() if parameter.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert any("query.lora_A" in name for name in trainable)
    assert any("intermediate.dense.lora_B" in name for name in trainable)
    assert not any("output.dense.lora" in name for name in trainable)

    vectors, _ = encoder(item_inputs(states))
    vectors.pow(2).sum().backward()
    for name, parameter in encoder.top.named_parameters():
        if "lora_" in name:
            assert parameter.grad is not None, name
        else:
            assert parameter.grad is None, name
    lora_b = encoder.top.layers[0].attention.self.query.lora_B["default"].weight
    assert lora_b.grad.abs().sum() > 0


def test_lora_tower_state_round_trip(tiny_model, tmp_path):
    config = ModelConfig(dim=8, modalities=["text", "id"], dropout=0.0)
    text_config = TextConfig(model=tiny_model, tuning="lora", tune_layers=1)
    states = lower_layer_states(TITLES, text_config, tmp_path, progress=False)
    inputs = item_inputs(states)
    trained = ItemTower(config, n_items=5, text_dim=6, item_encoding=None, text_config=text_config).eval()
    with torch.no_grad():
        for name, parameter in trained.named_parameters():
            if "lora_B" in name:
                parameter.normal_()

    restored = ItemTower(config, n_items=5, text_dim=6, item_encoding=None, text_config=text_config).eval()
    restored.load_state_dict(trained.state_dict())
    with torch.no_grad():
        assert torch.equal(restored(inputs), trained(inputs))


def test_bad_lora_target_names_valid_ones(tiny_model):
    config = TextConfig(model=tiny_model, tuning="lora", lora=TextLoraConfig(target_modules=["query", "q_proj"]))
    with pytest.raises(ConfigError, match=r"text\.lora\.target_modules': 'q_proj' is not a linear layer") as error:
        TunedTextEncoder(config, dim=8)
    assert "valid names: dense, key, query, value, attention.output.dense" in str(error.value)

    empty = TextConfig(model=tiny_model, tuning="lora", lora=TextLoraConfig(target_modules=[]))
    with pytest.raises(ConfigError, match="is empty; name at least one of: dense, key"):
        TunedTextEncoder(empty, dim=8)


def test_tune_layers_above_depth_rejected(tiny_model, tmp_path):
    config = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=4)
    with pytest.raises(ConfigError, match=r"text\.tune_layers': 4 is more than the 3 layers"):
        TunedTextEncoder(config, dim=8)
    with pytest.raises(ConfigError, match="use a value from 1 to 3"):
        lower_layer_states(TITLES, config, tmp_path, progress=False)


def test_mismatched_token_states_rejected(tiny_model, tmp_path):
    states = lower_layer_states(TITLES, TextConfig(model=tiny_model, tune_layers=1), tmp_path, progress=False)
    encoder = TunedTextEncoder(TextConfig(model=tiny_model, tuning="top_layers", tune_layers=2), dim=8)
    with pytest.raises(ValueError, match="computed for text.tune_layers=1, but the model tunes 2"):
        encoder(item_inputs(states))
    with pytest.raises(ValueError, match="have no cached token states"):
        encoder({"text_present": torch.ones(5)})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"text": {"tuning": "full"}}, "'text.tuning': invalid value 'full'; allowed values: frozen, top_layers, lora"),
        ({"text": {"tune_layers": 0}}, "'text.tune_layers': value 0 is out of range"),
        ({"text": {"lora": {"r": 0}}}, "'text.lora.r': value 0 is out of range"),
        ({"text": {"lora": {"rank": 4}}}, "unknown config key 'text.lora.rank'"),
        ({"model": {"fusion": "gated"}}, "allowed values: concat_mlp, attention, lm"),
    ],
)
def test_tuning_config_validated(raw, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        from_dict(raw)


@pytest.mark.slow
def test_real_minilm_top_layers_and_lora(tmp_path):
    """The real MiniLM on real MovieLens titles: untrained top layers reproduce the frozen vectors, then train."""
    from genre_core.pipeline import load_prepared
    from genre_core.training import item_texts

    titles = item_texts(load_prepared(load_config(None), progress=False))[:6]
    frozen_vectors = encode_texts(titles, "all-MiniLM-L6-v2", tmp_path, max_length=32, progress=False)

    for tuning in ("top_layers", "lora"):
        config = TextConfig(tuning=tuning, tune_layers=1)
        states = lower_layer_states(titles, config, tmp_path, progress=False)
        encoder = TunedTextEncoder(config, dim=16, dropout=0.0).eval()
        inputs = item_inputs(states)
        with torch.no_grad():
            np.testing.assert_allclose(encoder.sentence_vectors(inputs).numpy(), frozen_vectors, atol=1e-5)
        encoder.train()

        optimiser = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=1e-2)
        layer = encoder.top.layers[0]
        before = {name: tensor.clone() for name, tensor in layer.state_dict().items()}
        vectors, _ = encoder(inputs)
        (vectors[0] - vectors[1]).pow(2).sum().neg().backward()
        optimiser.step()
        changed = {name for name, tensor in layer.state_dict().items() if not torch.equal(tensor, before[name])}
        if tuning == "top_layers":
            assert "attention.self.query.weight" in changed
            assert "output.dense.weight" in changed
        else:
            assert changed and all("lora_" in name for name in changed)
