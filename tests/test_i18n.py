"""Tests of the translation layer and of the translation table's completeness."""

from __future__ import annotations

import logging
import re

import pytest

from genre_core import i18n
from genre_core.config import PROJECT_ROOT
from genre_core.i18n import LANGUAGES, has_translation, load_translations, placeholders, translate, translation_table

TABLE = translation_table()
UI_SOURCES = [PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "views").glob("*.py")),
              *sorted((PROJECT_ROOT / "ui").glob("*.py"))]
# A literal key passed to t(...) or translate(...), e.g. t("rec.title") or translate('rec.title', lang).
KEY_CALL = re.compile(r"""\b(?:t|translate)\(\s*["']([^"']+)["']""")
# A key built at run time, e.g. t(f"feedback.state_{state}"): the literal part before the first brace.
KEY_PREFIX_CALL = re.compile(r"""\b(?:t|translate)\(\s*f["']([^"'{]*)\{""")


def _used_keys(pattern: re.Pattern = KEY_CALL) -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in UI_SOURCES:
        for key in pattern.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, []).append(path.relative_to(PROJECT_ROOT).as_posix())
    return used


def test_table_is_not_empty():
    assert len(TABLE) > 20


@pytest.mark.parametrize("key", sorted(TABLE))
def test_every_language_has_text(key):
    for language in LANGUAGES:
        assert TABLE[key].get(language, "").strip(), f"{key!r} has no {language!r} text"


@pytest.mark.parametrize("key", sorted(TABLE))
def test_placeholders_match_across_languages(key):
    english = placeholders(TABLE[key]["en"])
    for language in LANGUAGES:
        assert placeholders(TABLE[key][language]) == english, f"{key!r}: {language!r} placeholders differ from English"


@pytest.mark.parametrize("key", sorted(TABLE))
def test_only_known_languages(key):
    assert set(TABLE[key]) <= set(LANGUAGES)


@pytest.mark.parametrize("key", sorted(TABLE))
def test_chinese_text_is_translated(key):
    # A Chinese text may keep names, commands, acronyms such as "ID" and placeholders,
    # but a text with ordinary English words in it must contain Chinese.
    chinese = TABLE[key]["zh"]
    latin_words = re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}|`[^`]*`", "", chinese))
    only_acronyms = all(word.isupper() for word in latin_words)
    assert only_acronyms or re.search(r"[\u4e00-\u9fff]", chinese), f"{key!r} zh text has no Chinese: {chinese!r}"


def test_ui_sources_found():
    names = {path.name for path in UI_SOURCES}
    assert {"app.py", "recommendations.py", "model.py"} <= names


def test_key_scan_finds_calls():
    assert "rec.title" in _used_keys()


@pytest.mark.parametrize("key, files", sorted(_used_keys().items()))
def test_used_key_exists(key, files):
    assert key in TABLE, f"{key!r} used in {files} is missing from assets/translations.yaml and assets/translations/"


@pytest.mark.parametrize("prefix, files", sorted(_used_keys(KEY_PREFIX_CALL).items()))
def test_built_key_prefix_exists(prefix, files):
    assert any(key.startswith(prefix) for key in TABLE), f"no key starts with {prefix!r}, used in {files}"


def test_translate_formats_arguments():
    assert translate("rec.top_header", "en", k=10, user_id="42") == "Top 10 for user 42"
    assert translate("rec.top_header", "zh", k=10, user_id="42") == "用户 42 的前 10 个推荐"


def test_translate_applies_format_spec():
    assert translate("model.seconds_value", "en", seconds=12.345) == "12.3 s"


def test_missing_key_raises_key_error():
    with pytest.raises(KeyError, match="no.such.key"):
        translate("no.such.key", "en")


def test_missing_argument_raises_key_error():
    with pytest.raises(KeyError, match="user_id"):
        translate("rec.top_header", "en", k=10)


def test_unknown_language_falls_back_to_english(caplog, monkeypatch):
    monkeypatch.setattr(i18n, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="genre_core.i18n"):
        text = translate("rec.title", "fr")

    assert text == translate("rec.title", "en")
    assert "'fr'" in caplog.text


def test_has_translation():
    assert has_translation("rec.title")
    assert not has_translation("no.such.key")


def test_placeholders_ignore_format_spec():
    assert placeholders("{ms:.1f} ms on {device!r}, {{literal}}") == {"ms", "device"}


def test_malformed_table_rejected(tmp_path):
    path = tmp_path / "translations.yaml"
    path.write_text("rec.title: just a string\n", encoding="utf-8")

    with pytest.raises(ValueError, match="rec.title"):
        load_translations(path)


def test_estimator_names_and_intervals_translated():
    """Every DoWhy estimator has a name and an interval text; the English interval is the report's own text."""
    from genre_core.causal.estimators import ESTIMATORS

    for name, spec in ESTIMATORS.items():
        assert has_translation(f"causal.estimator.{name}")
        assert translate(f"causal.interval.{name}", "en") == spec.interval
