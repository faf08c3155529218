"""Tests of the model registry: versions, promotion, rollback and safe loading."""

from __future__ import annotations

import json
import pickle
import re

import pytest
import torch

from genre_core.config import Config, from_dict
from genre_core.registry import META_FILE, STATE_FILE, WEIGHTS_FILE, ModelRegistry, RegistryError


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "item_tower.encoders.id.embedding.weight": torch.randn(5, 4, generator=generator),
        "global_bias": torch.randn(1, generator=generator),
        "user_tower.rating_keys.weight": torch.randn(6, 4, generator=generator).to(torch.float64),
        "counts": torch.arange(3, dtype=torch.int64),
    }


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models" / "movielens")


@pytest.fixture
def config() -> Config:
    return from_dict({"name": "movielens", "split": {"protocol": "msr"}, "model": {"dim": 32}})


def test_save_load_round_trip(registry, config):
    state = small_state()

    version = registry.save(state, config, {"metrics": {"ndcg@10": 0.41}})
    loaded, loaded_config, meta = registry.load()

    assert version == "v0001"
    assert loaded.keys() == state.keys()
    for key, tensor in state.items():
        assert loaded[key].dtype == tensor.dtype, key
        torch.testing.assert_close(loaded[key], tensor)
    assert loaded_config == config
    assert meta["metrics"] == {"ndcg@10": 0.41}
    assert meta["version"] == "v0001"
    assert meta["created_at"]


def test_save_accepts_non_contiguous_tensor(registry, config):
    transposed = torch.randn(3, 4).T

    registry.save({"weight": transposed}, config, {})
    loaded, _, _ = registry.load()

    torch.testing.assert_close(loaded["weight"], transposed)


def test_versions_numbered_in_order(registry, config):
    first = registry.save(small_state(0), config, {})
    second = registry.save(small_state(1), config, {})
    third = registry.save(small_state(2), config, {}, activate=False)

    assert (first, second, third) == ("v0001", "v0002", "v0003")
    assert [info.version for info in registry.versions()] == ["v0001", "v0002", "v0003"]
    assert [info.active for info in registry.versions()] == [False, True, False]
    assert registry.active_version() == "v0002"


def test_each_version_keeps_own_weights(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})

    first, _, _ = registry.load("v0001")
    second, _, _ = registry.load("v0002")

    torch.testing.assert_close(first["global_bias"], small_state(0)["global_bias"])
    torch.testing.assert_close(second["global_bias"], small_state(1)["global_bias"])


def test_promote_and_rollback(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})
    registry.save(small_state(2), config, {}, activate=False)

    registry.promote("v0003")
    assert registry.active_version() == "v0003"
    assert registry.info().version == "v0003"

    assert registry.rollback() == "v0002"
    assert registry.active_version() == "v0002"

    assert registry.rollback() == "v0001"
    assert registry.active_version() == "v0001"
    loaded, _, _ = registry.load()
    torch.testing.assert_close(loaded["global_bias"], small_state(0)["global_bias"])


def test_promote_active_version_is_no_op(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})

    registry.promote("v0002")

    assert registry.rollback() == "v0001"


def test_rollback_without_earlier_version(registry, config):
    registry.save(small_state(), config, {})

    with pytest.raises(RegistryError, match=r"no earlier active version to roll back to"):
        registry.rollback()
    assert registry.active_version() == "v0001"


def test_rollback_on_empty_registry(registry):
    with pytest.raises(RegistryError, match=r"no earlier active version"):
        registry.rollback()


def test_rollback_skips_deleted_version(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})
    registry.save(small_state(2), config, {})
    for path in (registry.root / "v0002").iterdir():
        path.unlink()
    (registry.root / "v0002").rmdir()

    assert registry.rollback() == "v0001"


def test_unknown_version_lists_available(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})

    with pytest.raises(RegistryError, match=r"model version 'v0009' not found in .*; available versions: v0001, v0002"):
        registry.load("v0009")


@pytest.mark.parametrize("name", ["latest", "../v0001", "v1"])
def test_malformed_version_name(registry, config, name):
    registry.save(small_state(), config, {})

    with pytest.raises(RegistryError, match=re.escape(f"model version {name!r} not found") + r".*available versions: v0001"):
        registry.promote(name)


def test_unknown_version_on_empty_registry(registry):
    with pytest.raises(RegistryError, match=r"available versions: none"):
        registry.load("v0001")


def test_no_active_model_says_train(registry):
    with pytest.raises(RegistryError, match=r"no trained model in .*; train one with `genre train`"):
        registry.load()
    assert not registry.has_model()
    assert registry.versions() == []


@pytest.mark.parametrize(
    "junk",
    [
        b"this is not a safetensors file at all",
        b"\x00" * 3,
        (2**40).to_bytes(8, "little") + b"{}",
        pickle.dumps({"weight": [1.0, 2.0]}),
    ],
    ids=["text", "too_short", "huge_header", "pickle"],
)
def test_corrupt_weights_raise_registry_error(registry, config, junk):
    registry.save(small_state(), config, {})
    weights = registry.root / "v0001" / WEIGHTS_FILE
    weights.write_bytes(junk)

    with pytest.raises(RegistryError, match=r"model file .*model\.safetensors of version v0001 is corrupt or unreadable") as caught:
        registry.load()
    assert "`genre models promote VERSION`" in str(caught.value)
    assert "`genre train`" in str(caught.value)


def test_truncated_weights_raise_registry_error(registry, config):
    registry.save(small_state(), config, {})
    weights = registry.root / "v0001" / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])

    with pytest.raises(RegistryError, match=r"is corrupt or unreadable"):
        registry.load()


def test_missing_weights_raise_registry_error(registry, config):
    registry.save(small_state(), config, {})
    (registry.root / "v0001" / WEIGHTS_FILE).unlink()

    with pytest.raises(RegistryError, match=r"is corrupt or unreadable"):
        registry.load()


def test_load_never_unpickles(registry, config, monkeypatch):
    registry.save(small_state(), config, {})

    def refuse(*args, **kwargs):
        raise AssertionError("the registry unpickled or called torch.load")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)

    state, _, _ = registry.load()
    assert state.keys() == small_state().keys()

    (registry.root / "v0001" / WEIGHTS_FILE).write_bytes(pickle.dumps({"weight": [1.0]}))
    with pytest.raises(RegistryError):
        registry.load()


def test_corrupt_meta_raises_registry_error(registry, config):
    registry.save(small_state(), config, {})
    (registry.root / "v0001" / META_FILE).write_text("{not json", encoding="utf-8")

    with pytest.raises(RegistryError, match=r"registry file .*meta\.json is unreadable or corrupt"):
        registry.load()


def test_invalid_saved_config_raises_registry_error(registry, config):
    registry.save(small_state(), config, {})
    (registry.root / "v0001" / "config.yaml").write_text("model:\n  fusion: gated\n", encoding="utf-8")

    with pytest.raises(RegistryError, match=r"config of version v0001 at .* is invalid: config key 'model\.fusion'"):
        registry.load()


def test_state_file_records_history(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})

    state = json.loads((registry.root / STATE_FILE).read_text(encoding="utf-8"))

    assert state == {"active": "v0002", "previous": ["v0001"]}


def test_no_temporary_files_left(registry, config):
    registry.save(small_state(0), config, {})
    registry.save(small_state(1), config, {})

    names = sorted(path.name for path in registry.root.iterdir())

    assert names == [STATE_FILE, "v0001", "v0002"]
    assert sorted(path.name for path in (registry.root / "v0002").iterdir()) == ["config.yaml", META_FILE, WEIGHTS_FILE]


def test_for_config_uses_registry_dir(tmp_path):
    config = from_dict({"name": "shop", "paths": {"registry_dir": str(tmp_path / "registry")}})

    assert ModelRegistry.for_config(config).root == tmp_path / "registry" / "shop"


@pytest.mark.parametrize("text", ["model: [unclosed\n", "- a list\n", ""], ids=["bad_yaml", "list", "empty"])
def test_unreadable_saved_config_raises_registry_error(registry, config, text):
    registry.save(small_state(), config, {})
    (registry.root / "v0001" / "config.yaml").write_text(text, encoding="utf-8")

    with pytest.raises(RegistryError, match=r"config of version v0001 at .*config\.yaml is invalid"):
        registry.load()
