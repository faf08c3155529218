"""How often the largest modality share names the modality that truly drives a simulated user.

For each user, the shares of the content modalities (text, image, audio) are summed over the
user's top-k recommendations. Each share comes from the explainer registry (Integrated
Gradients by default) against the catalogue-mean baseline, with the user's history fixed.
The benchmark counts a hit when the largest summed share is the user's recorded driver.
`relative_accuracy` counts the same after dividing each modality's shares by their mean absolute
value over the explained users, so a modality with large shares for everyone does not win everywhere.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from genre_core.explain.registry import EXPLAINERS
from genre_core.explain.scoring import MODALITIES, build_problem
from genre_core.explain.settings import ExplainSettings

log = logging.getLogger(__name__)

DRIVER_MODALITIES = ("text", "image", "audio")


def user_driver_shares(recommender, user_index: int, top_k: int, settings: ExplainSettings) -> dict[str, float]:
    """Shares of text, image and audio summed over the user's top-k unseen items."""
    history = recommender.histories[user_index]
    user_id = str(recommender.dataset.user_ids[user_index])
    items = recommender.recommend(user_id, k=top_k).items["item_id"].tolist()
    totals = dict.fromkeys(DRIVER_MODALITIES, 0.0)
    for item_id in items:
        item_index = recommender.dataset.item_position(item_id)
        problem = build_problem(recommender, user_index, [item_index], history, settings.baseline)
        shares = EXPLAINERS[settings.method](problem, settings)[0]
        for name, value in zip(MODALITIES, shares):
            if name in totals:
                totals[name] += float(value)
    return totals


def driver_benchmark(recommender, drivers: dict[str, str], top_k: int = 5, max_users: int | None = None,
                     settings: ExplainSettings | None = None, seed: int = 0) -> dict:
    """Share of users whose largest content-modality share is their true driver, overall and per driver.

    `drivers` maps user IDs to "text", "image" or "audio". With `max_users`, a seeded random
    sample of that many users is explained.
    """
    settings = settings or ExplainSettings(tokens=False)
    unknown = sorted({driver for driver in drivers.values()} - set(DRIVER_MODALITIES))
    if unknown:
        raise ValueError(f"unknown driver {unknown[0]!r}; drivers must be one of {', '.join(DRIVER_MODALITIES)}")
    missing = [name for name in DRIVER_MODALITIES if name not in recommender.model.item_tower.modalities]
    if missing:
        raise ValueError(f"the model reads no {', '.join(missing)}; the benchmark needs model.modalities with "
                         f"{', '.join(DRIVER_MODALITIES)}")
    users = sorted(drivers)
    if max_users is not None and max_users < len(users):
        users = sorted(np.random.default_rng(seed).choice(users, size=max_users, replace=False).tolist())

    start = time.perf_counter()
    shares = {user_id: user_driver_shares(recommender, recommender.dataset.user_position(user_id), top_k, settings)
              for user_id in users}
    seconds = time.perf_counter() - start

    confusion = _confusion(users, drivers, shares)
    # Each modality's shares divided by their mean absolute value over the explained users, so a
    # modality whose shares are large for everyone does not win for everyone.
    scale = {name: np.mean([abs(row[name]) for row in shares.values()]) or 1.0 for name in DRIVER_MODALITIES}
    relative = {user_id: {name: row[name] / scale[name] for name in DRIVER_MODALITIES} for user_id, row in shares.items()}
    relative_confusion = _confusion(users, drivers, relative)
    hits = sum(confusion[name][name] for name in DRIVER_MODALITIES)
    relative_hits = sum(relative_confusion[name][name] for name in DRIVER_MODALITIES)
    per_driver = _per_driver(confusion)
    log.info("driver benchmark: %d of %d users (%.1f%%) in %.1f s", hits, len(users), 100 * hits / max(1, len(users)), seconds)
    return {
        "users": len(users),
        "hits": hits,
        "accuracy": hits / len(users) if users else None,
        "per_driver": per_driver,
        "confusion": confusion,
        "relative_accuracy": relative_hits / len(users) if users else None,
        "relative_per_driver": _per_driver(relative_confusion),
        "relative_confusion": relative_confusion,
        "top_k": top_k,
        "method": settings.method,
        "baseline": settings.baseline,
        "model_version": recommender.version,
        "seconds": round(seconds, 1),
    }


def _confusion(users, drivers, shares) -> dict[str, dict[str, int]]:
    """Counts of (true driver, modality with the largest share)."""
    confusion = {truth: dict.fromkeys(DRIVER_MODALITIES, 0) for truth in DRIVER_MODALITIES}
    for user_id in users:
        largest = max(DRIVER_MODALITIES, key=lambda name: shares[user_id][name])
        confusion[drivers[user_id]][largest] += 1
    return confusion


def _per_driver(confusion) -> dict[str, float | None]:
    return {name: (row[name] / sum(row.values()) if sum(row.values()) else None) for name, row in confusion.items()}
