"""`genre explain-benchmark` and the `--dataset` shortcut of `prepare` and `train` for the media catalogue."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from genre_core.config import PROJECT_ROOT

log = logging.getLogger(__name__)

CONFIG_DIR = PROJECT_ROOT / "assets" / "configs"
# Commands that also take --dataset NAME, a shortcut for --config assets/configs/NAME.yaml.
DATASET_COMMANDS = ("prepare", "train", "evaluate")


def dataset_config(name: str) -> Path:
    """Return the shipped config of dataset `name`, or raise FileNotFoundError listing the shipped ones."""
    shipped = sorted(file.stem for file in CONFIG_DIR.glob("*.yaml"))
    if name not in shipped:  # a name only: no paths such as ../other
        raise FileNotFoundError(f"no shipped config for dataset {name!r}; available: {', '.join(shipped)}. "
                                "Pass your own YAML file with --config instead")
    return CONFIG_DIR / f"{name}.yaml"


def add_commands(commands, common) -> None:
    for name in DATASET_COMMANDS:
        parser = commands.choices.get(name)
        if parser is None:
            continue
        parser.add_argument("--dataset", help="a shipped dataset (movielens, tuxpaint): uses assets/configs/NAME.yaml "
                                              "in place of --config")
        parser.set_defaults(handler=_with_dataset(name))

    benchmark = commands.add_parser(
        "explain-benchmark", parents=[common],
        help="how often the largest modality share names each simulated user's true driver",
    )
    benchmark.add_argument("--dataset", help="a shipped dataset with recorded drivers (tuxpaint)")
    benchmark.add_argument("--top-k", type=int, default=5, help="recommendations per user whose shares are summed")
    benchmark.add_argument("--users", type=int, help="explain a seeded random sample of this many users (default: all)")
    benchmark.add_argument("--method", default="integrated_gradients",
                           help="integrated_gradients, shapley or feature_ablation")
    benchmark.add_argument("--version", help="model version (default: the active one; trained first when there is none)")
    benchmark.set_defaults(handler=run_explain_benchmark)


def _with_dataset(command: str):
    def handler(args) -> dict[str, Any]:
        from genre_core.cli import COMMANDS

        if getattr(args, "dataset", None) is not None:
            args.config = str(dataset_config(args.dataset))
        return COMMANDS[command](args)

    return handler


def run_explain_benchmark(args) -> dict[str, Any]:
    from genre_core.config import load_config
    from genre_core.data.simulate import DRIVER, simulated_drivers
    from genre_core.explain import ExplainSettings
    from genre_core.explain.driver_benchmark import driver_benchmark
    from genre_core.pipeline import load_prepared, train
    from genre_core.registry import ModelRegistry
    from genre_core.service import Recommender

    if args.top_k < 1 or (args.users is not None and args.users < 1):
        raise ValueError(f"--top-k and --users must be at least 1, got {args.top_k} and {args.users}")
    config = load_config(dataset_config(args.dataset) if args.dataset else args.config)
    drivers = simulated_drivers(load_prepared(config, progress=not args.quiet))
    if not drivers:
        raise ValueError(f"dataset {config.data.name!r} records no {DRIVER} per user; "
                         "use a simulated catalogue such as --dataset tuxpaint")
    if args.version is None and not ModelRegistry.for_config(config).has_model():
        log.info("the registry of %s has no model; training one first", config.name)
        train(config, progress=not args.quiet)
    recommender = Recommender.load(config, version=args.version, device="cpu")
    settings = ExplainSettings(method=args.method, tokens=False)
    result = driver_benchmark(recommender, drivers, top_k=args.top_k, max_users=args.users, settings=settings,
                              seed=config.seed)
    return {"dataset": config.data.name, "simulated": True, **result}
