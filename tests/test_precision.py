"""Mixed precision: the config value, autocast on CPU, and fp16 rejected without a GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genre_core.config import PROJECT_ROOT, ConfigError, load_config, save_config
from genre_core.precision import MixedPrecision, check_precision


def test_fp16_on_cpu_rejected():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU, but training runs on cpu; use bf16"):
        check_precision("fp16", "cpu")


def test_unknown_precision_rejected_by_config():
    with pytest.raises(ConfigError, match="training.precision.*allowed values: fp32, bf16, fp16"):
        load_config(None, {"training.precision": "fp8"})


def test_precision_defaults_to_fp32():
    assert load_config(None).training.precision == "fp32"


def test_fp32_does_not_autocast():
    precision = MixedPrecision("fp32", "cpu")
    layer = torch.nn.Linear(4, 4)

    with precision.autocast():
        output = layer(torch.randn(2, 4))

    assert not precision.enabled
    assert precision.scaler is None
    assert output.dtype == torch.float32


def test_bf16_autocasts_linear_on_cpu():
    precision = MixedPrecision("bf16", "cpu")
    layer = torch.nn.Linear(4, 4)

    with precision.autocast():
        output = layer(torch.randn(2, 4))

    assert output.dtype == torch.bfloat16
    assert precision.scaler is None


def test_bf16_step_keeps_float32_weights():
    precision = MixedPrecision("bf16", "cpu")
    layer = torch.nn.Linear(4, 1)
    optimiser = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()

    with precision.autocast():
        loss = layer(torch.randn(8, 4)).float().pow(2).mean()
    precision.step(loss, optimiser)

    assert layer.weight.dtype == torch.float32
    assert not torch.equal(layer.weight, before)


@pytest.mark.slow
def test_bf16_training_epoch_on_cpu(tmp_path):
    from genre_core.pipeline import train

    config = load_config(None, {
        "model.dim": 32, "model.modalities": ["tabular", "id"], "training.epochs": 1,
        "training.device": "cpu", "training.precision": "bf16", "paths.registry_dir": str(tmp_path / "models"),
    })
    _, result, metrics = train(config, progress=False, register=False)

    assert all(parameter.dtype == torch.float32 for parameter in result.model.parameters())
    assert torch.isfinite(torch.tensor(result.curve[0]["loss"]))
    assert 0.0 <= metrics["ndcg@10"] <= 1.0


def test_train_command_rejects_fp16_on_cpu(tmp_path):
    config = load_config(None, {"training.device": "cpu", "training.precision": "fp16",
                                "paths.registry_dir": str(tmp_path / "models")})
    path = tmp_path / "fp16.yaml"
    save_config(config, path)

    result = subprocess.run([sys.executable, "-m", "genre_core", "train", "--config", str(path), "--quiet"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

    assert result.returncode == 2
    assert "fp16 needs a CUDA GPU" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").rglob("*.safetensors"))
