"""Attribution engine: completeness, sanity checks on real and constructed models, bad input, CLI."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from genre_core import cli
from genre_core.config import load_config
from genre_core.explain import ExplainError, ExplainSettings, clear_cache, explain
from genre_core.explain.leave_one_out import leave_one_out
from genre_core.explain.scoring import build_problem
from genre_core.inputs import History
from genre_core.model import GenreModel
from genre_core.service import Recommender

# Pairs of the deletion check: users with 10 to 100 past items, so that 3 removals leave a history and
# leave-one-out (one forward row per past item) stays fast.
DELETION_PAIRS = 100
MIN_HISTORY = 10
MAX_HISTORY = 100
FAST = ExplainSettings(tokens=False)


@pytest.fixture(scope="module")
def recommender(trained_config) -> Recommender:
    return Recommender.load(load_config(trained_config), device="cpu")


@pytest.fixture(scope="module")
def top_item(recommender) -> str:
    return str(recommender.recommend("42", k=1).items["item_id"][0])


def _score(recommender, user_index: int, item_index: int, history: History) -> float:
    with torch.no_grad():
        batch = recommender.inputs.user_batch([user_index], [history], recommender.config.model.max_history)
        users = recommender.model.user_vectors(recommender.item_vectors, batch)
        return float(recommender.model.score(users, recommender.item_vectors)[0, item_index])


# Completeness


def test_ig_shares_add_up(recommender, top_item):
    result = explain(recommender, "42", top_item, settings=FAST)

    total = sum(row["share"] for row in result["shares"])
    # Captum defines delta = sum(attributions) - (F(x) - F(baseline)).
    assert total - result["convergence_delta"] == pytest.approx(result["difference"], abs=1e-4)
    assert result["relative_convergence_delta"] <= 0.05
    assert result["n_steps"] in (50, 100, 200, 400)


def test_shapley_shares_add_up_exactly(recommender, top_item):
    result = explain(recommender, "42", top_item, settings=ExplainSettings(method="shapley", tokens=False))

    total = sum(row["share"] for row in result["shares"])
    assert total == pytest.approx(result["difference"], rel=1e-4, abs=1e-5)


def test_score_matches_recommender(recommender, top_item):
    result = explain(recommender, "42", top_item, settings=FAST)
    expected = recommender.recommend("42", k=1).items["score"][0]

    assert result["score"] == pytest.approx(expected, abs=1e-4)


def test_words_add_up(recommender, top_item):
    result = explain(recommender, "42", top_item)
    tokens = result["tokens"]

    assert tokens["words"]
    assert not any(word["word"].startswith("##") for word in tokens["words"])
    assert tokens["score"] == pytest.approx(result["score"], abs=1e-3)
    total = sum(word["attribution"] for word in tokens["words"]) + tokens["special_tokens"]
    assert total - tokens["convergence_delta"] == pytest.approx(tokens["score"] - tokens["baseline_score"], abs=1e-4)


def test_margin_defaults_to_next_ranked_item(recommender):
    top = recommender.recommend("42", k=2).items
    result = explain(recommender, "42", str(top["item_id"][0]), target="margin", settings=FAST)

    assert result["versus_item_id"] == str(top["item_id"][1])
    assert result["score"] == pytest.approx(top["score"][0] - top["score"][1], abs=1e-4)
    assert result["baseline_score"] == pytest.approx(0.0, abs=1e-5)


def test_results_are_cached(recommender, top_item):
    first = explain(recommender, "42", top_item, settings=FAST)
    second = explain(recommender, "42", top_item, settings=FAST)

    assert first is second


# Sanity checks


def test_randomised_weights_change_attributions(recommender, top_item):
    shares = [row["share"] for row in explain(recommender, "42", top_item, settings=FAST)["shares"]]
    randomised = copy.copy(recommender)
    randomised.model = copy.deepcopy(recommender.model)
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in randomised.model.parameters():
            parameter.normal_(0.0, 0.1)
    randomised.version = "randomised"
    clear_cache()

    random_shares = [row["share"] for row in explain(randomised, "42", top_item, settings=FAST)["shares"]]

    assert np.corrcoef(shares, random_shares)[0, 1] < 0.9
    assert not np.allclose(shares, random_shares, atol=1e-3)


def _text_only_recommender(recommender) -> Recommender:
    """A model with all three item modalities whose score depends on the text vector alone."""
    config = copy.deepcopy(recommender.config)
    torch.manual_seed(0)
    model = GenreModel(config.model, recommender.dataset.n_items, recommender.inputs.text_dim,
                       *_encodings(recommender))
    dim = config.model.dim
    text_block = config.model.modalities.index("text")
    with torch.no_grad():
        first = model.item_tower.fusion.mlp[0].weight
        keep = torch.zeros_like(first)
        keep[:, text_block * dim:(text_block + 1) * dim] = 1.0
        first.mul_(keep)
        # With zero values the attention output and the history mean are zero, whatever the history holds.
        tower = model.user_tower
        for module in (tower.item_values, tower.rating_values):
            for parameter in module.parameters():
                parameter.zero_()
        tower.empty_value.zero_()
        # The user vector then depends only on the user attributes: make it a constant.
        tower.attributes.out[-1].weight.zero_()
    meta = {**recommender.meta, "version": "text-only"}
    return Recommender(config, recommender.dataset, model, recommender.inputs, meta, "cpu")


def _encodings(recommender):
    from genre_core.features import TabularEncoding

    return (TabularEncoding.from_dict(recommender.meta["item_encoding"]),
            TabularEncoding.from_dict(recommender.meta["user_encoding"]))


@pytest.mark.parametrize("method", ["integrated_gradients", "shapley"])
def test_text_only_model_attributes_text(recommender, method):
    text_only = _text_only_recommender(recommender)
    item = str(text_only.recommend("42", k=1).items["item_id"][0])

    result = explain(text_only, "42", item, settings=ExplainSettings(method=method, tokens=False))

    shares = {row["modality"]: row["share"] for row in result["shares"]}
    total = sum(abs(value) for value in shares.values())
    assert abs(shares["text"]) / total >= 0.95


def test_deletion_of_top_history_items(recommender):
    """Removing the 3 past items with the largest leave-one-out contributions lowers the score more than 3 random ones."""
    generator = np.random.default_rng(0)
    users = [index for index, history in enumerate(recommender.histories) if MIN_HISTORY <= len(history) <= MAX_HISTORY]
    users = generator.choice(users, DELETION_PAIRS, replace=False)
    top_drops, random_drops = [], []
    for user_index in users:
        history = recommender.histories[user_index]
        item = str(recommender.recommend(str(recommender.dataset.user_ids[user_index]), k=1).items["item_id"][0])
        item_index = recommender.dataset.item_position(item)
        problem = build_problem(recommender, int(user_index), [item_index], history, "mean")
        contributions = leave_one_out(problem)
        full = _score(recommender, user_index, item_index, history)

        top = np.argsort(-contributions)[:3]
        random = generator.choice(len(contributions), 3, replace=False)
        top_drops.append(full - _score(recommender, user_index, item_index, _without(history, top)))
        random_drops.append(full - _score(recommender, user_index, item_index, _without(history, random)))

    assert np.mean(top_drops) > np.mean(random_drops)


def _without(history: History, positions) -> History:
    # Contribution positions index the model's window of the newest max_history items; histories here are shorter.
    keep = np.setdiff1d(np.arange(len(history)), positions)
    return History(history.items[keep], history.ratings[keep], history.timestamps[keep])


# Bad input


def test_unknown_item_is_named(recommender):
    with pytest.raises(LookupError, match="'no-such-item'"):
        explain(recommender, "42", "no-such-item")


def test_unknown_user_is_named(recommender, top_item):
    with pytest.raises(LookupError, match="'no-such-user'"):
        explain(recommender, "no-such-user", top_item)


def test_user_without_history(recommender, top_item, monkeypatch):
    index = recommender.dataset.user_position("42")
    empty = History(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0, dtype=np.int64))
    histories = list(recommender.histories)
    histories[index] = empty
    monkeypatch.setattr(recommender, "histories", histories)

    with pytest.raises(ExplainError, match="user '42' has no history"):
        explain(recommender, "42", top_item)


def test_item_without_text(recommender, top_item, monkeypatch):
    present = recommender.inputs.items["text_present"].clone()
    present[recommender.dataset.item_position(top_item)] = 0.0
    monkeypatch.setitem(recommender.inputs.items, "text_present", present)

    with pytest.raises(ExplainError, match=f"item '{top_item}' has no text"):
        explain(recommender, "42", top_item)


@pytest.mark.parametrize("settings, message", [
    ({"n_steps": 3}, "n_steps must be .* got 3"),
    ({"n_steps": 75}, "n_steps must be one of 50, 100, 200, 400, got 75"),
    ({"shapley_samples": 0}, "shapley_samples must be .* got 0"),
    ({"internal_batch_size": -1}, "internal_batch_size must be .* got -1"),
    ({"method": "lime"}, "unknown method 'lime'"),
    ({"baseline": "blur"}, "unknown baseline 'blur'"),
])
def test_settings_out_of_range(settings, message):
    with pytest.raises(ExplainError, match=message):
        ExplainSettings(**settings)


def test_versus_same_item(recommender, top_item):
    with pytest.raises(ExplainError, match="must differ"):
        explain(recommender, "42", top_item, versus=top_item, settings=FAST)


# Command line


def test_cli_json_fields(trained_config, top_item, capsys):
    code = cli.main(["explain", "--config", str(trained_config), "--user", "42", "--item", top_item,
                     "--json", "--quiet"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0
    for field in ("relative_convergence_delta", "n_steps", "baseline_score", "score", "method_agreement",
                  "shares", "tokens", "history"):
        assert field in result
    assert result["tokens"]["words"]
    assert {"spearman", "top3_same_order"} <= set(result["method_agreement"])


def test_cli_bad_setting_is_one_line(trained_config, capsys):
    code = cli.main(["explain", "--config", str(trained_config), "--user", "42", "--item", "1",
                     "--n-steps", "7", "--quiet"])

    error = capsys.readouterr().err
    assert code == 2
    assert "n_steps" in error and "7" in error
    assert "Traceback" not in error
