"""Browser test of the Attributions page: a real Streamlit server driven by headless Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect, sync_playwright

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate
from test_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, server_url  # noqa: F401  (server_url is a fixture)

pytestmark = pytest.mark.browser

SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "attributions.png"
# The first explanation on a fresh server also loads the text model.
EXPLAIN_TIMEOUT_MS = 2 * PAGE_TIMEOUT_MS


def test_attributions_in_chromium(server_url):  # noqa: F811
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; install it with `apt-get install -y --no-install-recommends chromium`")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            page.set_default_timeout(EXPLAIN_TIMEOUT_MS)
            page.goto(f"{server_url}/attributions?user=42&item=1")

            expect(page.get_by_role("heading", name=translate("attr.title", "en"))).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
            expect(page.get_by_text(translate("attr.trust_header", "en"))).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
            expect(page.get_by_text("add up to within").first).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
            expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3, timeout=EXPLAIN_TIMEOUT_MS)

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
