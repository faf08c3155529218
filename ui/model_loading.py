"""Load the active model once per config file and version, or explain in the page what to run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st

from genre_core.config import DEFAULT_CONFIG, PROJECT_ROOT, Config, ConfigError, load_config
from genre_core.pipeline import is_prepared, prepared_folder
from genre_core.registry import ModelRegistry, RegistryError
from genre_core.service import Recommender
from ui.language import t

log = logging.getLogger(__name__)

CONFIG_ENV = "GENRE_CONFIG"

# Errors of a missing package, missing or corrupt files, or an invalid config. The
# analyst gets a translated message and the library's text, never a traceback.
LOAD_ERRORS = (RegistryError, ConfigError, FileNotFoundError, LookupError, ValueError, OSError)


def config_path() -> Path:
    """Return the config file the app serves: $GENRE_CONFIG, else the default MovieLens config."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser().resolve()


def config_label() -> str:
    """Return the served config path, relative to the project root when it is inside it."""
    path = config_path()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_recommender(path: str, version: str) -> Recommender:
    # `path` and `version` are the cache key: a newly promoted version is loaded
    # on the next rerun, and the old one is dropped once max_entries is reached.
    return Recommender.load(load_config(path), version=version)


def require_recommender() -> Recommender:
    """Return the recommender of the active model, or draw a message saying what to run and stop the page."""
    path = config_path()
    try:
        config = load_config(path)
        version = ModelRegistry.for_config(config).active_version()
    except (ConfigError, RegistryError) as error:
        log.warning("reading config %s or its registry failed: %s", path, error)
        _stop_with(t("load.config_invalid", path=path), error)

    if version is None:
        registry = ModelRegistry.for_config(config).root
        log.warning("no trained model in %s (config %s)", registry, path)
        _stop_with(t("load.no_model", registry=registry, config=path))
    if not _is_prepared(config):
        log.warning("data of config %s is not prepared in %s", path, prepared_folder(config))
        _stop_with(t("load.no_data", folder=prepared_folder(config), config=path))

    try:
        with st.spinner(t("load.spinner", version=version)):
            return _load_recommender(str(path), version)
    except LOAD_ERRORS as error:
        log.warning("loading model %s of config %s failed: %s", version, path, error)
        _stop_with(t("load.failed", version=version, config=path), error)


def show_dataset_notice(recommender: Recommender) -> None:
    """Warn on the page when the dataset's interactions are simulated."""
    if recommender.dataset.simulated:
        st.warning(t("dataset.simulated", dataset=recommender.dataset.name), icon=":material/science:")


def _is_prepared(config: Config) -> bool:
    try:
        return is_prepared(config)
    except (OSError, ValueError) as error:
        # A corrupt dataset.json counts as unprepared: `genre prepare` rewrites it.
        log.warning("prepared data of config %s is unreadable: %s", config.name, error)
        return False


def _stop_with(message: str, error: Exception | None = None) -> None:
    st.error(message, icon=":material/error:")
    if error is not None:
        with st.expander(t("load.details")):
            st.code(str(error), language=None, wrap_lines=True)
    st.stop()

