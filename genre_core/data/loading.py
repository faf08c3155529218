"""Load the dataset that a :class:`DataConfig` describes."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from genre_core.config import ConfigError, DataConfig
from genre_core.data.custom import load_custom
from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.data.grouplens import load_grouplens
from genre_core.data.movielens import ITEM_FEATURES, USER_FEATURES, load_recbole_ml100k

log = logging.getLogger(__name__)

SOURCES = ("recbole", "grouplens", "custom", "tuxpaint")
RECBOLE_INTERACTIONS_FILE = "ml-100k.inter"


def load_dataset(data_config: DataConfig, cache_dir: str | Path = "cache", progress: bool = False) -> Dataset:
    """Load MovieLens-100k (from recbole or GroupLens files) or the user's own files.

    ``data.path`` is optional for recbole, where it names a folder with
    recbole's ml-100k atomic files and defaults to the copy inside the
    installed package. It is required for grouplens (folder or zip) and custom
    (folder). A relative path is resolved against the current working directory. The config's feature lists
    apply to custom data only; MovieLens always uses its own feature columns. The tuxpaint
    simulation reads the stamps' features from (and adds them to) `cache_dir`.
    """
    source = data_config.source
    if source not in SOURCES:
        raise ConfigError(f"config key 'data.source': invalid value {source!r}; allowed values: {', '.join(SOURCES)}")
    if source == "tuxpaint":
        # The stamps folder defaults to the Debian package's; the item features are fixed by the catalogue.
        from genre_core.data.simulate import load_tuxpaint

        return load_tuxpaint(data_config.path, data_config.simulation, name=data_config.name, cache_dir=cache_dir,
                             progress=progress)
    path = _resolve_path(data_config)
    log.info("loading data from source '%s' at %s", source, path or "the installed recbole package")

    if source == "custom":
        # The default name belongs to MovieLens; unnamed custom data takes its folder's name.
        name = None if data_config.name == DataConfig().name else data_config.name
        return load_custom(path, data_config, name=name)

    _warn_if_feature_lists_ignored(data_config)
    if source == "grouplens":
        return load_grouplens(path)
    if path is not None and not (path / RECBOLE_INTERACTIONS_FILE).is_file():
        raise FileNotFoundError(
            f"{path / RECBOLE_INTERACTIONS_FILE} not found; data.path for source 'recbole' must be a folder with "
            "recbole's ml-100k.inter, ml-100k.item and ml-100k.user, "
            "or be left out to use the installed recbole package"
        )
    return load_recbole_ml100k(path)


def _resolve_path(data_config: DataConfig) -> Path | None:
    if data_config.path is None or not str(data_config.path).strip():
        if data_config.source == "recbole":
            return None
        if data_config.source == "grouplens":
            expected = "the ml-100k folder or ml-100k.zip"
        else:
            expected = "the folder with your files"
        raise ConfigError(
            f"config key 'data.path' is required when data.source is '{data_config.source}'; set it to {expected}"
        )
    return Path(data_config.path).expanduser()


def _warn_if_feature_lists_ignored(data_config: DataConfig) -> None:
    items = FeatureSpec(
        text=data_config.item_text, categorical=data_config.item_categorical,
        multilabel=data_config.item_multilabel, numeric=data_config.item_numeric,
    )
    users = FeatureSpec(categorical=data_config.user_categorical, numeric=data_config.user_numeric)
    if items == ITEM_FEATURES and users == USER_FEATURES:
        return
    warnings.warn(
        f"data.item_* and data.user_* feature lists are ignored for data.source '{data_config.source}'; "
        f"MovieLens uses item features {ITEM_FEATURES.columns} and user features {USER_FEATURES.columns}. "
        "Remove the lists from the config, or set data.source to 'custom' to choose the columns.",
        stacklevel=3,
    )
