"""Snapshots of a model for the labelled users, and the before/after comparison of two snapshots."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genre_core.data.dataset import Dataset
from genre_core.inputs import History, ModelInputs
from genre_core.model import GenreModel

TOP_K = 10


@dataclass
class LabelSet:
    """Active labels as indices: user, item and direction (+1 move up, -1 move down)."""

    users: np.ndarray
    items: np.ndarray
    directions: np.ndarray
    user_ids: list[str]
    item_ids: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.users)


@dataclass
class Snapshot:
    """Ranks of the labelled items and each labelled user's top-k under one model."""

    ranks: np.ndarray  # rank of each label's item for its user, 1 = top, seen items excluded
    top: dict[int, list[int]]  # user index -> top-k item indices
    ndcg: float  # validation NDCG@10


@torch.no_grad()
def serving_scores(model: GenreModel, inputs: ModelInputs, histories: list[History], users: np.ndarray,
                   max_history: int, device) -> torch.Tensor:
    """Scores (users, items) with the serving history, and -inf on the items each user has seen."""
    model.eval()
    item_vectors = model.item_vectors(inputs.item_inputs(device))
    batch = inputs.user_batch(users, [histories[user] for user in users], max_history, device)
    scores = model.score(model.user_vectors(item_vectors, batch), item_vectors)
    for row, user in enumerate(users):
        if len(histories[user]):
            scores[row, torch.tensor(histories[user].items, device=device)] = float("-inf")
    return scores


def take_snapshot(model, inputs, histories, labels: LabelSet, max_history: int, device, ndcg: float) -> Snapshot:
    users = np.unique(labels.users)
    scores = serving_scores(model, inputs, histories, users, max_history, device)
    row_of = {user: row for row, user in enumerate(users)}
    ranks = np.zeros(len(labels), dtype=np.int64)
    for position, (user, item) in enumerate(zip(labels.users, labels.items)):
        row = scores[row_of[user]]
        # A labelled item the user has already seen is ranked as if it were unseen.
        own = _raw_score(model, inputs, histories, user, item, max_history, device) if not torch.isfinite(row[item]) else row[item]
        ranks[position] = int((row > own).sum()) + 1
    top = {int(user): torch.topk(scores[row], TOP_K).indices.cpu().tolist() for user, row in row_of.items()}
    return Snapshot(ranks, top, ndcg)


@torch.no_grad()
def _raw_score(model, inputs, histories, user, item, max_history, device) -> torch.Tensor:
    item_vectors = model.item_vectors(inputs.item_inputs(device))
    batch = inputs.user_batch([user], [histories[user]], max_history, device)
    return model.score(model.user_vectors(item_vectors, batch), item_vectors)[0, item]


def moved_as_labelled(before: Snapshot, after: Snapshot, labels: LabelSet) -> np.ndarray:
    """True where the item moved in its label's direction (a relevant item already at rank 1 counts)."""
    up = (after.ranks < before.ranks) | (after.ranks == 1)
    down = after.ranks > before.ranks
    return np.where(labels.directions > 0, up, down)


def compare(before: Snapshot, after: Snapshot, labels: LabelSet, dataset: Dataset) -> dict:
    """JSON-ready before/after view: label rank changes, top-k differences per user, metric change."""
    moved = moved_as_labelled(before, after, labels)
    rows = [
        {
            "user_id": labels.user_ids[index], "item_id": labels.item_ids[index], "label": labels.labels[index],
            "rank_before": int(before.ranks[index]), "rank_after": int(after.ranks[index]),
            "moved_as_labelled": bool(moved[index]),
        }
        for index in range(len(labels))
    ]
    users = []
    for user, old_top in before.top.items():
        new_top = after.top[user]
        users.append({
            "user_id": str(dataset.user_ids[user]),
            "top_before": [str(dataset.item_ids[item]) for item in old_top],
            "top_after": [str(dataset.item_ids[item]) for item in new_top],
            "entered": [str(dataset.item_ids[item]) for item in new_top if item not in old_top],
            "left": [str(dataset.item_ids[item]) for item in old_top if item not in new_top],
        })
    return {
        "labels": rows,
        "users": users,
        "metrics": {"ndcg@10_before": before.ndcg, "ndcg@10_after": after.ndcg, "ndcg@10_change": after.ndcg - before.ndcg},
        "moved_fraction": float(moved.mean()) if len(moved) else 1.0,
    }
