"""`genre causal`: answer a causal question on the analysis table; `genre causal validate`: check the estimators."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from genre_core.causal.errors import CausalInputError
from genre_core.causal.estimators import DEFAULT_ESTIMATORS, ESTIMATORS
from genre_core.causal.questions import QUESTIONS, custom_question, get_question
from genre_core.causal.validation import VALIDATION_ESTIMATORS
from genre_core.config import load_config

log = logging.getLogger(__name__)


def add_commands(commands, common) -> None:
    causal = commands.add_parser(
        "causal", parents=[common],
        help="estimate a causal effect on MovieLens in DoWhy's four steps, or validate the estimators (`causal validate`)",
    )
    causal.add_argument("action", nargs="?", choices=["run", "validate"], default="run",
                        help="run: answer a question (default); validate: estimate planted effects on simulated data")
    causal.add_argument("--question", default="popularity", choices=[*QUESTIONS, "custom"],
                        help="ready-made question, or custom with --treatment, --outcome and --confounders (default: %(default)s)")
    causal.add_argument("--treatment", help="treatment column of a custom question")
    causal.add_argument("--outcome", default="high_rating", help="outcome column of a custom question (default: %(default)s)")
    causal.add_argument("--confounders", default="", help="comma-separated confounder columns of a custom question")
    causal.add_argument("--graph", help="DOT file whose edges replace the question's default graph")
    causal.add_argument("--estimator", default=",".join(DEFAULT_ESTIMATORS),
                        help=f"comma-separated estimators from {', '.join(ESTIMATORS)} (default: %(default)s)")
    causal.add_argument("--bootstrap", type=int, default=20, help="bootstrap resamples for propensity intervals (default: %(default)s)")
    causal.add_argument("--simulations", type=int, default=5, help="simulations of each refuter (default: %(default)s)")
    causal.add_argument("--min-segment-rows", type=int, default=500, help="smallest segment that is estimated (default: %(default)s)")
    causal.add_argument("--seeds", type=int, default=50, help="validate: number of simulated datasets (default: %(default)s)")
    causal.add_argument("--rows", type=int, default=2000, help="validate: rows of each simulated dataset (default: %(default)s)")
    causal.add_argument("--effect", type=float, default=0.5, help="validate: planted effect (default: %(default)s)")
    causal.set_defaults(handler=run_causal)


def run_causal(args) -> dict[str, Any]:
    logging.getLogger("dowhy").setLevel(logging.WARNING)  # DoWhy logs every fit at INFO
    from genre_core.causal.loading import load_table

    config = load_config(args.config)
    estimators = tuple(name.strip() for name in args.estimator.split(",") if name.strip())
    if args.action == "validate":
        return _validate(config, args, estimators if args.estimator != ",".join(DEFAULT_ESTIMATORS) else VALIDATION_ESTIMATORS)

    from genre_core.causal.analysis import AnalysisSettings, analyse

    question = _question(args)
    settings = AnalysisSettings(estimators=estimators, bootstrap=args.bootstrap, simulations=args.simulations,
                                min_segment_rows=args.min_segment_rows)
    table, version = load_table(config, with_model=True)
    if question.needs_model and version is None:
        raise CausalInputError(f"question {question.name!r} needs a trained model; run `genre train` first")
    result = analyse(table, question, settings).to_dict()
    result["model_version"] = version
    return result


def _question(args):
    graph = None
    if args.graph:
        path = Path(args.graph)
        if not path.is_file():
            raise FileNotFoundError(f"graph file {path} not found; pass a DOT file such as `digraph {{ a -> b; }}`")
        graph = path.read_text(encoding="utf-8")
    if args.question == "custom":
        if not args.treatment:
            raise CausalInputError("a custom question needs --treatment COLUMN")
        confounders = [name.strip() for name in args.confounders.split(",") if name.strip()]
        return custom_question(args.treatment, args.outcome, confounders, graph)
    question = get_question(args.question)
    if graph is not None:
        return custom_question(question.treatment, question.outcome, question.confounders, graph)
    return question


def _validate(config, args, estimators) -> dict[str, Any]:
    from genre_core.causal.loading import load_table
    from genre_core.causal.validation import placebo_on_planted_zero, validate

    table, _ = load_table(config, with_model=False)
    result = validate(table, seeds=args.seeds, effect=args.effect, rows=args.rows, estimators=estimators,
                      bootstrap=max(args.bootstrap, 10))
    result["placebo_on_planted_zero"] = placebo_on_planted_zero(table, rows=args.rows)
    return result
