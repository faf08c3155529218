"""Execute the policy's actions through the model registry and the promotion guard, and log each one.

Model-changing actions (incremental_update, full_retrain) train a candidate,
measure it and the serving model on held-out interactions, and register the
candidate. The feedback promotion guard decides whether it becomes the active
version. Setting actions (adjust_lr, adjust_regularisation) change the
learning rate or weight decay of later updates. Every action is appended to a
JSON-lines log in the registry folder, with its trigger, numbers and outcome.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from genre_core.adaptation.policy import Decision
from genre_core.config import AdaptationPolicyConfig, Config
from genre_core.feedback.guard import decide
from genre_core.model import GenreModel, count_parameters
from genre_core.registry import ModelRegistry

log = logging.getLogger(__name__)

ACTION_LOG_FILE = "actions.jsonl"
MODEL_ACTIONS = ("incremental_update", "full_retrain")

# update(action, serving model, settings) returns a trained candidate and leaves the serving model untouched.
UpdateFunction = Callable[[str, GenreModel, "UpdateSettings"], GenreModel]
# validate(model) returns the model's NDCG@k on interactions that no update trained on.
ValidateFunction = Callable[[GenreModel], float]


@dataclass
class UpdateSettings:
    """Optimiser settings of the next update; the setting actions change them."""

    learning_rate: float
    weight_decay: float


@dataclass
class ActionRecord:
    """One executed action: what fired it, the numbers behind it, and what came of it."""

    policy: str
    window: int
    action: str
    trigger: str
    numbers: dict
    outcome: str
    promoted: bool | None = None  # None for setting actions, which register no model
    version: str | None = None
    seconds: float = 0.0
    logged_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict:
        return asdict(self)


class ActionLog:
    """Append-only JSON-lines file of action records; each line is on disk before `append` returns."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def for_registry(cls, registry: ModelRegistry) -> ActionLog:
        return cls(registry.root / ACTION_LOG_FILE)

    def append(self, record: ActionRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record.to_dict(), default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"action log {self.path} line {number} is not valid JSON ({error}); "
                                 "remove or fix that line") from error
        return records


class ActionExecutor:
    """Run decisions for one policy against one registry and one action log."""

    def __init__(
        self,
        policy_name: str,
        registry: ModelRegistry,
        action_log: ActionLog,
        model_config: Config,
        base_meta: dict,
        policy_settings: AdaptationPolicyConfig,
        settings: UpdateSettings,
        tolerance: float,
    ):
        self.policy_name = policy_name
        self.registry = registry
        self.action_log = action_log
        self.model_config = model_config
        self.base_meta = base_meta
        self.policy_settings = policy_settings
        self.settings = settings
        self.tolerance = tolerance
        self.last_rejected = False
        self.updates = 0
        self.update_seconds = 0.0

    def execute(self, decision: Decision, window: int, model: GenreModel, update: UpdateFunction,
                validate: ValidateFunction, signals: dict) -> tuple[GenreModel, ActionRecord]:
        """Run one decision; return the model that serves afterwards and the logged record."""
        numbers = {"trigger_value": decision.value, "threshold": decision.threshold, "signals": signals}
        if decision.action in MODEL_ACTIONS:
            model, record = self._update_model(decision, window, model, update, validate, numbers)
        else:
            record = self._adjust(decision, window, numbers)
        self.action_log.append(record)
        return model, record

    def _adjust(self, decision: Decision, window: int, numbers: dict) -> ActionRecord:
        settings, factors = self.settings, self.policy_settings
        if decision.action == "adjust_lr":
            old = settings.learning_rate
            settings.learning_rate = min(1.0, max(1e-6, old * factors.lr_factor))
            outcome = f"learning rate {old:.3g} -> {settings.learning_rate:.3g}"
            numbers = {**numbers, "learning_rate_before": old, "learning_rate_after": settings.learning_rate}
        else:
            old = settings.weight_decay
            settings.weight_decay = min(1.0, max(factors.min_weight_decay, old * factors.weight_decay_factor))
            outcome = f"weight decay {old:.3g} -> {settings.weight_decay:.3g}"
            numbers = {**numbers, "weight_decay_before": old, "weight_decay_after": settings.weight_decay}
        # The setting change is the response to the rejection, so it does not fire again until the next rejection.
        self.last_rejected = False
        log.info("%s window %d: %s (%s)", self.policy_name, window, outcome, decision.trigger)
        return ActionRecord(self.policy_name, window, decision.action, decision.trigger, numbers, outcome)

    def _update_model(self, decision, window, model, update, validate, numbers) -> tuple[GenreModel, ActionRecord]:
        start = time.perf_counter()
        before = validate(model)
        candidate = update(decision.action, model, self.settings)
        after = validate(candidate)
        verdict = decide(before, after, [], self.tolerance)
        seconds = time.perf_counter() - start
        self.updates += 1
        self.update_seconds += seconds

        numbers = {**numbers, "ndcg_before": before, "ndcg_after": after,
                   "learning_rate": self.settings.learning_rate, "weight_decay": self.settings.weight_decay}
        meta = self._meta(decision, window, numbers, verdict, seconds, candidate)
        version = self.registry.save(candidate.state_dict(), self.model_config, meta, activate=verdict.promote)
        self.last_rejected = not verdict.promote
        if verdict.promote:
            outcome = f"promoted {version}: held-out NDCG {before:.4f} -> {after:.4f}"
            model = candidate
        else:
            outcome = f"kept {version} as a candidate: {'; '.join(verdict.reasons)}"
        log.info("%s window %d: %s after %s", self.policy_name, window, outcome, decision.action)
        record = ActionRecord(self.policy_name, window, decision.action, decision.trigger, numbers, outcome,
                              promoted=verdict.promote, version=version, seconds=round(seconds, 3))
        return model, record

    def _meta(self, decision, window, numbers, verdict, seconds, candidate) -> dict:
        return {
            **self.base_meta,
            "metrics": {"valid": {"ndcg@10": numbers["ndcg_after"]}},
            "training": {"seconds": round(seconds, 2), "parameters": count_parameters(candidate), "curve": []},
            "status": "active" if verdict.promote else "candidate",
            "source": "adaptation",
            "guard": verdict.to_dict(),
            "adaptation": {"policy": self.policy_name, "window": window, "action": decision.action,
                           "trigger": decision.trigger, "numbers": numbers},
        }
