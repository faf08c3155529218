"""Measure GENRE on this machine and write docs/benchmarks.md.

Sections: GENRE against baselines on the msr and temporal protocols (beside the
published reference numbers), the default training time, the latency of one
user's top-10, and the app's peak memory.

    .venv/bin/python scripts/benchmark.py            # everything (about 10 minutes on 2 cores)
    .venv/bin/python scripts/benchmark.py --skip-app # without starting Streamlit
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import DEFAULT_CONFIG, load_config  # noqa: E402
from genre_core.pipeline import evaluate, train  # noqa: E402
from genre_core.service import Recommender  # noqa: E402

# Published MovieLens-100k figures (other runs, other splits): context, not comparison.
MSR_REFERENCE = {
    "BiVAE": {"ndcg@10": 0.4751, "recall@10": 0.2191},
    "BPR (cornac)": {"ndcg@10": 0.4420, "recall@10": 0.2125},
    "LightGCN": {"ndcg@10": 0.4198},
    "NCF": {"ndcg@10": 0.3961},
    "SAR": {"ndcg@10": 0.3825},
}
RECBOLE_REFERENCE = {"BPR (RecBole quick start)": {
    "recall@10": 0.2368, "mrr@10": 0.4519, "ndcg@10": 0.2768, "hit@10": 0.7614, "precision@10": 0.1901,
}}
COLUMNS = ["ndcg@10", "recall@10", "precision@10", "mrr@10", "hit@10", "ndcg@20", "recall@20"]


def metrics_table(results: dict, reference: dict) -> list[str]:
    lines = ["| model | " + " | ".join(COLUMNS) + " | fit (s) |", "|---" * (len(COLUMNS) + 2) + "|"]
    for name, metrics in results.items():
        cells = " | ".join(f"{metrics.get(column, float('nan')):.4f}" for column in COLUMNS)
        lines.append(f"| {name} (this run) | {cells} | {metrics.get('fit_seconds', 0):.1f} |")
    for name, metrics in reference.items():
        cells = " | ".join(f"{metrics[column]:.4f}" if column in metrics else "–" for column in COLUMNS)
        lines.append(f"| {name} (published) | {cells} | – |")
    return lines


def latency(recommender: Recommender, repeats: int = 300) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    users = rng.choice(recommender.user_ids(), size=repeats)
    recommender.recommend(users[0], k=10)
    times = []
    for user in users:
        start = time.perf_counter()
        recommender.recommend(user, k=10)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def app_peak_memory(config_path: Path) -> float:
    """Start the app, load the recommendations page in headless Chromium, return the server's peak RSS (MiB)."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "GENRE_CONFIG": str(config_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/?user=42", timeout=120_000)
            page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
            time.sleep(3)
            browser.close()
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        return peak_kib / 1024
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--skip-app", action="store_true", help="do not measure the app's memory")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    config_path = Path(args.config).resolve()
    load_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as registry:
        config = load_config(config_path, {"paths.registry_dir": registry})
        started = time.perf_counter()
        version, result, test_metrics = train(config, progress=True)
        train_seconds = time.perf_counter() - started
        recommender = Recommender.load(config)
        p50, p95 = latency(recommender)

        results = {protocol: evaluate(config, protocol, progress=True) for protocol in ("msr", "temporal")}

        tmp_config = Path(registry) / "config.yaml"
        tmp_config.write_text(config_path.read_text() + f"\npaths:\n  registry_dir: {registry}\n")
        peak = None if args.skip_app else app_peak_memory(tmp_config)

    lines = [
        "## Workbench: ranking quality, training and serving",
        "",
        f"Machine: {machine_description()}.",
        f"Command: `.venv/bin/python scripts/benchmark.py --config {Path(args.config).relative_to(ROOT) if Path(args.config).resolve().is_relative_to(ROOT) else args.config}`"
        f" ({time.strftime('%Y-%m-%d')}). Data: MovieLens-100k from recbole 1.2.1.",
        "",
        "All metrics are full-ranking: every item is scored and the user's training (and validation) items are removed.",
        "Baselines are fitted in the same run on the same split; published numbers come from other runs and are context only.",
        "",
        "### msr protocol (per-user random 75/25, top-10)",
        "",
        *metrics_table(results["msr"], MSR_REFERENCE),
        "",
        "### temporal protocol (leave the last interaction of each user out)",
        "",
        *metrics_table(results["temporal"], {}),
        "",
        "RecBole's published quick-start numbers use a per-user random 0.8/0.1/0.1 split:",
        "",
        *metrics_table({}, RECBOLE_REFERENCE),
        "",
        "### Training and serving",
        "",
        "| measure | value |",
        "|---|---|",
        f"| default model training time (`genre train`, {config.split.protocol} split, {result.epochs_run} epochs, best {result.best_epoch}) | {train_seconds:.1f} s |",
        f"| one user's top-10, p50 | {p50:.2f} ms |",
        f"| one user's top-10, p95 | {p95:.2f} ms |",
        f"| scoring device | {recommender.device} |",
        f"| app server peak memory (recommendations page loaded in Chromium) | {'not measured' if peak is None else f'{peak:.0f} MiB'} |",
        f"| load average of the machine at start and end (other processes share the cores) | {load_start:.1f}, {os.getloadavg()[0]:.1f} |",
        "",
        "Settings: " + json.dumps({
            "genre": {"model": config.model.__dict__, "training": config.training.__dict__},
            "bpr": config.evaluation.bpr.__dict__, "itemknn": config.evaluation.itemknn.__dict__,
        }, default=str),
        "",
    ]
    text = "\n".join(lines)
    write_section("workbench", text, Path(args.out))
    print(text)


if __name__ == "__main__":
    main()
