"""Own data with image_path and audio_path: bad files are reported with row and path, items keep working."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre_core.config import load_config
from genre_core.schema import AUDIO_PATH, IMAGE_PATH

BIRD_SOUND = Path("/usr/share/tuxpaint/stamps/animals/birds/blackbird.ogg")


@pytest.fixture
def own_data(tmp_path) -> Path:
    from PIL import Image
    from skimage import data

    folder = tmp_path / "shop"
    (folder / "media").mkdir(parents=True)
    Image.fromarray(data.chelsea()).save(folder / "media" / "cat.png")
    Image.fromarray(data.astronaut()).save(folder / "media" / "astronaut.png")
    (folder / "media" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "media" / "broken.ogg").write_bytes(b"OggS" + bytes(64))
    sound = str(BIRD_SOUND) if BIRD_SOUND.is_file() else ""
    # Text-only items fill the catalogue past the 20 items that top-20 metrics rank.
    fillers = [f"t{index}" for index in range(20)]
    pd.DataFrame({
        "item_id": ["cat", "astronaut", "broken", "lost", *fillers],
        "title": ["A cat photo", "An astronaut portrait", "A broken picture", "A lost picture",
                  *[f"Plain item {index}" for index in range(20)]],
        IMAGE_PATH: ["media/cat.png", "media/astronaut.png", "media/broken.png", "media/missing.png", *[""] * 20],
        AUDIO_PATH: [sound, "", "media/broken.ogg", "", *[""] * 20],
    }).to_csv(folder / "items.csv", index=False)
    items = ["cat", "astronaut", "broken", "lost", *fillers]
    rows = [(f"u{user}", item, 1_700_000_000 + 60 * step)
            for user in range(6) for step, item in enumerate(items[user:user + 10])]
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).to_csv(folder / "interactions.csv", index=False)
    return folder


def _config(folder: Path, tmp_path: Path):
    return load_config(None, {
        "data.source": "custom", "data.path": str(folder), "data.name": "shop", "data.item_text": ["title"],
        "data.item_multilabel": [], "data.item_numeric": [], "data.user_categorical": [], "data.user_numeric": [],
        "model.modalities": ["text", "image", "audio"], "model.dim": 16, "training.epochs": 2,
        "paths.data_dir": str(tmp_path / "data"), "paths.registry_dir": str(tmp_path / "models"),
        "paths.cache_dir": str(tmp_path / "cache"),
    })


def test_missing_media_file_warned_with_line(own_data, tmp_path):
    from genre_core.data.loading import load_dataset

    with pytest.warns(UserWarning, match="missing.png") as caught:
        dataset = load_dataset(_config(own_data, tmp_path).data)
    message = str(caught[0].message)
    assert "items.csv" in message
    assert "line 5" in message
    assert IMAGE_PATH in message
    paths = dataset.items.set_index("item_id")[IMAGE_PATH]
    assert pd.isna(paths["lost"])
    assert paths["cat"] == str(own_data / "media" / "cat.png")


def test_bad_media_items_keep_other_modalities(own_data, tmp_path):
    from genre_core.pipeline import train

    config = _config(own_data, tmp_path)
    with pytest.warns(UserWarning, match="missing.png"):
        version, result, _ = train(config, progress=False)
    assert version is not None
    from genre_core.service import Recommender

    recommender = Recommender.load(config, device="cpu")
    items = recommender.inputs.items
    position = {item: index for index, item in enumerate(recommender.dataset.item_ids)}
    assert items["image_present"][position["cat"]] == 1
    assert items["image_present"][position["broken"]] == 0
    assert items["image_present"][position["lost"]] == 0
    assert items["text_present"][position["broken"]] == 1
    errors = recommender.inputs.media_errors
    assert position["broken"] in errors["image"]
    assert str(own_data / "media" / "broken.png") in errors["image"][position["broken"]]
    assert position["broken"] in errors["audio"]
    assert np.isfinite(recommender.item_vectors.numpy()).all()
