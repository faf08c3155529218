"""Heterogeneous effects: the same question estimated inside each user segment."""

from __future__ import annotations

import logging

import pandas as pd

from genre_core.causal.checks import check_variation
from genre_core.causal.errors import CausalInputError
from genre_core.causal.estimators import estimate

log = logging.getLogger(__name__)

MIN_SEGMENT_ROWS = 500
SEGMENT_ESTIMATOR = "linear_regression"


def check_segment_rows(rows: int, column: str, value, min_rows: int) -> None:
    if rows < min_rows:
        raise CausalInputError(
            f"segment {column}={value} has {rows} rows, fewer than the minimum {min_rows}; "
            f"merge it with another segment or lower the minimum rows"
        )


def segment_effects(data: pd.DataFrame, segments: pd.DataFrame, graph, treatment: str, outcome: str, estimand,
                    columns, min_rows: int = MIN_SEGMENT_ROWS) -> list[dict]:
    """Estimate the effect in each value of each segment column; segments that cannot be estimated say why.

    `data` holds the analysis columns and `segments` the segment columns, row for row.
    """
    results = []
    for column in columns:
        if column not in segments.columns:
            raise CausalInputError(f"segment column {column!r} is not in the analysis table; choose from {list(segments.columns)}")
        for value, index in segments.groupby(column).groups.items():
            part = data.loc[index].reset_index(drop=True)
            entry = {"segment": column, "value": str(value), "rows": len(part)}
            try:
                check_segment_rows(len(part), column, value, min_rows)
                check_variation(part, treatment, outcome, where=f"segment {column}={value}")
                summary, _, _ = estimate(part, graph, treatment, outcome, estimand, SEGMENT_ESTIMATOR)
            except CausalInputError as error:
                entry.update(skipped=str(error))
            else:
                entry.update(effect=summary.value, ci_low=summary.ci_low, ci_high=summary.ci_high,
                             p_value=summary.p_value)
            results.append(entry)
    return results
