"""Test metrics of a model per group of users (for example each simulated user's true driver)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from genre_core.config import Config
from genre_core.data.dataset import Dataset, interaction_matrix
from genre_core.data.splits import Split
from genre_core.evaluation.metrics import full_ranking_metrics

ALL_USERS = "all"


def metrics_by_group(score_fn, dataset: Dataset, split: Split, groups: dict[str, str],
                     ks: tuple[int, ...] = (10,)) -> dict[str, dict[str, float]]:
    """Mean full-ranking test metrics of each user group, plus `all`; users outside `groups` count in `all` only."""
    from genre_core.pipeline import known_interactions

    seen = interaction_matrix(known_interactions(split), dataset.n_users, dataset.n_items)
    relevant = interaction_matrix(split.test, dataset.n_users, dataset.n_items)
    per_user = full_ranking_metrics(score_fn, seen, relevant, ks=ks, per_user=True)
    user_ids = dataset.user_ids[per_user["user_idx"].to_numpy()]
    per_user["group"] = [groups.get(str(user), None) for user in user_ids]
    metric_columns = [column for column in per_user.columns if "@" in column]

    result = {ALL_USERS: _means(per_user, metric_columns)}
    for group, rows in per_user.dropna(subset=["group"]).groupby("group"):
        result[str(group)] = _means(rows, metric_columns)
    return result


def train_and_measure(config: Config, dataset: Dataset, groups: dict[str, str], split: Split | None = None,
                      progress: bool = False) -> dict:
    """Train `config` on `split` (default: the config's) without registering it; return test metrics per group."""
    from genre_core.inputs import build_histories
    from genre_core.pipeline import genre_score_function, known_interactions, make_split
    from genre_core.training import Trainer, build_inputs

    split = split or make_split(config, dataset)
    result = Trainer(config, dataset, split, progress=progress).fit()
    inputs = build_inputs(config, dataset, result.item_encoding, result.user_encoding, progress=False)
    histories = build_histories(known_interactions(split), dataset.n_users)
    score = genre_score_function(result.model, inputs, histories, config.model.max_history, result.device)
    return {
        "modalities": list(config.model.modalities),
        "metrics": metrics_by_group(score, dataset, split, groups, ks=(10,)),
        "seconds": round(result.seconds, 1),
        "epochs_run": result.epochs_run,
        "model": result.model,
    }


def _means(rows: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    means = {column: float(np.mean(rows[column])) for column in columns}
    means["users"] = int(len(rows))
    return means


def new_item_metrics(config: Config, dataset: Dataset, groups: dict[str, str], test_fraction: float = 0.2,
                     seed: int = 0, progress: bool = False, folds: int = 1) -> dict:
    """Train on the catalogue without a held-out share of items, then rank only those new items for every user.

    The held-out items are absent from training altogether (neither targets nor negatives), so
    neither an ID nor a memorised picture or text can rank them: only content that generalises
    can. Training uses the config's split of the remaining interactions for early stopping. The
    model must have `model.item_bias: false` and no `id` modality, because both are per-item
    parameters that a new item does not have. Returns test NDCG@10 and friends per group.

    With `folds` above 1 the items are cut into that many seeded parts (`test_fraction` is then
    unused) and each part is held out in turn, so every item is a new item once. The metrics are
    then each group's mean over all its (user, fold) rankings, which on a small catalogue varies
    far less than one random hold-out.
    """
    if config.model.item_bias or "id" in config.model.modalities:
        raise ValueError("new-item evaluation needs model.item_bias: false and no 'id' in model.modalities; "
                         f"got item_bias {config.model.item_bias} and modalities {config.model.modalities}")
    if folds < 1 or folds > dataset.n_items:
        raise ValueError(f"invalid folds {folds}; give a number from 1 to the {dataset.n_items} items")
    order = np.random.default_rng(seed).permutation(dataset.n_items)
    if folds == 1:
        parts = [order[:max(1, int(round(test_fraction * dataset.n_items)))]]
    else:
        parts = np.array_split(order, folds)
    runs = [_rank_new_items(config, dataset, groups, set(dataset.item_ids[part]), progress) for part in parts]
    per_user = pd.concat([per_user for per_user, _ in runs], ignore_index=True)
    metric_columns = [column for column in per_user.columns if "@" in column]
    metrics = {ALL_USERS: _means(per_user, metric_columns)}
    for group, rows in per_user.dropna(subset=["group"]).groupby("group"):
        metrics[str(group)] = _means(rows, metric_columns)
    return {"modalities": list(config.model.modalities), "metrics": metrics, "new_items": int(sum(map(len, parts))),
            "folds": folds, "seconds": round(sum(result.seconds for _, result in runs), 1),
            "epochs_run": [result.epochs_run for _, result in runs]}


def _rank_new_items(config: Config, dataset: Dataset, groups: dict[str, str], new_items: set, progress: bool):
    """Train without `new_items`, rank only them for every user; return per-user metrics (with `group`) and the run."""
    from genre_core.inputs import build_histories
    from genre_core.model import GenreModel
    from genre_core.pipeline import genre_score_function, make_split
    from genre_core.schema import ITEM_ID
    from genre_core.training import Trainer, build_inputs

    is_new = dataset.interactions[ITEM_ID].isin(new_items)
    known = Dataset(
        dataset.name, dataset.interactions[~is_new].drop(columns=["user_idx", "item_idx"]),
        dataset.items[~dataset.items[ITEM_ID].isin(new_items)], dataset.users,
        dataset.item_features, dataset.user_features, simulated=dataset.simulated,
    )
    result = Trainer(config, known, make_split(config, known), progress=progress).fit()

    inputs = build_inputs(config, dataset, result.item_encoding, result.user_encoding, progress=False)
    model = GenreModel(config.model, dataset.n_items, inputs.text_dim, result.item_encoding, result.user_encoding,
                       text_config=config.text)
    state = {key: value for key, value in result.model.state_dict().items() if key != "item_bias"}
    model.load_state_dict(state, strict=False)

    histories = build_histories(dataset.interactions[~is_new], dataset.n_users)
    score = genre_score_function(model, inputs, histories, config.model.max_history, "cpu")
    # Every known item counts as seen, so each user's ranking contains the new items only.
    seen = sparse.csr_matrix(np.tile(~dataset.items[ITEM_ID].isin(new_items).to_numpy(), (dataset.n_users, 1)))
    relevant = interaction_matrix(dataset.interactions[is_new], dataset.n_users, dataset.n_items)
    per_user = full_ranking_metrics(score, seen, relevant, ks=(10,), per_user=True)
    user_ids = dataset.user_ids[per_user["user_idx"].to_numpy()]
    per_user["group"] = [groups.get(str(user), None) for user in user_ids]
    return per_user, result
