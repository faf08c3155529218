"""A short replay on real MovieLens-100k: static, periodic and adaptive policies, the run file, and the CLI."""

from __future__ import annotations

import json

import pytest

from genre_core.adaptation.actions import ActionLog
from genre_core.cli import main
from genre_core.config import load_config, save_config
from genre_core.registry import ModelRegistry
from genre_core.replay import POLICIES, load_run, run_file, run_replay

WINDOWS = 3
# A small, fast replay: 1,000-interaction windows, a 16-wide model and one epoch per training step.
TINY_REPLAY = {
    "monitoring.window": 1000,
    "monitoring.replay.max_windows": WINDOWS,
    "monitoring.replay.dim": 16,
    "monitoring.replay.initial_epochs": 1,
    "monitoring.replay.update_epochs": 1,
    "monitoring.policy.rules": [
        {"trigger": "update_rejected", "action": "adjust_lr"},
        {"trigger": "staleness", "threshold": 1, "action": "incremental_update"},
    ],
}


def tiny_replay_config(folder, **extra):
    """Write a tiny replay config whose registries live in `folder` and return its path."""
    config = load_config(None, {**TINY_REPLAY, "paths.registry_dir": str(folder / "models"), **extra})
    path = folder / "replay.yaml"
    save_config(config, path)
    return path


@pytest.fixture(scope="session")
def replayed_config(tmp_path_factory):
    """Path of a tiny replay config whose replay run is saved (shared by the replay and page tests)."""
    path = tiny_replay_config(tmp_path_factory.mktemp("replay"))
    run_replay(load_config(path), progress=False)
    return path


def test_replay_compares_three_policies(replayed_config):
    run = load_run(load_config(replayed_config))

    assert run["windows"] == WINDOWS
    assert run["dataset"] == "ml-100k"
    assert run["interactions"]["initial"] == 50_000
    assert run["interactions"]["streamed"] == WINDOWS * 1000
    assert set(run["policies"]) == set(POLICIES)
    for name in POLICIES:
        summary = run["policies"][name]["summary"]
        assert 0.0 <= summary["ndcg@10"] <= 1.0, name
        assert 0.0 <= summary["hit@10"] <= 1.0, name
        assert len(run["policies"][name]["timeline"]) == WINDOWS, name


def test_replay_policies_update_as_configured(replayed_config):
    policies = load_run(load_config(replayed_config))["policies"]

    assert policies["static"]["summary"]["updates"] == 0
    assert policies["periodic"]["summary"]["updates"] == WINDOWS
    assert policies["adaptive"]["summary"]["updates"] == WINDOWS


def test_replay_same_initial_model_first_window(replayed_config):
    policies = load_run(load_config(replayed_config))["policies"]

    first = {name: policies[name]["timeline"][0]["ndcg@10"] for name in POLICIES}

    assert first["static"] == pytest.approx(first["periodic"])
    assert first["static"] == pytest.approx(first["adaptive"])


def test_replay_registers_and_logs_each_update(replayed_config):
    run = load_run(load_config(replayed_config))

    for name in ("periodic", "adaptive"):
        result = run["policies"][name]
        registry = ModelRegistry(result["registry"])
        logged = ActionLog(result["action_log"]).read()
        actions = [action for row in result["timeline"] for action in row["actions"]]
        assert len(registry.versions()) == 1 + result["summary"]["updates"], name
        assert [record["action"] for record in logged] == [action["action"] for action in actions], name
        for record in logged:
            assert record["trigger"], name
            assert record["outcome"], name


def test_replay_timeline_has_drift_statistics(replayed_config):
    window = load_run(load_config(replayed_config))["policies"]["static"]["timeline"][1]

    assert set(window["features"]) >= {"item_popularity", "user_activity", "item_year", "user_age"}
    assert window["score_psi"] >= 0.0
    assert 0.0 <= window["score_ks_pvalue"] <= 1.0
    assert 0.0 <= window["positive_rate"] <= 1.0


def test_replay_cli_json(tmp_path, capsys):
    path = tiny_replay_config(tmp_path)

    code = main(["replay", "--config", str(path), "--json", "--quiet", "--windows", "1"])

    output = json.loads(capsys.readouterr().out)
    assert code == 0
    assert output["windows"] == 1
    assert output["policies"]["periodic"]["updates"] == 1
    assert output["run_file"] == str(run_file(load_config(path)))


def test_replay_cli_window_larger_than_stream(tmp_path, capsys):
    path = tiny_replay_config(tmp_path)

    code = main(["replay", "--config", str(path), "--quiet", "--window", "60000"])

    error = capsys.readouterr().err
    assert code == 2
    assert "window of 60000 interactions is larger than the stream of 50000" in error
