"""The image_path and audio_path columns of a user's own items file: resolved paths and unusable files."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from genre_core.data.table_files import Table
from genre_core.data.validation import DataProblem
from genre_core.modalities.media_files import is_blank
from genre_core.schema import AUDIO_PATH, IMAGE_PATH

log = logging.getLogger(__name__)

MEDIA_COLUMNS = (IMAGE_PATH, AUDIO_PATH)


def read_media_columns(table: Table, folder: Path) -> dict[str, np.ndarray]:
    """Resolve the media path cells of the items table against the data folder, blanking unusable ones.

    A missing or unreadable file does not stop loading, because the item keeps its other
    modalities. It is warned about with the file, the line, the column and the path, and its
    cell becomes None, so the model masks that modality. A file that exists but cannot be
    decoded is reported when it is encoded, with its row in the items table.
    """
    columns = {}
    for column in MEDIA_COLUMNS:
        if column not in table.frame.columns:
            continue
        paths = []
        for position, cell in enumerate(table.frame[column]):
            path = _usable_path(table, folder, column, position, cell)
            paths.append(None if path is None else str(path))
        columns[column] = np.array(paths, dtype=object)
    return columns


def _usable_path(table: Table, folder: Path, column: str, position: int, cell) -> Path | None:
    if is_blank(cell):
        return None
    path = Path(str(cell).strip()).expanduser()
    if not path.is_absolute():
        path = folder / path
    if path.is_dir():
        reason = f"path is a folder, not a file: {path}"
    elif not path.is_file():
        reason = f"file not found: {path}"
    elif not os.access(path, os.R_OK):
        reason = f"file not readable: {path}"
    else:
        return path
    problem = DataProblem(
        file=table.file, location=table.locate(np.array([position]))[0], column=column, problem=reason,
        value=str(cell), fix="fix the path or leave the cell blank; the item is used without this modality",
    )
    log.warning("%s", problem)
    warnings.warn(str(problem), stacklevel=4)
    return None
