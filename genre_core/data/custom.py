"""Load a user's own interactions, items and users from CSV or Parquet files.

The schema is documented in docs/data-schema.md. Every problem found in the
files is collected and raised as one :class:`DataValidationError`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genre_core.config import ConfigError, DataConfig
from genre_core.data.column_parsers import (
    parse_categories, parse_ids, parse_labels, parse_numbers, parse_text, parse_timestamps,
)
from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.data.media_columns import MEDIA_COLUMNS, read_media_columns
from genre_core.data.table_files import TABLE_SUFFIXES, Table, find_table, read_table
from genre_core.data.validation import DataProblem, DataValidationError, ProblemLog
from genre_core.schema import ITEM_ID, RATING, TIMESTAMP, USER_ID

__all__ = ["DataValidationError", "custom_feature_specs", "load_custom"]

log = logging.getLogger(__name__)

INTERACTIONS = "interactions"
ITEMS = "items"
USERS = "users"

# 95,617,584,000 s after 1970 is 5000-01-01 UTC; millisecond timestamps from 1973-01-12 on exceed it.
MAX_PLAUSIBLE_SECONDS = 95_617_584_000

EXPECTED_FILES = (
    "interactions.csv or interactions.parquet (required), "
    "items.csv or items.parquet (required), "
    "users.csv or users.parquet (optional)"
)


@dataclass
class _Entity:
    """The ID column, name and feature columns of the items table or the users table."""

    id_column: str
    noun: str  # also the prefix of its config keys: data.item_text, data.user_numeric
    features: FeatureSpec


def custom_feature_specs(data_config: DataConfig) -> tuple[FeatureSpec, FeatureSpec]:
    """Build the item and user FeatureSpecs from the config's column lists.

    Raises ConfigError when a column is listed twice or is the ID column.
    """
    items = FeatureSpec(
        text=list(data_config.item_text), categorical=list(data_config.item_categorical),
        multilabel=list(data_config.item_multilabel), numeric=list(data_config.item_numeric),
    )
    users = FeatureSpec(categorical=list(data_config.user_categorical), numeric=list(data_config.user_numeric))
    _check_feature_lists(items, "item", ITEM_ID)
    _check_feature_lists(users, "user", USER_ID)
    return items, users


def _check_feature_lists(spec: FeatureSpec, prefix: str, id_column: str) -> None:
    listed_in: dict[str, str] = {}
    for key, columns in _feature_lists(spec, prefix).items():
        for column in columns:
            if column == id_column:
                raise ConfigError(
                    f"config key '{key}': '{id_column}' is the ID column, not a feature; remove it from the list"
                )
            if column in listed_in:
                raise ConfigError(
                    f"config key '{key}': column '{column}' is also listed in '{listed_in[column]}'; "
                    "list each column once"
                )
            listed_in[column] = key


def _feature_lists(spec: FeatureSpec, prefix: str) -> dict[str, list[str]]:
    """Map each config key ('data.item_text', ...) to its list of columns."""
    return {
        f"data.{prefix}_text": spec.text,
        f"data.{prefix}_categorical": spec.categorical,
        f"data.{prefix}_multilabel": spec.multilabel,
        f"data.{prefix}_numeric": spec.numeric,
    }


def load_custom(folder: str | Path, data_config: DataConfig, name: str | None = None) -> Dataset:
    """Read interactions, items and optional users from `folder` and validate them.

    `name` defaults to the folder's name. Raises FileNotFoundError when the
    folder does not exist, ConfigError for contradictory column lists, and
    DataValidationError listing every problem in the files.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"data folder not found: {folder}. Create it with the files {EXPECTED_FILES}.")
    item_features, user_features = custom_feature_specs(data_config)
    items_entity = _Entity(ITEM_ID, "item", item_features)
    users_entity = _Entity(USER_ID, "user", user_features)
    problems = ProblemLog(folder)
    log.info("reading custom data from %s", folder)

    interactions_table = _open(folder, INTERACTIONS, problems, required=True)
    items_table = _open(folder, ITEMS, problems, required=True)
    users_table = _open(folder, USERS, problems, required=False)
    has_users_file = any((folder / f"{USERS}{suffix}").is_file() for suffix in TABLE_SUFFIXES)
    if not has_users_file and user_features.columns:
        problems.add(_users_file_needed(user_features))

    interactions = _parse_interactions(interactions_table, problems) if interactions_table else None
    items = _parse_entity(items_table, items_entity, problems) if items_table else None
    if items is not None:  # image_path and audio_path, when the items file has them
        items = items.assign(**read_media_columns(items_table, folder))
    users = _parse_entity(users_table, users_entity, problems) if users_table else None

    if interactions is not None and items is not None:
        interactions_table.report_unknown_ids(
            ITEM_ID, interactions[ITEM_ID], items[ITEM_ID], items_table.file, problems,
        )
    if interactions is not None and users is not None:
        interactions_table.report_unknown_ids(
            USER_ID, interactions[USER_ID], users[USER_ID], users_table.file, problems,
        )
    problems.raise_if_any()

    _warn_if_milliseconds(interactions[TIMESTAMP], interactions_table.file)
    if users is None:
        users = pd.DataFrame({USER_ID: pd.unique(interactions[USER_ID])}).astype({USER_ID: str})
    dataset = Dataset(name or folder.name, interactions, items, users, item_features, user_features)
    log.info(
        "loaded %d interactions, %d items and %d users from %s",
        len(dataset.interactions), dataset.n_items, dataset.n_users, folder,
    )
    return dataset


def _warn_if_milliseconds(timestamps: pd.Series, file: str) -> None:
    """Warn when timestamps are too large for seconds, which usually means milliseconds."""
    latest = int(timestamps.max())
    if latest > MAX_PLAUSIBLE_SECONDS:
        warnings.warn(
            f"{file}: the latest timestamp {latest} is after the year 5000 when read as seconds; "
            "if the column holds milliseconds, divide it by 1000",
            stacklevel=3,
        )


def _open(folder: Path, stem: str, problems: ProblemLog, required: bool) -> Table | None:
    before = len(problems)
    path = find_table(folder, stem, problems)
    if path is None:
        if required and len(problems) == before:
            problems.add(DataProblem(
                file=f"{stem}.csv", problem=f"file not found in {folder}",
                fix=f"add it; the folder needs {EXPECTED_FILES}",
            ))
        return None

    table = read_table(path, problems)
    if table is not None and table.frame.empty and len(table.frame.columns):
        problems.add(DataProblem(file=table.file, problem="no rows after the header", fix="add at least one row"))
        return None
    return table


def _users_file_needed(features: FeatureSpec) -> DataProblem:
    columns = ", ".join(features.columns)
    return DataProblem(
        file=f"{USERS}.csv", problem=f"file not found, but the config names the user columns {columns}",
        fix=(
            f"add users.csv or users.parquet with the columns {USER_ID}, {columns}; "
            "or set data.user_categorical and data.user_numeric to []"
        ),
    )


def _parse_interactions(table: Table, problems: ProblemLog) -> pd.DataFrame | None:
    required = [USER_ID, ITEM_ID, TIMESTAMP]
    has_columns = _check_columns(table, required, {}, problems)
    _log_ignored_columns(table, [*required, RATING])
    if not has_columns:
        return None

    frame = table.frame
    parsed = {
        USER_ID: parse_ids(frame[USER_ID]),
        ITEM_ID: parse_ids(frame[ITEM_ID]),
        TIMESTAMP: parse_timestamps(frame[TIMESTAMP]),
    }
    if RATING in frame.columns:
        parsed[RATING] = parse_numbers(frame[RATING], required=True)
    for column, result in parsed.items():
        table.report_issues(column, result, problems)

    ratings = parsed[RATING].values if RATING in parsed else np.full(len(frame), np.nan)
    return pd.DataFrame({
        USER_ID: parsed[USER_ID].values.to_numpy(),
        ITEM_ID: parsed[ITEM_ID].values.to_numpy(),
        RATING: np.asarray(ratings, dtype=float),
        TIMESTAMP: parsed[TIMESTAMP].values.to_numpy(dtype="int64"),
    }).astype({USER_ID: str, ITEM_ID: str})


def _parse_entity(table: Table, entity: _Entity, problems: ProblemLog) -> pd.DataFrame | None:
    """Parse the items or users table: the ID column and each configured feature column."""
    config_keys = {
        column: key
        for key, columns in _feature_lists(entity.features, entity.noun).items()
        for column in columns
    }
    has_columns = _check_columns(table, [entity.id_column], config_keys, problems)
    _log_ignored_columns(table, [entity.id_column, *entity.features.columns, *MEDIA_COLUMNS])
    if not has_columns:
        return None

    frame = table.frame
    ids = parse_ids(frame[entity.id_column])
    table.report_issues(entity.id_column, ids, problems)
    table.report_duplicate_ids(entity.id_column, ids.values, entity.noun, problems)

    result = {entity.id_column: ids.values.to_numpy()}
    for column in entity.features.text:
        result[column] = parse_text(frame[column]).to_numpy()
    for column in entity.features.categorical:
        result[column] = parse_categories(frame[column]).to_numpy()
    for column in entity.features.multilabel:
        result[column] = parse_labels(frame[column]).to_numpy()
    for column in entity.features.numeric:
        numbers = parse_numbers(frame[column], required=False)
        table.report_issues(column, numbers, problems)
        result[column] = numbers.values.to_numpy(dtype=float)

    features = entity.features
    string_columns = [entity.id_column, *features.text, *features.categorical, *features.multilabel]
    return pd.DataFrame(result).astype({column: str for column in string_columns})


def _check_columns(
    table: Table, required: list[str], config_keys: dict[str, str], problems: ProblemLog,
) -> bool:
    """Report each required or configured column that the table lacks; return whether all are present."""
    present = list(table.frame.columns)
    missing = [column for column in [*required, *config_keys] if column not in present]
    for column in missing:
        if column in config_keys:
            fix = f"add the column, or remove '{column}' from {config_keys[column]}"
        else:
            fix = f"add the column; {table.file} needs the columns {', '.join(required)}"
        problems.add(DataProblem(
            file=table.file, column=column, problem=f"missing column (the file has {', '.join(present)})", fix=fix,
        ))
    return not missing


def _log_ignored_columns(table: Table, used: list[str]) -> None:
    ignored = [column for column in table.frame.columns if column not in used]
    if ignored:
        log.info("%s: ignoring columns not named in the config: %s", table.file, ", ".join(ignored))
