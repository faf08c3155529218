"""Adaptation policy: rules that map the signals of one stream window to actions.

A rule names a trigger (a signal), a threshold and an action. After each
window every rule is checked in order, and each rule that fires adds its
action once. A full retrain makes an incremental update in the same window
redundant, so the update is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from genre_core.config import ADAPTATION_ACTIONS, ADAPTATION_TRIGGERS, AdaptationPolicyConfig, PolicyRuleConfig

log = logging.getLogger(__name__)

# Triggers that are events rather than numbers: their threshold is ignored.
EVENT_TRIGGERS = ("detector_alarm", "update_rejected")


@dataclass
class WindowSignals:
    """Measurements of one window, taken before the model learns from it."""

    window: int
    detector_alarms: int  # alarms of a quality drop raised during the window
    quality_drop: float  # relative fall of NDCG@k from the mean of the previous windows (0.1 = 10 % lower)
    score_psi: float  # PSI of the scores served on the window against those served on the previous window
    feature_psi: float  # largest PSI over the user and item features against the training part
    staleness: int  # windows since the model was last updated
    update_rejected: bool  # the promotion guard rejected the last update

    def value_of(self, trigger: str) -> float:
        if trigger == "detector_alarm":
            return float(self.detector_alarms)
        if trigger == "update_rejected":
            return float(self.update_rejected)
        return float(getattr(self, trigger))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Decision:
    """An action the policy chose, with the trigger and numbers that made it fire."""

    action: str
    trigger: str
    value: float
    threshold: float

    def to_dict(self) -> dict:
        return asdict(self)


def check_rule(rule: PolicyRuleConfig, position: int) -> None:
    """Raise ValueError naming the rule when its action or trigger is unknown."""
    where = f"monitoring.policy.rules[{position}]"
    if rule.action not in ADAPTATION_ACTIONS:
        raise ValueError(f"{where}: unknown action {rule.action!r}; valid actions: {', '.join(ADAPTATION_ACTIONS)}")
    if rule.trigger not in ADAPTATION_TRIGGERS:
        raise ValueError(f"{where}: unknown trigger {rule.trigger!r}; valid triggers: {', '.join(ADAPTATION_TRIGGERS)}")


class AdaptationPolicy:
    """Choose actions for a window from the configured rules."""

    def __init__(self, settings: AdaptationPolicyConfig):
        for position, rule in enumerate(settings.rules):
            check_rule(rule, position)
        self.settings = settings
        self.rules = list(settings.rules)

    @classmethod
    def from_rules(cls, rules: list[dict], **settings) -> AdaptationPolicy:
        """Build a policy from plain rule mappings such as ``{"trigger": "staleness", "threshold": 3, "action": "incremental_update"}``."""
        return cls(AdaptationPolicyConfig(rules=[PolicyRuleConfig(**rule) for rule in rules], **settings))

    def decide(self, signals: WindowSignals) -> list[Decision]:
        decisions: dict[str, Decision] = {}
        for rule in self.rules:
            value = signals.value_of(rule.trigger)
            if rule.action not in decisions and self._fires(rule, value):
                decisions[rule.action] = Decision(rule.action, rule.trigger, value, rule.threshold)
        if "full_retrain" in decisions:
            decisions.pop("incremental_update", None)
        chosen = list(decisions.values())
        if chosen:
            log.info("window %d: policy chose %s", signals.window,
                     ", ".join(f"{decision.action} ({decision.trigger} {decision.value:.4g})" for decision in chosen))
        return chosen

    @staticmethod
    def _fires(rule: PolicyRuleConfig, value: float) -> bool:
        if rule.trigger in EVENT_TRIGGERS:
            return value > 0
        return value >= rule.threshold

    def describe(self) -> dict:
        """Return the rules and factors as plain data, for the run record and the page."""
        return asdict(self.settings)
