"""End to end on the real data: the real MiniLM vectors, real MovieLens-100k, a real registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genre_core.config import load_config
from genre_core.data.dataset import interaction_matrix
from genre_core.evaluation.baselines import BASELINES
from genre_core.evaluation.metrics import full_ranking_metrics
from genre_core.pipeline import load_prepared, make_split
from genre_core.registry import ModelRegistry
from genre_core.service import Recommender

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(trained_config):
    config = load_config(trained_config)
    return config, ModelRegistry.for_config(config).info().meta


def test_text_vectors_come_from_real_minilm(trained_config):
    from genre_core.modalities.text import encode_texts

    config = load_config(trained_config)
    vectors = encode_texts(["Toy Story", "Toy Story 2", "Schindler's List"], config.text.model,
                           config.paths.resolve("cache_dir"), progress=False)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.2


@pytest.mark.slow
def test_real_model_beats_most_popular_on_validation(trained):
    config, meta = trained
    dataset = load_prepared(config, progress=False)
    split = make_split(config, dataset)
    train = interaction_matrix(split.train, dataset.n_users, dataset.n_items)
    valid = interaction_matrix(split.valid, dataset.n_users, dataset.n_items)
    popularity = BASELINES["pop"](seed=0).fit(train)
    pop_metrics = full_ranking_metrics(popularity.score, train, valid, ks=(10,))

    genre_ndcg = meta["metrics"]["valid"]["ndcg@10"]
    assert genre_ndcg > pop_metrics["ndcg@10"], (genre_ndcg, pop_metrics["ndcg@10"])


def test_registered_version_records_data_split_and_metrics(trained):
    config, meta = trained
    dataset = load_prepared(config, progress=False)
    assert meta["data_fingerprint"] == dataset.fingerprint()
    assert meta["split"]["protocol"] == config.split.protocol
    for name in ("ndcg@10", "recall@10", "precision@10", "mrr@10", "hit@10", "ndcg@5", "ndcg@20"):
        assert 0.0 <= meta["metrics"]["test"][name] <= 1.0
    assert meta["training"]["curve"], "the training curve is empty"
    assert meta["created_at"]


def test_recommendations_exclude_history_and_are_sorted(trained):
    config, _ = trained
    recommender = Recommender.load(config)
    result = recommender.recommend("42", k=10)
    assert list(result.items["rank"]) == list(range(1, 11))
    scores = result.items["score"].to_numpy()
    assert np.all(np.diff(scores) <= 0)
    seen = set(recommender.history("42")["item_id"])
    assert not seen & set(result.items["item_id"])
    assert result.device == "cpu"
    assert result.model_version == "v0001"


def test_unknown_user_names_the_id(trained):
    config, _ = trained
    recommender = Recommender.load(config)
    with pytest.raises(LookupError, match="unknown user ID '99999'"):
        recommender.recommend("99999")


@pytest.mark.parametrize("k", [0, -3, 100_000, 2.5])
def test_invalid_k_is_rejected(trained, k):
    config, _ = trained
    recommender = Recommender.load(config)
    with pytest.raises(ValueError, match="k must be an integer"):
        recommender.recommend("42", k=k)


def test_cli_recommend_json(trained_config):
    completed = subprocess.run(
        [sys.executable, "-m", "genre_core", "recommend", "--config", str(trained_config), "--user", "42",
         "--k", "10", "--json", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert len(result["items"]) == 10
    assert result["model_version"] == "v0001"
    assert result["device"] == "cpu"
    assert {"rank", "score", "item_id", "title", "year", "genres"} <= set(result["items"][0])


def test_cli_unknown_user_exits_2_without_traceback(trained_config):
    completed = subprocess.run(
        [sys.executable, "-m", "genre_core", "recommend", "--config", str(trained_config), "--user", "nobody", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 2
    assert "unknown user ID 'nobody'" in completed.stderr
    assert "Traceback" not in completed.stderr
