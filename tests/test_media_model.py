"""The Tux Paint catalogue through the whole pipeline: training, explanations with image and audio, maps, app."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genre_core.config import PROJECT_ROOT, load_config
from media_fixtures import media_config  # noqa: F401 (a pytest fixture)

pytestmark = pytest.mark.usefixtures("stamps_installed")

APP = PROJECT_ROOT / "app.py"


@pytest.fixture(scope="module")
def recommender(media_config):
    from genre_core.service import Recommender

    return Recommender.load(load_config(media_config), device="cpu")


def _item_with(recommender, *modalities) -> str:
    items = recommender.inputs.items
    mask = np.ones(recommender.dataset.n_items, dtype=bool)
    for name in modalities:
        mask &= items[f"{name}_present"].numpy() > 0
    return str(recommender.dataset.item_ids[np.flatnonzero(mask)[0]])


def test_model_reads_image_and_audio(recommender):
    assert recommender.model.item_tower.modalities == ["text", "image", "audio"]
    assert recommender.dataset.simulated
    assert recommender.inputs.items["image"].shape[1] == 1280
    assert recommender.inputs.items["audio"].shape[1:] == (64, 96)
    # The trainer fitted the principal components of the picture features and of the sentence vectors.
    for name in ("image", "text"):
        assert recommender.model.item_tower.encoders[name].project[0].weights.abs().sum() > 0
    # The simulated catalogue keeps the stamps that have a sound only.
    assert recommender.inputs.items["audio_present"].sum() == recommender.dataset.n_items


def test_missing_sound_is_masked(recommender):
    items = {key: value[:1].clone() for key, value in recommender.inputs.items.items()}
    items["audio_present"].zero_()
    with torch.no_grad():
        before = recommender.model.item_vectors(items)
        items["audio"] = torch.randn_like(items["audio"]) * 100
        after = recommender.model.item_vectors(items)
    assert torch.equal(before, after)


def test_explanation_shares_include_image_and_audio(recommender):
    from genre_core.explain import ExplainSettings, explain

    item_id = _item_with(recommender, "image", "audio")
    user_id = str(recommender.dataset.user_ids[0])
    result = explain(recommender, user_id, item_id, settings=ExplainSettings(tokens=False, shapley_samples=5))
    names = [row["modality"] for row in result["shares"]]
    assert "image" in names
    assert "audio" in names
    assert "item_attributes" not in names
    assert result["relative_convergence_delta"] < 0.05
    assert result["shares_by_method"]["shapley"]["audio"] != 0.0


def test_explain_benchmark_command(media_config, capsys):
    from genre_core.cli import main

    code = main(["explain-benchmark", "--config", str(media_config), "--users", "6", "--top-k", "1",
                 "--method", "feature_ablation", "--json", "--quiet"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["users"] == 6
    assert result["simulated"] is True
    assert set(result["per_driver"]) == {"text", "image", "audio"}
    assert sum(sum(row.values()) for row in result["confusion"].values()) == 6


def test_image_occlusion_map(recommender):
    from genre_core.explain.media_maps import image_map

    item_id = _item_with(recommender, "image")
    result = image_map(recommender, str(recommender.dataset.user_ids[0]), item_id)
    assert result.values.shape == (224, 224)
    assert result.background.shape == (224, 224, 3)
    assert np.isfinite(result.values).all()
    assert np.abs(result.values).max() > 0


def test_audio_spectrogram_attribution(recommender):
    from genre_core.explain.media_maps import audio_map

    item_id = _item_with(recommender, "audio")
    result = audio_map(recommender, str(recommender.dataset.user_ids[0]), item_id)
    assert result.values.shape == (64, 96)
    difference = result.score - result.baseline_score
    assert abs(result.values.sum() - difference) <= 0.05 * abs(difference) + 1e-4


def test_map_of_silent_item_rejected(recommender, monkeypatch):
    from genre_core.explain.media_maps import audio_map

    present = recommender.inputs.items["audio_present"].clone()
    present[0] = 0
    monkeypatch.setitem(recommender.inputs.items, "audio_present", present)
    silent = str(recommender.dataset.item_ids[0])
    with pytest.raises(ValueError, match="no usable audio"):
        audio_map(recommender, str(recommender.dataset.user_ids[0]), silent)


def test_app_item_cards_and_maps(media_config, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from genre_core.i18n import translate

    monkeypatch.setenv("GENRE_CONFIG", str(media_config))
    app = AppTest.from_file(str(APP), default_timeout=180)
    app.run()
    assert not app.exception
    assert any(translate("media.cards_header", "en") == header.value for header in app.subheader)
    assert len(app.get("image")) >= 1
    assert len(app.get("audio")) >= 1

    # The simulated data are implicit: the history has no rating column and counts interactions.
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics[translate("column.driver", "en")] in {"text", "image", "audio"}
    assert translate("rec.interactions_metric", "en") in metrics
    history = next(frame.value for frame in app.dataframe if "date" in frame.value.columns)
    assert "rating" not in history.columns
    assert len(history) == int(metrics[translate("rec.interactions_metric", "en")])

    audio_items = [item for item in app.selectbox(key="media_item").options]
    assert audio_items
    app.button(key="media_compute").click().run()
    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) >= 1


def test_app_driver_in_chinese(media_config, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from genre_core.i18n import translate

    monkeypatch.setenv("GENRE_CONFIG", str(media_config))
    app = AppTest.from_file(str(APP), default_timeout=180)
    app.query_params["lang"] = "zh"
    app.run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics[translate("column.driver", "zh")] in {translate(f"media.modality.{name}", "zh")
                                                          for name in ("text", "image", "audio")}
    assert translate("rec.interactions_metric", "zh") in metrics
