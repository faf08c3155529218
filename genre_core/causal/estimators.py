"""Estimators of a backdoor-identified effect, each with a 95% interval and a p-value."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from dowhy import CausalModel
from scipy import stats

from genre_core.causal.errors import CausalInputError

log = logging.getLogger(__name__)

Z_95 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class EstimatorSpec:
    method_name: str
    interval: str  # how the 95% interval and the p-value are computed
    binary_treatment: bool = True


def _dml_params(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    nuisance = {"max_iter": 60, "max_depth": 3, "random_state": seed}
    return {
        "init_params": {
            "model_y": HistGradientBoostingRegressor(**nuisance),
            "model_t": HistGradientBoostingClassifier(**nuisance),
            "discrete_treatment": True, "cv": 2, "random_state": seed,
        },
        "fit_params": {},
    }


ESTIMATORS: dict[str, EstimatorSpec] = {
    "linear_regression": EstimatorSpec(
        "backdoor.linear_regression", "ordinary least squares standard error (statsmodels, through DoWhy)",
        binary_treatment=False,
    ),
    "propensity_score_weighting": EstimatorSpec(
        "backdoor.propensity_score_weighting", "normal interval and p-value from the bootstrap standard error",
    ),
    "propensity_score_matching": EstimatorSpec(
        "backdoor.propensity_score_matching", "normal interval and p-value from the bootstrap standard error",
    ),
    "dml": EstimatorSpec(
        "backdoor.econml.dml.LinearDML", "EconML LinearDML asymptotic interval; p-value from its standard error",
    ),
}
DEFAULT_ESTIMATORS = ("linear_regression", "propensity_score_weighting", "propensity_score_matching")


@dataclass
class Estimate:
    estimator: str
    value: float
    ci_low: float
    ci_high: float
    p_value: float
    interval: str
    seconds: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2

    def to_dict(self) -> dict:
        return asdict(self)


def get_estimator(name: str) -> EstimatorSpec:
    if name not in ESTIMATORS:
        raise CausalInputError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]


def method_params(name: str, seed: int) -> dict | None:
    if name == "dml":
        return _dml_params(seed)
    if name == "propensity_score_weighting":
        return {"weighting_scheme": "ips_weight"}
    return None


def fit_estimate(model: CausalModel, estimand, name: str, seed: int = 0, intervals: bool = False):
    """Run one DoWhy estimator and return its CausalEstimate."""
    spec = get_estimator(name)
    return model.estimate_effect(
        estimand, method_name=spec.method_name, method_params=method_params(name, seed),
        confidence_intervals=intervals and name == "dml", test_significance=False,
    )


def estimate(data: pd.DataFrame, graph, treatment: str, outcome: str, estimand, name: str,
             bootstrap: int = 40, seed: int = 0) -> tuple[Estimate, object, CausalModel]:
    """Estimate the effect with `name`; returns the summary, DoWhy's CausalEstimate and the model."""
    start = time.perf_counter()
    # DoWhy's propensity estimators add columns to the frame they are given, so each model gets a copy.
    model = CausalModel(data=data.copy(), treatment=treatment, outcome=outcome, graph=graph)
    result = fit_estimate(model, estimand, name, seed, intervals=True)
    value = float(result.value)

    if name == "linear_regression":
        low, high = np.asarray(result.get_confidence_intervals(confidence_level=0.95), dtype=float).ravel()[-2:]
        p_value = float(np.asarray(result.test_stat_significance()["p_value"], dtype=float).ravel()[-1])
    elif name == "dml":
        low, high = np.asarray(result.get_confidence_intervals(), dtype=float).ravel()[:2]
        p_value = _normal_p_value(value, (high - low) / (2 * Z_95))
    else:
        draws = _bootstrap(data, graph, treatment, outcome, estimand, name, bootstrap, seed)
        standard_error = float(np.std(draws, ddof=1))
        low, high = value - Z_95 * standard_error, value + Z_95 * standard_error
        p_value = _normal_p_value(value, standard_error)
    summary = Estimate(name, value, float(low), float(high), p_value, get_estimator(name).interval,
                       time.perf_counter() - start)
    log.info("%s: effect %.4f [%.4f, %.4f] in %.1f s", name, value, low, high, summary.seconds)
    return summary, result, model


def _bootstrap(data, graph, treatment, outcome, estimand, name, rounds, seed) -> np.ndarray:
    if rounds < 10:
        raise CausalInputError(f"bootstrap rounds must be at least 10 for a 95% interval, got {rounds}")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        sample = data.iloc[rng.integers(0, len(data), len(data))].reset_index(drop=True)
        if sample[treatment].nunique() < 2:
            continue
        model = CausalModel(data=sample, treatment=treatment, outcome=outcome, graph=graph)
        draws.append(float(fit_estimate(model, estimand, name, seed).value))
    return np.asarray(draws)


def _normal_p_value(value: float, standard_error: float) -> float:
    if not np.isfinite(standard_error) or standard_error <= 0:
        return float("nan")
    return float(2 * stats.norm.sf(abs(value) / standard_error))


def naive_difference(data: pd.DataFrame, treatment: str, outcome: str) -> float:
    """Difference in mean outcome between treated and untreated rows, with no adjustment."""
    treated = data[treatment].astype(float) > 0.5
    return float(data.loc[treated, outcome].mean() - data.loc[~treated, outcome].mean())
