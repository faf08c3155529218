"""Baseline recommenders, compared with GENRE on the same split in the same run.

Every baseline is constructed as ``cls(config, seed=seed)``, where config is
the baseline's section of :class:`~genre_core.config.EvaluationConfig` (None
for the popularity baseline, which has no settings), fitted with
``fit(train)`` and queried with ``score(user_indices)``.
"""

from __future__ import annotations

from genre_core.config import EvaluationConfig
from genre_core.evaluation.baselines.base import Baseline
from genre_core.evaluation.baselines.bpr import BPRBaseline
from genre_core.evaluation.baselines.itemknn import ItemKNNBaseline
from genre_core.evaluation.baselines.pop import PopularityBaseline

BASELINES: dict[str, type[Baseline]] = {
    "pop": PopularityBaseline,
    "itemknn": ItemKNNBaseline,
    "bpr": BPRBaseline,
}


def build_baseline(name: str, config: EvaluationConfig | None = None, seed: int = 0) -> Baseline:
    """Construct the baseline `name` with its settings from `config` (defaults when None)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; available baselines: {', '.join(BASELINES)}")
    config = config if config is not None else EvaluationConfig()
    # A baseline's settings are the EvaluationConfig field of the same name; pop has none.
    settings = getattr(config, name, None)
    return BASELINES[name](settings, seed=seed)


__all__ = ["BASELINES", "Baseline", "BPRBaseline", "ItemKNNBaseline", "PopularityBaseline", "build_baseline"]
