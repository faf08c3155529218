"""What-if: edit a user's history, attributes or an item's text, compare the lists and find verified counterfactuals."""

import streamlit as st

from genre_core.explain import ExplainSettings, explain
from genre_core.schema import ITEM_ID, TITLE
from genre_core.whatif import (
    apply_edits, bring_into_top_k, history_counterfactual, rescore, text_counterfactual, versus_counterfactual,
)
from ui.attributions import shares_chart
from ui.language import t
from ui.model_loading import require_recommender, show_dataset_notice
from ui.whatif import (
    after_table, attribute_edits, before_table, check_item, check_user, count_moved, edits_from, history_edits,
    note_dropped_edits, reset_edits, show_counterfactual, show_notes, table_config, text_edit,
)

CF_KINDS = ("leave_top_k", "versus", "text")

recommender = require_recommender()
st.title(t("whatif.title"))
st.caption(t("whatif.intro"))
show_dataset_notice(recommender)


if "whatif_user" not in st.session_state:
    st.session_state["whatif_user"] = st.query_params.get("user", st.session_state.get("rec_last_user", "")) \
        or recommender.user_ids()[0]
user_column, k_column, reset_column = st.columns([2, 3, 1], vertical_alignment="bottom")
user_id = user_column.text_input(t("whatif.user_label"), key="whatif_user").strip()
max_k = min(50, recommender.dataset.n_items - 1)
k = k_column.slider(t("whatif.k_label"), min_value=min(5, max_k), max_value=max_k, value=min(10, max_k), key="whatif_k")
reset_column.button(t("whatif.reset"), on_click=reset_edits, key="whatif_reset", icon=":material/restart_alt:")

try:
    check_user(recommender, user_id)
except ValueError as error:
    st.error(str(error), icon=":material/person_off:")
    st.stop()

# Every section is drawn even when another has a bad entry: Streamlit deletes the state of a
# widget that a run skips, so stopping early would drop the edits of the later sections.
problems = []
removed, added, changed, attributes, texts = [], {}, {}, {}, {}
with st.expander(t("whatif.history_header"), expanded=True):
    try:
        removed, added, changed = history_edits(recommender, user_id)
    except (LookupError, ValueError) as error:
        problems.append(error)
with st.expander(t("whatif.attributes_header")):
    try:
        attributes = attribute_edits(recommender, user_id)
    except (LookupError, ValueError) as error:
        problems.append(error)
with st.expander(t("whatif.text_header")):
    try:
        texts = text_edit(recommender)
    except (LookupError, ValueError) as error:
        problems.append(error)
if not problems:
    try:
        edits = edits_from(removed, added, changed, attributes, texts)
        result = rescore(recommender, user_id, edits, k=k)
        view = apply_edits(recommender, user_id, edits).view
    except (LookupError, ValueError) as error:
        problems.append(error)
if problems:
    for problem in problems:
        st.error(t("whatif.failed", error=problem), icon=":material/error:")
    st.stop()

show_notes(result.notes)
note_dropped_edits(user_id, edits)
st.caption(t("whatif.scored_caption", version=result.model_version, ms=result.seconds * 1000,
             before=result.history_size[0], after=result.history_size[1]))
if edits.is_empty:
    st.info(t("whatif.no_edits"), icon=":material/info:")
else:
    st.markdown(f"**{t('whatif.moved', count=count_moved(result), k=k)}**")

before_column, after_column = st.columns(2, gap="large")
with before_column:
    st.subheader(t("whatif.before_header", k=k))
    st.dataframe(before_table(result), hide_index=True, column_config=table_config(), key="whatif_before")
with after_column:
    st.subheader(t("whatif.after_header", k=k))
    st.dataframe(after_table(result), hide_index=True, column_config=table_config(), key="whatif_after")

# Counterfactuals and attributions run on the edited view, so they explain the "after" list.
context = (user_id, edits.digest(), k)
titles = dict(zip(result.after[ITEM_ID], result.after[TITLE]))
st.subheader(t("whatif.cf_header"))
st.caption(t("whatif.cf_caption", k=k))
with st.form("whatif_cf_form"):
    item_column, kind_column, versus_column = st.columns(3)
    item_id = item_column.selectbox(t("whatif.cf_item_label"), list(titles), key="whatif_cf_item",
                                    placeholder=t("whatif.cf_placeholder"),
                                    format_func=lambda item: f"{item} · {titles.get(item, '')}")
    kind = kind_column.selectbox(t("whatif.cf_kind_label"), CF_KINDS, key="whatif_cf_kind",
                                 placeholder=t("whatif.cf_placeholder"),
                                 format_func=lambda name: t(f"whatif.cf_kind.{name}"))
    versus = versus_column.selectbox(t("whatif.cf_versus_label"), list(titles), key="whatif_cf_versus",
                                     placeholder=t("whatif.cf_placeholder"),
                                     index=min(1, len(titles) - 1),
                                     format_func=lambda item: f"{item} · {titles.get(item, '')}")
    run_cf = st.form_submit_button(t("whatif.cf_run"), type="primary")
if run_cf:
    try:
        with st.spinner(t("whatif.cf_running")):
            if kind == "versus":
                found = versus_counterfactual(view, user_id, item_id, versus, k=k)
            elif kind == "text":
                found = text_counterfactual(view, user_id, item_id, k=k)
            else:
                found = history_counterfactual(view, user_id, item_id, k=k)
        st.session_state["whatif_cf"] = (context, found.to_dict())
    except (LookupError, ValueError) as error:
        st.session_state.pop("whatif_cf", None)
        st.error(t("whatif.cf_failed", error=error), icon=":material/error:")
if st.session_state.get("whatif_cf", (None,))[0] == context:
    show_counterfactual(st.session_state["whatif_cf"][1])

if st.button(t("whatif.attr_run"), key="whatif_attr_run"):
    try:
        with st.spinner(t("whatif.cf_running")):
            attribution = explain(view, user_id, item_id, settings=ExplainSettings(tokens=False))
        st.session_state["whatif_attr"] = (context, attribution)
    except (LookupError, ValueError) as error:
        st.error(t("whatif.cf_failed", error=error), icon=":material/error:")
if st.session_state.get("whatif_attr", (None,))[0] == context:
    attribution = st.session_state["whatif_attr"][1]
    st.markdown(f"**{t('whatif.attr_header')}** · {attribution['item_id']} · {attribution['item_title']}")
    st.caption(t("whatif.attr_caption", score=attribution["score"], baseline=attribution["baseline_score"]))
    st.plotly_chart(shares_chart(attribution), key="whatif_attr_chart")

with st.container(border=True, key="whatif_whynot"):
    st.markdown(f"**{t('whatif.whynot_header')}**")
    st.caption(t("whatif.whynot_caption", k=k))
    whynot_column, whynot_button = st.columns([3, 1], vertical_alignment="bottom")
    whynot_item = whynot_column.text_input(t("whatif.whynot_item_label"), key="whatif_whynot_item").strip()
    if whynot_button.button(t("whatif.whynot_run"), key="whatif_whynot_run") and whynot_item:
        try:
            check_item(recommender, whynot_item)
            with st.spinner(t("whatif.cf_running")):
                found = bring_into_top_k(view, user_id, whynot_item, k=k)
            st.session_state["whatif_whynot"] = (context, found.to_dict())
        except (LookupError, ValueError) as error:
            st.session_state.pop("whatif_whynot", None)
            st.error(t("whatif.cf_failed", error=error), icon=":material/error:")
    if st.session_state.get("whatif_whynot", (None,))[0] == context:
        show_counterfactual(st.session_state["whatif_whynot"][1])
