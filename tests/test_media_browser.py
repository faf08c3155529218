"""Browser test of the item cards and attribution maps: a real Streamlit server serving a Tux Paint model."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate
from media_fixtures import media_config  # noqa: F401 (a pytest fixture)
from test_browser import chromium_page, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("stamps_installed"),
]
FAILURE_SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "media_failure.png"


@pytest.fixture
def media_server(media_config, tmp_path):  # noqa: F811 (the imported fixture)
    with streamlit_server(media_config, tmp_path / "streamlit.log") as url:
        yield url


def test_item_cards_and_heat_map_in_chromium(media_server, tmp_path):
    with chromium_page(tmp_path / "streamlit.log", FAILURE_SCREENSHOT) as page:
        page.goto(media_server)
        expect(page.get_by_role("heading", name=translate("media.cards_header", "en"))).to_be_visible()
        expect(page.get_by_test_id("stImage").first).to_be_visible()
        expect(page.locator("audio").first).to_be_attached()

        page.get_by_role("button", name=translate("media.map_button", "en")).click()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
