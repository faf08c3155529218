"""Causal Effects page in AppTest and in Chromium, against the real trained test model."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate
from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, server_url  # noqa: F401  (server_url is a fixture)

PAGE = PROJECT_ROOT / "views" / "causal.py"
# The first run imports torch, loads the model and builds the analysis table of 100,000 ratings.
TIMEOUT = 300
SAMPLE_ROWS = 3000


@pytest.fixture
def page(trained_config, monkeypatch) -> AppTest:
    monkeypatch.setenv("GENRE_CONFIG", str(trained_config))
    return AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)


def _estimate(page: AppTest) -> AppTest:
    page.number_input(key="causal_rows").set_value(SAMPLE_ROWS)
    page.button[0].click()
    return page.run()


def test_page_waits_for_estimate(page):
    page.run()

    assert not page.exception
    assert page.title[0].value == translate("causal.title", "en")
    assert page.info[0].value == translate("causal.prompt", "en")


def test_page_shows_four_steps(page):
    _estimate(page.run())

    assert not page.exception
    assert not page.error
    headers = [element.value for element in page.header]
    assert headers[:3] == [translate(key, "en") for key in ("causal.step1", "causal.step2", "causal.step3")]
    assert translate("causal.segments", "en") in headers
    assert len(page.get("plotly_chart")) == 2
    assert len(page.get("graphviz_chart")) == 1
    refuter_column = translate("causal.column.refuter", "en")
    refutations = [element.value for element in page.dataframe if refuter_column in element.value.columns]
    assert len(refutations) == 1
    assert len(refutations[0]) == 4
    assert {element.label for element in page.metric} >= {translate("causal.drives_outcome", "en"),
                                                          translate("causal.drives_model", "en")}


def test_repeated_estimate_reuses_the_report(page):
    """A second press of Estimate with the same question returns the stored report, with no cache replay error."""
    _estimate(page.run())
    first = [element.value for element in page.header]
    page.button[0].click()
    page.run()

    assert not page.exception
    assert [element.value for element in page.header] == first


def test_page_cyclic_graph_message(page):
    page.run()
    page.text_area(key="causal_graph_popularity").set_value("digraph { popular -> high_rating; high_rating -> popular; }")
    _estimate(page)

    assert not page.exception
    assert "has a cycle" in page.error[0].value


@pytest.mark.browser
def test_causal_page_in_chromium(server_url):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install -y --no-install-recommends chromium`")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS * 3)  # the first run builds the analysis table
            page.goto(f"{server_url}/causal")
            rows = page.get_by_label(translate("causal.rows_label", "en"), exact=True).first
            rows.fill(str(SAMPLE_ROWS))
            rows.press("Enter")
            page.get_by_role("button", name=translate("causal.submit", "en"), exact=True).click()

            expect(page.get_by_role("heading", name=translate("causal.step3", "en"))).to_be_visible()
            step4 = translate("causal.step4", "en", estimator=translate("causal.estimator.linear_regression", "en"))
            expect(page.get_by_role("heading", name=step4)).to_be_visible()
        finally:
            browser.close()
