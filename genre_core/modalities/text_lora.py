"""LoRA adapters, through peft, on the tuned top layers of the text model."""

from __future__ import annotations

import logging

from torch import nn

from genre_core.config import ConfigError, TextLoraConfig

log = logging.getLogger(__name__)


def linear_layer_names(layers: nn.Module) -> list[str]:
    """Names that `text.lora.target_modules` may use: each linear layer's path inside one transformer layer, and its last part."""
    paths = set()
    for layer in layers.children():
        for name, module in layer.named_modules():
            if isinstance(module, nn.Linear):
                paths.add(name)
    suffixes = {path.rsplit(".", 1)[-1] for path in paths}
    return sorted(suffixes) + sorted(paths - suffixes)


def check_target_modules(targets: list[str], layers: nn.Module, model_name: str) -> None:
    """Raise ConfigError unless every target names a linear layer, by full path or last part, as peft matches it."""
    valid = linear_layer_names(layers)
    if not targets:
        raise ConfigError(
            f"config key 'text.lora.target_modules' is empty; name at least one of: {', '.join(valid)}"
        )
    for target in targets:
        if not any(name == target or name.endswith("." + target) for name in valid):
            raise ConfigError(
                f"config key 'text.lora.target_modules': {target!r} is not a linear layer of text model "
                f"{model_name!r}; valid names: {', '.join(valid)}"
            )


def add_lora(layers: nn.Module, lora: TextLoraConfig, model_name: str) -> None:
    """Add LoRA adapters to `layers` in place and leave only the adapter weights trainable."""
    from peft import LoraConfig, inject_adapter_in_model

    check_target_modules(lora.target_modules, layers, model_name)
    settings = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules)
    )
    inject_adapter_in_model(settings, layers)
    for name, parameter in layers.named_parameters():
        parameter.requires_grad_("lora_" in name)
    trainable = sum(parameter.numel() for parameter in layers.parameters() if parameter.requires_grad)
    log.info("LoRA r=%d on %s: %d trainable adapter weights", lora.r, ", ".join(lora.target_modules), trainable)
