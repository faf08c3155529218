"""Measure what-if re-scoring and history counterfactuals; write their section of docs/benchmarks.md.

It uses random (user, top-10 item) pairs of the config's active model. It times one what-if
re-score per pair (two random past items removed). Then it searches the history counterfactual that
pushes the item out of the top 10. It reports the share found within the search bounds, the share
verified by an independent re-score and minimal, the median set size, and the time per search.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_whatif.py              # 200 pairs
    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_whatif.py --pairs 20   # quicker, no docs update
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import DEFAULT_CONFIG, load_config  # noqa: E402
from genre_core.service import Recommender  # noqa: E402
from genre_core.whatif import Edits, SearchBounds, history_counterfactual, rescore  # noqa: E402

SECTION = "What-if and counterfactuals"
K = 10


def random_pairs(recommender: Recommender, count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (user ID, item ID) pairs: a random user and one of their top-10 items."""
    generator = np.random.default_rng(seed)
    users = generator.choice(recommender.user_ids(), count, replace=count > recommender.dataset.n_users)
    pairs = []
    for user_id in users:
        top = recommender.recommend(str(user_id), k=K).items["item_id"].astype(str)
        pairs.append((str(user_id), top.iloc[int(generator.integers(len(top)))]))
    return pairs


def time_rescores(recommender: Recommender, pairs, seed: int) -> np.ndarray:
    """Wall time of `rescore` (edits applied, both rankings, every item's change) per user, in seconds."""
    generator = np.random.default_rng(seed)
    seconds = []
    for user_id, _ in pairs:
        history = recommender.history(user_id)["item_id"].astype(str).tolist()
        removed = tuple(generator.choice(history, min(2, len(history) - 1), replace=False))
        start = time.perf_counter()
        rescore(recommender, user_id, Edits(remove=removed), k=K)
        seconds.append(time.perf_counter() - start)
    return np.asarray(seconds)


def run_counterfactuals(recommender: Recommender, pairs, bounds: SearchBounds) -> list:
    results = []
    for number, (user_id, item_id) in enumerate(pairs, start=1):
        results.append(history_counterfactual(recommender, user_id, item_id, k=K, bounds=bounds))
        if number % 25 == 0:
            print(f"  {number}/{len(pairs)} counterfactuals", file=sys.stderr)
    return results


def summary(results, rescore_seconds: np.ndarray) -> dict:
    found = [result for result in results if result.found]
    seconds = np.asarray([result.seconds for result in results])
    return {
        "pairs": len(results),
        "found": len(found),
        "verified": sum(result.verification["verified"] for result in found),
        "minimal": sum(result.verification["minimal"] for result in found),
        "median_size": float(np.median([result.size for result in found])) if found else float("nan"),
        "max_size_found": max((result.size for result in found), default=0),
        "bounds": Counter(result.bound_reached for result in results if result.bound_reached),
        "exhausted": sum(not result.found and not result.bound_reached for result in results),
        "cf_p50": float(np.percentile(seconds, 50)), "cf_p95": float(np.percentile(seconds, 95)),
        "rescore_p50": float(np.percentile(rescore_seconds, 50)), "rescore_p95": float(np.percentile(rescore_seconds, 95)),
    }


def markdown(stats: dict, recommender: Recommender, bounds: SearchBounds, command: str, load: float) -> str:
    bound_text = ", ".join(f"{name}: {count}" for name, count in sorted(stats["bounds"].items())) or "none"
    found_share = stats["found"] / stats["pairs"]
    return f"""## What-if and counterfactuals

Command: `{command}` (model {recommender.version} of `{recommender.config.name}`, MovieLens-100k,
{stats['pairs']} random (user, top-{K} item) pairs, seed 0, CPU, `OMP_NUM_THREADS=1`).
Machine: {machine_description()}. Load average (1 min) at the start: {load:.2f}.

| measure | value |
|---|---|
| what-if re-score of one user (2 past items removed), p50 / p95 | {stats['rescore_p50'] * 1000:.1f} ms / {stats['rescore_p95'] * 1000:.1f} ms |
| history counterfactual found within the bounds (max_size {bounds.max_size}, max_rescores {bounds.max_rescores}) | {stats['found']} / {stats['pairs']} ({found_share:.0%}) |
| found ones verified by an independent re-score | {stats['verified']} / {stats['found']} |
| found ones minimal (putting back any one member undoes the change) | {stats['minimal']} / {stats['found']} |
| median set size of the found ones (largest) | {stats['median_size']:g} ({stats['max_size_found']}) |
| pairs that stopped at a bound | {bound_text} |
| pairs not found after trying every past item | {stats['exhausted']} |
| search + minimisation + verification per pair, p50 / p95 | {stats['cf_p50']:.2f} s / {stats['cf_p95']:.2f} s |

The re-score time is the wall time of `genre_core.whatif.rescore`: the edited view, both rankings
over all {recommender.dataset.n_items} items, and every item's rank and score change. A counterfactual
is the set of past items whose removal pushes the item out of the top {K}; "minimal" is checked by
dropping each member, so no set with one member fewer works, which does not rule out a smaller set of other items.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config whose active model is measured")
    parser.add_argument("--pairs", type=int, default=200, help="random (user, top-10 item) pairs (default: %(default)s)")
    parser.add_argument("--max-size", type=int, default=SearchBounds.max_size, help="largest removal set tried")
    parser.add_argument("--max-rescores", type=int, default=SearchBounds.max_rescores, help="most sets scored per search")
    parser.add_argument("--no-write", action="store_true", help="print the table without updating docs/benchmarks.md")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    recommender = Recommender.load(load_config(args.config), device="cpu")
    bounds = SearchBounds(max_size=args.max_size, max_rescores=args.max_rescores)
    pairs = random_pairs(recommender, args.pairs, seed=0)
    rescore(recommender, pairs[0][0], Edits(), k=K)  # warm-up: first calls allocate
    rescore_seconds = time_rescores(recommender, pairs, seed=0)
    stats = summary(run_counterfactuals(recommender, pairs, bounds), rescore_seconds)

    command = "OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_whatif.py " + " ".join(sys.argv[1:])
    text = markdown(stats, recommender, bounds, command.strip(), load)
    print(text)
    if args.no_write or args.pairs < 200:
        print("docs/benchmarks.md not updated (--no-write or fewer than 200 pairs)", file=sys.stderr)
        return
    write_section(SECTION, text)


if __name__ == "__main__":
    main()
