"""What-if engine and counterfactual searches on a tiny random model: edits, re-scoring, bounds, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from genre_core.schema import ITEM_ID, TITLE
from genre_core.whatif import (
    Edits, SearchBounds, WhatIfError, apply_edits, bring_into_top_k, explain_under_edits, history_counterfactual,
    rescore, versus_counterfactual,
)
from genre_core.whatif.edits import edited_history
from whatif_tiny import N_USERS, tiny_recommender

K = 5


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("whatif-cache")


@pytest.fixture(scope="module")
def recommender(cache_dir):
    return tiny_recommender(cache_dir)


def _history_ids(recommender, user_id: str) -> list[str]:
    return list(recommender.history(user_id)[ITEM_ID].astype(str))


def _unseen(recommender, user_id: str) -> str:
    seen = set(_history_ids(recommender, user_id))
    return next(str(item) for item in recommender.dataset.item_ids if str(item) not in seen)


# Edits


def test_history_edits_applied(recommender):
    history_ids = _history_ids(recommender, "1")
    added = _unseen(recommender, "1")
    edits = Edits(remove=(history_ids[0],), add={added: 4}, ratings={history_ids[1]: 1})

    history = edited_history(recommender, 0, edits)

    items = [str(recommender.dataset.item_ids[index]) for index in history.items]
    assert history_ids[0] not in items
    assert items[-1] == added
    assert history.ratings[-1] == 4
    assert history.ratings[items.index(history_ids[1])] == 1
    assert len(history) == len(history_ids)


def test_no_edits_change_nothing(recommender):
    result = rescore(recommender, "1", Edits(), k=K)

    assert list(result.after[ITEM_ID]) == list(result.before[ITEM_ID])
    assert (result.changes["score_change"].dropna() == 0).all()
    assert result.notes == []


def test_after_list_matches_serving_path(recommender):
    history_ids = _history_ids(recommender, "2")
    edits = Edits(remove=tuple(history_ids[:2]))

    result = rescore(recommender, "2", edits, k=K)
    served = recommender.recommend("2", k=K, history=edited_history(recommender, 1, edits)).items

    assert list(result.after[ITEM_ID]) == list(served[ITEM_ID].astype(str))
    np.testing.assert_allclose(result.after["score_after"], served["score"], atol=1e-5)


def test_removed_items_become_recommendable(recommender):
    history_ids = _history_ids(recommender, "3")
    result = rescore(recommender, "3", Edits(remove=(history_ids[0],)), k=K)

    row = result.changes.set_index(ITEM_ID).loc[history_ids[0]]
    assert np.isnan(row["rank_before"])
    assert np.isfinite(row["rank_after"])


def test_removing_every_item_is_cold_start(recommender):
    result = rescore(recommender, "4", Edits(remove=tuple(_history_ids(recommender, "4"))), k=K)

    assert result.cold_start
    assert [note["code"] for note in result.notes] == ["cold_start"]
    assert result.history_size[1] == 0
    assert len(result.after) == K


def test_user_attribute_edit_changes_scores(recommender):
    current = recommender.user_attributes("5")["gender"]
    other = "M" if current == "F" else "F"

    oldest = float(recommender.dataset.users["age"].max())  # numeric edits must stay inside the data's range
    result = rescore(recommender, "5", Edits(user_attributes={"gender": other, "age": oldest}), k=K)

    assert result.changes["score_change"].abs().max() > 0
    assert recommender.user_attributes("5")["gender"] == current


def test_item_attribute_edit_changes_one_vector(recommender):
    before = recommender.item_vectors.clone()
    earliest = float(recommender.dataset.items["year"].min())  # numeric edits must stay inside the data's range
    applied = apply_edits(recommender, "1", Edits(item_attributes={"3": {"genres": ["Horror"], "year": earliest}}))

    changed = (applied.view.item_vectors != before).any(1)
    assert changed.nonzero().flatten().tolist() == [2]
    assert torch.equal(recommender.item_vectors, before)


def test_text_edit_leaves_data_model_and_cache(recommender, cache_dir):
    state = {key: value.clone() for key, value in recommender.model.state_dict().items()}
    titles = recommender.dataset.items["title"].copy()
    vectors = recommender.inputs.items["text"].clone()

    result = rescore(recommender, "1", Edits(item_texts={"7": "space dog " * 40}), k=K)

    assert [note["code"] for note in result.notes] == ["text_truncated"]
    note = result.notes[0]
    assert note["tokens"] > note["limit"] == recommender.config.text.max_length
    assert note["kept"].startswith("space dog")
    assert result.changes.set_index(ITEM_ID).loc["7", "score_change"] != 0
    assert all(torch.equal(value, state[key]) for key, value in recommender.model.state_dict().items())
    pd.testing.assert_series_equal(recommender.dataset.items["title"], titles)
    assert torch.equal(recommender.inputs.items["text"], vectors)
    assert not any(cache_dir.iterdir())


def test_empty_text_counts_as_missing(recommender):
    result = rescore(recommender, "1", Edits(item_texts={"8": "  "}), k=K)

    assert [note["code"] for note in result.notes] == ["text_empty"]


# Bad input


@pytest.mark.parametrize("edits, error, message", [
    (Edits(add={"no-such-item": None}), LookupError, "cannot add item 'no-such-item'"),
    (Edits(remove=("no-such-item",)), LookupError, "cannot remove item 'no-such-item'"),
    (Edits(item_texts={"no-such-item": "x"}), LookupError, "cannot edit item 'no-such-item'"),
    (Edits(user_attributes={"gender": "X"}), WhatIfError, "gender = 'X' is not a known value"),
    (Edits(user_attributes={"height": 180}), WhatIfError, "no editable attribute 'height'"),
    (Edits(user_attributes={"age": float("nan")}), WhatIfError, "not a finite number"),
    (Edits(item_attributes={"1": {"genres": ["Western"]}}), WhatIfError, "unknown labels 'Western'"),
])
def test_invalid_edit_is_named(recommender, edits, error, message):
    with pytest.raises(error, match=message):
        rescore(recommender, "1", edits, k=K)


@pytest.mark.parametrize("rating", [0, 6, 9.5, float("inf"), "high"])
def test_rating_out_of_range(recommender, rating):
    added = _unseen(recommender, "1")
    with pytest.raises(WhatIfError, match="give a number from 1 to 5"):
        rescore(recommender, "1", Edits(add={added: rating}), k=K)


def test_history_edit_conflicts(recommender):
    history_ids = _history_ids(recommender, "1")
    with pytest.raises(WhatIfError, match="already in the history"):
        rescore(recommender, "1", Edits(add={history_ids[0]: None}), k=K)
    with pytest.raises(WhatIfError, match="not in the history"):
        rescore(recommender, "1", Edits(remove=(_unseen(recommender, "1"),)), k=K)
    with pytest.raises(WhatIfError, match="both removed and re-rated"):
        rescore(recommender, "1", Edits(remove=(history_ids[0],), ratings={history_ids[0]: 3}), k=K)


def test_unknown_user(recommender):
    with pytest.raises(LookupError, match="unknown user ID 'nobody'"):
        rescore(recommender, "nobody", Edits(), k=K)


@pytest.mark.parametrize("field, value", [("max_size", 0), ("max_rescores", -1), ("max_size", 2.5)])
def test_search_bounds_validated(field, value):
    with pytest.raises(WhatIfError, match=field):
        SearchBounds(**{field: value})


# Counterfactuals


def _pairs(recommender):
    for user in range(1, N_USERS + 1):
        top = recommender.recommend(str(user), k=K).items
        for item in top[ITEM_ID].astype(str):
            yield str(user), item


def test_found_counterfactuals_verified_and_minimal(recommender):
    found = 0
    for user_id, item_id in _pairs(recommender):
        result = history_counterfactual(recommender, user_id, item_id, k=K)
        if not result.found:
            continue
        found += 1
        verification = result.verification
        assert verification["verified"], (user_id, item_id)
        assert verification["minimal"], (user_id, item_id)
        assert verification["rank_after"] > K
        assert len(verification["without_each_member"]) == result.size
        assert all(row["rank_after"] <= K for row in verification["without_each_member"])
    assert found > 0


def test_bound_reached_is_reported(recommender):
    bounds = SearchBounds(max_size=1, max_rescores=1)
    reported = 0
    for user_id, item_id in _pairs(recommender):
        result = history_counterfactual(recommender, user_id, item_id, k=K, bounds=bounds)
        assert result.rescores <= 1 or result.found
        if not result.found:
            assert result.bound_reached in ("max_size", "max_rescores")
            assert result.verification is None
            reported += 1
    assert reported > 0


def test_versus_and_enter_top_k(recommender):
    top = recommender.recommend("6", k=K + 10).items[ITEM_ID].astype(str).tolist()

    versus = versus_counterfactual(recommender, "6", top[0], top[1], k=K)
    titles = dict(zip(recommender.dataset.items[ITEM_ID].astype(str), recommender.dataset.items[TITLE]))
    assert versus.item_title == titles[versus.item_id]  # the page names items by title
    assert versus.versus_title == titles[versus.versus_item_id]
    if versus.found:
        assert versus.verification["verified"]
        assert versus.verification["versus_rank_after"] < versus.verification["rank_after"]
    entering = bring_into_top_k(recommender, "6", top[K + 2], k=K)
    if entering.found:
        assert entering.verification["verified"]
        assert entering.rank_after <= K


def test_counterfactual_bad_requests(recommender):
    top = recommender.recommend("6", k=K + 1).items[ITEM_ID].astype(str).tolist()
    with pytest.raises(WhatIfError, match="outside the top"):
        history_counterfactual(recommender, "6", top[K], k=K)
    with pytest.raises(WhatIfError, match="already at rank"):
        bring_into_top_k(recommender, "6", top[0], k=K)
    with pytest.raises(WhatIfError, match="already ranks above"):
        versus_counterfactual(recommender, "6", top[1], top[0], k=K)
    with pytest.raises(WhatIfError, match="in the history"):
        history_counterfactual(recommender, "6", _history_ids(recommender, "6")[0], k=K)
    with pytest.raises(LookupError, match="unknown item ID"):
        history_counterfactual(recommender, "6", "no-such-item", k=K)


def test_attributions_under_edits(recommender):
    from genre_core.explain import ExplainSettings

    history_ids = _history_ids(recommender, "7")
    edits = Edits(remove=tuple(history_ids[:2]))
    after = rescore(recommender, "7", edits, k=K).after
    item_id = str(after[ITEM_ID][0])

    result = explain_under_edits(recommender, "7", item_id, edits, settings=ExplainSettings(tokens=False))

    attributed = {row["item_id"] for row in result["history"]}
    assert attributed == set(history_ids[2:])
    assert result["score"] == pytest.approx(float(after["score_after"][0]), abs=1e-4)
    assert result["model_version"].startswith("tiny+whatif-")
