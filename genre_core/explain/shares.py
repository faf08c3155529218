"""Modality shares from grouped attributions, and how well two methods agree on them."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def group_shares(attributions) -> list[float]:
    """One share per modality tensor from a grouped perturbation method.

    Captum gives every element of a feature group the group's whole attribution,
    so one element is read per tensor, not the sum.
    """
    return [float(tensor.flatten()[0]) for tensor in attributions]


def top_order(shares: list[float], count: int = 3) -> list[int]:
    """Indices of the `count` modalities with the largest absolute share, largest first."""
    return [int(index) for index in np.argsort(-np.abs(np.asarray(shares)), kind="stable")[:count]]


def method_agreement(first: list[float], second: list[float], active: list[bool]) -> dict:
    """Spearman rank correlation of two share vectors over the active modalities, and the top-3 order match."""
    left = np.asarray([share for share, used in zip(first, active) if used])
    right = np.asarray([share for share, used in zip(second, active) if used])
    if len(left) < 2 or np.ptp(left) == 0 or np.ptp(right) == 0:
        correlation = 1.0 if np.allclose(left, right) else 0.0
    else:
        correlation = float(spearmanr(left, right).statistic)
    count = min(3, len(left))
    return {
        "spearman": correlation,
        "top3_same_order": top_order(list(left), count) == top_order(list(right), count),
    }
