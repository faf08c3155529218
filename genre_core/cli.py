"""Command-line interface: `genre` or `python -m genre_core`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from typing import Any, Sequence

from genre_core import cli_whatif
from genre_core.config import DEFAULT_CONFIG, load_config
from genre_core.data.splits import PROTOCOLS

log = logging.getLogger("genre_core")

# Modules that add subcommands: each has `add_commands(commands, common)`, which adds
# parsers with `set_defaults(handler=FUNCTION)`; the handler takes the parsed
# arguments and returns a JSON-serialisable dict.
EXTENSIONS: list[str] = ["genre_core.cli_feedback", "genre_core.cli_explain", "genre_core.cli_causal", "genre_core.cli_replay",
                          "genre_core.cli_whatif", "genre_core.cli_bench", "genre_core.cli_media"]

# Errors that are the user's to fix: printed as one line, never as a traceback.
USER_ERRORS = (ValueError, LookupError, FileNotFoundError, RuntimeError, PermissionError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genre", description="GENRE multimodal recommender")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config file (default: %(default)s)")
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    common.add_argument("--quiet", action="store_true", help="hide progress bars and log messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("prepare", parents=[common], help="load and validate the data, cache text vectors")

    train = commands.add_parser("train", parents=[common], help="train a model and register it as active")
    train.add_argument("--if-missing", action="store_true", help="do nothing when the registry already has an active model")
    train.add_argument("--epochs", type=int, help="override training.epochs")

    evaluate = commands.add_parser("evaluate", parents=[common], help="GENRE and baselines on one split's test part")
    evaluate.add_argument("--protocol", choices=PROTOCOLS, help="split protocol (default: the config's split.protocol)")

    recommend = commands.add_parser("recommend", parents=[common], help="top-k items for one user")
    recommend.add_argument("--user", required=True, help="user ID")
    recommend.add_argument("--k", type=_positive_int, default=10, help="number of items (default: %(default)s)")
    recommend.add_argument("--version", help="model version (default: the active one)")
    recommend.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: the config's training.device)")
    cli_whatif.add_history_options(recommend)

    for module_name in EXTENSIONS:
        importlib.import_module(module_name).add_commands(commands, common)
    return parser


def _positive_int(text: str) -> int:
    """Parse a count from the command line, rejecting zero and negatives before any model loads."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}; give a whole number such as 10") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}; give a number of at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    try:
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        result = handler(args)
    except USER_ERRORS as error:
        print(f"genre {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genre {args.command}: interrupted", file=sys.stderr)
        return 130
    _print(result, args.json)
    return 0


def _prepare(args) -> dict[str, Any]:
    from genre_core.pipeline import prepare, prepared_folder

    config = load_config(args.config)
    dataset = prepare(config, progress=not args.quiet)
    return {
        "dataset": dataset.name, "interactions": len(dataset.interactions), "items": dataset.n_items,
        "users": dataset.n_users, "fingerprint": dataset.fingerprint(), "folder": str(prepared_folder(config)),
    }


def _train(args) -> dict[str, Any]:
    from genre_core.distributed import launched_by_torchrun
    from genre_core.pipeline import train
    from genre_core.registry import ModelRegistry

    overrides = {"training.epochs": args.epochs} if args.epochs is not None else None
    config = load_config(args.config, overrides)
    registry = ModelRegistry.for_config(config)
    if args.if_missing and registry.has_model():
        return {"skipped": True, "active_version": registry.active_version(), "registry": str(registry.root)}
    version, result, metrics = train(config, progress=not args.quiet)
    summary = {
        "version": version, "registry": str(registry.root), "seconds": round(result.seconds, 1),
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "device": result.device,
        "valid": result.valid_metrics, "test": metrics,
    }
    if launched_by_torchrun():
        # Only rank 0 registers and measures the test split; other ranks report version None.
        summary["rank"] = int(os.environ["RANK"])
    return summary


def _evaluate(args) -> dict[str, Any]:
    from genre_core.pipeline import evaluate

    config = load_config(args.config)
    return evaluate(config, args.protocol, progress=not args.quiet)


def _recommend(args) -> dict[str, Any]:
    from genre_core.service import Recommender

    if cli_whatif.has_history_edits(args):
        return cli_whatif.run_recommend_with_edits(args)

    config = load_config(args.config)
    recommender = Recommender.load(config, version=args.version, device=args.device)
    return recommender.recommend(args.user, k=args.k).to_dict()


COMMANDS = {"prepare": _prepare, "train": _train, "evaluate": _evaluate, "recommend": _recommend}


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    if "items" in result and isinstance(result["items"], list):
        print(f"user {result['user_id']} · model {result['model_version']} · device {result['device']}")
        for row in result["items"]:
            print(f"{row['rank']:>3}  {row['score']:8.4f}  {row.get('item_id')}  {row.get('title', '')}")
        return
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            print(f"{key}:")
            print(_table(value))
        elif isinstance(value, dict):
            fields = [f"{name}={number:.4f}" if isinstance(number, float) else f"{name}={number}" for name, number in value.items()]
            print(f"{key}: {', '.join(fields)}")
        else:
            print(f"{key}: {value}")



# Columns of a printed table of result rows, where a row has them: `genre bench` scoring and encoding rows.
TABLE_COLUMNS = {
    "dim": ("dims", "{}"), "n_users": ("users", "{}"), "scorer": ("scorer", "{}"),
    "seconds_per_pass": ("s/pass", "{:.4f}"), "users_per_second": ("users/s", "{:.1f}"),
    "read_bandwidth": ("read GB/s", "{:.1f}", 1e-9), "share_of_read_bound": ("read bound", "{:.0%}"),
    "share_of_roofline": ("roofline", "{:.0%}"), "peak_memory_bytes": ("peak MiB", "{:.0f}", 2**-20),
    "stage": ("stage", "{}"), "batch_size": ("batch", "{}"), "items_per_second": ("items/s", "{:.0f}"),
}


def _table(rows: list[dict[str, Any]]) -> str:
    """Rows of a result as an aligned text table: the TABLE_COLUMNS they have, or every field."""
    columns = [name for name in TABLE_COLUMNS if name in rows[0]] or list(rows[0])
    header = [TABLE_COLUMNS[name][0] if name in TABLE_COLUMNS else name for name in columns]
    cells = []
    for row in rows:
        line = []
        for name in columns:
            value = row.get(name)
            if name in TABLE_COLUMNS and isinstance(value, (int, float)) and not isinstance(value, bool):
                _, template, *scale = TABLE_COLUMNS[name]
                line.append(template.format(value * scale[0] if scale else value))
            else:
                line.append(str(value))
        cells.append(line)
    widths = [max(len(text) for text in column) for column in zip(header, *cells)]
    return "\n".join("  " + "  ".join(text.rjust(width) for text, width in zip(line, widths)) for line in [header, *cells])


if __name__ == "__main__":
    sys.exit(main())
