"""Browser test of the item cards and attribution maps: a real Streamlit server serving a Tux Paint model."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect, sync_playwright

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate
from media_fixtures import media_config  # noqa: F401 (a pytest fixture)
from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("stamps_installed"),
]
FAILURE_SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "media_failure.png"


@pytest.fixture
def media_server(media_config, tmp_path):  # noqa: F811 (the imported fixture)
    with streamlit_server(media_config, tmp_path / "streamlit.log") as url:
        yield url


def test_item_cards_and_heat_map_in_chromium(media_server):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install -y --no-install-recommends chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        expect.set_options(timeout=PAGE_TIMEOUT_MS)
        try:
            page.goto(media_server)
            expect(page.get_by_role("heading", name=translate("media.cards_header", "en"))).to_be_visible()
            expect(page.get_by_test_id("stImage").first).to_be_visible()
            expect(page.locator("audio").first).to_be_attached()

            page.get_by_role("button", name=translate("media.map_button", "en")).click()
            expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        except Exception:
            FAILURE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(FAILURE_SCREENSHOT), full_page=True)
            raise
        finally:
            browser.close()
