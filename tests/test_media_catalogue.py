"""The Tux Paint catalogue reader, the seeded interaction simulator and fitting users by their driver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genre_core.config import PROJECT_ROOT, SimulationConfig, load_config
from genre_core.data.tuxpaint import AUDIO_PATH, DEBIAN_PACKAGE, read_catalogue, stamps_folder

needs_stamps = pytest.mark.usefixtures("stamps_installed")
TUXPAINT_CONFIG = PROJECT_ROOT / "assets" / "configs" / "tuxpaint.yaml"
# Cross-validated AUC bounds for reading a simulated property from its own modality and from another,
# and the minimum lead of the own modality over each other one. With the shipped settings the
# measured values are 0.82-0.89 from the own modality and 0.35-0.77 from another. The highest
# (the picture property read from the description, 0.77) comes from the families of stamps
# (digits, letters, animals), which show in every modality and which a linear correction cannot remove.
OWN_AUC = 0.8
OTHER_AUC = 0.8
LEAD = 0.1


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


def _cross_validated_auc(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """ROC AUC of a logistic regression predicting `labels` from `features`, each item scored by the other folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    return float(roc_auc_score(labels, cross_val_predict(model, features, labels, cv=folds, method="predict_proba")[:, 1]))


@needs_stamps
def test_each_property_is_read_from_its_own_modality():
    """Each driver's property is predictable from its own modality's features and hardly from the other two.

    The features are the simulator's own: picture features, mel-band means, sentence vectors.
    """
    from genre_core.data.simulate import DRIVERS, item_properties, simulated_catalogue

    items, scores, features = simulated_catalogue(None, SimulationConfig(), PROJECT_ROOT / "cache")
    properties = item_properties(scores)
    assert items["audio_path"].notna().all()
    assert properties.sum().tolist() == [round(0.2 * len(items))] * 3
    auc = {(driver, modality): _cross_validated_auc(features[modality], properties[driver].to_numpy())
           for driver in DRIVERS for modality in DRIVERS}
    table = ", ".join(f"{driver} from {modality}: {value:.2f}" for (driver, modality), value in auc.items())
    for (driver, modality), value in auc.items():
        if driver == modality:
            assert value >= OWN_AUC, table
        else:
            assert value <= OTHER_AUC, table
            assert auc[driver, driver] - value >= LEAD, table


@pytest.fixture(scope="module")
def new_item_fits():
    """NDCG@10 per driver on new items (5 item folds) of the shipped model and of the models lacking one modality."""
    from genre_core.data.simulate import DRIVERS, simulated_drivers
    from genre_core.evaluation.groups import new_item_metrics
    from genre_core.pipeline import load_prepared

    dataset = load_prepared(load_config(TUXPAINT_CONFIG), progress=False)
    drivers = simulated_drivers(dataset)
    fits = {}
    for left_out in (None, *DRIVERS):
        modalities = [name for name in ("text", "image", "audio") if name != left_out]
        config = load_config(TUXPAINT_CONFIG, {"model.modalities": modalities})
        fits[left_out] = new_item_metrics(config, dataset, drivers, seed=config.seed, folds=5)["metrics"]
    return fits


@needs_stamps
@pytest.mark.parametrize("driver", ["text", "image", "audio"])
def test_model_without_driver_cannot_fit_users(new_item_fits, driver):
    """New items are ranked for the driver's users far worse once the model loses the driver's modality."""
    fitted = new_item_fits[None][driver]["ndcg@10"]
    unfitted = new_item_fits[driver][driver]["ndcg@10"]
    assert unfitted < 0.8 * fitted, f"{driver}-driven users: NDCG@10 {unfitted:.4f} without vs {fitted:.4f} with"


@needs_stamps
def test_explanations_name_the_true_driver(tmp_path):
    """The shipped Tux Paint model, trained here: the largest modality share names most users' true driver.

    The target of `genre explain-benchmark --dataset tuxpaint` is 90% (docs/benchmarks.md, section Media
    modalities, has the measured figures for several training seeds). Training is not bit-for-bit the same
    on every machine, and across training seeds the figure ranged from 88.5% to 98.8%, so this test
    requires 85%.
    """
    from genre_core.data.simulate import simulated_drivers
    from genre_core.explain import ExplainSettings
    from genre_core.explain.driver_benchmark import driver_benchmark
    from genre_core.pipeline import train
    from genre_core.service import Recommender

    config = load_config(TUXPAINT_CONFIG, {"paths.registry_dir": str(tmp_path / "models")})
    train(config, progress=False)
    recommender = Recommender.load(config, device="cpu")
    result = driver_benchmark(recommender, simulated_drivers(recommender.dataset), top_k=5, max_users=150,
                              settings=ExplainSettings(tokens=False), seed=config.seed)
    assert result["accuracy"] >= 0.85, result["confusion"]
