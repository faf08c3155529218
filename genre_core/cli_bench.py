"""`genre bench`: score a synthetic catalogue of millions of items and report against the bandwidth bound."""

from __future__ import annotations

import argparse
import logging
import math

import torch

from genre_core.scale import (
    GIB, MIB, ScaleMemoryError, available_memory_bytes, benchmark_scoring, check_memory,
)

log = logging.getLogger(__name__)

# Share of the available memory a run may plan to use when --memory-limit-gib is not given.
DEFAULT_MEMORY_SHARE = 0.8
BANDWIDTH_BYTES = 256 * MIB
# Largest --scale. Generating the synthetic vectors alone runs at about 150 million floats per second on
# one core here, so 10 billion 64-d items take over an hour before any scoring.
MAX_SCALE = 10**10


def add_commands(commands, common) -> None:
    bench = commands.add_parser(
        "bench", parents=[common], help="score a synthetic catalogue in chunks and report users/s, peak memory and the bandwidth bound"
    )
    bench.add_argument("--scale", type=_scale, default=1_000_000,
                       help=f"items in the catalogue, at most {MAX_SCALE:,} (default: %(default)s)")
    bench.add_argument("--dims", type=_count, nargs="+", default=[64, 128], help="widths of the item and user vectors (default: 64 128)")
    bench.add_argument("--users", type=_count, nargs="+", default=[1, 2, 4, 8, 16, 64],
                       help="user batch sizes scored against the whole catalogue (default: 1 2 4 8 16 64)")
    bench.add_argument("--chunk-size", type=_count, default=65_536, help="items scored per chunk (default: %(default)s)")
    bench.add_argument("--k", type=_count, default=10, help="top-k per user (default: %(default)s)")
    bench.add_argument("--repeats", type=_count, default=3, help="timed passes per row; the best is kept (default: %(default)s)")
    bench.add_argument("--stream", action="store_true",
                       help="generate each chunk when it is scored instead of holding the catalogue in memory")
    bench.add_argument("--memory-limit-gib", type=float,
                       help=f"memory the run may plan to use, in GiB (default: {DEFAULT_MEMORY_SHARE * 100:.0f}%% of MemAvailable)")
    bench.add_argument("--encoding", action="store_true",
                       help="also time item encoding (item tower and the text encoder) at several batch sizes")
    bench.set_defaults(handler=run_bench)


def _count(text: str) -> int:
    try:
        number = float(text) if "e" in text.lower() else int(text)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(text)  # 2.5e0 is not a count; int() would silently truncate it to 2
        if isinstance(number, float) and number > 2**53:
            raise ValueError(text)  # 1e30 is not exact in a float: int() gives 1000000000000000019884624838656
        value = int(number)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; give a whole number such as 1000000") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value}; give a number of at least 1")
    return value


def _scale(text: str) -> int:
    value = _count(text)
    if value > MAX_SCALE:
        raise argparse.ArgumentTypeError(
            f"invalid scale {value:,}; give at most {MAX_SCALE:,} items, because generating more takes hours"
        )
    return value


def run_bench(args) -> dict:
    """Check memory for every row first, then measure scoring against bandwidth and (optionally) encoding."""
    limit = args.memory_limit_gib * GIB if args.memory_limit_gib is not None else DEFAULT_MEMORY_SHARE * available_memory_bytes()
    if not math.isfinite(limit) or limit <= 0:
        raise ScaleMemoryError(f"invalid --memory-limit-gib {args.memory_limit_gib}; give a positive number of GiB")
    for dim in args.dims:
        for n_users in args.users:
            check_memory(args.scale, dim, n_users, args.chunk_size, limit, args.stream)

    # The two bandwidth copy arrays take a quarter of the limit, from 64 MiB each (to exceed the caches) to 256 MiB.
    # NOTE: below a 512 MiB limit that floor takes more than the quarter, and check_memory does not count them.
    copy_bytes = int(max(64 * MIB, min(BANDWIDTH_BYTES, limit / 8)))
    rows = []
    for dim in args.dims:
        for n_users in args.users:
            result = benchmark_scoring(args.scale, dim, n_users, args.chunk_size, args.k, args.repeats,
                                       stream=args.stream, copy_bytes=copy_bytes)
            rows.append(result.to_dict())

    report = {
        "scale": args.scale, "chunk_size": args.chunk_size, "k": args.k, "stream": args.stream,
        "threads": torch.get_num_threads(), "memory_limit_bytes": int(limit),
        "copy_array_bytes": None if args.stream else copy_bytes,
        "scoring": rows,
    }
    if args.encoding:
        from genre_core.encoding_throughput import item_tower_throughput, text_encoder_throughput

        report["encoding"] = item_tower_throughput([1, 64, 1024, 16_384]) + text_encoder_throughput([1, 16, 64, 256])
    return report
