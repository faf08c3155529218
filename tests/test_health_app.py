"""Model Health page in AppTest and in Chromium, on a saved replay of real MovieLens-100k."""

from __future__ import annotations


import pytest
import yaml
from playwright.sync_api import expect
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT
from genre_core.i18n import LANGUAGES, translate
from test_adaptation_replay import replayed_config  # noqa: F401  (a session fixture)
from test_browser import chromium_page, streamlit_server

APP = PROJECT_ROOT / "app.py"
PAGE = "views/health.py"
TIMEOUT = 60
PAGE_TIMEOUT_MS = 90_000
SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "health.png"
FAILURE_SCREENSHOT = SCREENSHOT.with_name("health-failure.png")


def _open(monkeypatch, config_path) -> AppTest:
    monkeypatch.setenv("GENRE_CONFIG", str(config_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return at.switch_page(PAGE).run()


def _table_with(at: AppTest, column: str):
    """Return the one dataframe with `column` (AppTest does not expose the keys of dataframes)."""
    tables = [element.value for element in at.dataframe if column in element.value.columns]
    assert len(tables) == 1, f"expected one table with column {column!r}, found {len(tables)}"
    return tables[0]


@pytest.fixture
def app(monkeypatch, replayed_config) -> AppTest:  # noqa: F811
    return _open(monkeypatch, replayed_config)


def test_health_page_shows_replay(app):
    assert not app.exception
    assert app.title[0].value == translate("health.title", "en")
    summary = _table_with(app, translate("health.column.policy", "en"))
    assert len(summary) == 3
    assert summary[translate("health.column.policy", "en")].tolist() == [
        translate(f"health.policy.{name}", "en") for name in ("static", "periodic", "adaptive")
    ]
    assert len(app.get("plotly_chart")) == 2


def test_health_page_shows_policy_and_action_log(app):
    rules = _table_with(app, translate("health.rules.order", "en"))
    log = _table_with(app, translate("health.log.outcome", "en"))

    assert rules[translate("health.rules.action", "en")].tolist() == [
        translate("health.action.adjust_lr", "en"), translate("health.action.incremental_update", "en"),
    ]
    assert len(log) >= 3
    assert set(log[translate("health.log.action", "en")]) <= {
        translate("health.action.incremental_update", "en"), translate("health.action.adjust_lr", "en"),
    }
    assert log[translate("health.log.outcome", "en")].str.len().min() > 0


def test_health_page_switches_policy(app):
    at = app.radio(key="health_policy_en").set_value("static").run()

    assert not at.exception
    assert translate("health.log_empty", "en") in [message.value for message in at.info]


def test_health_page_in_chinese_keeps_policy(app):
    at = app.radio(key="health_policy_en").set_value("periodic").run()
    at = at.sidebar.radio(key="lang").set_value("zh").run()

    assert not at.exception
    assert at.title[0].value == translate("health.title", "zh")
    assert at.radio(key="health_policy_zh").value == "periodic"


def test_health_page_without_run_says_command(monkeypatch, empty_registry_config):
    at = _open(monkeypatch, empty_registry_config)

    assert not at.exception
    (message,) = at.info
    assert "genre replay --config" in message.value
    assert len(at.get("plotly_chart")) == 0
    assert len(_table_with(at, translate("health.rules.order", "en"))) > 0


def test_health_page_warns_when_policy_changed(monkeypatch, replayed_config, tmp_path):  # noqa: F811
    raw = yaml.safe_load(replayed_config.read_text())
    raw["monitoring"]["policy"]["rules"] = [{"trigger": "staleness", "threshold": 5, "action": "full_retrain"}]
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw))

    at = _open(monkeypatch, changed)

    assert not at.exception
    assert any("differs from the one the saved run used" in message.value for message in at.warning)


@pytest.fixture
def health_server(replayed_config, tmp_path):  # noqa: F811
    log_path = tmp_path / "streamlit.log"
    with streamlit_server(replayed_config, log_path) as url:
        yield url, log_path


@pytest.mark.browser
def test_health_page_in_chromium(health_server):
    url, log_path = health_server

    with chromium_page(log_path, FAILURE_SCREENSHOT, height=1400, timeout_ms=PAGE_TIMEOUT_MS) as page:
        page.goto(f"{url}/health")
        expect(page.get_by_role("heading", name=translate("health.title", "en"))).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
        log_header = translate("health.log_header", "en", policy=translate("health.policy.adaptive", "en"))
        expect(page.get_by_role("heading", name=log_header)).to_be_visible()
        expect(page.get_by_role("radio", name=translate("health.policy.adaptive", "en"))).to_be_checked()

        page.get_by_test_id("stSidebar").get_by_text(LANGUAGES["zh"]).click()
        expect(page.get_by_role("heading", name=translate("health.title", "zh"))).to_be_visible()
        expect(page.get_by_role("radio", name=translate("health.policy.adaptive", "zh"))).to_be_checked()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
