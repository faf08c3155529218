"""Attributions of recommendations: per modality, per past item and per word, with trust data."""

from genre_core.explain.engine import clear_cache, explain
from genre_core.explain.registry import EXPLAINERS
from genre_core.explain.scoring import MODALITIES
from genre_core.explain.settings import ExplainError, ExplainSettings

__all__ = ["EXPLAINERS", "MODALITIES", "ExplainError", "ExplainSettings", "clear_cache", "explain"]
