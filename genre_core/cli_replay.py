"""CLI command of the replay experiment.

    genre replay [--windows N] [--window SIZE]
"""

from __future__ import annotations

from typing import Any

from genre_core.config import load_config


def add_commands(commands, common) -> None:
    replay = commands.add_parser(
        "replay", parents=[common],
        help="train on the oldest interactions, stream the rest in time order, and compare static, "
             "periodic and adaptive models (prequential NDCG/HR); replaces the previous replay run",
    )
    replay.add_argument("--window", type=int, help="interactions per window (overrides monitoring.window)")
    replay.add_argument("--windows", type=int, help="stop after this many windows (overrides monitoring.replay.max_windows)")
    replay.set_defaults(handler=_replay)


def _replay(args) -> dict[str, Any]:
    from genre_core.replay import run_file, run_replay

    overrides = {}
    if args.window is not None:
        overrides["monitoring.window"] = args.window
    if args.windows is not None:
        overrides["monitoring.replay.max_windows"] = args.windows
    config = load_config(args.config, overrides)
    run = run_replay(config, progress=not args.quiet)
    return {
        "run_file": str(run_file(config)),
        "dataset": run["dataset"],
        "windows": run["windows"],
        "interactions": run["interactions"],
        "seconds": run["seconds"],
        "initial_seconds": run["initial_seconds"],
        "policies": {name: result["summary"] for name, result in run["policies"].items()},
    }
