"""Model registry: a folder of numbered versions and a pointer to the active one.

Layout under `<registry_dir>/<config name>/`:

    registry.json           {"active": "v0002", "previous": ["v0001"]}
    v0001/model.safetensors weights (safetensors: no pickle is ever loaded)
    v0001/config.yaml       the config the version was trained with
    v0001/meta.json         data fingerprint, metrics, encodings, timestamp, status

Every file is written to a temporary name and renamed into place, so a crash
mid-write never leaves a half-written version or pointer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from genre_core.config import Config, ConfigError, from_dict, save_config

log = logging.getLogger(__name__)

VERSION_PATTERN = re.compile(r"^v\d{4,}$")
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
CONFIG_FILE = "config.yaml"
STATE_FILE = "registry.json"


class RegistryError(RuntimeError):
    """A registry that has no model yet, a missing version, or a corrupt model file."""


@dataclass
class VersionInfo:
    version: str
    path: Path
    meta: dict[str, Any]
    active: bool

    @property
    def created_at(self) -> str:
        return self.meta.get("created_at", "")


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_config(cls, config: Config) -> ModelRegistry:
        return cls(config.paths.resolve("registry_dir") / config.name)

    # Reading

    def versions(self) -> list[VersionInfo]:
        if not self.root.is_dir():
            return []
        active = self.active_version()
        found = []
        for path in sorted(self.root.iterdir()):
            if VERSION_PATTERN.match(path.name) and (path / META_FILE).is_file():
                found.append(VersionInfo(path.name, path, _read_json(path / META_FILE), path.name == active))
        return found

    def active_version(self) -> str | None:
        return self._state().get("active")

    def has_model(self) -> bool:
        return self.active_version() is not None

    def info(self, version: str | None = None) -> VersionInfo:
        version = version or self._require_active()
        path = self._version_path(version)
        return VersionInfo(version, path, _read_json(path / META_FILE), version == self.active_version())

    def load(self, version: str | None = None) -> tuple[dict[str, torch.Tensor], Config, dict[str, Any]]:
        """Return the state dict, config and metadata of `version` (default: the active one)."""
        info = self.info(version)
        weights = info.path / WEIGHTS_FILE
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError, ValueError) as error:
            raise RegistryError(
                f"model file {weights} of version {info.version} is corrupt or unreadable ({error}); "
                "promote another version with `genre models promote VERSION` or retrain with `genre train`"
            ) from error
        try:
            config = from_dict(yaml.safe_load((info.path / CONFIG_FILE).read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError, ConfigError) as error:
            raise RegistryError(f"config of version {info.version} at {info.path / CONFIG_FILE} is invalid: {error}") from error
        return state, config, info.meta

    # Writing

    def save(self, state: dict[str, torch.Tensor], config: Config, meta: dict[str, Any], activate: bool = True) -> str:
        """Write a new version; make it active when `activate` is true. Return its name."""
        self.root.mkdir(parents=True, exist_ok=True)
        version = self._next_version()
        staging = self.root / f".{version}.tmp"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()

        save_file({key: value.detach().cpu().contiguous() for key, value in state.items()}, str(staging / WEIGHTS_FILE))
        save_config(config, staging / CONFIG_FILE)
        meta = {**meta, "version": version, "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _write_json(staging / META_FILE, meta)
        os.replace(staging, self.root / version)
        log.info("saved model version %s in %s", version, self.root)

        if activate:
            self.promote(version)
        return version

    def promote(self, version: str) -> None:
        """Make `version` the active one, remembering the previous active version for rollback."""
        self._version_path(version)
        state = self._state()
        current = state.get("active")
        if current == version:
            return
        previous = [name for name in state.get("previous", []) if name != version]
        if current:
            previous.append(current)
        self._write_state({"active": version, "previous": previous})
        log.info("active model version is now %s (%s)", version, f"was {current}" if current else "the first")

    def rollback(self) -> str:
        """Make the previously active version active again and return its name."""
        state = self._state()
        previous = [name for name in state.get("previous", []) if (self.root / name).is_dir()]
        if not previous:
            raise RegistryError(f"no earlier active version to roll back to in {self.root}")
        version = previous.pop()
        self._write_state({"active": version, "previous": previous})
        log.info("rolled back to model version %s (was %s)", version, state.get("active"))
        return version

    # Helpers

    def _state(self) -> dict[str, Any]:
        path = self.root / STATE_FILE
        return _read_json(path) if path.is_file() else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / STATE_FILE, state)

    def _require_active(self) -> str:
        active = self.active_version()
        if active is None:
            raise RegistryError(f"no trained model in {self.root}; train one with `genre train` (or `make run`)")
        return active

    def _version_path(self, version: str) -> Path:
        path = self.root / version
        if not VERSION_PATTERN.match(version) or not (path / META_FILE).is_file():
            available = ", ".join(info.version for info in self.versions()) or "none"
            raise RegistryError(f"model version {version!r} not found in {self.root}; available versions: {available}")
        return path

    def _next_version(self) -> str:
        numbers = [int(path.name[1:]) for path in self.root.iterdir() if VERSION_PATTERN.match(path.name)]
        return f"v{max(numbers, default=0) + 1:04d}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise RegistryError(f"registry file {path} is unreadable or corrupt: {error}") from error


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
