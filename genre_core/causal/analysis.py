"""One causal question answered in DoWhy's four steps: model, identify, estimate, refute."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd
from dowhy import CausalModel

from genre_core.causal import checks
from genre_core.causal.columns import SEGMENT_COLUMNS
from genre_core.causal.errors import CausalInputError
from genre_core.causal.estimators import DEFAULT_ESTIMATORS, estimate, get_estimator, naive_difference
from genre_core.causal.graph import check_graph, to_dot
from genre_core.causal.identification import identify
from genre_core.causal.questions import Question
from genre_core.causal.refutation import REFUTERS, refute
from genre_core.causal.segments import MIN_SEGMENT_ROWS, segment_effects
from genre_core.causal.sensitivity import model_sensitivity

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class AnalysisSettings:
    """How much work one analysis does; the defaults keep a question on 100k ratings near 30 s on 2 CPU cores."""

    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    refute_with: str | None = None  # the estimator the refuters test (default: the first one)
    refuters: tuple[str, ...] = REFUTERS
    bootstrap: int = 20
    simulations: int = 5
    segments: tuple[str, ...] = SEGMENT_COLUMNS
    min_segment_rows: int = MIN_SEGMENT_ROWS
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.estimators:
            raise CausalInputError("choose at least one estimator")
        for name in self.estimators:
            get_estimator(name)
        if self.refute_with is not None and self.refute_with not in self.estimators:
            raise CausalInputError(f"refute_with={self.refute_with!r} must be one of the chosen estimators {list(self.estimators)}")
        if self.simulations < 1:
            raise CausalInputError(f"simulations must be at least 1, got {self.simulations}")
        if self.min_segment_rows < 1:
            raise CausalInputError(f"min_segment_rows must be at least 1, got {self.min_segment_rows}")


@dataclass
class CausalReport:
    question: dict
    graph: str
    rows: int
    estimand: dict
    estimates: list[dict]
    naive_difference: float
    refuted_estimator: str
    refutations: list[dict]
    segments: list[dict]
    model_sensitivity: dict | None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def prepare_data(table: pd.DataFrame, question: Question, estimators) -> tuple[pd.DataFrame, object]:
    """Check the question against the table and return the complete rows of its columns and its graph."""
    checks.check_columns(table, question.treatment, question.outcome, question.confounders)
    graph = question.graph()
    check_graph(graph, question.treatment, question.outcome, table.columns)
    used = list(dict.fromkeys([question.treatment, question.outcome, *question.confounders, *graph.nodes]))
    data = checks.drop_missing(table, used)
    checks.check_variation(data, question.treatment, question.outcome)
    for name in estimators:
        if get_estimator(name).binary_treatment:
            checks.check_binary_treatment(data, question.treatment, name)
    for column in used:
        if checks.is_binary(data[column]):
            data[column] = data[column].astype(int)
        elif column not in (question.treatment, question.outcome) and data[column].std() > 0:
            # Standardised confounders keep the effect unchanged and let the propensity model converge quickly.
            data[column] = (data[column] - data[column].mean()) / data[column].std()
    return data, graph


def analyse(table: pd.DataFrame, question: Question, settings: AnalysisSettings = AnalysisSettings(),
            progress: Progress | None = None) -> CausalReport:
    """Answer `question` on `table`: check, identify, estimate with each estimator, refute, and split by segment."""
    start = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    treatment, outcome = question.treatment, question.outcome

    report(0.0, "model")
    data, graph = prepare_data(table, question, settings.estimators)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DoWhy and statsmodels warn on every fit about conventions, not data
        model = CausalModel(data=data.copy(), treatment=treatment, outcome=outcome, graph=graph)
        report(0.05, "identify")
        estimand, estimand_summary = identify(model)

        estimates, results = [], {}
        for index, name in enumerate(settings.estimators):
            report(0.1 + 0.5 * index / len(settings.estimators), f"estimate:{name}")
            summary, result, fitted_model = estimate(data, graph, treatment, outcome, estimand, name,
                                                     bootstrap=settings.bootstrap, seed=settings.seed)
            estimates.append(summary)
            results[name] = (summary, result, fitted_model)

        refuted = settings.refute_with or settings.estimators[0]
        report(0.6, f"refute:{refuted}")
        summary, result, _ = results[refuted]
        # The refuters get a model on clean data: a propensity estimator leaves its fitted
        # propensity_score column in its model's data, and a placebo run would reuse it.
        clean_model = CausalModel(data=data.copy(), treatment=treatment, outcome=outcome, graph=graph)
        refutations = refute(clean_model, estimand, result, summary.half_width, settings.simulations,
                             settings.seed, settings.refuters)

        report(0.85, "segments")
        segment_table = table.loc[table[list(data.columns)].notna().all(axis=1)].reset_index(drop=True)
        present = [column for column in settings.segments if column in segment_table.columns]
        segments = segment_effects(data, segment_table[present], graph, treatment, outcome, estimand,
                                   present, settings.min_segment_rows)
    sensitivity = model_sensitivity(table, treatment, [c for c in question.confounders if c in table.columns])
    report(1.0, "done")

    seconds = time.perf_counter() - start
    log.info("causal question %s answered in %.1f s", question.name, seconds)
    return CausalReport(
        question=question.to_dict(), graph=to_dot(graph), rows=len(data), estimand=estimand_summary,
        estimates=[item.to_dict() for item in estimates], naive_difference=naive_difference(data, treatment, outcome),
        refuted_estimator=refuted, refutations=[item.to_dict() for item in refutations], segments=segments,
        model_sensitivity=sensitivity, seconds=seconds,
    )
