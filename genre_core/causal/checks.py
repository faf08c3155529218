"""Checks of a causal question against its table, run before DoWhy sees the data."""

from __future__ import annotations

import logging

import pandas as pd

from genre_core.causal.errors import CausalInputError

log = logging.getLogger(__name__)


def check_columns(table: pd.DataFrame, treatment: str, outcome: str, confounders) -> None:
    available = ", ".join(sorted(map(str, table.columns)))
    for role, column in (("treatment", treatment), ("outcome", outcome)):
        if column not in table.columns:
            raise CausalInputError(f"{role} column {column!r} is not in the analysis table; choose one of: {available}")
    missing = [column for column in confounders if column not in table.columns]
    if missing:
        raise CausalInputError(
            f"confounders {missing} are not in the analysis table; remove them or choose from: {available}"
        )
    for column in (treatment, outcome, *confounders):
        if not pd.api.types.is_numeric_dtype(table[column]) and not pd.api.types.is_bool_dtype(table[column]):
            raise CausalInputError(
                f"column {column!r} is not numeric (dtype {table[column].dtype}); use numeric or 0/1 columns, "
                "and analyse categories such as occupation as segments"
            )


def check_variation(table: pd.DataFrame, treatment: str, outcome: str, where: str = "the analysis table") -> None:
    if table[treatment].nunique(dropna=True) < 2:
        value = table[treatment].dropna().iloc[0] if table[treatment].notna().any() else "missing"
        raise CausalInputError(
            f"treatment {treatment!r} has no variation in {where} (every one of {len(table)} rows is {value}); "
            "choose a treatment that takes at least two values, or widen the rows"
        )
    if table[outcome].nunique(dropna=True) < 2:
        value = table[outcome].dropna().iloc[0] if table[outcome].notna().any() else "missing"
        raise CausalInputError(
            f"outcome {outcome!r} is constant in {where} (every one of {len(table)} rows is {value}); "
            "choose an outcome that varies"
        )


def is_binary(series: pd.Series) -> bool:
    return set(pd.unique(series.dropna())) <= {0, 1, True, False}


def check_binary_treatment(table: pd.DataFrame, treatment: str, estimator: str) -> None:
    if not is_binary(table[treatment]):
        values = sorted(pd.unique(table[treatment].dropna()))[:6]
        raise CausalInputError(
            f"estimator {estimator!r} needs a binary 0/1 treatment, but {treatment!r} has values such as {values}; "
            "turn it into a 0/1 column (for example above or below a threshold) or use linear_regression"
        )


def drop_missing(table: pd.DataFrame, used: list[str]) -> pd.DataFrame:
    complete = table[used].notna().all(axis=1)
    if not complete.all():
        log.info("dropping %d rows with missing values in %s", int((~complete).sum()), used)
    return table.loc[complete, used].reset_index(drop=True)
