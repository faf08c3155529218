"""Measure label write latency and the time from "Retrain now" to a new active version; write docs/benchmarks.md.

The active model of the config's registry is copied into a temporary folder
first, so the benchmark never changes the registry it reads from.

    .venv/bin/python scripts/bench_feedback.py [--config FILE] [--labels 200] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import DEFAULT_CONFIG, load_config  # noqa: E402
from genre_core.feedback.jobs import UNFINISHED  # noqa: E402
from genre_core.feedback.runner import RetrainJob  # noqa: E402
from genre_core.feedback.store import FeedbackStore  # noqa: E402
from genre_core.registry import ModelRegistry  # noqa: E402
from genre_core.service import Recommender  # noqa: E402

USER = "42"
IRRELEVANT_LABELS = 20
POLL_SECONDS = 0.2


def copied_config(config_path: str, folder: Path):
    source = load_config(config_path)
    registry = ModelRegistry.for_config(source)
    if not registry.has_model():
        raise SystemExit(f"no active model in {registry.root}; train one first with `genre train --config {config_path}`")
    shutil.copytree(registry.root, folder / "models" / source.name)
    return load_config(config_path, {
        "paths.registry_dir": str(folder / "models"),
        "feedback.database_url": f"sqlite:///{folder / 'feedback.sqlite'}",
    })


def label_latency(config, dataset, count: int) -> list[float]:
    """Seconds per committed label, each validated and written in its own transaction."""
    store = FeedbackStore.open(config, dataset)
    seconds = []
    for number in range(count):
        item = str(dataset.item_ids[number % dataset.n_items])
        start = time.perf_counter()
        store.add(USER, item, "relevant", "benchmark", reason="latency probe")
        seconds.append(time.perf_counter() - start)
    return seconds


def retrain_to_active(config, dataset) -> tuple[float, str, bool, dict]:
    """Seconds from the click (job creation, as the page does it) to the registry naming a new version."""
    recommender = Recommender.load(config)
    store = FeedbackStore.open(config, dataset)
    for row in recommender.recommend(USER, k=IRRELEVANT_LABELS).items.itertuples(index=False):
        store.add(USER, row.item_id, "irrelevant", "benchmark", model_version=recommender.version, rank=int(row.rank))
    registry = ModelRegistry.for_config(config)
    base = registry.active_version()

    start = time.perf_counter()
    job = RetrainJob.begin(config)
    job.start_thread()
    while (state := job.jobs.get(job.job_id))["state"] in UNFINISHED:
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - start
    if state["state"] != "succeeded":
        raise SystemExit(f"retraining job {job.job_id} {state['state']}: {state['message']}")
    result = state["result"]
    return seconds, result["version"], registry.active_version() != base, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="config whose active model is retrained (default: %(default)s)")
    parser.add_argument("--labels", type=int, default=200, help="labels written for the latency measurement")
    parser.add_argument("--runs", type=int, default=1, help="retraining runs, each from a fresh copy of the registry")
    args = parser.parse_args()

    latencies, runs = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="genre-bench-feedback-") as folder:
            config = copied_config(args.config, Path(folder))
            dataset = Recommender.load(config).dataset
            if run == 0:
                latencies = label_latency(config, dataset, args.labels)
                FeedbackStore.open(config).engine.dispose()
                (Path(folder) / "feedback.sqlite").unlink()
                for suffix in ("-wal", "-shm"):
                    (Path(folder) / f"feedback.sqlite{suffix}").unlink(missing_ok=True)
            runs.append(retrain_to_active(config, dataset))

    latencies_ms = sorted(value * 1000 for value in latencies)
    p95 = latencies_ms[int(0.95 * (len(latencies_ms) - 1))]
    rows = []
    for index, (seconds, version, promoted, result) in enumerate(runs, 1):
        metrics = result["comparison"]["metrics"]
        rows.append(
            f"| {index} | {seconds:.1f} | {version} | {'yes' if promoted else 'no (candidate)'} | "
            f"{metrics['ndcg@10_before']:.4f} → {metrics['ndcg@10_after']:.4f} | {result['comparison']['moved_fraction']:.0%} |"
        )
    markdown = "\n".join([
        "## Feedback: label writes and retraining",
        "",
        f"Command: `.venv/bin/python scripts/bench_feedback.py --labels {args.labels} --runs {args.runs}` "
        f"(config `{Path(args.config).name}`, a copy of its active model). Machine: {machine_description()}; "
        f"load average {os.getloadavg()[0]:.1f} when the run ended (other processes share the cores).",
        "",
        f"Write latency of one label (validated, committed to SQLite in WAL mode with synchronous=FULL), {len(latencies_ms)} labels:"
        f" median {statistics.median(latencies_ms):.2f} ms, 95th percentile {p95:.2f} ms, max {latencies_ms[-1]:.2f} ms.",
        "",
        f"Time from \"Retrain now\" to a new version in the registry ({IRRELEVANT_LABELS} irrelevant labels for user {USER}; "
        "the clock starts at job creation, as the button does it, and stops when the job row says succeeded):",
        "",
        "| run | seconds | version | made active | validation NDCG@10 | labels moved as labelled |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Target: under 60 s on CPU for MovieLens-100k.",
    ])
    write_section("feedback", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
