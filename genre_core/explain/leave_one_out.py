"""History attribution by leave-one-out: re-score with each past item removed from the history."""

from __future__ import annotations

import numpy as np
import torch

CHUNK_ROWS = 128


def leave_one_out(problem) -> np.ndarray:
    """F(x) - F(x without past item i) for every history position i: (L,)."""
    length = int(problem.history_mask.sum())
    full = problem.value()
    drops = np.zeros(length)
    with torch.no_grad():
        for start in range(0, length, CHUNK_ROWS):
            positions = torch.arange(start, min(start + CHUNK_ROWS, length))
            rows = len(positions)
            mask = problem.history_mask.expand(rows, -1).clone()
            mask[torch.arange(rows), positions] = False
            view = _with_mask(problem, mask)
            inputs = [tensor.expand(rows, *tensor.shape[1:]) for tensor in problem.inputs[:-1]]
            scores = view.forward(*inputs, mask.to(torch.float32))
            drops[start:start + rows] = full - scores.numpy()
    return drops


def _with_mask(problem, mask):
    from dataclasses import replace

    return replace(problem, history_mask=mask, history=problem.history.expand(len(mask), -1),
                   history_rating=problem.history_rating.expand(len(mask), -1))
