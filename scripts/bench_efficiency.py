"""Measure mixed precision, distributed training, compression and scale; write four sections of docs/benchmarks.md.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_efficiency.py --epochs 12

Sections: "Mixed precision" (fp32 against bf16 on this machine's device),
"Distributed training" (1 against 2 gloo processes under torchrun),
"Compression" (size, latency and NDCG@10 of each serving.compression on the msr
split) and "Scale" (`genre bench --scale 1000000`). Every model is the default
config on MovieLens-100k with `--epochs` epochs, trained in a temporary registry.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.compression import COMPRESSIONS, CompressedModel  # noqa: E402
from genre_core.config import load_config, save_config  # noqa: E402
from genre_core.inputs import build_histories  # noqa: E402
from genre_core.pipeline import known_interactions, load_version, make_split, test_metrics_of, train  # noqa: E402
from genre_core.registry import ModelRegistry  # noqa: E402
from genre_core.service import Recommender  # noqa: E402

PYTHON = sys.executable
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def load_average() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def bench_config(folder: Path, epochs: int, precision: str = "fp32", name: str = "fp32"):
    """Build the default config on the msr split: `epochs` epochs, no early stopping, its own registry."""
    return load_config(None, {
        "split.protocol": "msr", "training.epochs": epochs, "training.patience": epochs,
        "training.precision": precision, "training.device": "cpu",
        "paths.registry_dir": str(folder / f"models-{name}"),
    })


# Mixed precision


def mixed_precision_section(folder: Path, epochs: int, rounds: int) -> tuple[str, Path]:
    """Train fp32 and bf16 in alternation `rounds` times, so both see the same load; keep each one's fastest run."""
    best: dict[str, tuple[float, float]] = {}
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    fp32_config_path = folder / "fp32.yaml"
    for round_number in range(rounds):
        for precision in ("fp32", "bf16"):
            config = bench_config(folder, epochs, precision, f"{precision}-{round_number}")
            _, result, metrics = train(config, progress=False)
            seconds = result.seconds / result.epochs_run
            times[precision].append(seconds)
            if precision not in best or seconds < best[precision][0]:
                best[precision] = (seconds, metrics["ndcg@10"])
            if precision == "fp32" and round_number == 0:
                save_config(config, fp32_config_path)
            print(f"{precision} round {round_number + 1}: {seconds:.2f} s/epoch, test ndcg@10 {metrics['ndcg@10']:.4f}", flush=True)
    rows = [(precision, *best[precision]) for precision in ("fp32", "bf16")]

    base_seconds, base_ndcg = rows[0][1], rows[0][2]
    lines = [
        "## Mixed precision",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_efficiency.py --epochs {epochs} --rounds {rounds}`. "
        f"Machine: {machine_description()}; load average {load_average()} at the end of this section.",
        f"Model: the default config (text, tabular, id; dim 128) on MovieLens-100k, msr split, {epochs} epochs, "
        "on the CPU. An epoch's time is the run's training time (inputs, steps and validation) divided by its epochs; "
        "validation and test scoring run in float32 in both rows.",
        f"The two precisions were trained in alternation, {rounds} times each, and each row keeps its fastest run "
        f"(all runs, s/epoch: fp32 {', '.join(f'{value:.2f}' for value in times['fp32'])}; "
        f"bf16 {', '.join(f'{value:.2f}' for value in times['bf16'])}). The seed is the same in every run.",
        "",
        "| precision | seconds per epoch | speed-up | test NDCG@10 | change |",
        "|---|---|---|---|---|",
    ]
    for precision, seconds, ndcg in rows:
        lines.append(f"| {precision} | {seconds:.2f} | {base_seconds / seconds:.2f}x | {ndcg:.4f} | "
                     f"{(ndcg - base_ndcg) / base_ndcg:+.1%} |")
    lines += ["", "fp16 needs a CUDA GPU (with a gradient scaler); `scripts/gpu_check.py` measures it on one."]
    return "\n".join(lines), fp32_config_path


def train_fp32_model(folder: Path, epochs: int) -> Path:
    """Train and register the fp32 model alone; return its config file."""
    config = bench_config(folder, epochs, "fp32", "fp32-0")
    train(config, progress=False)
    path = folder / "fp32.yaml"
    save_config(config, path)
    return path


# Distributed training


def run_train(command: list[str], config_path: Path, threads: int = 1) -> tuple[float, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    completed = subprocess.run(command + ["train", "--config", str(config_path), "--json", "--quiet"],
                               env=env, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr[-2000:]}")
    return time.perf_counter() - start, completed.stdout


def distributed_section(folder: Path, epochs: int) -> str:
    rows = []
    for processes in (1, 2):
        config = bench_config(folder, epochs, name=f"ddp{processes}")
        path = folder / f"ddp{processes}.yaml"
        save_config(config, path)
        if processes == 1:
            command = [PYTHON, "-m", "genre_core"]
        else:
            command = [TORCHRUN, "--standalone", "--nproc_per_node", str(processes), "-m", "genre_core"]
        wall, _ = run_train(command, path)
        meta = ModelRegistry.for_config(config).info().meta
        seconds = meta["training"]["seconds"]
        rows.append((processes, wall, seconds, meta["training"]["epochs_run"], meta["metrics"]["test"]["ndcg@10"]))
        print(f"{processes} process(es): {wall:.1f} s wall, test ndcg@10 {rows[-1][4]:.4f}", flush=True)

    lines = [
        "## Distributed training",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_efficiency.py --epochs {epochs}`, which runs "
        f"`genre train` once in one process and once under `torchrun --standalone --nproc_per_node 2` (gloo, CPU). "
        f"Machine: {machine_description()}; load average {load_average()} at the end of this section.",
        f"Model: the default config on MovieLens-100k, msr split, {epochs} epochs; each process uses one thread. "
        "Under torchrun each process takes half of every batch of 64 users, so both runs take the same steps.",
        "",
        "| processes | wall time of the command (s) | training time on rank 0 (s) | epochs | test NDCG@10 |",
        "|---|---|---|---|---|",
    ]
    for processes, wall, seconds, epochs_run, ndcg in rows:
        lines.append(f"| {processes} | {wall:.1f} | {seconds:.1f} | {epochs_run} | {ndcg:.4f} |")
    lines += [
        "",
        "Both processes share this machine's 2 cores with everything else that runs on it, so the time of the "
        "2-process run shows the overhead of gradient all-reduce more than the speed-up that separate devices give.",
    ]
    return "\n".join(lines)


# Compression


def compression_section(config_path: Path, epochs: int, latency_users: int = 200) -> str:
    config = load_config(config_path)
    loaded = load_version(config)
    split = make_split(loaded.config, loaded.dataset)
    histories = build_histories(known_interactions(split), loaded.dataset.n_users)
    item_inputs = loaded.inputs.item_inputs("cpu")
    max_history = loaded.config.model.max_history
    rng = np.random.default_rng(0)
    rows = []
    for compression in COMPRESSIONS:
        compressed = CompressedModel(loaded.model, item_inputs, compression)

        def score(users, compressed=compressed):
            batch = loaded.inputs.user_batch(users, [histories[user] for user in users], max_history, "cpu")
            return compressed.score(batch)

        metrics = test_metrics_of(score, loaded.dataset, split, [10])
        recommender = Recommender(loaded.config, loaded.dataset, loaded.model, loaded.inputs, loaded.meta, "cpu",
                                  compression=compression)
        users = rng.choice(recommender.user_ids(), size=latency_users)
        recommender.recommend(users[0], k=10)
        times = []
        for user in users:
            start = time.perf_counter()
            recommender.recommend(user, k=10)
            times.append((time.perf_counter() - start) * 1000)
        rows.append((compression, compressed.size_bytes(), compressed.vectors.nbytes, metrics["ndcg@10"],
                     float(np.percentile(times, 50)), float(np.percentile(times, 95))))
        print(f"{compression}: ndcg@10 {metrics['ndcg@10']:.4f}, p50 {rows[-1][4]:.2f} ms", flush=True)

    base = rows[0]
    lines = [
        "## Compression for serving",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_efficiency.py --epochs {epochs}`. "
        f"Machine: {machine_description()}; load average {load_average()} at the end of this section.",
        f"Model: the default config in fp32 (msr split, {epochs} epochs; the same seed and settings as the fp32 row "
        "of the mixed-precision section). "
        "NDCG@10 is full-ranking on the msr test part; latency is one `Recommender.recommend` top-10 "
        f"(user tower, scores over 1,682 items, top-k) for {latency_users} random users. "
        "Size is the saved state dict plus the stored item vectors.",
        "",
        "| serving.compression | size (KiB) | item vectors (KiB) | test NDCG@10 | relative change | p50 (ms) | p95 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for compression, size, vectors, ndcg, p50, p95 in rows:
        lines.append(f"| {compression} | {size / 1024:.0f} | {vectors / 1024:.0f} | {ndcg:.4f} | "
                     f"{(ndcg - base[3]) / base[3]:+.2%} | {p50:.2f} | {p95:.2f} |")
    meeting = [compression for compression, _, _, ndcg, _, _ in rows[1:] if (ndcg - base[3]) / base[3] >= -0.01]
    missing = [compression for compression, _, _, ndcg, _, _ in rows[1:] if (ndcg - base[3]) / base[3] < -0.01]
    lines += ["", "Target: at most 1% relative loss of NDCG@10. Met by: " + (", ".join(meeting) or "none")
              + ". Not met by: " + (", ".join(missing) or "none") + "."]
    return "\n".join(lines)


# Scale


SCALE_USERS = ["1", "2", "4", "8", "16", "64"]
# Timed passes per row, the best kept: single passes on this shared machine vary by about 10 points of the bound.
SCALE_REPEATS = 5
# The 2-thread run repeats a few rows only: on a shared 2-core machine it is slow and noisy.
TWO_THREAD_USERS = ["1", "4", "8", "16"]


def run_scale_bench(scale: int, threads: int, users: list[str], encoding: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [PYTHON, "-m", "genre_core", "bench", "--scale", str(scale), "--users", *users, "--repeats", str(SCALE_REPEATS),
               "--json", "--quiet"]
    if encoding:
        command.append("--encoding")
    completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"genre bench failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout)


def scoring_table(report: dict) -> list[str]:
    lines = [
        "| dims | users per batch | scorer | seconds per pass | users/s | catalogue (MiB) | peak memory (MiB) | "
        "copy GB/s | read GB/s | share of copy bound | share of read bound | torch.mm alone: share of read bound | "
        "peak GFLOP/s | compute bound (s) | share of roofline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["scoring"]:
        lines.append(
            f"| {row['dim']} | {row['n_users']} | {row['scorer']} | {row['seconds_per_pass']:.3f} | "
            f"{row['users_per_second']:.1f} | "
            f"{row['catalogue_bytes'] / 2**20:.0f} | {row['peak_memory_bytes'] / 2**20:.0f} | "
            f"{row['copy_bandwidth'] / 1e9:.1f} | {row['read_bandwidth'] / 1e9:.1f} | "
            f"{row['share_of_copy_bound']:.0%} | {row['share_of_read_bound']:.0%} | "
            f"{row['product_share_of_read_bound']:.0%} | {row['peak_flops'] / 1e9:.0f} | "
            f"{row['bound_seconds_compute']:.3f} | {row['share_of_roofline']:.0%} |"
        )
    return lines


def reached_rows(report: dict) -> str:
    """Name the rows at or above half of the read bound, by dimension."""
    parts = []
    for dim in sorted({row["dim"] for row in report["scoring"]}):
        users = [str(row["n_users"]) for row in report["scoring"]
                 if row["dim"] == dim and row["share_of_read_bound"] >= 0.5]
        if users:
            parts.append(f"{dim}-d with {', '.join(users[:-1]) + ' and ' if len(users) > 1 else ''}{users[-1]} "
                         f"user{'s' if len(users) > 1 or users[-1] != '1' else ''} per batch")
    return "; ".join(parts) if parts else "none"


def copy_note(report: dict) -> list[str]:
    """Explain shares of the copy bound above 100%, when the run has any."""
    if all(row["share_of_copy_bound"] <= 1 for row in report["scoring"]):
        return []
    copies = [row["copy_bandwidth"] / 1e9 for row in report["scoring"]]
    reads = [row["read_bandwidth"] / 1e9 for row in report["scoring"]]
    return [f"In this run a copy moved {min(copies):.1f} to {max(copies):.1f} GB/s (bytes read + written) and a read "
            f"of the catalogue {min(reads):.1f} to {max(reads):.1f} GB/s. So passes that read faster than a copy show "
            "shares of the copy bound above 100%. The target is judged on the read bound."]


def compute_bound_rows(report: dict) -> str:
    """Rows whose arithmetic at the measured peak rate takes longer than reading the catalogue once."""
    rows = [f"{row['dim']}-d with {row['n_users']} users" for row in report["scoring"]
            if row["bound_seconds_compute"] > row["bound_seconds_read"]]
    return ", ".join(rows) if rows else "none"


def scale_section(scale: int) -> str:
    report = run_scale_bench(scale, 1, SCALE_USERS, encoding=True)
    load_one = load_average()
    two_threads = run_scale_bench(scale, 2, TWO_THREAD_USERS, encoding=False)
    load_two = load_average()

    lines = [
        f"## Scale: a catalogue of {scale:,} items",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python -m genre_core bench --scale {scale} --users {' '.join(SCALE_USERS)} "
        f"--repeats {SCALE_REPEATS} --encoding --json` (synthetic standard-normal item and user vectors, seed 0; {report['threads']} thread). "
        f"Machine: {machine_description()}; load average {load_one} after the run.",
        "Before each timed pass the command measures the memory bandwidth twice: a copy of two "
        f"{report['copy_array_bytes'] / 2**20:.0f} MiB arrays (bytes read + bytes written) and a read-only pass over "
        "the catalogue itself, the faster of a sum and a dot product of the catalogue with itself (the dot product "
        "streams about a tenth faster than the sum here, so it gives the stricter bound). Each is the best of the "
        "row's repeats, so the bound and the pass share the load of the machine. The bound of one pass is the time "
        "to read the catalogue once at that bandwidth, and the share is that time over the measured pass.",
        f"Scoring runs in chunks of {report['chunk_size']:,} items with a running top-{report['k']}, so the memory "
        "beyond the catalogue is the maxima of a chunk's groups of 64 items (and, for `torch.mm`, one chunk of "
        "scores) and the running top-k. The scorer column names what computes the scores. For 1 to 16 users it is "
        "`kernel`: the vectorised loop of `genre_core/scale_kernel.py`, compiled for this processor through "
        "llvmlite. It reads each item vector once, in whole cache lines. It keeps 16 running sums of 16 lanes for "
        "16 / users items (users in panels of 8) and folds them with a fixed tree of shuffles into one row of "
        "scores. It writes only each user's maximum per group, because storing every score cost a fifth to a "
        "third of the pass with 8 and 16 users. A numba loop then scores again the items of at most k groups per "
        "user: those with the highest maxima, when they beat the user's current k-th score. With more users the "
        "scorer is `torch.mm` (from 5 users on, in 1 MiB blocks copied into a staging block first), and the k "
        "groups with the highest maxima per user are merged. The synthetic catalogue is allocated through numpy, "
        "which asks Linux for transparent huge pages; on 4 KiB pages the kernel's pass took about 1.7 times as "
        "long. Peak memory is the resident memory of the whole process during the row (Python and torch included).",
        "The last three columns are the roofline. A pass needs 2 × users × dims operations per item. Peak GFLOP/s is "
        "the best rate of a 512 × 512 float32 `torch.mm` on cached data on the same threads, measured between the "
        "passes. The compute bound is the pass's operations at that rate, and the share of the roofline is the larger "
        "of the read and compute bounds over the measured pass.",
        "",
        *scoring_table(report),
        "",
        f"Target: at least half of the bandwidth bound. Rows at or above half of the read bound: {reached_rows(report)}.",
        *copy_note(report),
        f"Rows whose arithmetic alone, at the peak rate, takes longer than one read of the catalogue: "
        f"{compute_bound_rows(report)}. No scorer can reach half of the bandwidth bound there on these threads, "
        "because the bound assumes the arithmetic is free. Below that, the kernel's arithmetic overlaps the read "
        "only in part: a pass takes somewhat less than one read plus the product's time on cache-resident data, so "
        "the share falls as the users per batch grow. `torch.mm` alone (the product of each chunk into one buffer, "
        "no top-k) shows what the packed matrix product of MKL reaches on the same data. With 4 or more users it "
        "stays near a third of the bound, because it copies and packs every block before multiplying it.",
        "",
        f"With 2 threads (`OMP_NUM_THREADS=2 ... --users {' '.join(TWO_THREAD_USERS)}`; the bound is then measured "
        f"with 2 threads too; load average {load_two} after the run). The kernel splits each chunk's groups between "
        "the threads, which meet once per chunk; the read bound almost doubles with the second core, the measured "
        "passes gain less, so the shares are lower than with 1 thread. Rows at or above half of the read bound: "
        f"{reached_rows(two_threads)}.",
        "",
        *scoring_table(two_threads),
    ]
    lines += ["", "Item encoding throughput with batching (item tower: text-only tower, dim 128, on random 384-d "
              "sentence vectors; text encoder: tokenise, forward and mean-pool of synthetic 2-to-6-word titles):", "",
              "| stage | batch size | items | items/s |", "|---|---|---|---|"]
    for row in report.get("encoding", []):
        lines.append(f"| {row['stage']} | {row['batch_size']} | {row['items']} | {row['items_per_second']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="epochs of every trained model (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating fp32/bf16 training rounds in the mixed-precision section (default: %(default)s)")
    parser.add_argument("--scale", type=int, default=1_000_000, help="items in the scale benchmark (default: %(default)s)")
    parser.add_argument("--sections", nargs="+", default=["precision", "distributed", "compression", "scale"],
                        choices=["precision", "distributed", "compression", "scale"], help="sections to measure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="genre-efficiency-") as name:
        folder = Path(name)
        if "scale" in args.sections:
            write_section("Scale", scale_section(args.scale))
            print("wrote Scale", flush=True)
        fp32_config = None
        if "precision" in args.sections:
            markdown, fp32_config = mixed_precision_section(folder, args.epochs, args.rounds)
            write_section("Mixed precision", markdown)
            print("wrote Mixed precision", flush=True)
        if "compression" in args.sections:
            if fp32_config is None:
                fp32_config = train_fp32_model(folder, args.epochs)
            write_section("Compression", compression_section(fp32_config, args.epochs))
            print("wrote Compression", flush=True)
        if "distributed" in args.sections:
            write_section("Distributed training", distributed_section(folder, args.epochs))
            print("wrote Distributed training", flush=True)


if __name__ == "__main__":
    main()
