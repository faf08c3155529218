"""Validation on simulated data with a known answer.

Covariates are real MovieLens rows of the analysis table. Treatment and
outcome are simulated from them: the treatment probability and the outcome
both rise with the user's activity and the item's earlier ratings and fall
with its release year, so the naive difference in means is biased, and the
outcome holds a planted effect of the treatment. Every seed draws new rows and
new noise.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from dowhy import CausalModel

from genre_core.causal.columns import GENRE_COUNT, ITEM_PRIOR_RATINGS, ITEM_YEAR, USER_ACTIVITY, USER_AGE, USER_MALE
from genre_core.causal.errors import CausalInputError
from genre_core.causal.estimators import estimate, naive_difference
from genre_core.causal.graph import default_graph
from genre_core.causal.identification import identify
from genre_core.causal.refutation import refute

log = logging.getLogger(__name__)

COVARIATES = (USER_AGE, USER_MALE, USER_ACTIVITY, ITEM_YEAR, GENRE_COUNT, ITEM_PRIOR_RATINGS)
TREATMENT, OUTCOME = "simulated_treatment", "simulated_outcome"
# Coefficients on standardised covariates; activity, earlier ratings and year confound.
TREATMENT_COEFFICIENTS = {USER_ACTIVITY: 0.8, ITEM_PRIOR_RATINGS: 0.6, ITEM_YEAR: -0.5, USER_MALE: 0.3}
OUTCOME_COEFFICIENTS = {USER_ACTIVITY: 1.0, ITEM_PRIOR_RATINGS: 0.8, ITEM_YEAR: -0.6, USER_AGE: 0.3, GENRE_COUNT: 0.2}
VALIDATION_ESTIMATORS = ("linear_regression", "propensity_score_weighting", "propensity_score_matching")


def simulate(table: pd.DataFrame, effect: float, rows: int, seed: int) -> pd.DataFrame:
    """Draw `rows` real covariate rows and simulate a binary treatment and an outcome with the planted `effect`."""
    missing = [column for column in COVARIATES if column not in table.columns]
    if missing:
        raise CausalInputError(f"the analysis table lacks the covariates {missing} that the validation simulates from")
    complete = table[list(COVARIATES)].dropna()
    if len(complete) < rows:
        raise CausalInputError(f"validation needs {rows} complete rows but the table has {len(complete)}; lower rows")

    rng = np.random.default_rng(seed)
    sample = complete.iloc[rng.choice(len(complete), rows, replace=False)].reset_index(drop=True).astype(float)
    for column in (USER_ACTIVITY, ITEM_PRIOR_RATINGS):
        sample[column] = np.log1p(sample[column])
    sample = (sample - sample.mean()) / sample.std().replace(0, 1)

    logit = sum(weight * sample[column] for column, weight in TREATMENT_COEFFICIENTS.items())
    sample[TREATMENT] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    baseline = sum(weight * sample[column] for column, weight in OUTCOME_COEFFICIENTS.items())
    sample[OUTCOME] = effect * sample[TREATMENT] + baseline + rng.normal(0, 1, rows)
    return sample


def validate(table: pd.DataFrame, seeds: int = 50, effect: float = 0.5, rows: int = 2000,
             estimators=VALIDATION_ESTIMATORS, bootstrap: int = 30, progress=None) -> dict:
    """Estimate the planted effect over `seeds` simulations; per estimator the bias and the 95% CI coverage."""
    if seeds < 1:
        raise CausalInputError(f"seeds must be at least 1, got {seeds}")
    graph = default_graph(TREATMENT, OUTCOME, list(COVARIATES))
    per_estimator = {name: {"estimates": [], "covered": []} for name in estimators}
    naive = []
    for seed in range(seeds):
        if progress:
            progress(seed / seeds, f"seed {seed + 1} of {seeds}")
        data = simulate(table, effect, rows, seed)
        naive.append(naive_difference(data, TREATMENT, OUTCOME))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimand, _ = identify(CausalModel(data=data.copy(), treatment=TREATMENT, outcome=OUTCOME, graph=graph))
            for name in estimators:
                summary, _, _ = estimate(data, graph, TREATMENT, OUTCOME, estimand, name, bootstrap=bootstrap, seed=seed)
                per_estimator[name]["estimates"].append(summary.value)
                per_estimator[name]["covered"].append(summary.ci_low <= effect <= summary.ci_high)

    summary = {
        name: {
            "bias": float(np.mean(values["estimates"]) - effect),
            "mean_absolute_error": float(np.mean(np.abs(np.asarray(values["estimates"]) - effect))),
            "coverage": float(np.mean(values["covered"])),
        }
        for name, values in per_estimator.items()
    }
    return {
        "planted_effect": effect, "seeds": seeds, "rows_per_seed": rows, "bootstrap": bootstrap,
        "estimators": summary,
        "naive_difference": {"mean": float(np.mean(naive)), "bias": float(np.mean(naive) - effect)},
    }


def placebo_on_planted_zero(table: pd.DataFrame, rows: int = 2000, seed: int = 0, simulations: int = 10) -> dict:
    """Simulate a planted effect of zero, estimate it by linear regression and run the placebo refuter."""
    data = simulate(table, 0.0, rows, seed)
    graph = default_graph(TREATMENT, OUTCOME, list(COVARIATES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimand, _ = identify(CausalModel(data=data.copy(), treatment=TREATMENT, outcome=OUTCOME, graph=graph))
        summary, result, _ = estimate(data, graph, TREATMENT, OUTCOME, estimand, "linear_regression")
        model = CausalModel(data=data.copy(), treatment=TREATMENT, outcome=OUTCOME, graph=graph)
        refutation = refute(model, estimand, result, summary.half_width, simulations, seed,
                            refuters=("placebo_treatment_refuter",))[0]
    return {"estimate": summary.to_dict(), "placebo": refutation.to_dict()}
