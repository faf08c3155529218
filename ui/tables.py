"""Translated column headers and display formats for the dataframes the pages draw."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from genre_core.i18n import has_translation
from genre_core.schema import GENRES, MULTILABEL_SEPARATOR, RATING, TITLE, YEAR
from ui.language import t

# Default row height of st.dataframe in pixels, used to size a table so that every row shows.
ROW_HEIGHT = 35
# Width in pixels of the rank column, narrower than Streamlit's "small" so titles get the room.
RANK_WIDTH = 56


def attribute_label(name: str) -> str:
    """Return the translated header of a column, or the column name when the table has no text for it."""
    key = f"column.{name}"
    return t(key) if has_translation(key) else name


def attribute_value(name: str, value: Any) -> str:
    """Show a user attribute's value; the simulated driver modality is shown in the interface language."""
    key = f"media.modality.{value}"
    if name == "driver" and has_translation(key):
        return t(key)
    return display_value(value)


def display_value(value: Any) -> str:
    """Show one cell: a dash for a missing value (None, NaN, NaT), whole floats without ".0"."""
    if value is None or pd.api.types.is_scalar(value) and pd.isna(value):
        return "—"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def count_text(value: Any) -> str:
    """Show a count with thousands separators (98,114), or a dash when it is missing."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else display_value(value)


def dash_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Show empty cells (None, NaN) as a dash instead of Streamlit's grey "None"; columns with any become text."""
    table = frame.copy()
    for column in table.columns:
        if table[column].isna().any():
            table[column] = table[column].map(display_value)
    return table


def display_time(iso_time: str | None) -> str:
    """Show an ISO 8601 timestamp such as 2026-12-04T20:31:09+00:00 as 2026-12-04 20:31."""
    if not iso_time:
        return "—"
    try:
        return datetime.fromisoformat(iso_time).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(iso_time)


def join_genres(frame: pd.DataFrame) -> pd.DataFrame:
    """Show multi-label genres as "Comedy, Drama" instead of the stored "Comedy|Drama"."""
    if GENRES not in frame.columns:
        return frame
    frame = frame.copy()
    frame[GENRES] = frame[GENRES].fillna("").str.replace(MULTILABEL_SEPARATOR, ", ", regex=False)
    return frame


def full_height(rows: int) -> int:
    """Return the st.dataframe height in pixels that shows the header and `rows` rows without scrolling."""
    return ROW_HEIGHT * (rows + 1) + 3


def metric_order(names: pd.Index) -> pd.Index:
    """Sort key for metric names such as "ndcg@10": by metric, then by cutoff k."""
    def key(name: str) -> tuple[str, int]:
        metric, _, cutoff = str(name).partition("@")
        return metric, int(cutoff) if cutoff.isdigit() else 0

    return pd.Index([key(name) for name in names])


def epoch_tick(epochs: int) -> int:
    """Distance between epoch ticks on a training-curve axis: whole epochs, at most about ten ticks."""
    return max(1, math.ceil(epochs / 10))


def column_config(columns: list[str]) -> dict[str, Any]:
    """Translated headers for `columns`, with widths and number formats for the known columns."""
    config: dict[str, Any] = {column: st.column_config.Column(attribute_label(column)) for column in columns}
    formats = {
        "rank": st.column_config.NumberColumn(attribute_label("rank"), format="%d", width=RANK_WIDTH),
        "score": st.column_config.NumberColumn(attribute_label("score"), format="%.3f", width="small",
                                               help=t("column.score_help")),
        TITLE: st.column_config.Column(attribute_label(TITLE), width="medium"),
        YEAR: st.column_config.NumberColumn(attribute_label(YEAR), format="%d", width="small"),
        RATING: st.column_config.NumberColumn(attribute_label(RATING), format="%.1f ★", width="small"),
        "date": st.column_config.DateColumn(attribute_label("date"), format="YYYY-MM-DD", width="small"),
    }
    config.update({column: setting for column, setting in formats.items() if column in columns})
    return config
