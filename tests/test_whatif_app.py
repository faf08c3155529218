"""What-if page in AppTest, against the real trained test model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT, load_config
from genre_core.i18n import translate
from genre_core.schema import ITEM_ID
from genre_core.service import Recommender
from genre_core.whatif import Edits, rescore

PAGE = PROJECT_ROOT / "views" / "whatif.py"
# The first run imports torch and loads the model.
TIMEOUT = 120
USER = "42"
REMOVE_KEY = f"whatif_edit_remove_{USER}"


@pytest.fixture
def page(trained_config, monkeypatch) -> AppTest:
    monkeypatch.setenv("GENRE_CONFIG", str(trained_config))
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    app.query_params["user"] = USER
    return app


def ranking_changing_pair(config_path) -> list[str]:
    """Two of the user's past items whose removal changes the order of the top 10."""
    recommender = Recommender.load(load_config(config_path), device="cpu")
    history = recommender.history(USER)[ITEM_ID].astype(str).tolist()
    for first in range(0, len(history) - 1, 2):
        pair = history[first:first + 2]
        result = rescore(recommender, USER, Edits(remove=tuple(pair)), k=10)
        if list(result.after[ITEM_ID]) != list(result.before[ITEM_ID]):
            return pair
    raise AssertionError(f"no pair of past items of user {USER} changes the top 10")


def _tables(page):
    # The history editor comes first, then the lists before and after the edits.
    return page.dataframe[1].value, page.dataframe[2].value


def test_page_without_edits(page):
    page.run()

    assert not page.exception
    assert not page.error
    assert page.title[0].value == translate("whatif.title", "en")
    before, after = _tables(page)
    assert list(before["title"]) == list(after["title"])


def test_removing_two_items_changes_ranking(page, trained_config):
    pair = ranking_changing_pair(trained_config)
    page.run()
    page.multiselect(key=REMOVE_KEY).select(pair[0]).select(pair[1])
    page.run()

    assert not page.exception
    assert not page.error
    before, after = _tables(page)
    assert list(before["title"]) != list(after["title"])
    assert any(mark.startswith(("▲", "▼")) for mark in after["movement"])
    moved = [element.value for element in page.markdown if "changed rank" in element.value]
    assert moved and not moved[0].startswith("**0 ")


def test_reset_clears_edits(page, trained_config):
    pair = ranking_changing_pair(trained_config)
    page.run()
    page.multiselect(key=REMOVE_KEY).select(pair[0]).select(pair[1])
    page.run()
    page.button(key="whatif_reset").click()
    page.run()

    assert page.multiselect(key=REMOVE_KEY).value == []
    before, after = _tables(page)
    assert list(before["title"]) == list(after["title"])


def test_removing_every_item_shows_cold_start(page):
    page.run()
    remove = page.multiselect(key=REMOVE_KEY)
    remove.set_value(list(remove.options and [option.split(" · ")[0] for option in remove.options]))
    page.run()

    assert not page.exception
    assert translate("whatif.cold_start", "en") in [element.value for element in page.info]


@pytest.mark.parametrize("entry, message", [
    ("no-such-item", 'No item has ID "no-such-item"'),
    ("1682:9", "out of range"),
    ("1682:high", "Invalid entry"),
    ("1682:4,1682:5", "listed twice"),
])
def test_bad_added_item_message(page, entry, message):
    page.run()
    page.text_input(key=f"whatif_edit_add_{USER}").input(entry)
    page.run()

    assert not page.exception
    assert message in page.error[0].value


def test_long_text_is_truncated_with_message(page):
    page.run()
    page.text_input(key="whatif_edit_text_item").input("1")
    page.run()
    page.text_area(key="whatif_edit_text_1").input("toy story " * 40)
    page.run()

    assert not page.exception
    assert "more than the model's limit of 32" in page.warning[0].value


def test_counterfactual_with_verification(page):
    page.run()
    first = page.selectbox(key="whatif_cf_item").options[0].split(" · ")[0]
    page.selectbox(key="whatif_cf_item").select(first)
    submit = next(button for button in page.button if button.label == translate("whatif.cf_run", "en"))
    submit.click()
    page.run()

    assert not page.exception
    shown = [element.value for element in [*page.success, *page.warning]]
    assert shown
    if page.success:
        text = " ".join(element.value for element in page.markdown)
        assert "Verified by an independent re-score" in text
        assert "Minimal" in text


def test_bad_entry_keeps_other_edits(page):
    page.run()
    page.text_input(key="whatif_edit_text_item").input("1")
    page.run()
    page.text_area(key="whatif_edit_text_1").input("a quiet story")
    page.run()
    page.text_input(key=f"whatif_edit_add_{USER}").input("1682:9")
    page.run()

    assert "out of range" in page.error[0].value
    assert page.text_area(key="whatif_edit_text_1").value == "a quiet story"
    page.text_input(key=f"whatif_edit_add_{USER}").input("")
    page.run()
    assert not page.error
    assert not page.exception
    assert page.text_area(key="whatif_edit_text_1").value == "a quiet story"
