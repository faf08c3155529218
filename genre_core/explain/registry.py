"""The explainer registry: the attribution methods for modality shares, by the names used in settings."""

from __future__ import annotations

from genre_core.explain.feature_ablation import ablation_shares
from genre_core.explain.integrated_gradients import integrated_gradients_shares
from genre_core.explain.shapley import shapley_shares

EXPLAINERS = {
    "integrated_gradients": integrated_gradients_shares,
    "shapley": shapley_shares,
    "feature_ablation": ablation_shares,
}
