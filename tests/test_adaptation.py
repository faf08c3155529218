"""Adaptation policy and actions: rules, bad policies, and actions registered and logged in a real registry."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from genre_core.adaptation.actions import ActionExecutor, ActionLog, UpdateSettings
from genre_core.adaptation.policy import AdaptationPolicy, Decision, WindowSignals
from genre_core.config import AdaptationPolicyConfig, ConfigError, load_config
from genre_core.features import TabularEncoding
from genre_core.model import GenreModel
from genre_core.pipeline import load_prepared
from genre_core.registry import ModelRegistry


def _signals(**changes) -> WindowSignals:
    values = dict(window=3, detector_alarms=0, quality_drop=0.0, score_psi=0.0, feature_psi=0.0, staleness=1,
                  update_rejected=False)
    return WindowSignals(**{**values, **changes})


# Policy


def test_default_policy_quiet_without_signals():
    policy = AdaptationPolicy(AdaptationPolicyConfig())

    assert policy.decide(_signals()) == []


def test_policy_fires_rule_over_threshold():
    policy = AdaptationPolicy.from_rules([{"trigger": "score_psi", "threshold": 0.25, "action": "incremental_update"}])

    assert policy.decide(_signals(score_psi=0.2)) == []
    (decision,) = policy.decide(_signals(score_psi=0.3))
    assert decision.action == "incremental_update"
    assert decision.trigger == "score_psi"
    assert decision.value == pytest.approx(0.3)


def test_policy_alarm_and_rejection_are_events():
    policy = AdaptationPolicy.from_rules([
        {"trigger": "update_rejected", "action": "adjust_lr"},
        {"trigger": "detector_alarm", "action": "adjust_regularisation"},
    ])

    actions = [decision.action for decision in policy.decide(_signals(detector_alarms=2, update_rejected=True))]

    assert actions == ["adjust_lr", "adjust_regularisation"]


def test_policy_action_taken_once_per_window():
    policy = AdaptationPolicy.from_rules([
        {"trigger": "detector_alarm", "action": "incremental_update"},
        {"trigger": "staleness", "threshold": 1, "action": "incremental_update"},
    ])

    decisions = policy.decide(_signals(detector_alarms=1, staleness=4))

    assert [decision.trigger for decision in decisions] == ["detector_alarm"]


def test_full_retrain_replaces_incremental_update():
    policy = AdaptationPolicy.from_rules([
        {"trigger": "staleness", "threshold": 1, "action": "incremental_update"},
        {"trigger": "feature_psi", "threshold": 0.5, "action": "full_retrain"},
    ])

    assert [decision.action for decision in policy.decide(_signals(feature_psi=0.9))] == ["full_retrain"]


def test_unknown_action_in_yaml_lists_valid_actions(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("monitoring:\n  policy:\n    rules:\n      - {trigger: staleness, threshold: 2, action: reboot}\n")

    with pytest.raises(ConfigError, match=r"monitoring.policy.rules\[0\].action': invalid value 'reboot'; "
                                          r"allowed values: adjust_lr, adjust_regularisation, incremental_update, full_retrain"):
        load_config(path)


def test_unknown_action_in_rules_lists_valid_actions():
    with pytest.raises(ValueError, match=r"rules\[1\]: unknown action 'rollback_everything'; valid actions: "
                                         r"adjust_lr, adjust_regularisation, incremental_update, full_retrain"):
        AdaptationPolicy.from_rules([
            {"trigger": "staleness", "threshold": 2, "action": "incremental_update"},
            {"trigger": "staleness", "threshold": 5, "action": "rollback_everything"},
        ])


def test_unknown_trigger_lists_valid_triggers():
    with pytest.raises(ValueError, match=r"unknown trigger 'moon_phase'; valid triggers: detector_alarm"):
        AdaptationPolicy.from_rules([{"trigger": "moon_phase", "action": "incremental_update"}])


def test_policy_rules_from_yaml(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "monitoring:\n  window: 1000\n  policy:\n    lr_factor: 0.25\n    rules:\n"
        "      - {trigger: quality_drop, threshold: 0.2, action: full_retrain}\n"
    )

    config = load_config(path)
    policy = AdaptationPolicy(config.monitoring.policy)

    assert config.monitoring.window == 1000
    assert policy.settings.lr_factor == 0.25
    assert [decision.action for decision in policy.decide(_signals(quality_drop=0.3))] == ["full_retrain"]


# Actions through the registry


@pytest.fixture(scope="module")
def tiny_model():
    """A real MovieLens-100k model with ID embeddings only (dim 8), so the registry round trip is fast."""
    config = load_config(None, {"model.modalities": ["id"], "model.dim": 8})
    dataset = load_prepared(config, progress=False)
    items = TabularEncoding.fit(dataset.items, dataset.item_features)
    users = TabularEncoding.fit(dataset.users, dataset.user_features)
    torch.manual_seed(0)
    model = GenreModel(config.model, dataset.n_items, 1, items, users)
    meta = {"dataset": dataset.name, "text_dim": 1, "item_encoding": items.to_dict(), "user_encoding": users.to_dict()}
    return config, model, meta


@pytest.fixture
def executor(tiny_model, tmp_path):
    config, model, meta = tiny_model
    registry = ModelRegistry(tmp_path / "registry")
    registry.save(model.state_dict(), config, {**meta, "source": "replay_initial"})
    return ActionExecutor("adaptive", registry, ActionLog.for_registry(registry), config, meta,
                          AdaptationPolicyConfig(), UpdateSettings(1e-3, 0.0), tolerance=0.01)


def _perturbed(action, model, settings):
    candidate = copy.deepcopy(model)
    with torch.no_grad():
        candidate.item_bias.add_(1.0)
    return candidate


def _validator(before: float, after: float):
    return lambda model: after if float(model.item_bias.detach().sum()) > 0 else before


def test_update_promoted_when_guard_passes(executor, tiny_model):
    _, model, _ = tiny_model
    decision = Decision("incremental_update", "detector_alarm", 1.0, 0.0)

    serving, record = executor.execute(decision, 4, model, _perturbed, _validator(0.20, 0.25), {"window": 4})

    assert record.promoted is True
    assert record.version == "v0002"
    assert executor.registry.active_version() == "v0002"
    assert serving is not model
    assert record.numbers["ndcg_before"] == pytest.approx(0.20)
    assert record.numbers["ndcg_after"] == pytest.approx(0.25)
    meta = executor.registry.info("v0002").meta
    assert meta["source"] == "adaptation"
    assert meta["adaptation"]["trigger"] == "detector_alarm"
    assert meta["guard"]["promote"] is True


def test_update_kept_as_candidate_when_guard_rejects(executor, tiny_model):
    _, model, _ = tiny_model
    decision = Decision("full_retrain", "quality_drop", 0.3, 0.1)

    serving, record = executor.execute(decision, 5, model, _perturbed, _validator(0.30, 0.20), {})

    assert record.promoted is False
    assert serving is model
    assert executor.registry.active_version() == "v0001"
    assert executor.registry.info("v0002").meta["status"] == "candidate"
    assert "fell by 0.1000" in record.outcome
    assert executor.last_rejected


def test_setting_actions_change_next_update(executor, tiny_model):
    _, model, _ = tiny_model

    executor.execute(Decision("adjust_lr", "update_rejected", 1.0, 0.0), 6, model, _perturbed, _validator(0, 0), {})
    executor.execute(Decision("adjust_regularisation", "update_rejected", 1.0, 0.0), 6, model, _perturbed, _validator(0, 0), {})

    assert executor.settings.learning_rate == pytest.approx(5e-4)
    assert executor.settings.weight_decay == pytest.approx(1e-4)
    assert len(executor.registry.versions()) == 1


def test_every_action_logged_on_disk(executor, tiny_model):
    _, model, _ = tiny_model
    executor.execute(Decision("adjust_lr", "update_rejected", 1.0, 0.0), 1, model, _perturbed, _validator(0, 0), {})
    executor.execute(Decision("incremental_update", "staleness", 3.0, 3.0), 2, model, _perturbed,
                     _validator(0.1, 0.1), {"staleness": 3})

    lines = (executor.registry.root / "actions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]

    assert [record["action"] for record in records] == ["adjust_lr", "incremental_update"]
    assert records[0]["outcome"] == "learning rate 0.001 -> 0.0005"
    assert records[0]["promoted"] is None
    assert records[1]["trigger"] == "staleness"
    assert records[1]["numbers"]["signals"] == {"staleness": 3}
    assert records[1]["version"] == "v0002"
    assert ActionLog.for_registry(executor.registry).read() == records


def test_corrupt_action_log_names_line(tmp_path):
    path = tmp_path / "actions.jsonl"
    path.write_text('{"action": "adjust_lr"}\nnot json\n')

    with pytest.raises(ValueError, match="line 2 is not valid JSON"):
        ActionLog(path).read()
