"""Fit the baseline recommenders on a MovieLens-100k split and print their full-ranking metrics.

Example (the msr protocol: per-user random 75/25, seen items removed):

    .venv/bin/python scripts/run_baselines.py --protocol msr --seed 0 --set bpr.reg=0.01

Baselines are fitted on train ∪ valid and evaluated on test, with train ∪ valid
as the seen items.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd
import yaml

# Lets `python scripts/run_baselines.py` import genre_core from a source checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genre_core.config import ConfigError, EvaluationConfig, from_dict  # noqa: E402
from genre_core.data.dataset import interaction_matrix  # noqa: E402
from genre_core.data.movielens import load_recbole_ml100k  # noqa: E402
from genre_core.data.splits import PROTOCOLS, split_interactions  # noqa: E402
from genre_core.evaluation.baselines import BASELINES  # noqa: E402
from genre_core.evaluation.baselines.compare import evaluate_baselines  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=PROTOCOLS, default="msr", help="split protocol (default: msr)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the baselines (default: 0)")
    parser.add_argument(
        "--baselines", nargs="+", choices=list(BASELINES), default=list(BASELINES),
        help="baselines to run (default: all)",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override an evaluation setting, for example bpr.epochs=50 or ks=[10]; repeatable",
    )
    return parser.parse_args(argv)


def evaluation_config(overrides: list[str]) -> EvaluationConfig:
    """Build the evaluation section from defaults plus KEY=VALUE overrides, validated like a config file."""
    raw: dict = {}
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator:
            raise ConfigError(f"override {override!r} has no '='; write it as KEY=VALUE, such as bpr.epochs=50")
        section = raw.setdefault("evaluation", {})
        *parents, leaf = key.split(".")
        for part in parents:
            section = section.setdefault(part, {})
        section[leaf] = yaml.safe_load(value)
    return from_dict(raw).evaluation


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        config = evaluation_config(args.overrides)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    dataset = load_recbole_ml100k()
    split = split_interactions(dataset.interactions, args.protocol, seed=args.seed)
    fit_frame = pd.concat([split.train, split.valid], ignore_index=True)
    train = interaction_matrix(fit_frame, dataset.n_users, dataset.n_items)
    test = interaction_matrix(split.test, dataset.n_users, dataset.n_items)

    table = evaluate_baselines(train, test, args.baselines, config, seed=args.seed)
    print(f"\n{dataset.name}, protocol {args.protocol}, seed {args.seed}, split {split.summary()}")
    print(f"bpr {config.bpr}\nitemknn {config.itemknn}\n")
    print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
