"""Time one causal question on all MovieLens-100k ratings and validate the estimators over many seeds.

Writes the "causal" section of docs/benchmarks.md. Usage:
    python scripts/bench_causal.py [--config FILE] [--seeds 50]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.causal.analysis import AnalysisSettings, analyse  # noqa: E402
from genre_core.causal.loading import load_table  # noqa: E402
from genre_core.causal.questions import get_question  # noqa: E402
from genre_core.causal.validation import placebo_on_planted_zero, validate  # noqa: E402
from genre_core.config import DEFAULT_CONFIG, load_config  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="config with a trained model (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=50, help="simulated datasets for validation (default: %(default)s)")
    parser.add_argument("--estimator", default="propensity_score_weighting", help="estimator of the timed question")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = load_config(args.config)
    start = time.perf_counter()
    table, version = load_table(config)
    table_seconds = time.perf_counter() - start

    settings = AnalysisSettings(estimators=(args.estimator,))
    report = analyse(table, get_question("popularity"), settings).to_dict()
    estimate = report["estimates"][0]
    passed = sum(bool(item["passed"]) for item in report["refutations"])

    start = time.perf_counter()
    result = validate(table, seeds=args.seeds)
    validation_seconds = time.perf_counter() - start
    placebo = placebo_on_planted_zero(table)

    lines = [
        "## Causal effects",
        "",
        f"Command: `python scripts/bench_causal.py --config {args.config} --seeds {args.seeds}` on {machine_description()}.",
        f"Data: MovieLens-100k, {report['rows']} ratings; model {version or 'none'}.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| analysis table (with the model's top-10 of every rating) | {table_seconds:.1f} |",
        f"| question `popularity`, {args.estimator}, {settings.bootstrap} bootstrap resamples, "
        f"4 refuters × {settings.simulations} simulations, {len(report['segments'])} segments | {report['seconds']:.1f} |",
        "",
        f"Estimate: {estimate['value']:+.4f} [{estimate['ci_low']:+.4f}, {estimate['ci_high']:+.4f}], "
        f"naive difference {report['naive_difference']:+.4f}; {passed} of {len(report['refutations'])} refuters passed.",
        "",
        f"Validation: {result['seeds']} seeds of {result['rows_per_seed']} real covariate rows each, simulated treatment "
        f"and outcome with planted effect {result['planted_effect']}, {validation_seconds:.0f} s in all.",
        "",
        "| estimator | bias | mean absolute error | 95% CI coverage |",
        "|---|---|---|---|",
    ]
    for name, summary in result["estimators"].items():
        lines.append(f"| {name} | {summary['bias']:+.4f} | {summary['mean_absolute_error']:.4f} | {summary['coverage']:.0%} |")
    lines.append(f"| naive difference in means | {result['naive_difference']['bias']:+.4f} | | |")
    lines += [
        "",
        f"Placebo refuter on a planted zero effect: placebo effect {placebo['placebo']['new_effect']:+.4f}, "
        f"{'passed' if placebo['placebo']['passed'] else 'failed'}.",
    ]
    markdown = "\n".join(lines)
    print(markdown)
    write_section("causal", markdown)


if __name__ == "__main__":
    main()
