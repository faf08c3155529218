"""Integrated Gradients over the modality tensors, with n_steps raised until the result adds up."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from captum.attr import IntegratedGradients

from genre_core.explain.settings import STEP_LADDER

log = logging.getLogger(__name__)


@dataclass
class Convergence:
    """Closeness of the attributions' sum to F(x) - F(baseline), and the n_steps that reached it."""

    n_steps: int
    delta: float
    relative_delta: float
    converged: bool


def relative_delta(delta: float, difference: float) -> float:
    """|delta| / |F(x) - F(baseline)|; a zero difference with a zero delta counts as exact."""
    if abs(difference) < 1e-12:
        return 0.0 if abs(delta) < 1e-12 else float("inf")
    return abs(delta) / abs(difference)


def integrate(forward, inputs, baselines, settings, difference: float, attributor=None):
    """Run IG from settings.n_steps up the step ladder until the relative delta is at most the limit.

    Returns the attributions (one tensor per input) and the Convergence record.
    A result that is still above the limit at the top of the ladder is returned with a warning.
    """
    attributor = attributor or IntegratedGradients(forward)
    ladder = [steps for steps in STEP_LADDER if steps >= settings.n_steps]
    for steps in ladder:
        attributions, delta = attributor.attribute(
            inputs, baselines=baselines, n_steps=steps, internal_batch_size=settings.internal_batch_size,
            return_convergence_delta=True,
        )
        delta = float(delta.sum())
        relative = relative_delta(delta, difference)
        if relative <= settings.max_relative_delta:
            return attributions, Convergence(steps, delta, relative, True)
        log.info("IG relative delta %.4f above %.4f at n_steps=%d", relative, settings.max_relative_delta, steps)
    warnings.warn(
        f"Integrated Gradients did not converge: relative delta {relative:.3f} is above "
        f"{settings.max_relative_delta} at n_steps={steps}; treat the attributions as approximate",
        stacklevel=2,
    )
    return attributions, Convergence(steps, delta, relative, False)


def integrated_gradients_shares(problem, settings):
    """Shares per modality, per-history-item contributions and the Convergence of Integrated Gradients."""
    inputs = tuple(tensor.detach().requires_grad_(True) for tensor in problem.inputs)
    difference = problem.value() - problem.baseline_value()
    attributions, convergence = integrate(problem.forward, inputs, problem.baselines, settings, difference)
    shares = [float(tensor.detach().sum()) for tensor in attributions]
    return shares, attributions[-1][0].detach().numpy(), convergence
