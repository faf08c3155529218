"""Feedback: label recommendations, review and export the labels, retrain, and manage model versions."""

import streamlit as st

from genre_core.feedback.queue import labelled_items, labelling_queue
from ui.feedback_page import comparison_section, labels_section, queue_table, retrain_section, versions_section
from ui.feedback_widgets import feedback_store, thumbs_for_rows
from ui.language import t
from ui.model_loading import require_recommender

QUEUE_SIZE = 10

recommender = require_recommender()
st.title(t("feedback.title"))
st.caption(t("feedback.intro", version=recommender.version))
store = feedback_store(recommender)
if store is None:
    st.stop()

st.subheader(t("feedback.queue_header"))
st.caption(t("feedback.queue_caption"))
# ?user=U opens that user's queue, as on the other pages.
default_user = st.query_params.get("user") or st.session_state.get("rec_last_user") or recommender.user_ids()[0]
user_id = st.text_input(t("feedback.queue_user"), value=default_user, key="feedback_queue_user").strip()
if user_id not in recommender.dataset.user_index:
    st.error(t("feedback.unknown_user", user_id=user_id, examples=", ".join(recommender.user_ids()[:5])), icon=":material/person_off:")
else:
    with st.spinner(t("feedback.queue_computing")):
        queue = labelling_queue(recommender, user_id, size=QUEUE_SIZE)
    done = labelled_items(store.frame(), user_id)
    queue = queue[~queue["item_id"].astype(str).isin(done)]
    if queue.empty:
        st.info(t("feedback.queue_empty"), icon=":material/done_all:")
    else:
        queue_table(queue)
        thumbs_for_rows(recommender, user_id, queue, key_prefix="fbq", expanded=True)

labels_section(store)
retrain_section()
versions_section()
comparison_section()
