"""App tests: every page of the workbench runs in Streamlit's AppTest against a real trained model."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from genre_core.config import PROJECT_ROOT, load_config
from genre_core.i18n import translate
from genre_core.registry import ModelRegistry

APP = PROJECT_ROOT / "app.py"
PAGES = ["views/recommendations.py", "views/model.py"]
# The first run imports torch and loads the model; later runs reuse the cached recommender.
TIMEOUT = 60


@pytest.fixture
def serve(monkeypatch):
    """Return a function that points the app at a config file."""

    def serve_config(config_path) -> None:
        monkeypatch.setenv("GENRE_CONFIG", str(config_path))

    return serve_config


@pytest.fixture
def app(serve, trained_config) -> AppTest:
    serve(trained_config)
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def _table_with(at: AppTest, column: str) -> pd.DataFrame:
    tables = [element.value for element in at.dataframe if column in element.value.columns]
    assert len(tables) == 1, f"expected one table with column {column!r}, found {len(tables)}"
    return tables[0]


def _pick_user(at: AppTest, user_id: str) -> AppTest:
    return at.text_input(key="rec_query").input(user_id).run()


# Recommendations page


def test_default_page_runs(app):
    app.run()

    assert not app.exception
    assert app.title[0].value == translate("rec.title", "en")
    assert len(_table_with(app, "score")) == 10


def test_user_42_gets_ten_recommendations(app):
    _pick_user(app.run(), "42")

    assert not app.exception
    assert app.selectbox(key="rec_user").value == "42"
    top = _table_with(app, "score")
    assert list(top.columns) == ["rank", "score", "title", "year", "genres"]
    assert top["rank"].tolist() == list(range(1, 11))
    assert top["score"].is_monotonic_decreasing


def test_recommendations_show_version_and_device(app, trained_config):
    _pick_user(app.run(), "42")

    version = ModelRegistry.for_config(load_config(trained_config)).active_version()
    captions = " ".join(caption.value for caption in app.caption)
    assert f"{version}" in captions
    assert "cpu" in captions


def test_user_history_is_newest_first(app):
    _pick_user(app.run(), "42")

    history = _table_with(app, "rating")
    assert len(history) > 0
    assert history["date"].is_monotonic_decreasing
    assert "timestamp" not in history.columns


def test_user_attributes_shown(app):
    _pick_user(app.run(), "42")

    labels = [metric.label for metric in app.metric]
    assert translate("column.age", "en") in labels
    assert translate("column.occupation", "en") in labels


def test_recommendations_leave_out_history(app):
    _pick_user(app.run(), "42")

    seen = set(_table_with(app, "rating")["title"])
    recommended = set(_table_with(app, "score")["title"])
    assert not seen & recommended


def test_k_slider_sets_list_length(app):
    _pick_user(app.run(), "42")
    app.slider(key="rec_k").set_value(25).run()

    assert not app.exception
    assert len(_table_with(app, "score")) == 25


def test_query_param_selects_user(app):
    app.query_params["user"] = "42"
    app.run()

    assert not app.exception
    assert app.selectbox(key="rec_user").value == "42"
    assert len(_table_with(app, "score")) == 10


def test_search_lists_matching_users(app):
    _pick_user(app.run(), "4")

    options = app.selectbox(key="rec_user").options
    assert options[0] == "4"
    assert all("4" in option for option in options)


def test_unknown_user_shows_error(app):
    _pick_user(app.run(), "99999")

    assert not app.exception
    assert len(app.error) == 1
    assert "99999" in app.error[0].value
    assert "943" in app.error[0].value
    assert not [element for element in app.dataframe if "score" in element.value.columns]


def test_unknown_user_from_query_param(app):
    app.query_params["user"] = "99999"
    app.run()

    assert not app.exception
    assert "99999" in app.error[0].value


def test_language_switch_to_chinese(app):
    app.run()
    app.radio(key="lang").set_value("zh").run()

    assert not app.exception
    assert app.title[0].value == translate("rec.title", "zh")
    assert app.text_input(key="rec_query").label == translate("rec.search_label", "zh")


def test_language_switch_keeps_user(app):
    _pick_user(app.run(), "42")
    app.radio(key="lang").set_value("zh").run()

    assert app.selectbox(key="rec_user").value == "42"
    assert len(_table_with(app, "score")) == 10


def test_unknown_user_error_in_chinese(app):
    app.run()
    app.radio(key="lang").set_value("zh").run()
    _pick_user(app, "99999")

    assert not app.exception
    assert app.error[0].value.startswith("没有与“99999”匹配的用户 ID")


# Model page


def test_model_page_runs(app, trained_config):
    app.run()
    app.switch_page("views/model.py").run()

    assert not app.exception
    assert app.title[0].value == translate("model.title", "en")
    version = ModelRegistry.for_config(load_config(trained_config)).active_version()
    assert version in [metric.value for metric in app.metric]


def test_model_page_metrics_table(app):
    app.run()
    app.switch_page("views/model.py").run()

    metrics = _table_with(app, translate("model.test", "en"))
    assert translate("model.valid", "en") in metrics.columns
    assert "ndcg@10" in metrics[translate("model.metric", "en")].tolist()
    assert "users" not in metrics[translate("model.metric", "en")].tolist()


def test_model_page_training_curve(app):
    app.run()
    app.switch_page("views/model.py").run()

    charts = app.get("plotly_chart")
    assert len(charts) == 2


def test_model_page_in_chinese(app):
    app.run()
    app.radio(key="lang").set_value("zh").run()
    app.switch_page("views/model.py").run()

    assert not app.exception
    assert app.title[0].value == translate("model.title", "zh")
    assert app.radio(key="lang").value == "zh"


# Layout, page files on their own, and a registry without a model


def test_no_legacy_pages_folder():
    # Streamlit 1.67 runs a pages/ folder next to app.py as a legacy multipage app on
    # a server's first run and in every AppTest run, bypassing app.py's st.navigation.
    assert not (PROJECT_ROOT / "pages").exists(), "move page scripts to views/ and register them in app.py"


@pytest.mark.parametrize("page", PAGES)
def test_page_file_runs_alone(serve, trained_config, page):
    serve(trained_config)
    at = AppTest.from_file(str(PROJECT_ROOT / page), default_timeout=TIMEOUT).run()

    assert not at.exception
    assert len(at.title) == 1


@pytest.mark.parametrize("page", PAGES)
def test_no_model_says_what_to_run(serve, empty_registry_config, page):
    serve(empty_registry_config)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page != PAGES[0]:
        at.switch_page(page).run()

    assert not at.exception
    assert len(at.error) == 1
    assert "genre train" in at.error[0].value
    assert "make run" in at.error[0].value


def test_invalid_config_shows_error(serve, tmp_path):
    config = tmp_path / "broken.yaml"
    config.write_text("model:\n  fusion: no-such-fusion\n", encoding="utf-8")
    serve(config)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()

    assert not at.exception
    assert str(config) in at.error[0].value
    assert "no-such-fusion" in at.code[0].value


def _notice_script(simulated: bool) -> None:
    from types import SimpleNamespace

    from ui.model_loading import show_dataset_notice

    show_dataset_notice(SimpleNamespace(dataset=SimpleNamespace(simulated=simulated, name="planted")))


@pytest.mark.parametrize("simulated, shown", [(True, 1), (False, 0)])
def test_simulated_dataset_notice(simulated, shown):
    at = AppTest.from_function(_notice_script, kwargs={"simulated": simulated}).run()

    assert not at.exception
    assert len(at.warning) == shown
    if shown:
        assert "planted" in at.warning[0].value


def test_language_comes_from_query_parameter(trained_config, monkeypatch):
    monkeypatch.setenv("GENRE_CONFIG", str(trained_config))
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    app.query_params["lang"] = "zh"
    app.run()
    assert not app.exception
    assert app.session_state["lang"] == "zh"
    assert app.title[0].value == translate("rec.title", "zh")
