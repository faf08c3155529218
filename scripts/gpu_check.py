"""Check GENRE on a CUDA GPU: scoring, one training epoch per precision, and print a table.

    .venv/bin/python scripts/gpu_check.py            # writes the "GPU" section of docs/benchmarks.md
    .venv/bin/python scripts/gpu_check.py --no-write # prints only

Without a CUDA device it prints "no CUDA device", writes nothing and exits 0,
so it is safe to run anywhere. Rows:

- scoring: the top-10 of 1,024 random users over a synthetic catalogue of one
  million 128-d items in chunks, on the GPU;
- training: one epoch of the default config on MovieLens-100k (msr split) in
  fp32, bf16 (where the GPU supports it) and fp16 with a gradient scaler.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402

SCALE_ITEMS = 1_000_000
SCALE_DIM = 128
SCALE_USERS = 1024
CHUNK = 262_144


def gpu_scoring(device: torch.device) -> dict:
    from genre_core.scale import synthetic_catalogue

    catalogue = synthetic_catalogue(SCALE_ITEMS, SCALE_DIM).pin_memory().to(device, non_blocking=True)
    users = torch.randn(SCALE_USERS, SCALE_DIM, device=device)
    top_k_chunked_on(device, users, catalogue)  # warm-up
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    top_k_chunked_on(device, users, catalogue)
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"check": f"scoring {SCALE_USERS} users x {SCALE_ITEMS:,} items ({SCALE_DIM}-d), top-10",
            "seconds": seconds, "result": f"{SCALE_USERS / seconds:,.0f} users/s; peak GPU memory "
            f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"}


def top_k_chunked_on(device: torch.device, users: torch.Tensor, catalogue: torch.Tensor, k: int = 10):
    """Chunked top-k on the GPU: one matmul and one top-k per chunk, merged with the running best."""
    best_values = torch.full((len(users), k), float("-inf"), device=device)
    best_indices = torch.zeros((len(users), k), dtype=torch.long, device=device)
    for start in range(0, len(catalogue), CHUNK):
        values, indices = torch.topk(users @ catalogue[start:start + CHUNK].T, k, dim=1)
        merged_values = torch.cat([best_values, values], 1)
        merged_indices = torch.cat([best_indices, indices + start], 1)
        best_values, order = torch.topk(merged_values, k, dim=1)
        best_indices = merged_indices.gather(1, order)
    return best_values, best_indices


def gpu_epoch(precision: str, folder: Path) -> dict:
    from genre_core.config import load_config
    from genre_core.pipeline import train

    config = load_config(None, {
        "split.protocol": "msr", "training.epochs": 1, "training.device": "cuda", "training.precision": precision,
        "paths.registry_dir": str(folder / f"models-{precision}"),
    })
    _, result, metrics = train(config, progress=False, register=False)
    return {"check": f"one training epoch, {precision}", "seconds": result.seconds,
            "result": f"test NDCG@10 {metrics['ndcg@10']:.4f} on {result.device}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print the table without writing docs/benchmarks.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: GPU checks skipped, docs/benchmarks.md unchanged")
        return 0

    device = torch.device("cuda", 0)
    rows = [gpu_scoring(device)]
    precisions = ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    with tempfile.TemporaryDirectory(prefix="genre-gpu-") as folder:
        for precision in precisions:
            rows.append(gpu_epoch(precision, Path(folder)))

    lines = [
        "## GPU",
        "",
        f"Command: `.venv/bin/python scripts/gpu_check.py`. Machine: {machine_description()}.",
        "Training rows: the default config on MovieLens-100k, msr split, one epoch (the time includes building "
        "the inputs and one validation pass).",
        "",
        "| check | seconds | result |",
        "|---|---|---|",
    ]
    lines += [f"| {row['check']} | {row['seconds']:.2f} | {row['result']} |" for row in rows]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("GPU", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
