"""Media modalities on the Tux Paint catalogue: fused vs single-modality NDCG@10, and the driver benchmark.

Usage: OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_media.py [--benchmark-users N]
Writes the section "Media modalities" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import load_config  # noqa: E402
from genre_core.data.simulate import DRIVERS, simulated_drivers  # noqa: E402
from genre_core.evaluation.groups import new_item_metrics, train_and_measure  # noqa: E402
from genre_core.pipeline import load_prepared  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "assets" / "configs" / "tuxpaint.yaml"
VARIANTS = (["text"], ["image"], ["audio"], ["text", "image", "audio"])


def table(rows: list[tuple[str, dict]], groups: tuple[str, ...]) -> str:
    header = "| modalities | all users | " + " | ".join(f"{group}-driven users" for group in groups) + " | train s |"
    lines = [header, "|" + "---|" * (len(groups) + 3)]
    for name, result in rows:
        metrics = result["metrics"]
        cells = [f"{metrics[group]['ndcg@10']:.4f}" if group in metrics else "–" for group in ("all", *groups)]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {result['seconds']:.0f} |")
    return "\n".join(lines)


def verdict(rows: list[tuple[str, dict]], protocol: str) -> str:
    """Return one sentence: whether the fused model (the last row) beats every single-modality model on all users."""
    fused = rows[-1][1]["metrics"]["all"]["ndcg@10"]
    losers = [name for name, result in rows[:-1] if result["metrics"]["all"]["ndcg@10"] >= fused]
    if not losers:
        return f"On {protocol} the fused model beats every single-modality model."
    return f"On {protocol} the fused model does not beat {', '.join(losers)}."


def components_text(components: int) -> str:
    """Describe how many image features the model reads: all 1280, or that many principal components."""
    return f"image features cut to {components} principal components" if components else "all 1280 image features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark-users", type=int, default=90, help="users sampled for the driver benchmark")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    base = load_config(CONFIG)
    dataset = load_prepared(base, progress=False)
    drivers = simulated_drivers(dataset)
    load_before = os.getloadavg()[0]

    new_rows, temporal_rows = [], []
    for modalities in VARIANTS:
        name = " + ".join(modalities)
        config = load_config(CONFIG, {"model.modalities": modalities})
        new_rows.append((name, new_item_metrics(config, dataset, drivers, seed=base.seed)))
        temporal_rows.append((name, train_and_measure(config, dataset, drivers)))
        print(name, {group: round(result["ndcg@10"], 4) for group, result in new_rows[-1][1]["metrics"].items()},
              flush=True)

    start = time.perf_counter()
    from genre_core.explain import ExplainSettings
    from genre_core.explain.driver_benchmark import driver_benchmark
    from genre_core.pipeline import train
    from genre_core.service import Recommender

    train(base, progress=False)
    recommender = Recommender.load(base, device="cpu")
    benchmark = driver_benchmark(recommender, drivers, top_k=5, max_users=args.benchmark_users,
                                 settings=ExplainSettings(tokens=False), seed=base.seed)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    markdown = f"""## Media modalities: Tux Paint stamps, simulated interactions

Tux Paint stamps ({dataset.n_items} items, real pictures, descriptions and sounds from the Debian
package tuxpaint-stamps-default) with **simulated** interactions ({dataset.n_users} users, {len(dataset.interactions)}
interactions; each user is driven by one modality, see `genre_core/data/simulate.py`). Config
`assets/configs/tuxpaint.yaml` (no item ID, no item bias, {components_text(base.model.image_components)}), seed {base.seed}. Command:
`OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_media.py`. Machine: {machine_description()};
load average {load_before:.1f} at the start and {load_after:.1f} at the end, from other jobs on the machine.

**New items** (20% of the items held out of training altogether, then ranked among themselves for every user;
only content that generalises can rank them). Test NDCG@10:

{table(new_rows, DRIVERS)}

**Temporal leave-last-out** (the config's own split; the test item was seen in training by other users, so
memorised pictures or texts act like item IDs). Test NDCG@10:

{table(temporal_rows, DRIVERS)}

**Explanation benchmark** (`genre explain-benchmark --dataset tuxpaint --users {args.benchmark_users}`): the
largest of the text, image and audio shares (Integrated Gradients against the catalogue-mean baseline, summed
over each user's top 5) names the user's true driver for {benchmark['hits']} of {benchmark['users']} users
({benchmark['accuracy']:.0%}); per driver: {', '.join(f"{name} {value:.0%}" for name, value in benchmark['per_driver'].items())}.
With each modality's shares divided by their mean absolute value over the explained users, the largest names
the driver for {benchmark['relative_accuracy']:.0%}; per driver: {', '.join(f"{name} {value:.0%}" for name, value in benchmark['relative_per_driver'].items())}.
Target: 90% of users ({"met" if benchmark['accuracy'] >= 0.9 else "not met"}; the largest plain share counts). Training and explaining took {seconds:.0f} s.

{verdict(new_rows, "new items")} {verdict(temporal_rows, "the temporal split")}
"""
    write_section("Media modalities", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
