"""Language-model fusion: modality vectors as extra tokens in the text model's top layers."""

from __future__ import annotations

import pytest
import torch

from genre_core.config import ModelConfig, TextConfig
from genre_core.fusion import FUSIONS
from genre_core.fusion_lm import LanguageModelFusion
from genre_core.model import ItemTower
from genre_core.modalities.text_layers import TOKEN_MASK, TOKENS, TUNE_LAYERS, lower_layer_states
from genre_core.modalities.text_tuned import TitleTokenSlot
from tests.tiny_text_model import make_tiny_text_model

TITLES = ["Toy Story", "GoldenEye", "Four Rooms", "Copycat"]
DIM = 8


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_text_model(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="module")
def title_inputs(tiny_model, tmp_path_factory) -> dict[str, torch.Tensor]:
    config = TextConfig(model=tiny_model, tune_layers=1)
    states = lower_layer_states(TITLES, config, tmp_path_factory.mktemp("cache"), progress=False)
    return {TOKENS: states.hidden, TOKEN_MASK: states.mask, TUNE_LAYERS: torch.tensor(1)}


def make_fusion(tiny_model, tuning="frozen", modalities=("text", "tabular", "id")) -> LanguageModelFusion:
    torch.manual_seed(0)
    config = TextConfig(model=tiny_model, tuning=tuning, tune_layers=1)
    return LanguageModelFusion(len(modalities), DIM, dropout=0.0, modalities=list(modalities), text_config=config).eval()


def test_lm_fusion_registered():
    assert FUSIONS["lm"] is LanguageModelFusion


def test_missing_modality_masked(tiny_model, title_inputs):
    fusion = make_fusion(tiny_model)
    vectors = torch.randn(4, 3, DIM, requires_grad=True)
    present = torch.ones(4, 3, dtype=torch.bool)
    present[0, 1] = False  # item 0 lacks its tabular vector
    present[2, 0] = False  # item 2 lacks its title

    output = fusion(vectors, present, title_inputs)
    assert output.shape == (4, DIM)
    assert torch.isfinite(output).all()

    # A missing vector, even NaN, changes neither the output nor the gradients.
    poisoned = vectors.detach().clone()
    poisoned[0, 1] = float("nan")
    poisoned.requires_grad_(True)
    fused = fusion(poisoned, present, title_inputs)
    torch.testing.assert_close(fused, output)
    fused.sum().backward()
    assert torch.isfinite(poisoned.grad).all()
    assert poisoned.grad[0, 1].abs().sum() == 0
    assert poisoned.grad[0, 2].abs().sum() > 0
    for name, parameter in fusion.named_parameters():
        if parameter.grad is not None:
            assert torch.isfinite(parameter.grad).all(), name

    # A missing title is masked: other title states give the same vector for item 2 only.
    shuffled = dict(title_inputs, **{TOKENS: title_inputs[TOKENS].roll(1, 0)})
    changed = fusion(vectors, present, shuffled)
    torch.testing.assert_close(changed[2], output[2])
    assert not torch.allclose(changed[1], output[1])


def test_item_without_any_modality_gets_vector(tiny_model, title_inputs):
    fusion = make_fusion(tiny_model)
    present = torch.zeros(4, 3, dtype=torch.bool)
    output = fusion(torch.randn(4, 3, DIM), present, title_inputs)
    assert torch.isfinite(output).all()
    torch.testing.assert_close(output[0], output[3])


def test_frozen_top_layers_train_projections_only(tiny_model, title_inputs):
    fusion = make_fusion(tiny_model, tuning="frozen").train()
    vectors = torch.randn(4, 3, DIM)
    fusion(vectors, torch.ones(4, 3, dtype=torch.bool), title_inputs).pow(2).sum().backward()
    assert all(parameter.grad is None for parameter in fusion.top.parameters())
    assert fusion.to_token[0].weight.grad.abs().sum() > 0
    assert fusion.modality_embedding.grad.abs().sum() > 0


def test_lm_fusion_with_lora(tiny_model, title_inputs):
    fusion = make_fusion(tiny_model, tuning="lora").train()
    fusion(torch.randn(4, 3, DIM), torch.ones(4, 3, dtype=torch.bool), title_inputs).pow(2).sum().backward()
    for name, parameter in fusion.top.named_parameters():
        assert (parameter.grad is not None) == ("lora_" in name), name


def test_item_tower_lm_end_to_end(tiny_model, title_inputs):
    config = ModelConfig(dim=DIM, modalities=["id", "text"], fusion="lm", dropout=0.0)
    text_config = TextConfig(model=tiny_model, tuning="top_layers", tune_layers=1)
    tower = ItemTower(config, n_items=4, text_dim=5, item_encoding=None, text_config=text_config)
    assert isinstance(tower.encoders["text"], TitleTokenSlot)
    assert tower.fusion.text_slot == 1
    assert tower.fusion.other_slots == [0]

    inputs = {**title_inputs, "item_index": torch.arange(4), "text": torch.zeros(4, 5),
              "text_present": torch.tensor([1.0, 0.0, 1.0, 1.0])}
    vectors = tower(inputs)
    assert vectors.shape == (4, DIM)
    vectors.pow(2).sum().backward()
    assert tower.encoders["id"].embedding.weight.grad.abs().sum() > 0
    assert tower.fusion.top.layers[0].attention.self.query.weight.grad.abs().sum() > 0


def test_lm_fusion_without_text(tiny_model):
    fusion = make_fusion(tiny_model, modalities=("tabular", "id"))
    assert fusion.text_slot is None
    present = torch.tensor([[True, False], [True, True]])
    output = fusion(torch.randn(2, 2, DIM), present)
    assert output.shape == (2, DIM)
    assert torch.isfinite(output).all()


def test_lm_fusion_text_needs_inputs(tiny_model):
    fusion = make_fusion(tiny_model)
    with pytest.raises(ValueError, match=r"reads the title tokens from the item inputs"):
        fusion(torch.randn(2, 3, DIM), torch.ones(2, 3, dtype=torch.bool))


def test_frozen_top_layers_stay_in_eval(tiny_model):
    frozen = make_fusion(tiny_model, tuning="frozen").train()
    tuned = make_fusion(tiny_model, tuning="top_layers").train()
    assert frozen.training
    assert not any(module.training for module in frozen.top.modules())
    assert all(module.training for module in tuned.top.modules())
