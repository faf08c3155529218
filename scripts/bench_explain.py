"""Measure the attribution engine and write the "explain" section of docs/benchmarks.md.

Latency of one explanation per method (p50, p95) on random (user, top-10 item) pairs, and the
share of pairs whose Integrated Gradients shares add up to within 5% (relative convergence delta).

    .venv/bin/python scripts/bench_explain.py                       # 200 pairs, 30 timed per method
    .venv/bin/python scripts/bench_explain.py --pairs 50 --timed 10 # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import DEFAULT_CONFIG, load_config  # noqa: E402
from genre_core.explain import ExplainSettings, clear_cache, explain  # noqa: E402
from genre_core.explain.feature_ablation import ablation_shares  # noqa: E402
from genre_core.explain.integrated_gradients import integrated_gradients_shares  # noqa: E402
from genre_core.explain.leave_one_out import leave_one_out  # noqa: E402
from genre_core.explain.scoring import build_problem  # noqa: E402
from genre_core.explain.shapley import shapley_shares  # noqa: E402
from genre_core.explain.tabular_shap import tabular_shap  # noqa: E402
from genre_core.explain.tokens import word_attributions  # noqa: E402
from genre_core.service import Recommender  # noqa: E402
from genre_core.training import item_texts  # noqa: E402

LIMIT = 0.05


def random_pairs(recommender: Recommender, count: int, seed: int) -> list[tuple[int, int]]:
    """`count` (user index, item index) pairs: a random user and one of their top-10 items."""
    generator = np.random.default_rng(seed)
    pairs = []
    for user_index in generator.choice(recommender.dataset.n_users, count, replace=count > recommender.dataset.n_users):
        top = recommender.recommend(str(recommender.dataset.user_ids[user_index]), k=10).items["item_id"]
        item = str(top.iloc[int(generator.integers(len(top)))])
        pairs.append((int(user_index), recommender.dataset.item_position(item)))
    return pairs


def methods(recommender: Recommender, texts: list[str]) -> dict:
    settings = ExplainSettings()
    config = recommender.config

    def ig_with_tokens(problem, user_index):
        integrated_gradients_shares(problem, settings)
        word_attributions(problem, texts[problem.item_indices[0]], config.text.model, config.text.max_length, settings)

    return {
        "IG modality shares + history": lambda problem, user: integrated_gradients_shares(problem, settings),
        "IG modality shares + history + words": ig_with_tokens,
        "Shapley value sampling (25 permutations)": lambda problem, user: shapley_shares(problem, settings),
        "Feature ablation": lambda problem, user: ablation_shares(problem, settings),
        "Leave-one-out over the history": lambda problem, user: leave_one_out(problem),
        "SHAP KernelExplainer (10 background, 200 samples)":
            lambda problem, user: tabular_shap(problem, recommender, user, settings),
    }


def time_methods(recommender: Recommender, pairs, texts) -> list[tuple[str, float, float]]:
    rows = []
    for name, method in methods(recommender, texts).items():
        seconds = []
        for user_index, item_index in pairs:
            start = time.perf_counter()
            problem = build_problem(recommender, user_index, [item_index], recommender.histories[user_index], "mean")
            method(problem, user_index)
            seconds.append(time.perf_counter() - start)
        rows.append((name, float(np.percentile(seconds, 50)), float(np.percentile(seconds, 95))))
        print(f"{name}: p50 {rows[-1][1]:.3f} s, p95 {rows[-1][2]:.3f} s", flush=True)

    full = []
    for user_index, item_index in pairs:
        clear_cache()
        user, item = str(recommender.dataset.user_ids[user_index]), str(recommender.dataset.item_ids[item_index])
        start = time.perf_counter()
        explain(recommender, user, item)
        full.append(time.perf_counter() - start)
    rows.append(("explain(): IG + Shapley + leave-one-out + words", float(np.percentile(full, 50)),
                 float(np.percentile(full, 95))))
    print(f"{rows[-1][0]}: p50 {rows[-1][1]:.3f} s, p95 {rows[-1][2]:.3f} s", flush=True)
    return rows


def convergence(recommender: Recommender, pairs) -> dict:
    settings = ExplainSettings()
    relative, steps = [], []
    for done, (user_index, item_index) in enumerate(pairs, 1):
        problem = build_problem(recommender, user_index, [item_index], recommender.histories[user_index], "mean")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, result = integrated_gradients_shares(problem, settings)
        relative.append(result.relative_delta)
        steps.append(result.n_steps)
        if done % 25 == 0:
            print(f"convergence: {done}/{len(pairs)} pairs", flush=True)
    relative = np.asarray(relative)
    return {
        "pairs": len(pairs), "within": float(np.mean(relative <= LIMIT)), "median": float(np.median(relative)),
        "p95": float(np.percentile(relative, 95)),
        "steps": {step: int(np.sum(np.asarray(steps) == step)) for step in sorted(set(steps))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=200, help="pairs of the convergence check")
    parser.add_argument("--timed", type=int, default=30, help="pairs timed per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    recommender = Recommender.load(load_config(args.config), device="cpu")
    texts = item_texts(recommender.dataset)
    pairs = random_pairs(recommender, args.pairs, args.seed)
    check = convergence(recommender, pairs)
    # One untimed run loads the text model and warms up the kernels.
    time_methods(recommender, pairs[:1], texts)
    latency = time_methods(recommender, pairs[:args.timed], texts)

    steps = ", ".join(f"{count} at n_steps={step}" for step, count in check["steps"].items())
    table = "\n".join(f"| {name} | {p50:.3f} | {p95:.3f} |" for name, p50, p95 in latency)
    markdown = f"""## Attributions (`genre explain`)

Command: `.venv/bin/python scripts/bench_explain.py --pairs {args.pairs} --timed {args.timed}`, model
{recommender.version} of `{Path(args.config).name}` (MovieLens-100k, all-MiniLM-L6-v2), on CPU.
Machine: {machine_description()}. Pairs: a random user and one of their top-10 items (seed {args.seed}).

Latency of one explanation of one pair ({args.timed} pairs per method; the time includes building the
inputs and baselines):

| method | p50 (s) | p95 (s) |
|---|---|---|
{table}

Convergence of Integrated Gradients on {check["pairs"]} pairs, with n_steps raised 50 → 100 → 200 → 400
until |delta| / |F(x) − F(baseline)| ≤ 5%: **{100 * check["within"]:.1f}%** of the pairs end within 5%
(median relative delta {check["median"]:.4f}, p95 {check["p95"]:.4f}; {steps}).

Load average (1 min) at the end of the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. Latencies
measured while other jobs share the cores are upper bounds.
"""
    print(markdown)
    if not args.no_write:
        write_section("explain", markdown)


if __name__ == "__main__":
    main()
