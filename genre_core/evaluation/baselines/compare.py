"""Fit baselines on one split and evaluate them by full ranking, for side-by-side tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import pandas as pd
from scipy import sparse

from genre_core.config import EvaluationConfig
from genre_core.evaluation.baselines import BASELINES, build_baseline
from genre_core.evaluation.metrics import full_ranking_metrics

log = logging.getLogger(__name__)


def evaluate_baselines(
    train: sparse.csr_matrix,
    test: sparse.csr_matrix,
    names: Sequence[str] = tuple(BASELINES),
    config: EvaluationConfig | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Fit each baseline in `names` on `train` and rank all items not in `train` against `test`.

    Returns one row per baseline with the columns baseline, fit_s (fit time in
    seconds), eval_s, one column per metric and k of ``config.ks``, and users.
    """
    config = config if config is not None else EvaluationConfig()
    rows = []
    for name in names:
        model = build_baseline(name, config, seed=seed)

        started = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - started

        started = time.perf_counter()
        metrics = full_ranking_metrics(model.score, seen=train, relevant=test, ks=config.ks)
        eval_seconds = time.perf_counter() - started

        log.info("%s: fit %.1f s, evaluation %.1f s, %s", name, fit_seconds, eval_seconds, metrics)
        rows.append({"baseline": name, "fit_s": fit_seconds, "eval_s": eval_seconds, **metrics})
    return pd.DataFrame(rows)
