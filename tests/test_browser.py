"""Browser test: a real Streamlit server, driven by headless Chromium through Playwright."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import LANGUAGES, translate

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "recommendations.png"
FAILURE_SCREENSHOT = SCREENSHOT.with_name("failure.png")
# The server imports torch and Streamlit before it responds, and the first page run loads the model.
SERVER_START_SECONDS = 90
PAGE_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_health(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}; log:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not respond on {url}/_stcore/health within {SERVER_START_SECONDS} s; log:\n{log_path.read_text()}")


@contextmanager
def streamlit_server(config_path: Path, log_path: Path):
    """Run `streamlit run app.py` on a free local port, serving `config_path`; yield its URL and stop it after."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env={**os.environ, "GENRE_CONFIG": str(config_path)},
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_health(url, server, log_path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def server_url(trained_config, tmp_path):
    """A `streamlit run app.py` server on a free local port, serving the trained test model."""
    with streamlit_server(trained_config, tmp_path / "streamlit.log") as url:
        yield url


@contextmanager
def chromium_page(log_path: Path, failure_screenshot: Path, height: int = 1000, timeout_ms: int = PAGE_TIMEOUT_MS):
    """Open a page in headless Chromium; on a failure save a screenshot, print the server log and re-raise."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing; install it with "
                    "`apt-get install -y --no-install-recommends chromium chromium-driver` (or `make test-deps`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": height})
            page.set_default_timeout(timeout_ms)
            expect.set_options(timeout=timeout_ms)
            try:
                yield page
            except Exception:
                failure_screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(failure_screenshot), full_page=True)
                print(f"screenshot of the failing page: {failure_screenshot}\nserver log:\n{log_path.read_text()}")
                raise
        finally:
            browser.close()


def test_recommendations_in_chromium(server_url, tmp_path):
    with chromium_page(tmp_path / "streamlit.log", FAILURE_SCREENSHOT) as page:
        _check_recommendations(page, server_url)


def _check_recommendations(page: Page, server_url: str) -> None:
    page.goto(server_url)
    sidebar = page.get_by_test_id("stSidebar")

    # The language switch that app.py draws around every page works on the first
    # click after the server starts, and switching back restores English.
    sidebar.get_by_text(LANGUAGES["zh"]).click()
    expect(page.get_by_role("heading", name=translate("rec.title", "zh"))).to_be_visible()
    sidebar.get_by_text(LANGUAGES["en"]).click()
    expect(page.get_by_role("heading", name=translate("rec.title", "en"))).to_be_visible()

    search = page.get_by_role("textbox", name=translate("rec.search_label", "en"))
    search.fill("42")
    search.press("Enter")
    heading = page.get_by_role("heading", name=translate("rec.top_header", "en", k=10, user_id="42"))
    expect(heading).to_be_visible()

    # The top-k dataframe is the one with a Score column. Its accessible grid
    # (a hidden <table role="grid">) counts the header row and one row per item.
    score_header = translate("column.score", "en")
    top = page.get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text=re.compile(f"^{score_header}$")))
    expect(top).to_have_count(1)
    grid = top.locator('table[role="grid"]')
    expect(grid).to_have_attribute("aria-rowcount", "11")
    expect(grid.locator("tbody tr")).to_have_count(10)
    expect(grid.locator("tbody tr").last.locator("td").first).to_have_text("10")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
