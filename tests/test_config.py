"""Tests of configuration loading, validation and the save/load round trip."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from genre_core.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    from_dict,
    load_config,
    save_config,
)


def write_yaml(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading


def test_default_config_loads():
    config = load_config()

    assert isinstance(config, Config)
    assert config.name == "movielens"
    assert config.data.source == "recbole"
    assert config.split.protocol == "temporal"
    assert config.model.modalities == ["text", "tabular", "id"]


def test_default_config_equals_explicit_path():
    assert load_config(DEFAULT_CONFIG) == load_config()


def test_empty_file_gives_dataclass_defaults(tmp_path):
    with pytest.warns(UserWarning, match="is empty; every setting takes its built-in default"):
        assert load_config(write_yaml(tmp_path, "")) == Config()


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(ConfigError, match=re.escape(f"config file not found: {path}")):
        load_config(path)


def test_yaml_list_is_rejected(tmp_path):
    path = write_yaml(tmp_path, "- model\n- split\n")

    with pytest.raises(ConfigError, match=r"must hold a mapping of sections, got list"):
        load_config(path)


def test_yaml_scalar_is_rejected(tmp_path):
    path = write_yaml(tmp_path, "just a string\n")

    with pytest.raises(ConfigError, match=r"must hold a mapping of sections, got str"):
        load_config(path)


def test_invalid_yaml_syntax_names_file(tmp_path):
    path = write_yaml(tmp_path, "name: [movielens\n")

    with pytest.raises(ConfigError, match=re.escape(f"config file {path} is not valid YAML")):
        load_config(path)


def test_section_that_is_not_mapping(tmp_path):
    path = write_yaml(tmp_path, "model: 64\n")

    with pytest.raises(ConfigError, match=r"config section 'model' must be a mapping, got 64"):
        load_config(path)


# ---------------------------------------------------------------- unknown keys


def test_unknown_top_level_key(tmp_path):
    path = write_yaml(tmp_path, "modell:\n  dim: 32\n")

    with pytest.raises(ConfigError, match=r"unknown config key 'modell'") as caught:
        load_config(path)
    assert "allowed keys in top level: name, seed, data, split" in str(caught.value)


def test_unknown_nested_key(tmp_path):
    path = write_yaml(tmp_path, "model:\n  fusionn: attention\n")

    with pytest.raises(ConfigError, match=r"unknown config key 'model\.fusionn'") as caught:
        load_config(path)
    message = str(caught.value)
    assert "allowed keys in model:" in message
    assert "fusion" in message.split("allowed keys in model:")[1]


def test_unknown_key_two_levels_deep(tmp_path):
    path = write_yaml(tmp_path, "evaluation:\n  bpr:\n    epoch: 3\n")

    with pytest.raises(ConfigError, match=r"unknown config key 'evaluation\.bpr\.epoch'; allowed keys in evaluation\.bpr: dim, epochs"):
        load_config(path)


# ---------------------------------------------------------------- invalid values


@pytest.mark.parametrize(
    ("yaml_text", "key", "allowed", "value"),
    [
        ("split:\n  protocol: leave_one_out\n", "split.protocol", "temporal, recbole, msr", "'leave_one_out'"),
        ("model:\n  fusion: gated\n", "model.fusion", "concat_mlp, attention", "'gated'"),
        ("model:\n  task: regression\n", "model.task", "ranking, click, rating", "'regression'"),
        ("model:\n  loss: hinge\n", "model.loss", "sampled_softmax, bpr", "'hinge'"),
        ("data:\n  source: kaggle\n", "data.source", "recbole, grouplens, custom", "'kaggle'"),
    ],
)
def test_invalid_literal_names_key_allowed_value(tmp_path, yaml_text, key, allowed, value):
    path = write_yaml(tmp_path, yaml_text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"config key '{key}'" in message
    assert f"allowed values: {allowed}" in message
    assert f"invalid value {value}" in message


def test_invalid_literal_inside_list(tmp_path):
    path = write_yaml(tmp_path, "model:\n  modalities: [text, video]\n")

    with pytest.raises(ConfigError, match=r"config key 'model\.modalities\[1\]': invalid value 'video'; allowed values: text, tabular, id, image, audio"):
        load_config(path)


@pytest.mark.parametrize(
    ("yaml_text", "pattern"),
    [
        ("model:\n  dim: 64.5\n", r"config key 'model\.dim': expected int, got 64\.5"),
        ("model:\n  dim: sixty\n", r"config key 'model\.dim': expected int, got 'sixty'"),
        ("training:\n  epochs: true\n", r"config key 'training\.epochs': expected int, got True"),
        ("training:\n  learning_rate: fast\n", r"config key 'training\.learning_rate': expected float, got 'fast'"),
        ("training:\n  learning_rate: false\n", r"config key 'training\.learning_rate': expected float, got False"),
        ("name: 5\n", r"config key 'name': expected str, got 5"),
        ("model:\n  modalities: text\n", r"config key 'model\.modalities': expected a list, got 'text'"),
    ],
)
def test_wrong_type_names_key_and_value(tmp_path, yaml_text, pattern):
    path = write_yaml(tmp_path, yaml_text)

    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_list_item_of_wrong_type(tmp_path):
    path = write_yaml(tmp_path, "evaluation:\n  ks: [5, ten, 20]\n")

    with pytest.raises(ConfigError, match=r"config key 'evaluation\.ks\[1\]': expected int, got 'ten'"):
        load_config(path)


@pytest.mark.parametrize(
    ("yaml_text", "key", "value", "allowed_range"),
    [
        ("model:\n  dim: 2\n", "model.dim", "2", "[4, 4096]"),
        ("model:\n  dropout: 0.95\n", "model.dropout", "0.95", "[0.0, 0.9]"),
        ("split:\n  valid_fraction: -0.1\n", "split.valid_fraction", "-0.1", "[0.0, 0.5]"),
        ("evaluation:\n  itemknn:\n    neighbours: 0\n", "evaluation.itemknn.neighbours", "0", "[1, 100000]"),
    ],
)
def test_out_of_range_names_range(tmp_path, yaml_text, key, value, allowed_range):
    path = write_yaml(tmp_path, yaml_text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"config key '{key}'" in message
    assert f"value {value} is out of range" in message
    assert f"allowed range: {allowed_range}" in message


@pytest.mark.parametrize("number", [".nan", ".inf", "-.inf", "'nan'", "'inf'"])
def test_non_finite_float_rejected(tmp_path, number):
    path = write_yaml(tmp_path, f"model:\n  dropout: {number}\n")

    with pytest.raises(ConfigError, match=r"config key 'model\.dropout': expected a finite number"):
        load_config(path)


def test_float_written_as_string_or_int_is_read(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string and 1 as an int.
    path = write_yaml(tmp_path, "training:\n  learning_rate: 1e-3\n  weight_decay: 0\n")

    config = load_config(path)

    assert config.training.learning_rate == pytest.approx(1e-3)
    assert isinstance(config.training.weight_decay, float)


def test_optional_field_accepts_null(tmp_path):
    config = load_config(write_yaml(tmp_path, "data:\n  path: null\n"))

    assert config.data.path is None


# ---------------------------------------------------------------- overrides


def test_override_sets_value():
    config = load_config(DEFAULT_CONFIG, {"split.protocol": "msr", "training.epochs": 3})

    assert config.split.protocol == "msr"
    assert config.training.epochs == 3


def test_override_into_empty_yaml_section(tmp_path):
    path = write_yaml(tmp_path, "split:\n")

    config = load_config(path, {"split.protocol": "recbole"})

    assert config.split.protocol == "recbole"


def test_override_invalid_literal():
    with pytest.raises(ConfigError, match=r"config key 'split\.protocol': invalid value 'random'; allowed values: temporal, recbole, msr"):
        load_config(DEFAULT_CONFIG, {"split.protocol": "random"})


def test_override_unknown_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'split\.protocoll'; allowed keys in split: protocol, seed, valid_fraction"):
        load_config(DEFAULT_CONFIG, {"split.protocoll": "msr"})


def test_override_out_of_range():
    with pytest.raises(ConfigError, match=r"config key 'training\.epochs': value 0 is out of range; allowed range: \[1, 10000\]"):
        load_config(DEFAULT_CONFIG, {"training.epochs": 0})


def test_override_below_scalar_key():
    with pytest.raises(ConfigError, match=r"config key 'seed\.value': 'seed' is not a section"):
        load_config(DEFAULT_CONFIG, {"seed.value": 1})


# ---------------------------------------------------------------- round trip


def every_literal_changed() -> Config:
    """Build a config in which every Literal field has a non-default value."""
    raw = Config().to_dict()
    raw["data"].update(source="custom", path="/srv/shop-data")
    raw["split"].update(protocol="msr", seed=7, valid_fraction=0.1)
    raw["model"].update(modalities=["id", "tabular"], fusion="attention", task="click", loss="bpr", num_negatives=50)
    raw["training"].update(learning_rate=1e-5, device="cpu")
    raw["evaluation"].update(ks=[1, 50])
    raw["paths"].update(registry_dir="/tmp/genre-models")
    return from_dict(raw)


def literal_values(config: Config) -> dict[str, object]:
    values = {}
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        if dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                values[f"{section.name}.{field.name}"] = getattr(value, field.name)
    return values


def test_every_literal_changed_differs_from_default():
    changed = literal_values(every_literal_changed())
    default = literal_values(Config())

    for key in ("data.source", "split.protocol", "model.fusion", "model.task", "model.loss", "model.modalities"):
        assert changed[key] != default[key], key


@pytest.mark.parametrize("make_config", [load_config, every_literal_changed], ids=["default", "every_literal_changed"])
def test_save_load_round_trip(tmp_path, make_config):
    config = make_config()
    path = tmp_path / "saved.yaml"

    save_config(config, path)
    reloaded = load_config(path)

    assert reloaded == config
    assert reloaded.to_dict() == config.to_dict()


def test_round_trip_keeps_string_that_looks_like_number(tmp_path):
    raw = Config().to_dict()
    raw["name"] = "1e-3"
    raw["text"]["model"] = "null"
    config = from_dict(raw)
    path = tmp_path / "saved.yaml"

    save_config(config, path)

    assert load_config(path) == config
