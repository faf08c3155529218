"""Encode a column of media file paths through a disk cache, recording every file that fails."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from genre_core.modalities.feature_cache import FeatureCache, file_key

log = logging.getLogger(__name__)


class MediaError(ValueError):
    """A media file that is missing, unreadable, corrupt or in an unsupported format."""


@dataclass
class MediaFeatures:
    """Features of one media column: `features` (n, *shape), `present` (n,) bool, and the failures by row."""

    features: np.ndarray
    present: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)


def is_blank(path) -> bool:
    """True for a cell with no path (None, NaN or an empty string)."""
    return path is None or (isinstance(path, float) and np.isnan(path)) or not str(path).strip()


def encode_files(
    paths: list,
    cache: FeatureCache,
    model_name: str,
    settings: str,
    decode: Callable[[Path], object],
    encode: Callable[[list], np.ndarray],
    batch_size: int,
    kind: str,
    progress: bool = True,
) -> MediaFeatures:
    """Decode and encode the files at `paths` that the cache lacks; a blank path is a missing modality.

    `decode(path)` raises MediaError for a file it cannot use. `encode(decoded)` maps a batch of
    decoded files to an array (batch, *cache.shape). Failed rows are absent and listed in `errors`.
    """
    n = len(paths)
    features = np.zeros((n, *cache.shape), dtype=np.float32)
    present = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    keys: dict[int, str] = {}
    for row, path in enumerate(paths):
        if is_blank(path):
            continue
        try:
            keys[row] = file_key(model_name, path, settings)
        except FileNotFoundError:
            errors[row] = f"{kind} file {path} not found"
        except OSError as error:
            errors[row] = f"{kind} file {path} cannot be read: {error.strerror or error}"

    pending = [row for row in keys if keys[row] not in cache]
    if pending:
        log.info("encoding %d %s files with %s (%d already cached)", len(pending), kind, model_name, len(keys) - len(pending))
    batches = range(0, len(pending), batch_size)
    for start in tqdm(batches, desc=f"encoding {kind} ({model_name})", disable=not progress or not pending, unit="batch"):
        decoded, rows = [], []
        for row in pending[start:start + batch_size]:
            try:
                decoded.append(decode(Path(paths[row])))
                rows.append(row)
            except MediaError as error:
                errors[row] = str(error)
        if decoded:
            cache.add([keys[row] for row in rows], list(encode(decoded)))

    for row, key in keys.items():
        if key in cache:
            features[row] = cache.get(key)
            present[row] = True
    for row, message in errors.items():
        log.warning("item row %d (0-based): %s; the item is used without its %s", row, message, kind)
    return MediaFeatures(features, present, errors)
