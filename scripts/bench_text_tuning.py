"""Compare text-model tuning (frozen, top layers, LoRA) and fusion variants on MovieLens-100k.

Every variant is the default config (temporal split, seed 0) with fewer
epochs, trained without registering a model. Quality is NDCG@10 and
Recall@10 on the temporal test split; time is the training wall time. The
lower-layer token states are cached before the first run, so no run pays for
them. Writes the sections "Language-model tuning" and "Fusion variants" of
docs/benchmarks.md.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_text_tuning.py [--epochs 7] [--tune-layers 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from genre_core.benchmarks import machine_description, write_section  # noqa: E402
from genre_core.config import load_config  # noqa: E402
from genre_core.data.dataset import interaction_matrix  # noqa: E402
from genre_core.evaluation.metrics import full_ranking_metrics  # noqa: E402
from genre_core.inputs import build_histories  # noqa: E402
from genre_core.model import count_parameters  # noqa: E402
from genre_core.modalities.text_layers import lower_layer_states, run_lower_layers  # noqa: E402
from genre_core.pipeline import genre_score_function, known_interactions, load_prepared, make_split, train  # noqa: E402
from genre_core.training import build_inputs, item_texts  # noqa: E402

TUNING_VARIANTS = ("frozen", "top_layers", "lora")
FUSION_VARIANTS = ("concat_mlp", "attention", "lm")


def variant_overrides(name: str, epochs: int, tune_layers: int) -> dict:
    overrides = {"training.epochs": epochs, "text.tune_layers": tune_layers}
    if name in TUNING_VARIANTS:
        overrides["text.tuning"] = name
    else:
        overrides["model.fusion"] = name
    return overrides


def per_user_ndcg(config, dataset, result) -> np.ndarray:
    """Return the test NDCG@10 of every evaluated user, in user order, for standard errors and paired differences."""
    split = make_split(config, dataset)
    inputs = build_inputs(config, dataset, result.item_encoding, result.user_encoding, progress=False)
    known = known_interactions(split)
    score = genre_score_function(
        result.model, inputs, build_histories(known, dataset.n_users), config.model.max_history, result.device
    )
    seen = interaction_matrix(known, dataset.n_users, dataset.n_items)
    relevant = interaction_matrix(split.test, dataset.n_users, dataset.n_items)
    table = full_ranking_metrics(score, seen, relevant, ks=(10,), per_user=True, device=result.device)
    return table["ndcg@10"].to_numpy()


def run_variant(name: str, epochs: int, tune_layers: int, dataset) -> dict:
    config = load_config(None, variant_overrides(name, epochs, tune_layers))
    load_before = os.getloadavg()[0]
    _, result, metrics = train(config, progress=False, register=False, dataset=dataset)
    load_after = os.getloadavg()[0]
    users = per_user_ndcg(config, dataset, result)
    row = {
        "variant": name,
        "per user": users,
        "ndcg@10": metrics["ndcg@10"],
        "recall@10": metrics["recall@10"],
        "valid ndcg@10": result.valid_metrics.get("ndcg@10", float("nan")),
        "seconds": result.seconds,
        "seconds per epoch": result.seconds / max(result.epochs_run, 1),
        "best epoch": result.best_epoch,
        "epochs": result.epochs_run,
        "trainable": count_parameters(result.model),
        "load": (load_before, load_after),
    }
    print(f"{name:>11}: ndcg@10 {row['ndcg@10']:.4f}  recall@10 {row['recall@10']:.4f}  "
          f"{row['seconds']:.0f} s  best epoch {row['best epoch']}/{row['epochs']}  "
          f"trainable {row['trainable']:,}  load {row['load'][0]:.2f}->{row['load'][1]:.2f}  "
          f"(per-user mean {users.mean():.4f})", flush=True)
    return row


def standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def table(rows: list[dict], label: str) -> str:
    """Markdown table; the first row is the reference of the paired differences."""
    reference = rows[0]["per user"]
    lines = [
        f"| {label} | NDCG@10 ± SE | Δ NDCG@10 vs {rows[0]['variant']} ± paired SE | Recall@10 | valid NDCG@10 "
        "| training s | s / epoch | best epoch | trainable parameters | load average (start → end) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        difference = row["per user"] - reference
        paired = "reference" if row is rows[0] else f"{difference.mean():+.4f} ± {standard_error(difference):.4f}"
        lines.append(
            f"| {row['variant']} | {row['ndcg@10']:.4f} ± {standard_error(row['per user']):.4f} | {paired} "
            f"| {row['recall@10']:.4f} | {row['valid ndcg@10']:.4f} "
            f"| {row['seconds']:.0f} | {row['seconds per epoch']:.1f} | {row['best epoch']} of {row['epochs']} "
            f"| {row['trainable']:,} | {row['load'][0]:.2f} → {row['load'][1]:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=7, help="training epochs of every variant (the default config trains 80)")
    parser.add_argument("--tune-layers", type=int, default=1, help="top layers run in the forward pass (text.tune_layers)")
    parser.add_argument("--no-write", action="store_true", help="print the tables without writing docs/benchmarks.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bench_start = time.perf_counter()

    config = load_config(None, {"text.tune_layers": args.tune_layers, "text.tuning": "top_layers"})
    dataset = load_prepared(config, progress=False)
    texts = item_texts(dataset)
    start = time.perf_counter()
    states = run_lower_layers(texts, config.text, progress=False)
    cache_seconds = time.perf_counter() - start
    lower_layer_states(texts, config.text, config.paths.resolve("cache_dir"), progress=False)
    print(f"lower-layer token states {tuple(states.hidden.shape)}: {cache_seconds:.1f} s to compute")

    rows = {name: run_variant(name, args.epochs, args.tune_layers, dataset) for name in ("frozen", "top_layers", "lora")}
    rows["concat_mlp"] = {**rows["frozen"], "variant": "concat_mlp"}
    for name in ("attention", "lm"):
        rows[name] = run_variant(name, args.epochs, args.tune_layers, dataset)

    command = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} .venv/bin/python scripts/bench_text_tuning.py --epochs {args.epochs} --tune-layers {args.tune_layers}"
    setting = (
        f"Command: `{command}`. Machine: {machine_description()}, {torch.get_num_threads()} torch thread(s). "
        f"Data: MovieLens-100k (recbole), temporal leave-last-out split, seed 0; the default config "
        f"except `training.epochs: {args.epochs}` (default 80, cosine schedule over those epochs, "
        f"early stopping on validation NDCG@10 keeps the best epoch). Each variant is one run with one seed. "
        f"SE is the standard error of the mean over the {len(rows['frozen']['per user'])} test users (one test item each); "
        f"the paired SE is that of the per-user differences. The whole bench took "
        f"{(time.perf_counter() - bench_start) / 60:.1f} min. The machine was shared with other jobs; "
        f"the load average is given per run."
    )
    tuning_notes = (
        f"frozen: cached MiniLM sentence vectors (`text.tuning: frozen`). top_layers: the top "
        f"{args.tune_layers} of 6 MiniLM layers trained (`text.tuning: top_layers`, `text.tune_layers: {args.tune_layers}`). "
        f"lora: LoRA r=8, alpha=16 on query and value of those layers (`text.tuning: lora`). "
        f"Running the lower {6 - args.tune_layers} layers once for all {len(states.hidden)} titles took "
        f"{cache_seconds:.1f} s (measured before the runs); every run reads their output from `cache/text_layers/`. "
        f"Training time includes the per-epoch validation."
    )
    fusion_notes = (
        "concat_mlp is the frozen run of the table above. lm: tabular and ID vectors enter the top "
        f"{args.tune_layers} MiniLM layer(s) as extra tokens beside the title tokens; those layers stay frozen "
        "(`text.tuning: frozen`), so only the token projections and the output layer train. "
        "Image and audio join as further tokens when `model.modalities` lists them."
    )
    tuning_md = "\n\n".join([setting, tuning_notes, table([rows[name] for name in TUNING_VARIANTS], "text.tuning")])
    fusion_md = "\n\n".join([setting, fusion_notes, table([rows[name] for name in FUSION_VARIANTS], "model.fusion")])
    print(tuning_md, fusion_md, sep="\n\n")
    if not args.no_write:
        write_section("Language-model tuning", "## Language-model tuning\n\n" + tuning_md)
        write_section("Fusion variants", "## Fusion variants\n\n" + fusion_md)


if __name__ == "__main__":
    main()
