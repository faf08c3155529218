"""Regression tests for odd and hostile what-if input: the CLI, the engine and the page's parsers.

The CLI cases fail before any model loads, so they take milliseconds; the engine cases use the tiny
random recommender of whatif_tiny.
"""

from __future__ import annotations

import json
import math

import pytest

from genre_core import cli
from genre_core.schema import ITEM_ID
from genre_core.whatif import Edits, WhatIfError, history_counterfactual, rescore
from whatif_tiny import N_ITEMS, tiny_recommender

K = 5
MISSING_CONFIG = "/nonexistent/genre-config.yaml"


@pytest.fixture(scope="module")
def recommender(tmp_path_factory):
    return tiny_recommender(tmp_path_factory.mktemp("whatif-bad-cache"))


def _history_ids(recommender, user_id: str) -> list[str]:
    return list(recommender.history(user_id)[ITEM_ID].astype(str))


def _unseen(recommender, user_id: str) -> str:
    seen = set(_history_ids(recommender, user_id))
    return next(str(item) for item in recommender.dataset.item_ids if str(item) not in seen)


# CLI: one line, exit code 2, nothing on stdout, no model loaded


@pytest.mark.parametrize("arguments, message", [
    (["recommend", "--user", "1", "--without-history", ""], "--without-history '' has an empty item ID"),
    (["recommend", "--user", "1", "--without-history", "1,,2"], "has an empty item ID"),
    (["recommend", "--user", "1", "--without-history", "1,1"], "item '1' is listed twice"),
    (["recommend", "--user", "1", "--without-history", "1:4"], "takes item IDs only"),
    (["recommend", "--user", "1", "--with-history", "300:abc"], "rating 'abc' for item '300', which is not a number"),
    (["recommend", "--user", "1", "--with-history", "300:nan"], "rating 'nan'"),
    (["recommend", "--user", "1", "--with-history", "300:inf"], "rating 'inf'"),
    (["recommend", "--user", "1", "--with-history", "300:1e309"], "rating '1e309'"),
    (["recommend", "--user", "1", "--with-history", "300:1_0"], "rating '1_0'"),
    (["recommend", "--user", "1", "--with-history", "300,300:4"], "item '300' is listed twice in --with-history"),
    (["recommend", "--user", "1", "--with-history", "300", "--with-history", "300"], "listed twice"),
    (["recommend", "--user", "1", "--with-history", "300", "--without-history", "300"],
     "both added to and removed from"),
    (["counterfactual", "--user", "1", "--item", "2", "--versus", ""], "--versus is empty"),
    (["counterfactual", "--user", "1", "--item", "2", "--versus", "3", "--text"], "give only one of them"),
    (["counterfactual", "--user", "1", "--item", "2", "--versus", " 2 "], "must differ from item A"),
    (["counterfactual", "--user", "1", "--item", "2", "--k", "0"], "--k 0 is too small"),
    (["counterfactual", "--user", "1", "--item", "2", "--k", "1.5"], "--k '1.5' is not a whole number"),
    (["counterfactual", "--user", "1", "--item", "2", "--max-size", "abc"], "--max-size 'abc'"),
    (["counterfactual", "--user", "1", "--item", "2", "--max-size", "100000"], "max_size must be an integer"),
])
def test_cli_bad_input_is_one_line_before_loading(capsys, arguments, message):
    code = cli.main([*arguments, "--config", MISSING_CONFIG, "--quiet", "--json"])

    captured = capsys.readouterr()
    error = captured.err.strip()
    assert code == 2
    assert captured.out == ""
    assert message in error
    assert "\n" not in error
    assert "usage:" not in error
    assert MISSING_CONFIG not in error  # rejected before the config is read


def test_cli_repeated_with_history_adds_up(monkeypatch, recommender, capsys):
    from genre_core import cli_whatif

    monkeypatch.setattr(cli_whatif, "_load", lambda args: recommender)
    unseen = [item for item in map(str, recommender.dataset.item_ids) if item not in _history_ids(recommender, "1")]
    code = cli.main(["recommend", "--user", "1", "--k", str(K), "--quiet", "--json",
                     "--with-history", f"{unseen[0]}:4", "--with-history", f" {unseen[1]} "])

    output = json.loads(capsys.readouterr().out)
    assert code == 0
    assert output["history_size_after"] == output["history_size_before"] + 2
    assert output["edits"]["add"] == {unseen[0]: 4.0, unseen[1]: None}


def test_cli_counterfactual_k_too_large(monkeypatch, recommender, capsys):
    from genre_core import cli_whatif

    monkeypatch.setattr(cli_whatif, "_load", lambda args: recommender)
    seen = len(_history_ids(recommender, "1"))
    code = cli.main(["counterfactual", "--user", "1", "--item", _unseen(recommender, "1"), "--k", str(N_ITEMS - 1),
                     "--quiet", "--json"])

    error = capsys.readouterr().err.strip()
    assert code == 2
    assert f"can be recommended only {N_ITEMS - seen} items" in error
    assert "\n" not in error


# Engine


def test_counterfactual_k_beyond_recommendable(recommender):
    recommendable = N_ITEMS - len(_history_ids(recommender, "1"))
    with pytest.raises(WhatIfError, match=f"give a k from 1 to {recommendable - 1}"):
        history_counterfactual(recommender, "1", _unseen(recommender, "1"), k=recommendable)


@pytest.mark.parametrize("make, message", [
    (lambda ids, unseen: Edits(remove=(ids[0], f" {ids[0]} ")), "listed twice in the items to remove"),
    (lambda ids, unseen: Edits(add={unseen: 3, f"{unseen} ": 4}), "listed twice in the items to add"),
    (lambda ids, unseen: Edits(remove=(unseen,), add={unseen: None}), "both added to and removed from"),
])
def test_conflicting_edits_are_named(recommender, make, message):
    with pytest.raises(WhatIfError, match=message):
        make(_history_ids(recommender, "1"), _unseen(recommender, "1"))


@pytest.mark.parametrize("rating, message", [
    (True, "is not a number"), (None, "is not a number"), (math.nan, "is not a number"), ("x", "is not a number"),
    (7, "is out of range"),
])
def test_bad_rating_is_named(recommender, rating, message):
    item = _history_ids(recommender, "1")[0]
    with pytest.raises(WhatIfError, match=f"rating {rating!r} of item '{item}' {message}; give a number from 1 to 5"):
        rescore(recommender, "1", Edits(ratings={item: rating}), k=K)


@pytest.mark.parametrize("edits, message", [
    (lambda: Edits(user_attributes={"age": -5}), "user '1' attribute age = -5 is outside the data's range"),
    (lambda: Edits(user_attributes={"age": 1e12}), "outside the data's range"),
    (lambda: Edits(item_attributes={"1": {"year": 1e300}}), "item '1' attribute year = 1e\\+300 is outside"),
])
def test_numeric_attribute_outside_data_range(recommender, edits, message):
    with pytest.raises(WhatIfError, match=message):
        rescore(recommender, "1", edits(), k=K)


def test_numeric_attribute_inside_data_range_is_applied(recommender):
    ages = recommender.dataset.users["age"]
    result = rescore(recommender, "1", Edits(user_attributes={"age": float(ages.max())}), k=K)

    assert result.edits.user_attributes == {"age": float(ages.max())}


def test_text_in_another_script_is_flagged(recommender):
    result = rescore(recommender, "1", Edits(item_texts={"1": "猜火车 一部电影"}), k=K)

    codes = [note["code"] for note in result.notes]
    assert "text_unknown" in codes
    assert "unknown to the text model" in next(note["message"] for note in result.notes
                                               if note["code"] == "text_unknown")


def test_english_text_is_not_flagged(recommender):
    result = rescore(recommender, "1", Edits(item_texts={"1": "a red river at night"}), k=K)

    assert "text_unknown" not in [note["code"] for note in result.notes]


# Page parsers (plain functions, no Streamlit run needed)


@pytest.mark.parametrize("text, key", [
    ("3:4,3:5", "whatif.add_twice"), ("3, 3", "whatif.add_twice"), ("3:nan", "whatif.add_invalid"),
    ("3:1e309", "whatif.add_invalid"), (":4", "whatif.add_invalid"), ("3:1_0", "whatif.add_invalid"),
])
def test_page_added_items_parser_rejects(text, key):
    from genre_core.i18n import translate
    from ui.whatif import _parse_added

    with pytest.raises(ValueError) as error:
        _parse_added(text)
    assert str(error.value).split(" ")[0] == translate(key, "en", item_id="3", entry="x").split(" ")[0]


def test_page_added_items_parser_accepts():
    from ui.whatif import _parse_added

    assert _parse_added(" 3 : 4 , 5, ,") == {"3": 4.0, "5": None}


def test_adding_whole_catalogue_leaves_short_list(recommender):
    unseen = [item for item in map(str, recommender.dataset.item_ids) if item not in _history_ids(recommender, "1")]
    result = rescore(recommender, "1", Edits(add={item: None for item in unseen[1:]}), k=K)

    assert len(result.after) == 1
    assert [note["code"] for note in result.notes] == ["short_list"]


def test_long_unknown_id_is_cut_in_message(recommender):
    with pytest.raises(LookupError) as error:
        rescore(recommender, "1", Edits(add={"9" * 5000: None}), k=K)
    assert len(str(error.value)) < 300
    assert "(5000 characters)" in str(error.value)
    with pytest.raises(LookupError, match=r"unknown user ID '7{10}.*\(900 characters\)"):
        rescore(recommender, "7" * 900, Edits(), k=K)
