"""Contract tests over every registered baseline, plus checks of each algorithm."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from genre_core.config import BPRConfig, EvaluationConfig, ItemKNNConfig
from genre_core.evaluation.baselines import BASELINES, build_baseline
from genre_core.evaluation.baselines.bpr import BPRBaseline, sample_negatives
from genre_core.evaluation.baselines.compare import evaluate_baselines
from genre_core.evaluation.baselines.itemknn import ItemKNNBaseline
from genre_core.evaluation.baselines.pop import PopularityBaseline
from genre_core.evaluation.metrics import full_ranking_metrics

# Settings small enough for a random 30 × 20 matrix; every registered baseline needs an entry.
SMALL_SETTINGS = {
    "pop": None,
    "itemknn": ItemKNNConfig(neighbours=5, shrink=1.0),
    "bpr": BPRConfig(dim=8, epochs=3, learning_rate=0.05, reg=0.01, batch_size=16),
}


@pytest.fixture
def train() -> sparse.csr_matrix:
    rng = np.random.default_rng(0)
    return sparse.csr_matrix(rng.random((30, 20)) < 0.25, dtype=np.float32)


def _make(name: str, seed: int = 0):
    if name not in SMALL_SETTINGS:
        raise KeyError(f"baseline {name!r} is registered but has no entry in SMALL_SETTINGS of this test file")
    return BASELINES[name](SMALL_SETTINGS[name], seed=seed)


# --- contract: every registered baseline ----------------------------------------


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_scores_shape_and_dtype(name, train):
    model = _make(name)

    assert model.fit(train) is model
    scores = model.score(np.array([0, 5, 29]))

    assert scores.shape == (3, 20)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_seeded_fit_is_reproducible(name, train):
    users = np.arange(train.shape[0])

    first = _make(name, seed=3).fit(train).score(users)
    second = _make(name, seed=3).fit(train).score(users)

    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_scores_empty_batch(name, train):
    scores = _make(name).fit(train).score(np.array([], dtype=np.int64))

    assert scores.shape == (0, 20)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_score_before_fit_raises(name):
    with pytest.raises(RuntimeError, match=r"is not fitted; call fit\(train\) before score\(\)"):
        _make(name).score(np.array([0]))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_rejects_invalid_users(name, train):
    model = _make(name).fit(train)

    with pytest.raises(ValueError, match="user index 30 is out of range; the model was fitted on 30 users"):
        model.score(np.array([1, 30]))
    with pytest.raises(ValueError, match="user index -1 is out of range"):
        model.score(np.array([-1]))
    with pytest.raises(ValueError, match="user_indices must be a 1-D integer array, got dtype float64"):
        model.score(np.array([0.0]))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_rejects_invalid_train(name):
    with pytest.raises(ValueError, match="train must be a scipy sparse matrix"):
        _make(name).fit(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"train \(3, 4\) has no interactions"):
        _make(name).fit(sparse.csr_matrix((3, 4), dtype=np.float32))


def test_every_baseline_has_small_settings():
    assert set(SMALL_SETTINGS) == set(BASELINES)


def test_build_baseline_uses_config_section():
    config = EvaluationConfig(bpr=BPRConfig(dim=7), itemknn=ItemKNNConfig(neighbours=3))

    assert build_baseline("bpr", config).config.dim == 7
    assert build_baseline("itemknn", config).config.neighbours == 3
    assert isinstance(build_baseline("pop", config), PopularityBaseline)


def test_build_baseline_unknown_name():
    with pytest.raises(ValueError, match="unknown baseline 'als'; available baselines: pop, itemknn, bpr"):
        build_baseline("als")


# --- popularity ----------------------------------------------------------------


def test_pop_scores_are_item_counts(train):
    scores = PopularityBaseline().fit(train).score(np.array([0, 1]))

    expected = np.asarray(train.sum(axis=0)).ravel()
    np.testing.assert_array_equal(scores[0], expected)
    np.testing.assert_array_equal(scores[1], expected)


def test_pop_rejects_config():
    with pytest.raises(ValueError, match="the popularity baseline has no settings; pass config=None"):
        PopularityBaseline(ItemKNNConfig())


# --- item-kNN ------------------------------------------------------------------


def test_itemknn_hand_worked_similarity():
    # Items 0 and 1 share user 0. Item 0 has 2 users and item 1 has 1 user.
    # Item 2 shares no user with the others.
    train = sparse.csr_matrix(np.array([
        [1, 1, 0],
        [1, 0, 0],
        [0, 0, 1],
    ], dtype=np.float32))
    model = ItemKNNBaseline(ItemKNNConfig(neighbours=2, shrink=1.0)).fit(train)

    similarity = model.similarity_.toarray()
    # sim(0, 1) = 1 / (sqrt(2) * sqrt(1) + 1) = 0.4142136
    expected = np.array([
        [0.0, 0.4142136, 0.0],
        [0.4142136, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    ])
    np.testing.assert_allclose(similarity, expected, atol=1e-6)
    # user 1 interacted with item 0 only: score = row 0 of the similarity
    np.testing.assert_allclose(model.score(np.array([1]))[0], [0.0, 0.4142136, 0.0], atol=1e-6)


def test_itemknn_keeps_top_neighbours_per_item(train):
    model = ItemKNNBaseline(ItemKNNConfig(neighbours=3, shrink=0.0)).fit(train)
    full = ItemKNNBaseline(ItemKNNConfig(neighbours=100, shrink=0.0)).fit(train)

    pruned = model.similarity_.toarray()
    dense = full.similarity_.toarray()
    assert (np.count_nonzero(pruned, axis=0) <= 3).all()
    assert np.diag(dense).max() == 0.0
    for item in range(dense.shape[1]):
        kept = pruned[:, item] > 0
        if kept.any():
            dropped = ~kept & (np.arange(dense.shape[0]) != item)
            assert pruned[kept, item].min() >= dense[dropped, item].max()


# --- BPR -----------------------------------------------------------------------


def test_bpr_seeds_differ(train):
    users = np.arange(train.shape[0])
    config = SMALL_SETTINGS["bpr"]

    first = BPRBaseline(config, seed=0).fit(train).score(users)
    second = BPRBaseline(config, seed=1).fit(train).score(users)

    assert not np.array_equal(first, second)


def test_sample_negatives_avoids_positives(train):
    rng = np.random.default_rng(0)
    coo = train.tocoo()
    users = np.repeat(coo.row.astype(np.int64), 20)
    keys = np.sort(coo.row.astype(np.int64) * train.shape[1] + coo.col)

    negatives = sample_negatives(users, keys, train.shape[1], rng)

    assert not train[users, negatives].any()
    assert negatives.min() >= 0
    assert negatives.max() < train.shape[1]


def test_bpr_skips_users_with_every_item(caplog):
    train = sparse.csr_matrix(np.array([[1, 1, 1], [1, 0, 0]], dtype=np.float32))

    with caplog.at_level(logging.WARNING):
        BPRBaseline(BPRConfig(dim=4, epochs=2)).fit(train)

    assert "skips 1 users who interacted with all 3 items" in caplog.text


def test_bpr_without_any_negative_raises():
    with pytest.raises(ValueError, match="BPR has no interaction to train on"):
        BPRBaseline(BPRConfig(dim=4, epochs=1)).fit(sparse.csr_matrix(np.ones((2, 3), dtype=np.float32)))


# --- comparison table ------------------------------------------------------------


def test_evaluate_baselines_table(train):
    test = sparse.csr_matrix(np.random.default_rng(1).random(train.shape) < 0.2, dtype=np.float32)
    config = EvaluationConfig(ks=[5], bpr=SMALL_SETTINGS["bpr"], itemknn=SMALL_SETTINGS["itemknn"])

    table = evaluate_baselines(train, test, ["pop", "itemknn"], config)

    assert list(table["baseline"]) == ["pop", "itemknn"]
    assert {"fit_s", "eval_s", "ndcg@5", "recall@5", "users"} <= set(table.columns)


# --- MovieLens-100k ---------------------------------------------------------------

requires_recbole = pytest.mark.skipif(
    importlib.util.find_spec("recbole") is None,
    reason="MovieLens-100k ships in recbole; install it with: pip install --no-deps recbole==1.2.1",
)


@requires_recbole
def test_bpr_beats_pop_on_movielens():
    from genre_core.data.dataset import interaction_matrix
    from genre_core.data.movielens import load_recbole_ml100k
    from genre_core.data.splits import split_interactions

    dataset = load_recbole_ml100k()
    split = split_interactions(dataset.interactions, "msr", seed=0)
    train = interaction_matrix(pd.concat([split.train, split.valid]), dataset.n_users, dataset.n_items)
    test = interaction_matrix(split.test, dataset.n_users, dataset.n_items)
    # 20 epochs instead of 100 keep this test at about 10 s on 2 cores.
    bpr = BPRBaseline(BPRConfig(dim=200, epochs=20, learning_rate=0.01, reg=0.01), seed=0).fit(train)
    pop = PopularityBaseline().fit(train)

    bpr_ndcg = full_ranking_metrics(bpr.score, train, test, ks=(10,))["ndcg@10"]
    pop_ndcg = full_ranking_metrics(pop.score, train, test, ks=(10,))["ndcg@10"]

    assert bpr_ndcg > pop_ndcg + 0.05
