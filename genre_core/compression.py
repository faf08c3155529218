"""Compression for serving: int8 towers, and item vectors stored as float16 or int8.

`serving.compression` selects one of:

- ``none``: the float32 model and float32 item vectors;
- ``int8``: every ``nn.Linear`` of both towers runs with int8 dynamic
  quantisation (int8 weights with one scale per output channel, activations
  quantised per batch), CPU only;
- ``fp16_vectors``: the float32 model, item vectors stored as float16;
- ``int8_vectors``: the float32 model, item vectors stored as int8 codes with
  one float32 scale per vector (symmetric, scale = max |v| / 127);
- ``int8_serving``: everything that runs per request in int8 (the user tower
  quantised as in ``int8``, item vectors as in ``int8_vectors``), while the item
  tower, which runs once when the model loads, stays float32.
"""

from __future__ import annotations

import copy
import io
import logging
import warnings

import torch
from torch import nn

from genre_core.config import ConfigError
from genre_core.model import GenreModel

log = logging.getLogger(__name__)

COMPRESSIONS = ("none", "int8", "fp16_vectors", "int8_vectors", "int8_serving")
VECTOR_FORMATS = {
    "none": "float32", "int8": "float32", "fp16_vectors": "float16", "int8_vectors": "int8", "int8_serving": "int8",
}
# Compressions with int8 Linear layers, and the towers each one quantises.
QUANTISED_TOWERS = {"int8": ("item_tower", "user_tower"), "int8_serving": ("user_tower",)}
INT8_MAX = 127


def check_compression(compression: str, device: torch.device | str) -> None:
    """Reject an unknown compression, and int8 towers on a GPU (the quantised kernels run on CPU)."""
    if compression not in COMPRESSIONS:
        raise ConfigError(
            f"config key 'serving.compression': invalid value {compression!r}; allowed values: {', '.join(COMPRESSIONS)}"
        )
    if compression in QUANTISED_TOWERS and torch.device(device).type != "cpu":
        raise ConfigError(
            f"config key 'serving.compression': {compression} towers run on CPU only, but serving is on {device}; "
            "serve on cpu, or use fp16_vectors or int8_vectors on the GPU"
        )


def quantize_towers(model: GenreModel, towers: tuple[str, ...] = ("item_tower", "user_tower")) -> GenreModel:
    """Return a copy of `model` whose Linear layers in `towers` use int8 dynamic quantisation; `model` is unchanged."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    float_copy = copy.deepcopy(model).cpu().eval()
    # NOTE: layers inside a TransformerEncoderLayer (the attention fusion) stay float32,
    # because its forward reads `linear1.weight` as a tensor and a quantised layer's is a method.
    transformer_layers = [
        name + "." for name, module in float_copy.named_modules()
        if isinstance(module, (nn.TransformerEncoderLayer, nn.MultiheadAttention))
    ]
    # One weight scale per output channel keeps small rows of a layer from rounding to zero.
    layers = {
        name: per_channel_dynamic_qconfig for name, module in float_copy.named_modules()
        if isinstance(module, nn.Linear) and name.split(".")[0] in towers
        and not any(name.startswith(prefix) for prefix in transformer_layers)
    }
    with warnings.catch_warnings():
        # NOTE: torch 2.13 marks torch.ao.quantization as deprecated in favour of torchao,
        # which is not a dependency here; move to torchao's quantize_ when it is.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(float_copy, layers, dtype=torch.qint8)


def state_size_bytes(model: nn.Module) -> int:
    """Size of the model's state dict as `torch.save` writes it."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


class ItemVectorStore:
    """Item vectors as served: float32, float16, or int8 codes with one scale per vector."""

    def __init__(self, vectors: torch.Tensor, vector_format: str = "float32"):
        vectors = vectors.detach().float()
        self.format = vector_format
        self.scale = None
        if vector_format == "float32":
            self.values = vectors
        elif vector_format == "float16":
            self.values = vectors.half()
        elif vector_format == "int8":
            self.scale = vectors.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / INT8_MAX
            self.values = torch.round(vectors / self.scale).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)
        else:
            raise ValueError(f"invalid vector format {vector_format!r}; use float32, float16 or int8")

    @property
    def nbytes(self) -> int:
        scale_bytes = 0 if self.scale is None else self.scale.numel() * self.scale.element_size()
        return self.values.numel() * self.values.element_size() + scale_bytes

    def dequantize(self) -> torch.Tensor:
        """Return the stored vectors as float32, with the rounding error of the format."""
        values = self.values.float()
        return values if self.scale is None else values * self.scale

    def scores(self, user_vectors: torch.Tensor) -> torch.Tensor:
        """Dot products (users, items) of float32 user vectors with the stored item vectors."""
        if self.scale is None:
            return user_vectors @ self.values.to(user_vectors.dtype).T
        # The per-vector scale is a factor of each item's column, so it applies after the product.
        return (user_vectors @ self.values.to(user_vectors.dtype).T) * self.scale.T


class CompressedModel:
    """A trained model prepared for serving with one compression setting.

    Item vectors are computed once by the (possibly quantised) item tower and
    stored in the configured format. The user tower reads every item vector, so
    a float32 copy of the stored vectors is kept as `item_vectors`; scores come
    from the stored format.
    """

    def __init__(self, model: GenreModel, item_inputs: dict[str, torch.Tensor], compression: str):
        device = next(model.parameters()).device
        check_compression(compression, device)
        self.compression = compression
        model = model.eval()
        self.model = quantize_towers(model, QUANTISED_TOWERS[compression]) if compression in QUANTISED_TOWERS else model
        # int8_serving keeps the float32 item tower for this one pass.
        item_tower_model = model if compression == "int8_serving" else self.model
        with torch.no_grad():
            vectors = item_tower_model.item_vectors(item_inputs)
        self.vectors = ItemVectorStore(vectors, VECTOR_FORMATS[compression])
        self.item_vectors = self.vectors.dequantize()
        log.info("serving with compression %s: item vectors %.1f KiB as %s",
                 compression, self.vectors.nbytes / 1024, self.vectors.format)

    @torch.no_grad()
    def score(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores (users, items) of the users in `batch` over the whole catalogue."""
        user_vectors = self.model.user_vectors(self.item_vectors, batch)
        return self.vectors.scores(user_vectors) + self.model.item_bias + self.model.global_bias

    def size_bytes(self) -> int:
        """Serialised weights plus the stored item vectors."""
        return state_size_bytes(self.model) + self.vectors.nbytes
