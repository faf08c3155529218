"""DoWhy refuters with a pass or fail verdict for each.

A refuter passes when its new effect is where it should be: near zero for the
placebo treatment and the dummy outcome, near the original estimate for a
random common cause and a data subset. "Near" is within the larger of the
estimate's 95% half-width and a tenth of the estimate's size.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from dowhy import CausalModel

log = logging.getLogger(__name__)

REFUTERS = ("placebo_treatment_refuter", "random_common_cause", "data_subset_refuter", "dummy_outcome_refuter")
# Refuters whose new effect should be zero; the others should keep the estimate.
_EXPECT_ZERO = {"placebo_treatment_refuter", "dummy_outcome_refuter"}
RELATIVE_TOLERANCE = 0.1


@dataclass
class Refutation:
    refuter: str
    estimated_effect: float
    new_effect: float | None
    expected: float
    tolerance: float
    p_value: float | None
    passed: bool | None  # None when the refuter could not run
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def tolerance_of(value: float, half_width: float) -> float:
    return max(half_width, RELATIVE_TOLERANCE * abs(value))


def refute(model: CausalModel, estimand, estimate, half_width: float, simulations: int = 10, seed: int = 0,
           refuters=REFUTERS) -> list[Refutation]:
    """Run each refuter on the estimate and judge it; a refuter that fails to run is reported, not raised."""
    results = []
    for name in refuters:
        results.append(_run_one(model, estimand, estimate, name, half_width, simulations, seed))
    return results


def _run_one(model, estimand, estimate, name, half_width, simulations, seed) -> Refutation:
    value = float(estimate.value)
    expected = 0.0 if name in _EXPECT_ZERO else value
    tolerance = tolerance_of(value, half_width)
    options = {"num_simulations": simulations, "random_seed": seed}
    if name == "placebo_treatment_refuter":
        options["placebo_type"] = "permute"
    if name == "data_subset_refuter":
        options["subset_fraction"] = 0.8
    try:
        result = model.refute_estimate(estimand, estimate, method_name=name, show_progress_bar=False, **options)
    except (ValueError, TypeError, KeyError, NotImplementedError, IndexError, np.linalg.LinAlgError) as error:
        log.warning("refuter %s failed: %s", name, error)
        return Refutation(name, value, None, expected, tolerance, None, None,
                          f"{name} could not run with this estimator: {error}")
    if isinstance(result, list):
        result = result[0]

    new_effect = float(np.asarray(result.new_effect, dtype=float).ravel()[0])
    p_value = (result.refutation_result or {}).get("p_value") if hasattr(result, "refutation_result") else None
    p_value = None if p_value is None else float(np.asarray(p_value, dtype=float).ravel()[-1])
    passed = abs(new_effect - expected) <= tolerance
    return Refutation(name, value, new_effect, expected, tolerance, p_value, passed, _verdict(name, passed))


def _verdict(name: str, passed: bool) -> str:
    if name in _EXPECT_ZERO:
        subject = "a random placebo treatment" if name == "placebo_treatment_refuter" else "an outcome the treatment cannot affect"
        return (f"passed: {subject} shows no effect, as it should" if passed
                else f"failed: {subject} still shows an effect, so the estimate may come from the data's structure rather than the treatment")
    subject = "adding a random common cause" if name == "random_common_cause" else "re-estimating on random 80% subsets"
    return (f"passed: {subject} leaves the estimate unchanged" if passed
            else f"failed: {subject} moves the estimate, so it is fragile")
