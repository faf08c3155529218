"""On-disk cache of fixed-shape feature arrays (image vectors, audio spectrograms), keyed by string."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


def file_key(model_name: str, path: str | Path, settings: str = "") -> str:
    """Hash of the model name, the settings and the file's bytes, so an edited file is re-encoded."""
    digest = hashlib.sha1(f"{model_name}\x00{settings}\x00".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """Feature arrays of one shape in `<cache_dir>/<kind>/<model_name>/`, stored as `features.npy` plus `keys.json`.

    New entries are appended and both files are replaced atomically, so an interrupted run
    never leaves a half-written cache.
    """

    def __init__(self, cache_dir: Path, kind: str, model_name: str, shape: tuple[int, ...]):
        safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name)
        self.folder = Path(cache_dir) / kind / safe_name
        self.shape = tuple(shape)
        self._keys: list[str] = []
        self._features = np.zeros((0, *self.shape), dtype=np.float32)
        if (self.folder / "keys.json").is_file() and (self.folder / "features.npy").is_file():
            features = np.load(self.folder / "features.npy")
            if features.shape[1:] == self.shape:
                self._keys = json.loads((self.folder / "keys.json").read_text())
                self._features = features
        self._row = {key: row for row, key in enumerate(self._keys)}

    def __contains__(self, key: str) -> bool:
        return key in self._row

    def get(self, key: str) -> np.ndarray:
        return self._features[self._row[key]]

    def add(self, keys: list[str], features: list[np.ndarray]) -> None:
        fresh = [(key, array) for key, array in zip(keys, features) if key not in self._row]
        if not fresh:
            return
        stacked = np.stack([array for _, array in fresh]).astype(np.float32)
        self._features = np.concatenate([self._features, stacked])
        for key, _ in fresh:
            self._row[key] = len(self._keys)
            self._keys.append(key)
        self._save()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_features = self.folder / "features.tmp.npy"
        tmp_keys = self.folder / "keys.tmp.json"
        np.save(tmp_features, self._features)
        tmp_keys.write_text(json.dumps(self._keys))
        os.replace(tmp_features, self.folder / "features.npy")
        os.replace(tmp_keys, self.folder / "keys.json")
