"""What-if and counterfactuals on the real trained model: verification and minimality on sampled pairs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genre_core import cli
from genre_core.config import load_config
from genre_core.schema import ITEM_ID
from genre_core.service import Recommender
from genre_core.whatif import Edits, history_counterfactual, rescore
from genre_core.whatif.edits import edited_history

K = 10
PAIRS = 10


@pytest.fixture(scope="module")
def recommender(trained_config) -> Recommender:
    return Recommender.load(load_config(trained_config), device="cpu")


def _sample_pairs(recommender, count: int, seed: int = 0) -> list[tuple[str, str]]:
    generator = np.random.default_rng(seed)
    pairs = []
    for user_id in generator.choice(recommender.user_ids(), count, replace=False):
        top = recommender.recommend(str(user_id), k=K).items[ITEM_ID].astype(str)
        pairs.append((str(user_id), top.iloc[int(generator.integers(len(top)))]))
    return pairs


def _served_top(recommender, user_id: str, removed) -> list[str]:
    user_index = recommender.dataset.user_position(user_id)
    history = edited_history(recommender, user_index, Edits(remove=tuple(removed)))
    return recommender.recommend(user_id, k=K, history=history).items[ITEM_ID].astype(str).tolist()


def test_sampled_counterfactuals_verified_and_minimal(recommender):
    found = 0
    for user_id, item_id in _sample_pairs(recommender, PAIRS):
        result = history_counterfactual(recommender, user_id, item_id, k=K)
        if not result.found:
            assert result.bound_reached in ("max_size", "max_rescores", None)
            continue
        found += 1
        removed = [member["item_id"] for member in result.members]

        assert result.verification["verified"], (user_id, item_id)
        assert result.verification["minimal"], (user_id, item_id)
        # A third check through the serving path, apart from the engine's own verification.
        assert item_id not in _served_top(recommender, user_id, removed)
        for member in removed:
            assert item_id in _served_top(recommender, user_id, [other for other in removed if other != member])
    assert found >= PAIRS // 2


def test_rescore_latency_is_recorded(recommender):
    history = recommender.history("42")[ITEM_ID].astype(str).tolist()
    result = rescore(recommender, "42", Edits(remove=tuple(history[:2])), k=K)

    assert result.seconds > 0
    assert result.history_size == (len(history), len(history) - 2)


def test_cli_recommend_without_history(trained_config, capsys):
    history = Recommender.load(load_config(trained_config), device="cpu").history("42")[ITEM_ID].astype(str).tolist()
    code = cli.main(["recommend", "--config", str(trained_config), "--user", "42", "--quiet", "--json",
                     "--without-history", ",".join(history[:2])])

    output = json.loads(capsys.readouterr().out)
    assert code == 0
    assert output["history_size_after"] == len(history) - 2
    assert len(output["items"]) == K
    assert {"rank", "item_id", "score", "rank_change", "score_change"} <= set(output["items"][0])


def test_cli_counterfactual_json(trained_config, recommender, capsys):
    user_id, item_id = _sample_pairs(recommender, 1, seed=1)[0]
    code = cli.main(["counterfactual", "--config", str(trained_config), "--user", user_id, "--item", item_id,
                     "--quiet", "--json"])

    output = json.loads(capsys.readouterr().out)
    assert code == 0
    assert output["kind"] == "leave_top_k"
    assert output["bounds"] == {"max_size": 30, "max_rescores": 300}
    if output["found"]:
        assert output["verification"]["verified"]


@pytest.mark.parametrize("arguments, message", [
    (["recommend", "--user", "42", "--with-history", "no-such-item"], "cannot add item 'no-such-item'"),
    (["recommend", "--user", "42", "--with-history", "1682:9"], "out of range"),
    (["counterfactual", "--user", "42", "--item", "no-such-item"], "cannot explain item 'no-such-item': unknown item ID"),
])
def test_cli_bad_input_is_one_line(trained_config, capsys, arguments, message):
    code = cli.main([*arguments, "--config", str(trained_config), "--quiet"])

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert message in error
    assert "\n" not in error
