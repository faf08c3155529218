"""A tiny in-memory recommender (random weights, 12 users, 40 items) for the what-if unit tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from genre_core.config import load_config
from genre_core.data.dataset import Dataset, FeatureSpec
from genre_core.features import TabularEncoding
from genre_core.inputs import ModelInputs
from genre_core.model import GenreModel
from genre_core.schema import GENRES, ITEM_ID, RATING, TIMESTAMP, TITLE, USER_ID, YEAR
from genre_core.service import Recommender

N_USERS, N_ITEMS = 12, 40
# The width of all-MiniLM-L6-v2 sentence vectors, so an edited text can be encoded for this model.
TEXT_DIM = 384
WORDS = ["red", "river", "night", "city", "love", "war", "space", "dog", "king", "summer"]


def tiny_recommender(cache_dir) -> Recommender:
    """Build the recommender; `cache_dir` is the config's cache folder, which what-if must leave untouched."""
    generator = np.random.default_rng(0)
    torch.manual_seed(0)
    items = pd.DataFrame({
        ITEM_ID: [str(index + 1) for index in range(N_ITEMS)],
        TITLE: [" ".join(generator.choice(WORDS, 3)) for _ in range(N_ITEMS)],
        GENRES: ["|".join(sorted(set(generator.choice(["Drama", "Comedy", "Horror"], 2)))) for _ in range(N_ITEMS)],
        YEAR: generator.integers(1950, 2000, N_ITEMS).astype(float),
    })
    users = pd.DataFrame({
        USER_ID: [str(index + 1) for index in range(N_USERS)],
        "gender": generator.choice(["F", "M"], N_USERS),
        "age": generator.integers(18, 70, N_USERS).astype(float),
    })
    rows = []
    for user in range(N_USERS):
        for position, item in enumerate(generator.choice(N_ITEMS, 8, replace=False)):
            rows.append((str(user + 1), str(item + 1), float(generator.integers(1, 6)), 1000 * user + position))
    interactions = pd.DataFrame(rows, columns=[USER_ID, ITEM_ID, RATING, TIMESTAMP])
    dataset = Dataset("tiny", interactions, items, users,
                      FeatureSpec(text=[TITLE], multilabel=[GENRES], numeric=[YEAR]),
                      FeatureSpec(categorical=["gender"], numeric=["age"]))

    config = load_config(None, {"model.dim": 8, "model.dropout": 0.0, "paths.cache_dir": str(cache_dir)})
    item_encoding = TabularEncoding.fit(dataset.items, dataset.item_features)
    user_encoding = TabularEncoding.fit(dataset.users, dataset.user_features)
    vectors = generator.normal(size=(N_ITEMS, TEXT_DIM)).astype(np.float32)
    inputs = ModelInputs(dataset, item_encoding, user_encoding, vectors, np.ones(N_ITEMS, dtype=np.float32))
    model = GenreModel(config.model, N_ITEMS, TEXT_DIM, item_encoding, user_encoding)
    meta = {"version": "tiny", "item_encoding": item_encoding.to_dict(), "user_encoding": user_encoding.to_dict()}
    return Recommender(config, dataset, model, inputs, meta, "cpu")
