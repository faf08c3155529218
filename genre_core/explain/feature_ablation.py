"""Feature ablation with the features grouped by modality: each modality set to its baseline alone."""

from __future__ import annotations

import torch
from captum.attr import FeatureAblation

from genre_core.explain.shares import group_shares


def ablation_shares(problem, settings):
    """Shares per modality by ablation; they need not add up to F(x) - F(baseline)."""
    with torch.no_grad():
        attributions = FeatureAblation(problem.forward).attribute(
            problem.inputs, baselines=problem.baselines, feature_mask=problem.feature_masks(),
            perturbations_per_eval=len(problem.inputs),
        )
    return group_shares(attributions), None, None
