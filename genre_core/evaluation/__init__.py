"""Full-ranking metrics and baseline recommenders."""

from genre_core.evaluation.metrics import METRICS, full_ranking_metrics

__all__ = ["METRICS", "full_ranking_metrics"]
