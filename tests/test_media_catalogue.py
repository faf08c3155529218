"""The Tux Paint catalogue reader, the seeded interaction simulator and fitting users by their driver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genre_core.config import PROJECT_ROOT, SimulationConfig, load_config
from genre_core.data.tuxpaint import AUDIO_PATH, DEBIAN_PACKAGE, read_catalogue, stamps_folder

needs_stamps = pytest.mark.usefixtures("stamps_installed")
TUXPAINT_CONFIG = PROJECT_ROOT / "assets" / "configs" / "tuxpaint.yaml"


def test_missing_stamps_name_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match=DEBIAN_PACKAGE):
        stamps_folder(tmp_path / "nowhere")


def test_unknown_dataset_lists_shipped_configs(capsys):
    from genre_core.cli import main

    assert main(["prepare", "--dataset", "nosuchdata"]) == 2
    message = capsys.readouterr().err
    assert "nosuchdata" in message
    assert "tuxpaint" in message
    assert "movielens" in message


def test_tuxpaint_config_is_valid():
    config = load_config(TUXPAINT_CONFIG)
    assert config.data.source == "tuxpaint"
    assert config.model.modalities == ["text", "image", "audio"]
    assert config.model.item_bias is False


@needs_stamps
def test_catalogue_reads_real_stamps():
    items, summary = read_catalogue()
    assert summary.items == len(items) > 700
    assert summary.with_sound > 100
    assert summary.svg_only > 0
    blackbird = items.set_index("item_id").loc["animals/birds/blackbird"]
    assert blackbird["description"] == "A blackbird."
    assert blackbird["category"] == "animals"
    assert blackbird[AUDIO_PATH].endswith("blackbird.ogg")
    assert not items["item_id"].str.endswith("_mirror").any()
    assert not items[AUDIO_PATH].dropna().str.contains("_desc").any()


@needs_stamps
def test_simulation_is_seeded_and_records_drivers():
    from genre_core.data.simulate import DRIVER, PROPERTIES, load_tuxpaint

    settings = SimulationConfig(max_items=140, users=30, interactions_per_user=8, noise=0.0, seed=3)
    first = load_tuxpaint(None, settings)
    second = load_tuxpaint(None, settings)
    assert first.simulated
    assert first.fingerprint() == second.fingerprint()
    assert sorted(first.users[DRIVER].value_counts().tolist()) == [10, 10, 10]

    # With no noise every interaction has the property of its user's driver.
    properties = first.items.set_index("item_id")[PROPERTIES]
    merged = first.interactions.merge(first.users, on="user_id")
    has_property = [driver in properties[item].split("|") for item, driver in zip(merged["item_id"], merged[DRIVER])]
    assert all(has_property)


@needs_stamps
@pytest.mark.parametrize("driver, without", [("text", ["image", "audio"])])
def test_model_without_driver_cannot_fit_users(driver, without):
    """New items are ranked for the driver's users far worse once the model loses the driver's modality.

    NOTE: only the text driver is separated so far. On new items, with the shipped config, a text +
    image model ranks the audio-driven users' items at 0.18 NDCG@10 against 0.23 for the full model.
    That is just above the 0.8 ratio asserted here, because pitch follows the kind of animal. A text +
    audio model ranks the image-driven users' items better than the full model does (0.22 vs 0.17).
    """
    from genre_core.data.simulate import simulated_drivers
    from genre_core.evaluation.groups import new_item_metrics
    from genre_core.pipeline import load_prepared

    base = load_config(TUXPAINT_CONFIG)
    dataset = load_prepared(base, progress=False)
    drivers = simulated_drivers(dataset)
    with_driver = new_item_metrics(load_config(TUXPAINT_CONFIG), dataset, drivers)
    without_driver = new_item_metrics(load_config(TUXPAINT_CONFIG, {"model.modalities": without}), dataset, drivers)
    fitted = with_driver["metrics"][driver]["ndcg@10"]
    unfitted = without_driver["metrics"][driver]["ndcg@10"]
    assert unfitted < 0.8 * fitted, f"{driver}-driven users: NDCG@10 {unfitted:.4f} without vs {fitted:.4f} with"
