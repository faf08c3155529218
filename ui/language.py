"""The page language: a sidebar switch and `t`, the translation call of every page."""

from __future__ import annotations

import streamlit as st

from genre_core.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate

LANGUAGE_KEY = "lang"


def current_language() -> str:
    return st.session_state.get(LANGUAGE_KEY, DEFAULT_LANGUAGE)


def t(key: str, **kwargs) -> str:
    """Translate `key` into the language chosen in the sidebar."""
    return translate(key, current_language(), **kwargs)


def language_switch() -> str:
    """Draw the language switch in the sidebar and return the chosen language code.

    The choice is kept in the address as `?lang=`, so a reload or a shared link keeps it.
    """
    if st.session_state.get(LANGUAGE_KEY) not in LANGUAGES:
        requested = st.query_params.get(LANGUAGE_KEY)
        st.session_state[LANGUAGE_KEY] = requested if requested in LANGUAGES else DEFAULT_LANGUAGE
    st.sidebar.radio(
        t("app.language"),
        options=list(LANGUAGES),
        format_func=LANGUAGES.__getitem__,
        key=LANGUAGE_KEY,
        horizontal=True,
    )
    if st.query_params.get(LANGUAGE_KEY) != current_language():
        st.query_params[LANGUAGE_KEY] = current_language()
    return current_language()
