"""Convert raw table columns (CSV strings or Parquet values) to the dataset's types.

Each parser returns the converted column and a list of :class:`CellIssue`, one
per kind of invalid cell, so the caller can report every bad row with its file
and line. Bad cells become issues, not exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from genre_core.schema import MULTILABEL_SEPARATOR

# Whole seconds, optionally written as a float with a zero fraction ("881250949.0").
_INTEGER_SECONDS = r"[+-]?\d+(?:\.0*)?"

EPOCH = pd.Timestamp(0, tz="UTC")
ONE_SECOND = pd.Timedelta(seconds=1)

TIMESTAMP_FIX = (
    "write whole seconds since 1970-01-01 UTC (e.g. 881250949) "
    "or an ISO-8601 date such as 2024-03-01 or 2024-03-01T12:30:00Z"
)


@dataclass
class CellIssue:
    """Rows (a boolean mask) that share one problem, and how to fix it."""

    mask: np.ndarray
    problem: str
    fix: str


@dataclass
class ParsedColumn:
    values: pd.Series
    issues: list[CellIssue] = field(default_factory=list)

    def add(self, mask: np.ndarray | pd.Series, problem: str, fix: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.issues.append(CellIssue(mask, problem, fix))


def parse_ids(raw: pd.Series) -> ParsedColumn:
    """Convert IDs to stripped strings; integers become their digits ('7'), strings stay as written ('007')."""
    values, missing, fractional = _to_strings(raw)
    parsed = ParsedColumn(values)
    parsed.add(missing, "empty ID", "fill in the ID or delete the row")
    parsed.add(fractional, "ID is a number with a fraction", "use whole numbers or text as IDs")
    return parsed


def parse_numbers(raw: pd.Series, required: bool) -> ParsedColumn:
    """Convert to float64; an empty cell is NaN, which is a problem only when `required`."""
    leave_empty = "" if required else ", or leave the cell empty for a missing value"
    if ptypes.is_bool_dtype(raw) or ptypes.is_numeric_dtype(raw):
        numbers = pd.Series(raw.to_numpy(dtype=float, na_value=np.nan), index=raw.index)
        missing = numbers.isna().to_numpy()
        not_numeric = np.zeros(len(raw), dtype=bool)
    else:
        text = _stripped_text(raw)
        missing = (text == "").to_numpy()
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
        not_numeric = numbers.isna().to_numpy() & ~missing

    parsed = ParsedColumn(numbers)
    if required:
        parsed.add(missing, "empty", "fill in a number")
    not_numeric_fix = f"write a number with a dot as the decimal separator, e.g. 3.5{leave_empty}"
    parsed.add(not_numeric, "not a number", not_numeric_fix)
    parsed.add(np.isinf(numbers.to_numpy()), "not finite", f"write a finite number{leave_empty}")
    return parsed


def parse_timestamps(raw: pd.Series) -> ParsedColumn:
    """Convert to int64 seconds since 1970-01-01 UTC from integers, datetimes or ISO-8601 strings.

    Dates without a time zone are taken as UTC, and fractions of a second are
    dropped. Invalid cells become 0 and are reported as issues.
    """
    if ptypes.is_datetime64_any_dtype(raw):
        dates = raw if raw.dt.tz is not None else raw.dt.tz_localize("UTC")
        parsed = ParsedColumn(_seconds_since_epoch(dates))
        parsed.add(dates.isna(), "empty timestamp", TIMESTAMP_FIX)
        return parsed

    if ptypes.is_integer_dtype(raw):
        parsed = ParsedColumn(raw.fillna(0).astype("int64"))
        parsed.add(raw.isna(), "empty timestamp", TIMESTAMP_FIX)
        return parsed

    if ptypes.is_float_dtype(raw):
        numbers = raw.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(numbers)
        whole = np.isfinite(numbers) & (np.abs(numbers) < 2**63) & (numbers == np.floor(numbers))
        parsed = ParsedColumn(pd.Series(np.where(whole, numbers, 0).astype("int64"), index=raw.index))
        parsed.add(missing, "empty timestamp", TIMESTAMP_FIX)
        parsed.add(~missing & ~whole, "timestamp is not whole seconds", TIMESTAMP_FIX)
        return parsed

    return _strings_to_seconds(_stripped_text(raw))


def _strings_to_seconds(text: pd.Series) -> ParsedColumn:
    seconds = np.zeros(len(text), dtype="int64")
    missing = (text == "").to_numpy()
    integer = text.str.fullmatch(_INTEGER_SECONDS).to_numpy(dtype=bool, na_value=False)

    digits = text[integer].str.replace(r"\.0*$", "", regex=True)
    # 18 digits always fit in int64; longer values are reported rather than wrapped.
    fits = (digits.str.lstrip("+-").str.len() <= 18).to_numpy(dtype=bool)
    out_of_range = np.zeros(len(text), dtype=bool)
    out_of_range[np.flatnonzero(integer)[~fits]] = True
    seconds[np.flatnonzero(integer)[fits]] = digits[fits].astype("int64").to_numpy()

    dated = ~integer & ~missing
    dates = pd.to_datetime(text[dated], format="ISO8601", utc=True, errors="coerce")
    seconds[dated] = _seconds_since_epoch(dates).to_numpy()
    unparsable = np.zeros(len(text), dtype=bool)
    unparsable[dated] = dates.isna().to_numpy()

    parsed = ParsedColumn(pd.Series(seconds, index=text.index))
    parsed.add(missing, "empty timestamp", TIMESTAMP_FIX)
    parsed.add(out_of_range, "timestamp is out of range", TIMESTAMP_FIX)
    parsed.add(unparsable, "not integer seconds or an ISO-8601 date", TIMESTAMP_FIX)
    return parsed


def _seconds_since_epoch(dates: pd.Series) -> pd.Series:
    """Whole seconds of tz-aware datetimes; missing dates become 0."""
    return ((dates - EPOCH) // ONE_SECOND).fillna(0).astype("int64")


def parse_text(raw: pd.Series) -> pd.Series:
    """Convert to strings; a missing or whitespace-only cell becomes '' (missing text)."""
    values = raw.map(lambda cell: "" if _is_missing(cell) else str(cell))
    return values.where(values.str.strip() != "", "").astype(str)


def parse_categories(raw: pd.Series) -> pd.Series:
    """Convert category values to stripped strings, with '' for a missing value."""
    values, _, _ = _to_strings(raw)
    return values


def parse_labels(raw: pd.Series) -> pd.Series:
    """Normalise multi-label cells to labels joined by '|', with spaces and empty labels dropped.

    A cell may be a string such as 'Action | Comedy' or, in Parquet, a list of strings.
    """
    return raw.map(_normalise_labels).astype(str)


def _normalise_labels(cell: object) -> str:
    if isinstance(cell, (list, tuple, np.ndarray)):
        labels: Iterable[object] = cell
    elif _is_missing(cell):
        return ""
    else:
        labels = str(cell).split(MULTILABEL_SEPARATOR)
    stripped = (str(label).strip() for label in labels if not _is_missing(label))
    return MULTILABEL_SEPARATOR.join(label for label in stripped if label)


def _to_strings(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Return (stripped strings, missing mask, fractional-number mask); missing cells become ''."""
    no_rows = np.zeros(len(raw), dtype=bool)
    if ptypes.is_integer_dtype(raw):
        missing = raw.isna().to_numpy()
        values = raw.astype("string").fillna("").astype(str)
        return values, missing, no_rows

    if ptypes.is_float_dtype(raw):
        numbers = raw.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(numbers)
        whole = ~missing & np.isfinite(numbers) & (numbers == np.floor(numbers))
        values = []
        for number, is_whole, is_missing in zip(numbers, whole, missing):
            if is_missing:
                values.append("")
            elif is_whole:
                values.append(str(int(number)))
            else:
                values.append(str(number))
        return pd.Series(values, index=raw.index, dtype=str), missing, ~missing & ~whole

    values = _stripped_text(raw)
    return values, (values == "").to_numpy(), no_rows


def _stripped_text(raw: pd.Series) -> pd.Series:
    if ptypes.is_string_dtype(raw) and not ptypes.is_object_dtype(raw):
        return raw.fillna("").str.strip()
    return raw.map(lambda cell: "" if _is_missing(cell) else str(cell).strip()).astype(str)


def _is_missing(cell: object) -> bool:
    if isinstance(cell, (list, tuple, np.ndarray)):
        return False
    return bool(pd.isna(cell))
