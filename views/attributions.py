"""Attributions: why one recommended item ranks where it does, per modality, past item and word."""

import streamlit as st

from genre_core.explain import EXPLAINERS, ExplainSettings, explain
from genre_core.explain.settings import BASELINES, STEP_LADDER
from genre_core.schema import ITEM_ID, TITLE
from ui.attributions import history_chart, shap_waterfall, shares_chart, trust_sentences, words_chart
from ui.language import t
from ui.model_loading import require_recommender, show_dataset_notice

PICK_LIMIT = 20

recommender = require_recommender()
st.title(t("attr.title"))
st.caption(t("attr.intro"))
show_dataset_notice(recommender)

# ?user=U&item=I picks the pair; the Recommendations page links here that way.
if "attr_user" not in st.session_state:
    st.session_state["attr_user"] = st.query_params.get("user", st.session_state.get("rec_last_user", "")) \
        or recommender.user_ids()[0]
linked_item = st.query_params.get("item")

with st.form("attr_form"):
    user_column, item_column, versus_column = st.columns(3)
    user_id = user_column.text_input(t("attr.user_label"), key="attr_user").strip()
    try:
        top = recommender.recommend(user_id, k=PICK_LIMIT).items
    except (LookupError, ValueError) as error:
        st.form_submit_button(t("attr.submit"))
        st.error(t("attr.failed", error=error), icon=":material/error:")
        st.stop()
    titles = dict(zip(top[ITEM_ID].astype(str), top[TITLE].astype(str))) if TITLE in top else {}
    options = list(titles)
    if linked_item and linked_item not in options:
        options.insert(0, linked_item)
    item_id = item_column.selectbox(t("attr.item_label"), options, help=t("attr.item_help"), key="attr_item",
                                    index=options.index(linked_item) if linked_item in options else 0,
                                    format_func=lambda item: f"{item} · {titles.get(item, '')}")
    compare = versus_column.checkbox(t("attr.compare_label"), key="attr_compare")
    versus = versus_column.selectbox(t("attr.versus_label"), [""] + list(titles), key="attr_versus",
                                     help=t("attr.versus_help"),
                                     format_func=lambda item: f"{item} · {titles.get(item, '')}" if item else "—")

    method_column, baseline_column, steps_column, samples_column = st.columns(4)
    method = method_column.selectbox(t("attr.method_label"), list(EXPLAINERS), key="attr_method",
                                     format_func=lambda name: t(f"attr.method.{name}"))
    baseline = baseline_column.selectbox(t("attr.baseline_label"), BASELINES, key="attr_baseline",
                                         format_func=lambda name: t(f"attr.baseline.{name}"))
    n_steps = steps_column.selectbox(t("attr.steps_label"), STEP_LADDER, key="attr_n_steps", help=t("attr.steps_help"))
    samples = samples_column.number_input(t("attr.samples_label"), min_value=1, max_value=500, value=25,
                                          key="attr_samples")
    with_shap = st.checkbox(t("attr.shap_label"), key="attr_shap")
    st.form_submit_button(t("attr.submit"), type="primary")

try:
    settings = ExplainSettings(method=method, baseline=baseline, n_steps=int(n_steps), shapley_samples=int(samples),
                               shap=with_shap)
    # The engine caches by (model version, user, item, target, B, settings), so a rerun that
    # is not a new submission costs nothing; a submission computes at most once.
    with st.status(t("attr.computing", user_id=user_id, item_id=item_id), expanded=False) as status:
        result = explain(recommender, user_id, item_id, versus=(versus or None) if compare else None,
                         target="margin" if compare else "score", settings=settings)
        status.update(label=t("attr.done", seconds=result["seconds"]), state="complete")
except (LookupError, ValueError) as error:
    st.error(t("attr.failed", error=error), icon=":material/error:")
    st.stop()

if result["target"] == "margin":
    st.subheader(t("attr.header_margin", title=result["item_title"], versus=result["versus_title"],
                   user_id=result["user_id"], score=result["score"]))
else:
    st.subheader(t("attr.header_score", title=result["item_title"], user_id=result["user_id"], score=result["score"]))

left, right = st.columns([3, 2], gap="large")
with left:
    st.markdown(f"**{t('attr.shares_header')}**")
    # Feature ablation sets one modality at a time to the baseline, so its shares need not add up to the difference.
    caption = "attr.shares_caption_ablation" if result["method"] == "feature_ablation" else "attr.shares_caption"
    st.caption(t(caption, method=t(f"attr.method.{result['method']}"), difference=result["difference"],
                 total=sum(row["share"] for row in result["shares"])))
    st.plotly_chart(shares_chart(result), key="attr_shares_chart")
    if result["tokens"]:
        st.markdown(f"**{t('attr.words_header')}**")
        st.caption(t("attr.words_caption", baseline=result["tokens"]["baseline"]))
        st.plotly_chart(words_chart(result["tokens"]), key="attr_words_chart")
    st.markdown(f"**{t('attr.history_header')}**")
    st.caption(t("attr.history_caption", count=min(15, len(result["history"]))))
    st.plotly_chart(history_chart(result), key="attr_history_chart")

with right:
    with st.container(border=True, key="attr_trust"):
        st.markdown(f"**{t('attr.trust_header')}**")
        for sentence in trust_sentences(result):
            st.markdown(f"- {sentence}")
    st.markdown(f"**{t('attr.shap_header')}**")
    if result["shap"]:
        shap_values = result["shap"]
        st.caption(t("attr.shap_caption", background=shap_values["background_size"], samples=shap_values["nsamples"],
                     expected=shap_values["expected_value"]))
        st.plotly_chart(shap_waterfall(shap_values), key="attr_shap_chart")
    else:
        st.info(t("attr.shap_off"), icon=":material/info:")
