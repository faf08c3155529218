"""Recommendations: pick a user, see their profile and history, and the model's top-k items."""

import streamlit as st

from genre_core.i18n import has_translation
from genre_core.schema import GENRES, ITEM_ID, RATING, TITLE, USER_ID, YEAR
from ui.attributions import explain_link
from ui.feedback_widgets import thumbs_for_rows
from ui.language import t
from ui.media import attribution_maps, has_media, item_cards
from ui.model_loading import require_recommender, show_dataset_notice
from ui.tables import attribute_label, attribute_value, column_config, full_height, join_genres

SEARCH_LIMIT = 50
HISTORY_COLUMNS = ["date", RATING, TITLE, GENRES, YEAR, ITEM_ID]
TOP_K_COLUMNS = ["rank", "score", TITLE, YEAR, GENRES]

recommender = require_recommender()
st.title(t("rec.title"))
st.caption(t("rec.intro"))
show_dataset_notice(recommender)

# The text box starts from ?user=ID, so other pages can link to a user.
if "rec_query" not in st.session_state:
    st.session_state["rec_query"] = st.query_params.get("user", st.session_state.get("rec_last_user", ""))

search_column, user_column, k_column = st.columns([2, 2, 3], vertical_alignment="bottom")
query = search_column.text_input(t("rec.search_label"), key="rec_query", help=t("rec.search_help"))
matches = recommender.search_users(query, limit=SEARCH_LIMIT)
if not matches:
    examples = ", ".join(recommender.user_ids()[:5])
    st.error(
        t("rec.unknown_user", user_id=query.strip(), count=len(recommender.user_ids()),
          dataset=recommender.dataset.name, examples=examples),
        icon=":material/person_off:",
    )
    st.stop()

# A new search selects its exact match, or else its first match. Between
# searches, the analyst's own choice in the list stays.
if st.session_state.get("rec_user") not in matches or st.session_state.get("rec_searched") != query:
    st.session_state["rec_user"] = query.strip() if query.strip() in matches else matches[0]
    st.session_state["rec_searched"] = query
user_id = user_column.selectbox(
    t("rec.user_label"), matches, key="rec_user", help=t("rec.user_help", limit=SEARCH_LIMIT)
)
st.session_state["rec_last_user"] = user_id
st.query_params["user"] = user_id

max_k = min(50, recommender.dataset.n_items)
k = k_column.slider(t("rec.k_label"), min_value=min(5, max_k), max_value=max_k, value=min(10, max_k),
                    key="rec_k", help=t("rec.k_help", max_k=max_k))

st.subheader(t("rec.profile_header", user_id=user_id))
attributes = {name: value for name, value in recommender.user_attributes(user_id).items() if name != USER_ID}
history = recommender.history(user_id)
# Implicit data (the Tux Paint simulation) has interactions without ratings: no empty rating column then.
rated = bool(history[RATING].notna().any()) if RATING in history.columns else False
cells = st.columns(len(attributes) + 1)
for cell, (name, value) in zip(cells, attributes.items()):
    help_key = f"column.{name}_help"
    cell.metric(attribute_label(name), attribute_value(name, value), help=t(help_key) if has_translation(help_key) else None)
cells[-1].metric(t("rec.ratings_metric" if rated or history.empty else "rec.interactions_metric"), len(history))

top_column, history_column = st.columns([3, 2], gap="large")

with top_column:
    recommendations = recommender.recommend(user_id, k=k)
    st.subheader(t("rec.top_header", k=len(recommendations.items), user_id=user_id))
    st.caption(t("rec.scored_caption", version=recommendations.model_version, device=recommendations.device,
                 ms=recommendations.seconds * 1000))
    if recommendations.cold_start:
        st.info(t("rec.cold_start"), icon=":material/ac_unit:")
    columns = [column for column in TOP_K_COLUMNS if column in recommendations.items.columns]
    st.dataframe(recommendations.items[columns], hide_index=True, column_config=column_config(columns),
                 height=full_height(len(recommendations.items)), key="rec_top")
    thumbs_for_rows(recommender, user_id, recommendations.items, key_prefix="rec_feedback")
    explain_link(user_id, recommendations.items)

with history_column:
    st.subheader(t("rec.history_header"))
    if history.empty:
        st.info(t("rec.no_history"), icon=":material/info:")
    else:
        st.caption(t("rec.history_caption" if rated else "rec.history_caption_implicit", count=len(history)))
        columns = [column for column in HISTORY_COLUMNS if column in history.columns and (column != RATING or rated)]
        st.dataframe(join_genres(history[columns]), hide_index=True, column_config=column_config(columns),
                     height=full_height(min(len(history), max(k, 10))), key="rec_history")

# Datasets with pictures or sounds: cards of the top items and their attribution maps.
if has_media(recommender):
    item_cards(recommender, recommendations.items)
    attribution_maps(recommender, user_id, recommendations.items)
