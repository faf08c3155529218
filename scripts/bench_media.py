"""Media modalities on the Tux Paint catalogue: fused vs single-modality NDCG@10, and the driver benchmark.

Usage: OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_media.py [--benchmark-users N]
Writes the section "Media modalities" of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
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
VARIANTS = (["text"], ["image"], ["audio"], ["image", "audio"], ["text", "audio"], ["text", "image"],
            ["text", "image", "audio"])
# Item folds of the new-item evaluation: each fold of the catalogue is held out once.
FOLDS = 5


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
    singles = [(name, result) for name, result in rows if len(result["modalities"]) == 1]
    losers = [name for name, result in singles if result["metrics"]["all"]["ndcg@10"] >= fused]
    if not losers:
        return f"On {protocol} the fused model beats every single-modality model."
    return f"On {protocol} the fused model does not beat {', '.join(losers)}."


def seed_table(rows: list[tuple[int, dict, dict]]) -> str:
    lines = ["| training seed | users | Integrated Gradients | per driver | feature ablation | per driver |",
             "|---|---|---|---|---|---|"]
    for seed, gradients, ablation in rows:
        cells = []
        for result in (gradients, ablation):
            per_driver = ", ".join(f"{name} {value:.0%}" for name, value in result["per_driver"].items())
            cells += [f"{result['accuracy']:.1%}", per_driver]
        lines.append(f"| {seed} | {gradients['users']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def without_driver_text(rows: list[tuple[str, dict]]) -> str:
    """Describe, per driver, its users' new-item NDCG@10 without the driver's modality against the full model."""
    by_modalities = {tuple(result["modalities"]): result["metrics"] for _, result in rows}
    full = by_modalities[("text", "image", "audio")]
    parts = []
    for driver in DRIVERS:
        rest = tuple(name for name in ("text", "image", "audio") if name != driver)
        without, with_all = by_modalities[rest][driver]["ndcg@10"], full[driver]["ndcg@10"]
        parts.append(f"{driver}-driven users {without:.4f} without {driver} against {with_all:.4f} "
                     f"({without / with_all:.0%})")
    return "; ".join(parts)


def components_text(components: int) -> str:
    """Describe how many image features the model reads: all 1280, or that many principal components."""
    return f"image features cut to {components} principal components" if components else "all 1280 image features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark-users", type=int, default=600, help="users sampled for the driver benchmark")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seeds of the explanation benchmark; the first is the config's")
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
        new_rows.append((name, new_item_metrics(config, dataset, drivers, seed=base.seed, folds=FOLDS)))
        temporal_rows.append((name, train_and_measure(config, dataset, drivers)))
        print(name, {group: round(result["ndcg@10"], 4) for group, result in new_rows[-1][1]["metrics"].items()},
              flush=True)

    start = time.perf_counter()
    from genre_core.explain import ExplainSettings
    from genre_core.explain.driver_benchmark import driver_benchmark
    from genre_core.pipeline import train
    from genre_core.service import Recommender

    seed_rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            # The config's own seed trains into its registry; the others into a scratch folder.
            overrides = {} if seed == base.seed else {"seed": seed, "paths.registry_dir": f"{scratch}/seed{seed}"}
            config = load_config(CONFIG, overrides)
            train(config, progress=False)
            recommender = Recommender.load(config, device="cpu")
            results = [driver_benchmark(recommender, drivers, top_k=5, max_users=args.benchmark_users,
                                        settings=ExplainSettings(method=method, tokens=False), seed=base.seed)
                       for method in ("integrated_gradients", "feature_ablation")]
            seed_rows.append((seed, *results))
            print("seed", seed, [round(result["accuracy"], 3) for result in results], flush=True)
    benchmark = seed_rows[0][1]
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]

    markdown = f"""## Media modalities: Tux Paint stamps, simulated interactions

Tux Paint stamps ({dataset.n_items} items, real pictures, descriptions and sounds from the Debian
package tuxpaint-stamps-default) with **simulated** interactions ({dataset.n_users} users, {len(dataset.interactions)}
interactions; each user is driven by one modality, see `genre_core/data/simulate.py`). Config
`assets/configs/tuxpaint.yaml` (no item ID, no item bias, {components_text(base.model.image_components)},
sentence vectors cut to {base.model.text_components} principal components, dropout {base.model.dropout}), seed {base.seed}. Command:
`OMP_NUM_THREADS=2 .venv/bin/python scripts/bench_media.py --seeds {' '.join(map(str, args.seeds))}`. Machine: {machine_description()};
load average {load_before:.1f} at the start and {load_after:.1f} at the end, from other jobs on the machine.

**New items** (the items cut into {FOLDS} seeded folds; each fold is held out of training altogether in turn, then
ranked among its own items for every user, so every item is a new item once; only content that generalises can rank
them). Test NDCG@10 over all (user, fold) rankings:

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
Target: 90% of users ({"met" if benchmark['accuracy'] >= 0.9 else "not met"}; the largest plain share counts).

The same benchmark for models trained with other seeds (`--seeds {' '.join(map(str, args.seeds))}`; the data stay
those of seed {base.seed}), with Integrated Gradients and with feature ablation:

{seed_table(seed_rows)}

Training and explaining took {seconds:.0f} s.

**A model without the driver's modality** (new items, as above): {without_driver_text(new_rows)}.

{verdict(new_rows, "new items")} {verdict(temporal_rows, "the temporal split")}
On the temporal split every test item was seen in training by other users, so memorised content ranks it and the
models land close together. The new items are the split that shows which content generalises.
"""
    write_section("Media modalities", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
