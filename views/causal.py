"""Causal Effects: one question answered in DoWhy's four steps, with segments and the model beside it."""

import streamlit as st

from genre_core.causal.analysis import AnalysisSettings
from genre_core.causal.errors import CausalInputError
from genre_core.causal.estimators import DEFAULT_ESTIMATORS, ESTIMATORS
from genre_core.causal.identification import ESTIMAND_KINDS
from genre_core.causal.questions import QUESTIONS, custom_question, get_question
from ui.causal import (
    analysis_table, estimates_chart, estimates_table, estimator_label, refutation_table, run_analysis, segments_chart,
)
from ui.language import t
from ui.model_loading import config_path, require_recommender, show_dataset_notice

recommender = require_recommender()
st.title(t("causal.title"))
st.caption(t("causal.intro"))
show_dataset_notice(recommender)

with st.spinner(t("causal.table_spinner")):
    table = analysis_table(str(config_path()), recommender.version, recommender)
numeric_columns = [column for column in table.select_dtypes("number").columns if column not in ("user_idx", "item_idx")]

name = st.selectbox(t("causal.question_label"), [*QUESTIONS, "custom"], key="causal_question",
                    format_func=lambda key: t(f"causal.question.{key}"))
if name == "custom":
    treatment_column, outcome_column = st.columns(2)
    treatment = treatment_column.selectbox(t("causal.treatment_label"), numeric_columns, key="causal_treatment")
    outcome = outcome_column.selectbox(t("causal.outcome_label"), numeric_columns, key="causal_outcome",
                                       index=numeric_columns.index("high_rating") if "high_rating" in numeric_columns else 0)
    confounders = st.multiselect(t("causal.confounders_label"), numeric_columns, key="causal_confounders")
    default_dot = ""
else:
    base = get_question(name)
    treatment, outcome, confounders = base.treatment, base.outcome, list(base.confounders)
    default_dot = base.dot()

with st.form("causal_form"):
    graph_text = st.text_area(t("causal.graph_label"), value=default_dot, height=180, help=t("causal.graph_help"),
                              key=f"causal_graph_{name}")
    estimator_column, rows_column, segment_column = st.columns([3, 2, 2])
    estimators = estimator_column.multiselect(t("causal.estimators_label"), list(ESTIMATORS), default=list(DEFAULT_ESTIMATORS),
                                              format_func=estimator_label, help=t("causal.estimators_help"),
                                              key="causal_estimators")
    rows = rows_column.number_input(t("causal.rows_label"), min_value=200, max_value=len(table), value=len(table), step=1000,
                                    help=t("causal.rows_help", total=len(table)), key="causal_rows")
    min_rows = segment_column.number_input(t("causal.min_rows_label"), min_value=1, value=500, step=100, key="causal_min_rows")
    submitted = st.form_submit_button(t("causal.submit"), type="primary")

if submitted:
    st.session_state["causal_ran"] = True
if not st.session_state.get("causal_ran"):
    st.info(t("causal.prompt"), icon=":material/info:")
    st.stop()

try:
    if name == "custom" or graph_text.strip() != default_dot.strip():
        question = custom_question(treatment, outcome, confounders, graph_text if graph_text.strip() else None)
    else:
        question = get_question(name)
    settings = AnalysisSettings(estimators=tuple(estimators), min_segment_rows=int(min_rows))
    with st.status(t("causal.running"), expanded=False) as status:
        bar = st.progress(0.0)
        report = run_analysis(str(config_path()), recommender.version, question, settings, int(rows), table,
                              _progress=lambda fraction, step: bar.progress(fraction, text=t("causal.step", step=step)))
        status.update(label=t("causal.done", seconds=report["seconds"], rows=report["rows"]), state="complete")
except CausalInputError as error:
    st.error(f"{t('causal.invalid')}\n\n{error}", icon=":material/error:")
    st.stop()

st.header(t("causal.step1"))
st.caption(t("causal.step1_caption", treatment=question.treatment, outcome=question.outcome))
st.graphviz_chart(report["graph"])

st.header(t("causal.step2"))
for kind in ESTIMAND_KINDS:
    found = report["estimand"][kind]
    if found["identified"]:
        st.markdown(t("causal.estimand_found", kind=kind, variables=", ".join(found["variables"]) or "—"))
        st.code(found["expression"], language=None, wrap_lines=True)
    else:
        st.markdown(t("causal.estimand_missing", kind=kind))

st.header(t("causal.step3"))
st.plotly_chart(estimates_chart(report), key="causal_estimates_chart")
st.dataframe(estimates_table(report), hide_index=True, key="causal_estimates_table")
st.caption(t("causal.naive", value=report["naive_difference"]))

first = report["estimates"][0]
outcome_cell, model_cell = st.columns(2)
outcome_cell.metric(t("causal.drives_outcome"), f"{first['value']:+.4f}",
                    help=t("causal.drives_outcome_help", treatment=question.treatment, outcome=question.outcome,
                           estimator=estimator_label(first["estimator"])))
outcome_cell.caption(f"95%: [{first['ci_low']:+.4f}, {first['ci_high']:+.4f}]")
sensitivity = report["model_sensitivity"]
if sensitivity is None:
    model_cell.metric(t("causal.drives_model"), "—")
    model_cell.caption(t("causal.drives_model_none"))
else:
    model_cell.metric(t("causal.drives_model"), f"{sensitivity['standardised']:+.3f} σ",
                      help=t("causal.drives_model_help", treatment=question.treatment))
    model_cell.caption(t("causal.drives_model_own") if sensitivity["treatment_is_model_output"]
                       else t("causal.drives_model_help", treatment=question.treatment))

st.header(t("causal.step4", estimator=estimator_label(report["refuted_estimator"])))
st.dataframe(refutation_table(report), hide_index=True, key="causal_refutations")
st.caption(t("causal.refute_rule", rule=t("causal.refute_rule_value")))

st.header(t("causal.segments"))
chart = segments_chart(report)
if chart is not None:
    st.plotly_chart(chart, key="causal_segments_chart")
skipped = [f"{item['segment']}={item['value']} ({item['rows']})" for item in report["segments"] if "skipped" in item]
if skipped:
    st.caption(t("causal.segment_skipped", segments=", ".join(skipped)))
