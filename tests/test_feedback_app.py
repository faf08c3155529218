"""Feedback page and thumbs on recommendation rows, in AppTest and in Chromium, against the real model."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import Page, expect
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT, load_config
from genre_core.feedback.jobs import JobLock
from genre_core.feedback.runner import LOCK_FILE
from genre_core.feedback.store import FeedbackStore
from genre_core.i18n import translate
from genre_core.registry import ModelRegistry
from test_browser import chromium_page, streamlit_server
from test_feedback_retrain import copy_config

APP = PROJECT_ROOT / "app.py"
PAGE = "views/feedback.py"
TIMEOUT = 90
USER = "42"
# The first page run loads the model; later steps wait for Streamlit reruns.
PAGE_TIMEOUT_MS = 120_000
FEEDBACK_FAILURE_SCREENSHOT = PROJECT_ROOT / "artifacts" / "browser" / "feedback_failure.png"
# The browser waits this long for a retraining started from the page to finish.
RETRAIN_TIMEOUT_MS = 240_000


@pytest.fixture
def config_path(trained_config, tmp_path):
    return copy_config(trained_config, tmp_path)


@pytest.fixture
def app(monkeypatch, config_path) -> AppTest:
    monkeypatch.setenv("GENRE_CONFIG", str(config_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    return at.switch_page(PAGE).run()


def _labels_on_disk(config_path) -> list[tuple]:
    path = load_config(config_path).feedback.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT user_id, item_id, label, analyst, undone FROM labels ORDER BY id").fetchall()


def _start_labelling(at: AppTest) -> AppTest:
    at.text_input(key="feedback_analyst_input").input("ann").run()
    return at.text_input(key="feedback_queue_user").input(USER).run()


def _queue_buttons(at: AppTest, label: str) -> list:
    return [button for button in at.button if button.key and button.key.startswith(f"fbq_{label}_{USER}_")]


def test_user_in_address_opens_queue(monkeypatch, config_path):
    monkeypatch.setenv("GENRE_CONFIG", str(config_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["user"] = "7"
    at.run()
    at = at.switch_page(PAGE).run()

    assert not at.exception
    assert at.text_input(key="feedback_queue_user").value == "7"


def test_feedback_page_runs(app):
    assert not app.exception
    assert app.title[0].value == translate("feedback.title", "en")
    assert [header.value for header in app.subheader] == [
        translate(key, "en") for key in (
            "feedback.queue_header", "feedback.labels_header", "feedback.retrain_header",
            "feedback.versions_header", "feedback.comparison_header",
        )
    ]


def test_label_saved_before_page_says_saved(app, config_path):
    at = _start_labelling(app)
    buttons = _queue_buttons(at, "irrelevant")
    assert len(buttons) == 10
    item_id = buttons[0].key.rsplit("_", 1)[1]

    at = buttons[0].click().run()

    saved = [message.value for message in at.success]
    assert any(message.startswith("Saved label 1:") for message in saved), saved
    assert _labels_on_disk(config_path) == [(USER, item_id, "irrelevant", "ann", 0)]
    assert item_id not in [button.key.rsplit("_", 1)[1] for button in _queue_buttons(at, "irrelevant")]


def test_undo_from_page(app, config_path):
    at = _start_labelling(app)
    at = _queue_buttons(at, "relevant")[0].click().run()
    at = at.selectbox(key="feedback_undo_id").select(1).run()
    at = at.button(key="feedback_undo").click().run()

    assert _labels_on_disk(config_path)[0][-1] == 1
    assert translate("feedback.undone", "en", id=1) in [message.value for message in at.success]


def test_promote_and_rollback_from_page(app, config_path):
    registry = ModelRegistry.for_config(load_config(config_path))
    state, model_config, meta = registry.load()
    registry.save(state, model_config, {**meta, "status": "candidate"}, activate=False)

    at = app.run()
    at = at.selectbox(key="feedback_promote_version").select("v0002").run()
    at = at.button(key="feedback_promote").click().run()
    assert registry.active_version() == "v0002"
    assert not at.exception

    at.button(key="feedback_rollback").click().run()
    assert registry.active_version() == "v0001"


def test_second_retraining_rejected(app, config_path):
    FeedbackStore.open(load_config(config_path)).add(USER, "50", "irrelevant", "ann")
    lock = JobLock(ModelRegistry.for_config(load_config(config_path)).root / LOCK_FILE)
    assert lock.acquire()
    try:
        at = app.button(key="feedback_retrain").click().run()
    finally:
        lock.release()
    assert any("already running" in message.value for message in at.error)
    assert ModelRegistry.for_config(load_config(config_path)).active_version() == "v0001"


def test_retraining_without_labels_refused(app):
    at = app.button(key="feedback_retrain").click().run()

    assert not at.exception
    assert [message.value for message in at.warning] == [translate("feedback.no_labels_to_retrain", "en")]


def test_thumbs_on_recommendations_page(monkeypatch, config_path):
    monkeypatch.setenv("GENRE_CONFIG", str(config_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at = at.text_input(key="rec_query").input(USER).run()
    at = at.text_input(key="feedback_analyst_input").input("ann").run()
    at = at.text_input(key="rec_feedback_reason").input("already seen").run()

    down = [button for button in at.button if button.key and button.key.startswith(f"rec_feedback_irrelevant_{USER}_")]
    assert len(down) == 10
    at = down[2].click().run()

    assert any(message.value.startswith("Saved label 1:") for message in at.success)
    path = load_config(config_path).feedback.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT reason, rank FROM labels").fetchall() == [("already seen", 3)]


# Browser


@pytest.fixture
def feedback_server(trained_config, tmp_path):
    """`streamlit run app.py` on a free local port, serving a copy of the trained model with fast retraining."""
    config_path = copy_config(trained_config, tmp_path, **{"feedback.epochs": 1, "feedback.replay_fraction": 0.05})
    log_path = tmp_path / "streamlit.log"
    with streamlit_server(config_path, log_path) as url:
        yield url, config_path, log_path


@pytest.mark.browser
def test_label_and_retrain_in_chromium(feedback_server):
    url, config_path, log_path = feedback_server
    with chromium_page(log_path, FEEDBACK_FAILURE_SCREENSHOT, height=1400, timeout_ms=PAGE_TIMEOUT_MS) as page:
        _label_and_retrain(page, url)
    assert ModelRegistry.for_config(load_config(config_path)).versions()[-1].version == "v0002"


def _label_and_retrain(page: Page, url: str) -> None:
    page.goto(f"{url}/feedback")
    expect(page.get_by_role("heading", name=translate("feedback.title", "en"))).to_be_visible()
    page.get_by_role("textbox", name=translate("feedback.analyst_label", "en")).fill("ann")
    page.get_by_role("textbox", name=translate("feedback.analyst_label", "en")).press("Enter")
    user = page.get_by_role("textbox", name=translate("feedback.queue_user", "en"))
    user.fill(USER)
    user.press("Enter")

    page.locator(f"[class*='st-key-fbq_irrelevant_{USER}_'] button").first.click()
    expect(page.get_by_text(re.compile(r"^Saved label 1:"))).to_be_visible()

    page.get_by_role("button", name=translate("feedback.retrain_button", "en")).click()
    finished = page.get_by_text(re.compile(r"^Job 1 succeeded: version v0002"))
    expect(finished).to_be_visible(timeout=RETRAIN_TIMEOUT_MS)
    # The page reruns once the job has finished, and the before/after view names the new version.
    comparison = translate("feedback.comparison_caption", "en", version="v0002", base="v0001")
    expect(page.get_by_text(comparison)).to_be_visible()
    page.screenshot(path=str(PROJECT_ROOT / "artifacts" / "browser" / "feedback.png"), full_page=True)
