"""Attributions page in AppTest, against the real trained test model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate

PAGE = PROJECT_ROOT / "views" / "attributions.py"
RECOMMENDATIONS = PROJECT_ROOT / "views" / "recommendations.py"
# The first run imports torch, loads the model and the text model, and computes one explanation.
TIMEOUT = 120


@pytest.fixture
def page(trained_config, monkeypatch) -> AppTest:
    monkeypatch.setenv("GENRE_CONFIG", str(trained_config))
    return AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)


def test_page_draws_charts_and_trust_panel(page):
    page.query_params["user"] = "42"
    page.run()

    assert not page.exception
    assert not page.error
    assert page.title[0].value == translate("attr.title", "en")
    assert len(page.get("plotly_chart")) == 3
    trust = " ".join(element.value for element in page.markdown)
    assert "add up to within" in trust
    assert "Shapley" in trust


def test_page_reads_item_from_link(page):
    page.query_params["user"] = "42"
    page.query_params["item"] = "1"
    page.run()

    assert not page.exception
    assert page.selectbox(key="attr_item").value == "1"


def test_page_compare_mode(page):
    page.query_params["user"] = "42"
    page.run()
    page.checkbox(key="attr_compare").check()
    page.button[0].click().run()

    assert not page.exception
    header = page.subheader[0].value
    assert "ranks above" in header


def test_page_unknown_item_message(page):
    page.query_params["user"] = "42"
    page.query_params["item"] = "no-such-item"
    page.run()

    assert not page.exception
    assert "no-such-item" in page.error[0].value


def test_page_unknown_user_message(page):
    page.query_params["user"] = "no-such-user"
    page.run()

    assert not page.exception
    assert "no-such-user" in page.error[0].value


def test_recommendations_link_to_page(trained_config, monkeypatch):
    monkeypatch.setenv("GENRE_CONFIG", str(trained_config))
    at = AppTest.from_file(str(RECOMMENDATIONS), default_timeout=TIMEOUT)
    at.query_params["user"] = "42"
    at.run()

    assert not at.exception
    links = [element.value for element in at.markdown if "attributions?" in element.value]
    assert len(links) == 1
    assert "user=42" in links[0]
    assert f"item={at.selectbox(key='rec_explain_item').value}" in links[0]
