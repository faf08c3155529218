"""Browser test of the What-if page: remove two past items in headless Chromium and see the ranking change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import translate
from test_browser import chromium_page, server_url  # noqa: F401  (server_url is a fixture)
from test_whatif_app import USER, ranking_changing_pair

pytestmark = pytest.mark.browser

SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "whatif.png"
FAILURE_SCREENSHOT = SCREENSHOT.with_name("whatif-failure.png")


def test_whatif_in_chromium(server_url, trained_config, tmp_path):  # noqa: F811
    pair = ranking_changing_pair(trained_config)

    with chromium_page(tmp_path / "streamlit.log", FAILURE_SCREENSHOT, height=1400) as page:
        page.goto(f"{server_url}/whatif?user={USER}")
        expect(page.get_by_role("heading", name=translate("whatif.title", "en"))).to_be_visible()
        expect(page.get_by_text(translate("whatif.no_edits", "en"))).to_be_visible()

        remove = page.get_by_test_id("stMultiSelect").first
        for item_id in pair:
            remove.click()
            page.keyboard.type(f"{item_id} · ")
            page.keyboard.press("Enter")
            expect(remove.get_by_text(re.compile(rf"^{re.escape(item_id)} · "))).to_be_visible()
        page.keyboard.press("Escape")

        moved = page.get_by_text(re.compile(r"^[1-9]\d* of the top 10 items changed rank"))
        expect(moved).to_be_visible()
        after = page.get_by_test_id("stDataFrame").nth(2).locator('table[role="grid"]')
        expect(after.locator("tbody tr").filter(has_text=re.compile("[▲▼]")).first).to_be_attached()

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
