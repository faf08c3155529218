"""Feedback widgets: the analyst's name, thumbs up/down on recommendation rows, and the label store of the page."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from genre_core.config import load_config
from genre_core.feedback.database import FeedbackStoreError
from genre_core.feedback.store import IRRELEVANT, RELEVANT, FeedbackStore
from genre_core.schema import ITEM_ID, TITLE
from genre_core.service import Recommender
from ui.language import t
from ui.model_loading import config_path

log = logging.getLogger(__name__)

ANALYST_KEY = "feedback_analyst"
SAVED_KEY = "feedback_saved"


@st.cache_resource(show_spinner=False)
def _open_store(path: str, _recommender: Recommender, version: str) -> FeedbackStore:
    # The store validates IDs against the served dataset; `path` and `version` are the cache key.
    return FeedbackStore.open(load_config(path), _recommender.dataset)


def feedback_store(recommender: Recommender) -> FeedbackStore | None:
    """Return the label store of the served config, or None after drawing why it cannot be opened."""
    try:
        return _open_store(str(config_path()), recommender, recommender.version)
    except FeedbackStoreError as error:
        st.error(t("feedback.store_failed", error=error), icon=":material/error:")
        return None


def analyst_name() -> str | None:
    """Return the logged-in user's name, else the name typed once in this session (None until typed)."""
    user = getattr(st, "user", None)
    try:
        if user is not None and user.is_logged_in:
            return str(user.get("name") or user.get("email"))
    except (AttributeError, KeyError):
        pass
    name = st.session_state.get(ANALYST_KEY, "").strip()
    if name:
        return name
    typed = st.text_input(t("feedback.analyst_label"), key=f"{ANALYST_KEY}_input", help=t("feedback.analyst_help"))
    if typed.strip():
        st.session_state[ANALYST_KEY] = typed.strip()
        return typed.strip()
    st.info(t("feedback.analyst_needed"), icon=":material/badge:")
    return None


def thumbs_for_rows(recommender: Recommender, user_id: str, items: pd.DataFrame, key_prefix: str, expanded: bool = False) -> None:
    """Thumbs up and down, with one optional reason, for each row of a ranked item table."""
    store = feedback_store(recommender)
    if store is None:
        return
    with st.expander(t("feedback.rows_header"), expanded=expanded):
        analyst = analyst_name()
        if analyst is None:
            return
        reason_key = f"{key_prefix}_reason"
        st.text_input(t("feedback.reason_label"), key=reason_key, help=t("feedback.reason_help"))
        for row in items.itertuples(index=False):
            item_id = str(getattr(row, ITEM_ID))
            title_column, up_column, down_column = st.columns([8, 1, 1], vertical_alignment="center")
            title_column.write(f"{row.rank}. {getattr(row, TITLE, item_id)}")
            for column, label, icon in ((up_column, RELEVANT, ":material/thumb_up:"), (down_column, IRRELEVANT, ":material/thumb_down:")):
                # The label is saved in the button's callback, before the script reruns and draws the confirmation.
                column.button(
                    icon, key=f"{key_prefix}_{label}_{user_id}_{item_id}", help=t(f"feedback.{label}_help"),
                    on_click=save_label,
                    args=(store, user_id, item_id, label, analyst, reason_key, recommender.version, int(row.rank)),
                )
        show_saved()


def save_label(store: FeedbackStore, user_id: str, item_id: str, label: str, analyst: str, reason_key: str,
               version: str, rank: int | None) -> int | None:
    """Commit one label; the confirmation is stored only after the commit returned."""
    reason = st.session_state.get(reason_key)
    try:
        label_id = store.add(user_id, item_id, label, analyst, reason=reason, model_version=version, rank=rank)
    except (ValueError, LookupError, FeedbackStoreError) as error:
        st.session_state[SAVED_KEY] = ("error", t("feedback.save_failed", error=error))
        return None
    text = t("feedback.saved", id=label_id, item_id=item_id, label=t(f"feedback.label_{label}"), user_id=user_id)
    st.session_state[SAVED_KEY] = ("success", text)
    return label_id


def show_saved() -> None:
    outcome = st.session_state.pop(SAVED_KEY, None)
    if outcome is None:
        return
    kind, text = outcome
    if kind == "success":
        st.success(text, icon=":material/check_circle:")
    else:
        st.error(text, icon=":material/error:")
