"""How strongly the model's score moves with a treatment, shown beside the treatment's causal effect.

The model score of a rating is the registered model's score of the rated item
for the user, computed from the user's earlier history (see table.py). Its
adjusted difference between treated and untreated rows, with the same
confounders as the causal question, measures what drives the model. It is an
association in the model's outputs, not an effect on the outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm

from genre_core.causal.columns import IN_TOP10, MODEL_SCORE


def model_sensitivity(table: pd.DataFrame, treatment: str, confounders) -> dict | None:
    """Adjusted difference in model score (raw and in standard deviations); None without a model score column."""
    if MODEL_SCORE not in table.columns or treatment not in table.columns:
        return None
    used = [MODEL_SCORE, treatment, *confounders]
    data = table[used].dropna()
    scale = float(data[MODEL_SCORE].std())
    design = sm.add_constant(data[[treatment, *confounders]].astype(float), has_constant="add")
    fit = sm.OLS(data[MODEL_SCORE].astype(float).to_numpy(), design).fit()
    low, high = fit.conf_int(0.05).loc[treatment]
    value = float(fit.params[treatment])
    return {
        "measure": "adjusted difference in model score between treated and untreated rows",
        "value": value, "ci_low": float(low), "ci_high": float(high),
        "standardised": value / scale if scale > 0 else float("nan"),
        "treatment_is_model_output": treatment == IN_TOP10,
    }
