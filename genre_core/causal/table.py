"""The analysis table: one row per rating, with treatments, outcomes and confounders.

Every column that depends on time is computed from what was known before the
rating: an item's popularity from the ratings of earlier weeks, a user's
most-watched genre and activity from their earlier ratings, and the model's
top-10 from the user's earlier history.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from genre_core.causal.columns import (
    AGE_BAND, GENRE_COUNT, GENRE_MATCH, HIGH_RATING, IN_TOP10, ITEM_PRIOR_RATINGS, ITEM_YEAR, MODEL_SCORE,
    POPULAR, RATING_YEAR, RECENT, SEGMENT_GENDER, SEGMENT_OCCUPATION, USER_ACTIVITY, USER_AGE, USER_MALE,
)
from genre_core.data.dataset import Dataset
from genre_core.inputs import History
from genre_core.schema import AGE, GENDER, GENRES, ITEM_ID, MULTILABEL_SEPARATOR, OCCUPATION, RATING, TIMESTAMP, USER_ID, YEAR

log = logging.getLogger(__name__)

HIGH_RATING_MIN = 4
POPULAR_SHARE = 0.2
POPULARITY_WINDOW_SECONDS = 7 * 86_400
RECENT_YEARS = 2
TOP_K = 10
# The model's top-10 is recomputed after every CHECKPOINT_RATINGS ratings of a user.
CHECKPOINT_RATINGS = 20
SCORE_BATCH_USERS = 512
AGE_BANDS = (0, 25, 35, 45, 55, 200)
AGE_BAND_LABELS = ("<25", "25-34", "35-44", "45-54", "55+")


def build_analysis_table(dataset: Dataset, recommender=None) -> pd.DataFrame:
    """Build one row per rating of `dataset` with the columns of genre_core.causal.columns.

    With a `recommender` (genre_core.service.Recommender) the table also has the
    model's columns `in_top10` and `model_score`.
    """
    if not dataset.has_ratings:
        raise ValueError(f"dataset '{dataset.name}' has no ratings; the causal questions need a rating per interaction")
    for column in (YEAR, GENRES):
        if column not in dataset.items.columns:
            raise ValueError(f"dataset '{dataset.name}' has no item column {column!r}; the causal table needs it")

    frame = dataset.interactions[dataset.interactions[RATING].notna()]
    frame = frame.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    table = pd.DataFrame({
        USER_ID: frame[USER_ID].to_numpy(), ITEM_ID: frame[ITEM_ID].to_numpy(),
        RATING: frame[RATING].to_numpy(), TIMESTAMP: frame[TIMESTAMP].to_numpy(),
        "user_idx": frame["user_idx"].to_numpy(), "item_idx": frame["item_idx"].to_numpy(),
    })
    table[HIGH_RATING] = (table[RATING] >= HIGH_RATING_MIN).astype(int)

    table[ITEM_PRIOR_RATINGS] = table.groupby("item_idx").cumcount()
    table[USER_ACTIVITY] = table.groupby("user_idx").cumcount()
    table[POPULAR] = _popular_before(table, dataset.n_items)
    table[GENRE_MATCH] = _genre_match_before(table, dataset)
    _add_item_columns(table, dataset)
    _add_user_columns(table, dataset)

    missing_year = table[ITEM_YEAR].isna()
    if missing_year.any():
        log.info("dropping %d ratings of items without a release year", int(missing_year.sum()))
        table = table[~missing_year].reset_index(drop=True)
    table[RECENT] = (table[ITEM_YEAR] >= table[RATING_YEAR] - RECENT_YEARS).astype(int)

    if recommender is not None:
        in_top, scores = _model_columns(table, recommender)
        table[IN_TOP10] = in_top
        table[MODEL_SCORE] = scores
    log.info("causal table: %d ratings, %d columns", len(table), table.shape[1])
    return table


def _popular_before(table: pd.DataFrame, n_items: int) -> np.ndarray:
    """1 when the item was in the top fifth by rating count over all weeks before the rating's week."""
    week = ((table[TIMESTAMP] - table[TIMESTAMP].min()) // POPULARITY_WINDOW_SECONDS).to_numpy()
    n_weeks = int(week.max()) + 1
    per_week = np.zeros((n_weeks, n_items), dtype=np.int64)
    np.add.at(per_week, (week, table["item_idx"].to_numpy()), 1)
    before = np.cumsum(per_week, axis=0) - per_week  # counts of all earlier weeks

    n_top = max(1, int(round(POPULAR_SHARE * n_items)))
    popular = np.zeros((n_weeks, n_items), dtype=bool)
    for index, counts in enumerate(before):
        top = np.argsort(-counts, kind="stable")[:n_top]
        popular[index, top] = counts[top] > 0  # NOTE: in the first week no item has earlier ratings, so none is popular
    return popular[week, table["item_idx"].to_numpy()].astype(int)


def _item_genre_matrix(dataset: Dataset) -> tuple[np.ndarray, list[str]]:
    genres = dataset.multilabel_values(GENRES)
    position = {genre: index for index, genre in enumerate(genres)}
    matrix = np.zeros((dataset.n_items, len(genres)), dtype=np.int64)
    for row, cell in enumerate(dataset.items[GENRES].fillna("")):
        for label in str(cell).split(MULTILABEL_SEPARATOR):
            if label in position:
                matrix[row, position[label]] = 1
    return matrix, genres


def _genre_match_before(table: pd.DataFrame, dataset: Dataset) -> np.ndarray:
    """1 when the item has the genre the user rated most often before this rating (ties: the first genre)."""
    item_genres, _ = _item_genre_matrix(dataset)
    row_genres = item_genres[table["item_idx"].to_numpy()]
    order = np.argsort(table["user_idx"].to_numpy(), kind="stable")  # by user, then by time
    ordered = row_genres[order]
    users = table["user_idx"].to_numpy()[order]

    cumulative = np.cumsum(ordered, axis=0)
    starts = np.searchsorted(users, users)  # first row of each row's user
    offset = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)].T, 0).T
    prior = cumulative - ordered - offset

    top = prior.argmax(axis=1)
    match = (prior.sum(axis=1) > 0) & (ordered[np.arange(len(ordered)), top] == 1)
    result = np.zeros(len(table), dtype=int)
    result[order] = match.astype(int)
    return result


def _add_item_columns(table: pd.DataFrame, dataset: Dataset) -> None:
    items = dataset.items
    table[ITEM_YEAR] = pd.to_numeric(items[YEAR], errors="coerce").to_numpy()[table["item_idx"].to_numpy()]
    counts = items[GENRES].fillna("").map(lambda cell: len([label for label in str(cell).split(MULTILABEL_SEPARATOR) if label]))
    table[GENRE_COUNT] = counts.to_numpy()[table["item_idx"].to_numpy()]
    table[RATING_YEAR] = pd.to_datetime(table[TIMESTAMP], unit="s", utc=True).dt.year.to_numpy()


def _add_user_columns(table: pd.DataFrame, dataset: Dataset) -> None:
    users = dataset.users
    positions = table["user_idx"].to_numpy()
    if AGE in users.columns:
        ages = pd.to_numeric(users[AGE], errors="coerce").to_numpy()[positions]
        table[USER_AGE] = ages
        bands = pd.cut(pd.Series(ages), bins=AGE_BANDS, labels=AGE_BAND_LABELS, right=False)
        table[AGE_BAND] = bands.astype(str).replace("nan", "unknown").to_numpy()
    if GENDER in users.columns:
        genders = users[GENDER].astype(str).to_numpy()[positions]
        table[SEGMENT_GENDER] = genders
        table[USER_MALE] = (genders == "M").astype(int)
    if OCCUPATION in users.columns:
        table[SEGMENT_OCCUPATION] = users[OCCUPATION].astype(str).to_numpy()[positions]


def _model_columns(table: pd.DataFrame, recommender) -> tuple[np.ndarray, np.ndarray]:
    """The model's top-10 membership and score of each rated item, from the user's earlier history.

    The history is cut at checkpoints every CHECKPOINT_RATINGS ratings, so a
    rating's history leaves out the ratings between its checkpoint and itself,
    which keeps the model from seeing the rating it is compared with.
    """
    # NOTE: the registered model was trained on part of these same ratings, so its
    # weights still carry information about them; only its input history is cut.
    order = np.argsort(table["user_idx"].to_numpy(), kind="stable")  # by user, then by time
    users = table["user_idx"].to_numpy()[order]
    # Positions among the rows kept in the table (rows without a release year are gone).
    position_in_user = table.groupby("user_idx").cumcount().to_numpy()[order]
    checkpoint = position_in_user // CHECKPOINT_RATINGS

    tasks = np.unique(np.stack([users, checkpoint], axis=1), axis=0)
    starts = np.searchsorted(users, np.arange(users.max() + 2))
    items = table["item_idx"].to_numpy()[order]
    ratings = table[RATING].to_numpy(dtype=float)[order]
    stamps = table[TIMESTAMP].to_numpy()[order]

    task_index = {(int(user), int(point)): index for index, (user, point) in enumerate(tasks)}
    top_sets = np.zeros((len(tasks), TOP_K), dtype=np.int64)
    task_scores: list[np.ndarray] = []
    model, inputs = recommender.model, recommender.inputs
    max_history = recommender.config.model.max_history
    for begin in range(0, len(tasks), SCORE_BATCH_USERS):
        chunk = tasks[begin:begin + SCORE_BATCH_USERS]
        histories = []
        for user, point in chunk:
            first, cut = starts[user], starts[user] + point * CHECKPOINT_RATINGS
            histories.append(History(items[first:cut], ratings[first:cut], stamps[first:cut]))
        with torch.no_grad():
            batch = inputs.user_batch(chunk[:, 0], histories, max_history, recommender.device)
            scores = model.score(model.user_vectors(recommender.item_vectors, batch), recommender.item_vectors)
            for row, past in enumerate(histories):
                if len(past):
                    scores[row, torch.as_tensor(past.items, device=scores.device)] = float("-inf")
            top_sets[begin:begin + len(chunk)] = torch.topk(scores, TOP_K).indices.cpu().numpy()
        task_scores.append(scores.cpu().numpy())
    all_scores = np.concatenate(task_scores)

    rows = np.array([task_index[(int(user), int(point))] for user, point in zip(users, checkpoint)])
    in_top = (top_sets[rows] == items[:, None]).any(axis=1).astype(int)
    score = all_scores[rows, items]
    result_top, result_score = np.zeros(len(table), dtype=int), np.zeros(len(table))
    result_top[order], result_score[order] = in_top, score
    return result_top, result_score
