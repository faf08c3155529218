"""A time-ordered stream of interactions, cut into fixed-size windows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from genre_core.schema import ITEM_ID, TIMESTAMP, USER_ID

log = logging.getLogger(__name__)


class StreamError(ValueError):
    """A stream that cannot be replayed: timestamps out of order, or a window larger than the stream."""


@dataclass
class Window:
    """One window of the stream: its position and its interactions, oldest first."""

    index: int
    start: int  # row of the first interaction in the whole stream
    frame: pd.DataFrame

    @property
    def first_time(self) -> int:
        return int(self.frame[TIMESTAMP].iloc[0])

    @property
    def last_time(self) -> int:
        return int(self.frame[TIMESTAMP].iloc[-1])


class InteractionStream:
    """Interactions in time order, replayed window by window.

    Out-of-order timestamps raise :class:`StreamError` naming the first such
    row, unless `sort` is true, in which case the stream is sorted by time
    (ties keep their input order).
    """

    def __init__(self, frame: pd.DataFrame, sort: bool = False):
        for column in (USER_ID, ITEM_ID, TIMESTAMP):
            if column not in frame.columns:
                raise StreamError(f"stream is missing the column {column!r}; columns present: {', '.join(map(str, frame.columns))}")
        if sort:
            check_timestamps(frame)
            frame = frame.sort_values(TIMESTAMP, kind="stable")
        else:
            check_time_order(frame)
        self.frame = frame.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.frame)

    def windows(self, size: int, max_windows: int | None = None) -> Iterator[Window]:
        """Yield consecutive windows of `size` interactions; the last one may be shorter."""
        check_window(size, len(self.frame))
        count = -(-len(self.frame) // size)
        if max_windows is not None:
            count = min(count, max_windows)
        for index in range(count):
            start = index * size
            yield Window(index, start, self.frame.iloc[start:start + size])

    def count_windows(self, size: int, max_windows: int | None = None) -> int:
        check_window(size, len(self.frame))
        count = -(-len(self.frame) // size)
        return count if max_windows is None else min(count, max_windows)


def check_time_order(frame: pd.DataFrame) -> None:
    """Raise :class:`StreamError` naming the first row whose timestamp is earlier than the row before it."""
    check_timestamps(frame)
    stamps = frame[TIMESTAMP].to_numpy()
    backwards = np.flatnonzero(stamps[1:] < stamps[:-1])
    if backwards.size:
        row = int(backwards[0]) + 1
        label = frame.index[row]
        label = label.item() if isinstance(label, np.generic) else label
        raise StreamError(
            f"stream timestamps are out of order at row {row} (index {label!r}): timestamp {stamps[row]} "
            f"comes after {stamps[row - 1]}; {backwards.size} rows go back in time. "
            "Sort the interactions by timestamp, or pass sort=True to sort them"
        )


def check_timestamps(frame: pd.DataFrame) -> None:
    """Raise :class:`StreamError` when the timestamps are not numbers, or naming the first row without one."""
    stamps = frame[TIMESTAMP]
    if not pd.api.types.is_numeric_dtype(stamps) or pd.api.types.is_bool_dtype(stamps):
        raise StreamError(
            f"stream column {TIMESTAMP!r} must hold numbers (seconds since 1970), got dtype {stamps.dtype}; "
            "convert the timestamps to integers before replaying"
        )
    missing = np.flatnonzero(stamps.isna().to_numpy())
    if missing.size:
        raise StreamError(
            f"stream timestamp is missing at row {int(missing[0])}; {missing.size} rows have none. "
            "Fill or drop those rows before replaying"
        )


def check_window(size: int, stream_length: int) -> None:
    """Reject a window size that is not positive or is larger than the stream."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise StreamError(f"window size must be a positive integer, got {size!r}")
    if stream_length == 0:
        raise StreamError("the stream has no interactions to replay; give it at least one interaction")
    if size > stream_length:
        raise StreamError(
            f"window of {size} interactions is larger than the stream of {stream_length}; "
            f"set monitoring.window to at most {stream_length}"
        )


def split_by_time(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split time-ordered `frame` into its oldest `fraction` of rows and the rest."""
    if not 0.0 < fraction < 1.0:
        raise StreamError(f"training fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    ordered = frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    cut = int(round(fraction * len(ordered)))
    if cut == 0 or cut == len(ordered):
        raise StreamError(f"training fraction {fraction} of {len(ordered)} interactions leaves one part empty")
    log.info("stream split at %d of %d interactions (timestamp %s)", cut, len(ordered), ordered[TIMESTAMP].iloc[cut])
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
