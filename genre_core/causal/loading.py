"""The analysis table of a config's prepared data and, when one is registered, its active model."""

from __future__ import annotations

import logging

import pandas as pd

from genre_core.causal.table import build_analysis_table
from genre_core.config import Config
from genre_core.pipeline import load_prepared
from genre_core.registry import ModelRegistry, RegistryError

log = logging.getLogger(__name__)


def load_table(config: Config, with_model: bool = True) -> tuple[pd.DataFrame, str | None]:
    """Return the analysis table and the model version behind its model columns (None without a model)."""
    if with_model and ModelRegistry.for_config(config).active_version() is not None:
        from genre_core.service import Recommender

        try:
            recommender = Recommender.load(config)
        except RegistryError as error:
            log.warning("active model could not be loaded, so the table has no model columns: %s", error)
        else:
            return build_analysis_table(recommender.dataset, recommender), recommender.version
    return build_analysis_table(load_prepared(config, progress=False)), None
