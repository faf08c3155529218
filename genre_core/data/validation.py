"""Data problems found while loading files, collected and raised together.

Loaders record every problem they find in a :class:`ProblemLog` and raise one
:class:`DataValidationError` at the end, so a user fixes all problems in one
pass instead of one per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# The error message lists this many problems, then "... and N more".
MAX_LISTED_PROBLEMS = 50

# A log keeps this many problem objects and only counts the rest, so that a
# file in which every one of millions of rows is bad cannot exhaust memory.
MAX_STORED_PROBLEMS = 1000

# Longer cell values are cut to this many characters in messages.
MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class DataProblem:
    """One problem in a data file: where it is, what is wrong and how to fix it."""

    file: str
    problem: str
    fix: str
    location: str | None = None  # "line 5" for CSV, "row index 3" for Parquet
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        text = self.file
        if self.location is not None:
            text += f":{self.location}"
        text += ":"
        if self.column is not None:
            text += f" column '{self.column}':"
        text += f" {self.problem}"
        if self.value is not None:
            text += f" (value '{self.value}')"
        return f"{text}; {self.fix}"


class DataValidationError(ValueError):
    """Problems found in data files.

    ``problems`` contains the stored problems (at most MAX_STORED_PROBLEMS), and
    ``total`` counts every problem, including any beyond the stored ones.
    """

    def __init__(self, source: str | Path, problems: Sequence[DataProblem], total: int | None = None) -> None:
        self.source = str(source)
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total
        super().__init__(self._format())

    def _format(self) -> str:
        noun = "problem" if self.total == 1 else "problems"
        lines = [f"{self.total} {noun} in the data at {self.source}:"]
        lines.extend(f"  {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS])
        hidden = self.total - min(len(self.problems), MAX_LISTED_PROBLEMS)
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        return "\n".join(lines)


class ProblemLog:
    """Collects the problems of one load; :meth:`raise_if_any` ends the load if there are any."""

    def __init__(self, source: str | Path) -> None:
        self.source = source
        self.problems: list[DataProblem] = []
        self.total = 0

    def __len__(self) -> int:
        return self.total

    def add(self, problem: DataProblem) -> None:
        self.total += 1
        if len(self.problems) < MAX_STORED_PROBLEMS:
            self.problems.append(problem)

    def add_cells(
        self,
        file: str,
        locate: Callable[[np.ndarray], list[str]],
        column: str,
        mask: np.ndarray,
        values: pd.Series,
        problem: str | Callable[[np.ndarray], list[str]],
        fix: str,
    ) -> None:
        """Add one problem for each row where `mask` is true, with the cell's raw value.

        `problem` is either one text for all rows or a function that returns a
        text for each of the given row positions. The function is called only
        for the rows that are stored.
        """
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return
        room = max(MAX_STORED_PROBLEMS - len(self.problems), 0)
        stored = positions[:room]
        if len(stored):
            locations = locate(stored)
            texts = problem(stored) if callable(problem) else [problem] * len(stored)
            for position, location, text in zip(stored, locations, texts):
                self.problems.append(DataProblem(
                    file=file, location=location, column=column, value=format_value(values.iloc[position]),
                    problem=text, fix=fix,
                ))
        self.total += len(positions)

    def raise_if_any(self) -> None:
        """Raise DataValidationError with the problems grouped by file and sorted by row."""
        if not self.total:
            return
        file_order = {file: rank for rank, file in enumerate(dict.fromkeys(p.file for p in self.problems))}
        ordered = sorted(self.problems, key=lambda problem: (file_order[problem.file], _row_number(problem)))
        raise DataValidationError(self.source, ordered, self.total)


def _row_number(problem: DataProblem) -> int:
    """Return the number at the end of 'line 5' or 'row index 3'.

    A whole-file problem gets -1, so that it comes first.
    """
    if problem.location is None:
        return -1
    return int(problem.location.rsplit(" ", 1)[-1])


def format_value(value: object) -> str:
    """Render a cell value for a message: missing as empty, long text cut with '...'."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 3] + "..."
    return text.replace("\n", "\\n").replace("\r", "\\r")
