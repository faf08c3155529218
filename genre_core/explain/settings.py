"""Settings of one explanation, declared once and validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TARGETS = ("score", "margin")
BASELINES = ("mean", "zero")
# Integrated Gradients doubles n_steps along this ladder until the relative convergence delta is small enough.
STEP_LADDER = (50, 100, 200, 400)


class ExplainError(ValueError):
    """An explanation request that cannot be answered: the message names the value and what to do."""


def _range(minimum, maximum) -> dict:
    return {"range": (minimum, maximum)}


@dataclass(frozen=True)
class ExplainSettings:
    """What to attribute and how: every field is part of the cache key of an explanation."""

    method: str = "integrated_gradients"
    baseline: str = "mean"
    n_steps: int = field(default=50, metadata=_range(STEP_LADDER[0], STEP_LADDER[-1]))
    max_relative_delta: float = field(default=0.05, metadata=_range(1e-4, 1.0))
    internal_batch_size: int = field(default=64, metadata=_range(1, 4096))
    shapley_samples: int = field(default=25, metadata=_range(1, 500))
    shap_samples: int = field(default=200, metadata=_range(20, 5000))
    shap_background: int = field(default=10, metadata=_range(2, 200))
    tokens: bool = True
    shap: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from genre_core.explain.registry import EXPLAINERS

        if self.method not in EXPLAINERS:
            raise ExplainError(f"unknown method {self.method!r}; choose one of {', '.join(EXPLAINERS)}")
        if self.baseline not in BASELINES:
            raise ExplainError(f"unknown baseline {self.baseline!r}; choose one of {', '.join(BASELINES)}")
        for name, spec in self.__dataclass_fields__.items():
            if "range" not in spec.metadata:
                continue
            minimum, maximum = spec.metadata["range"]
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not minimum <= value <= maximum:
                raise ExplainError(f"{name} must be a number from {minimum} to {maximum}, got {value!r}")
        if self.n_steps not in STEP_LADDER:
            raise ExplainError(f"n_steps must be one of {', '.join(map(str, STEP_LADDER))}, got {self.n_steps!r}")

    def to_dict(self) -> dict:
        return asdict(self)
