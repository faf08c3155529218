"""Translation table of the user interface: English and Simplified Chinese.

Every visible string of the workbench is an entry of ``assets/translations.yaml``,
a mapping from a dotted key to its texts, for example::

    rec.top_header:
      en: "Top {k} for user {user_id}"
      zh: "用户 {user_id} 的前 {k} 个推荐"

Texts are ``str.format`` templates, so a literal brace is written ``{{`` or ``}}``.
"""

from __future__ import annotations

import functools
import logging
import string
from pathlib import Path

import yaml

from genre_core.config import PROJECT_ROOT

log = logging.getLogger(__name__)

TRANSLATIONS_FILE = PROJECT_ROOT / "assets" / "translations.yaml"
# Each workbench area may keep its keys in a file of its own here; all files form one table.
TRANSLATIONS_FOLDER = PROJECT_ROOT / "assets" / "translations"
LANGUAGES = {"en": "English", "zh": "简体中文"}
DEFAULT_LANGUAGE = "en"

# (key, language) pairs already warned about, so a page that reruns on every
# click logs each missing text once per process.
_warned: set[tuple[str, str]] = set()


@functools.lru_cache(maxsize=4)
def load_translations(path: Path = TRANSLATIONS_FILE) -> dict[str, dict[str, str]]:
    """Read and check the translation table; the result is cached per path for the process."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise FileNotFoundError(f"translation table {path} is missing or unreadable: {error}") from error
    except yaml.YAMLError as error:
        raise ValueError(f"translation table {path} is not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ValueError(f"translation table {path} must be a mapping of key to texts, got {type(raw).__name__}")

    table: dict[str, dict[str, str]] = {}
    for key, texts in raw.items():
        if not isinstance(texts, dict) or not all(isinstance(text, str) for text in texts.values()):
            raise ValueError(
                f"translation key {key!r} in {path} must map language codes to strings, got {texts!r}"
            )
        table[str(key)] = {str(language): text for language, text in texts.items()}
    return table


@functools.lru_cache(maxsize=1)
def translation_table() -> dict[str, dict[str, str]]:
    """The one translation table: the main file merged with every file in the translations folder.

    A key defined in two files raises ValueError naming both files.
    """
    table = dict(load_translations(TRANSLATIONS_FILE))
    origin = {key: TRANSLATIONS_FILE for key in table}
    for path in sorted(TRANSLATIONS_FOLDER.glob("*.yaml")) if TRANSLATIONS_FOLDER.is_dir() else []:
        for key, texts in load_translations(path).items():
            if key in table:
                raise ValueError(f"translation key {key!r} is defined in both {origin[key]} and {path}; keep one")
            table[key] = texts
            origin[key] = path
    return table


def has_translation(key: str) -> bool:
    return key in translation_table()


def translate(key: str, lang: str, **kwargs) -> str:
    """Return the text of `key` in `lang`, formatted with `kwargs`.

    An unknown key raises KeyError. A language without a text for the key
    falls back to English and logs a warning.
    """
    table = translation_table()
    if key not in table:
        raise KeyError(
            f"translation key {key!r} not found in {TRANSLATIONS_FILE} or {TRANSLATIONS_FOLDER}; "
            "add it with an 'en' and a 'zh' text"
        )
    texts = table[key]

    if not texts.get(lang):
        if (key, lang) not in _warned:
            _warned.add((key, lang))
            log.warning("translation key %r has no %r text; showing English", key, lang)
        lang = DEFAULT_LANGUAGE
    if not texts.get(lang):
        raise KeyError(f"translation key {key!r} has no English text in {TRANSLATIONS_FILE}")

    try:
        return texts[lang].format(**kwargs)
    except (KeyError, IndexError) as error:
        raise KeyError(
            f"translation key {key!r} ({lang}) needs the argument {error}; got {sorted(kwargs) or 'none'}"
        ) from error


def placeholders(text: str) -> set[str]:
    """Names of the ``str.format`` fields in `text`, without conversions or format specs."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
