"""A small Tux Paint model trained once per test module, for the media tests and the media browser test."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_core.config import PROJECT_ROOT, load_config, save_config

TUXPAINT_CONFIG = PROJECT_ROOT / "assets" / "configs" / "tuxpaint.yaml"
# A small catalogue and few epochs keep training to about 15 s. The image and sound
# features come from the repository's cache/ folder, so only a machine's first run encodes them.
SMALL = {
    "data.name": "tuxpaint-test", "data.simulation.users": 150, "data.simulation.max_items": 160,
    "training.epochs": 4, "training.patience": 4,
}


@pytest.fixture(scope="module")
def media_config(tmp_path_factory) -> Path:
    """A config file whose registry, in a temporary folder, contains a small trained Tux Paint model."""
    from genre_core.pipeline import train

    root = tmp_path_factory.mktemp("tuxpaint")
    config = load_config(TUXPAINT_CONFIG, {**SMALL, "paths.registry_dir": str(root / "models"),
                                           "paths.data_dir": str(root / "data")})
    train(config, progress=False)
    path = root / "tuxpaint.yaml"
    save_config(config, path)
    return path
