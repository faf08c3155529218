"""Mixed-precision training steps: autocast, plus a gradient scaler for fp16 on CUDA.

`training.precision` picks the dtype of the autocast regions: fp32 (no autocast),
bf16 (CPU and CUDA) or fp16 (CUDA only). Parameters and optimiser state stay in
float32 in every mode; only the operations that autocast lists run in the lower
precision.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from genre_core.config import ConfigError

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device | str) -> torch.dtype:
    """Return the autocast dtype of `precision` on `device`, rejecting fp16 on a CPU."""
    if precision not in PRECISIONS:
        raise ConfigError(
            f"config key 'training.precision': invalid value {precision!r}; allowed values: {', '.join(PRECISIONS)}"
        )
    device = torch.device(device)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(
            f"config key 'training.precision': fp16 needs a CUDA GPU, but training runs on {device}; "
            "use bf16 (which also runs on CPU) or fp32"
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"config key 'training.precision': the GPU {torch.cuda.get_device_name(device)} does not support bf16; "
            "use fp16 or fp32"
        )
    return PRECISIONS[precision]


class MixedPrecision:
    """Autocast context and optimiser step of one precision on one device.

    Use ``with precision.autocast():`` around the forward pass and the loss,
    then ``precision.step(loss, optimiser)`` in place of backward and step.
    """

    def __init__(self, precision: str, device: torch.device | str):
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = check_precision(precision, self.device)
        # Only fp16 has a narrow exponent range that needs loss scaling; bf16 has float32's range.
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        if precision != "fp32":
            log.info("mixed precision: autocast to %s on %s", precision, self.device)

    @property
    def enabled(self) -> bool:
        return self.precision != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimiser: torch.optim.Optimizer) -> None:
        """Clear the gradients, back-propagate `loss` and step `optimiser` (scaled for fp16)."""
        optimiser.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimiser.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimiser)
        self.scaler.update()
