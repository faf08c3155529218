"""Model Health: the replay timeline of quality and drift, the adaptation policy, and its action log."""

import streamlit as st

from genre_core.config import ConfigError, load_config
from genre_core.replay import POLICIES, load_run, run_file
from ui.health import (
    action_log_table, comparison_figure, policy_label, rules_table, settings_table, summary_table, timeline_figure,
    verdict,
)
from ui.language import current_language, t
from ui.model_loading import config_label, config_path
from ui.tables import display_time, full_height

POLICY_CHOICE = "health_policy_choice"

st.title(t("health.title"))
st.caption(t("health.intro"))

try:
    config = load_config(config_path())
    run = load_run(config)
except (ConfigError, ValueError, OSError) as error:
    st.error(t("health.load_failed", config=config_label()), icon=":material/error:")
    st.code(str(error), language=None, wrap_lines=True)
    st.stop()

if run is None:
    st.info(t("health.no_run", command=f"genre replay --config {config_label()}", path=run_file(config)),
            icon=":material/info:")
else:
    k = run["settings"]["k"]
    if run.get("simulated"):
        st.warning(t("health.simulated", dataset=run["dataset"]), icon=":material/science:")
    st.caption(t("health.run_caption", dataset=run["dataset"], created=display_time(run["created_at"]),
                 windows=run["windows"], window=run["settings"]["window"], initial=run["interactions"]["initial"],
                 streamed=run["interactions"]["streamed"], seconds=run["seconds"], machine=run["machine"]))

    st.subheader(t("health.summary_header"))
    summary = summary_table(run, k)
    st.dataframe(summary, hide_index=True, key="health_summary", height=full_height(len(summary)),
                 column_config={column: st.column_config.NumberColumn(format="%.4f") for column in summary.columns[1:3]})
    st.markdown(verdict(run, k))
    st.plotly_chart(comparison_figure(run, k), key="health_comparison_chart")

    st.subheader(t("health.timeline_header"))
    # One widget per language: a radio whose option labels change keeps its value but shows no selection
    # in the browser (Streamlit 1.67), so the choice is carried across languages in session state.
    chosen = st.session_state.get(POLICY_CHOICE, "adaptive")
    policy = st.radio(t("health.timeline_policy"), POLICIES, index=POLICIES.index(chosen), format_func=policy_label,
                      horizontal=True, key=f"health_policy_{current_language()}")
    st.session_state[POLICY_CHOICE] = policy
    st.caption(t("health.timeline_caption"))
    st.plotly_chart(timeline_figure(run["policies"][policy]["timeline"], k), key="health_timeline_chart")

st.subheader(t("health.policy_header"))
if run is not None and run.get("policy") != config.to_dict()["monitoring"]["policy"]:
    st.warning(t("health.policy_changed", command=f"genre replay --config {config_label()}"), icon=":material/sync_problem:")
st.caption(t("health.policy_caption"))
rules_column, settings_column = st.columns(2, gap="large")
rules = rules_table(config)
rules_column.dataframe(rules, hide_index=True, key="health_rules", height=full_height(len(rules)))
settings = settings_table(config)
settings_column.dataframe(settings, hide_index=True, key="health_settings", height=full_height(len(settings)))

if run is not None:
    st.subheader(t("health.log_header", policy=policy_label(policy)))
    log_table = action_log_table(run, policy)
    if log_table.empty:
        st.info(t("health.log_empty"), icon=":material/info:")
    else:
        st.dataframe(log_table, hide_index=True, key="health_action_log")
