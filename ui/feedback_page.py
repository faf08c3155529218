"""Sections of the Feedback page: labels, retraining with live progress, model versions, before/after view."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from genre_core.config import load_config
from genre_core.feedback.database import FeedbackStoreError, database_url, open_engine
from genre_core.feedback.jobs import UNFINISHED, JobConflictError, JobStore
from genre_core.feedback.runner import RetrainJob
from genre_core.feedback.store import FeedbackStore
from genre_core.registry import ModelRegistry, RegistryError
from ui.language import t
from ui.model_loading import config_path
from genre_core.schema import TITLE
from ui.tables import RANK_WIDTH, attribute_label, dash_missing, display_time

log = logging.getLogger(__name__)

RUNNING_JOB_KEY = "feedback_running_job"
POLL_SECONDS = 1.0


@st.cache_resource(show_spinner=False)
def _job_store(path: str) -> JobStore:
    return JobStore(open_engine(database_url(load_config(path))))


def job_store() -> JobStore:
    return _job_store(str(config_path()))


def translated_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={name: t(f"feedback.column_{name}") for name in frame.columns})


def queue_table(queue: pd.DataFrame) -> None:
    """Show the queue's rows with the two signals that put each item there, and which one won."""
    shown = queue[["rank", TITLE, "uncertainty", "disagreement", "reason"]].assign(
        reason=[t(f"feedback.queue_{reason}") for reason in queue["reason"]]
    )
    st.dataframe(shown, hide_index=True, key="feedback_queue_table", column_config={
        "rank": st.column_config.NumberColumn(attribute_label("rank"), format="%d", width=RANK_WIDTH),
        TITLE: st.column_config.Column(attribute_label(TITLE), width="medium"),
        "uncertainty": st.column_config.ProgressColumn(
            t("feedback.queue_uncertainty"), help=t("feedback.queue_uncertainty_help"), min_value=0.0, max_value=1.0, format="%.2f"),
        "disagreement": st.column_config.ProgressColumn(
            t("feedback.queue_disagreement"), help=t("feedback.queue_disagreement_help"), min_value=0.0, max_value=1.0, format="%.2f"),
        "reason": st.column_config.Column(t("feedback.queue_reason")),
    })


def labels_section(store: FeedbackStore) -> None:
    st.subheader(t("feedback.labels_header"))
    labels = store.frame()
    if labels.empty:
        st.info(t("feedback.no_labels"), icon=":material/info:")
        return
    user_column, analyst_column, undone_column = st.columns([2, 2, 2], vertical_alignment="bottom")
    user_filter = user_column.text_input(t("feedback.filter_user"), key="feedback_filter_user").strip()
    analysts = sorted(labels["analyst"].unique())
    analyst_filter = analyst_column.multiselect(t("feedback.filter_analyst"), analysts, key="feedback_filter_analyst")
    show_undone = undone_column.toggle(t("feedback.show_undone"), value=True, key="feedback_show_undone")

    shown = labels
    if user_filter:
        shown = shown[shown["user_id"] == user_filter]
    if analyst_filter:
        shown = shown[shown["analyst"].isin(analyst_filter)]
    if not show_undone:
        shown = shown[~shown["undone"]]
    st.dataframe(translated_columns(dash_missing(shown)), hide_index=True, key="feedback_labels_table")

    undo_column, export_column = st.columns([3, 2], vertical_alignment="bottom")
    undoable = shown.loc[~shown["undone"], "id"].tolist()
    with undo_column:
        label_id = st.selectbox(t("feedback.undo_label"), undoable, index=None, key="feedback_undo_id")
        if st.button(t("feedback.undo_button"), key="feedback_undo", disabled=label_id is None):
            try:
                store.undo(int(label_id))
                st.session_state["feedback_undo_message"] = t("feedback.undone", id=label_id)
                st.rerun()
            except (LookupError, FeedbackStoreError) as error:
                st.error(str(error), icon=":material/error:")
        message = st.session_state.pop("feedback_undo_message", None)
        if message:
            st.success(message, icon=":material/undo:")
    export_column.download_button(
        t("feedback.export_button"), shown.to_csv(index=False).encode("utf-8"), file_name="feedback_labels.csv",
        mime="text/csv", key="feedback_export", icon=":material/download:",
    )


def retrain_section() -> None:
    st.subheader(t("feedback.retrain_header"))
    st.caption(t("feedback.retrain_caption"))
    if st.button(t("feedback.retrain_button"), key="feedback_retrain", type="primary", icon=":material/model_training:"):
        try:
            job = RetrainJob.begin(load_config(config_path()))
        except (JobConflictError, FeedbackStoreError, RegistryError) as error:
            st.error(str(error), icon=":material/error:")
        except ValueError:
            st.warning(t("feedback.no_labels_to_retrain"), icon=":material/label_off:")
        else:
            job.start_thread()
            log.info("retraining job %d started from the Feedback page", job.job_id)
    latest = job_store().latest()
    running = latest is not None and latest["state"] in UNFINISHED
    st.fragment(run_every=POLL_SECONDS if running else None)(_job_progress)()


def _job_progress() -> None:
    jobs = job_store()
    job = jobs.latest()
    if job is None:
        st.caption(t("feedback.no_jobs"))
        return
    state = t(f"feedback.state_{job['state']}")
    if job["state"] in UNFINISHED:
        st.session_state[RUNNING_JOB_KEY] = job["id"]
        st.progress(min(max(job["progress"], 0.0), 1.0), text=t("feedback.job_running", id=job["id"], message=job["message"] or ""))
        if st.button(t("feedback.cancel_button"), key="feedback_cancel", icon=":material/cancel:"):
            try:
                jobs.request_cancel(job["id"])
            except LookupError as error:
                st.warning(str(error))
        return
    text = t("feedback.job_finished", id=job["id"], state=state, message=job["message"] or "")
    if job["state"] == "succeeded":
        st.success(text, icon=":material/check_circle:")
    else:
        st.warning(text, icon=":material/warning:")
    # When a job this session watched has just finished, rerun the whole page so the new active model is served.
    if st.session_state.get(RUNNING_JOB_KEY) == job["id"]:
        del st.session_state[RUNNING_JOB_KEY]
        st.rerun()


def versions_section() -> None:
    st.subheader(t("feedback.versions_header"))
    registry = ModelRegistry.for_config(load_config(config_path()))
    rows = []
    for info in registry.versions():
        meta = info.meta
        status = "active" if info.active else ("candidate" if meta.get("status") == "candidate" else "inactive")
        rows.append({
            t("feedback.column_version"): info.version,
            t("feedback.column_status"): t(f"feedback.status_{status}"),
            t("feedback.column_source"): meta.get("source", ""),
            t("feedback.column_created"): display_time(meta.get("created_at")),
            t("feedback.column_ndcg"): meta.get("metrics", {}).get("valid", {}).get("ndcg@10"),
            t("feedback.column_reason"): "; ".join(meta.get("guard", {}).get("reasons", [])),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="feedback_versions_table")

    choice_column, promote_column, rollback_column = st.columns([2, 1, 1], vertical_alignment="bottom")
    version = choice_column.selectbox(t("feedback.promote_label"), [info.version for info in registry.versions()], key="feedback_promote_version")
    try:
        if promote_column.button(t("feedback.promote_button"), key="feedback_promote"):
            registry.promote(version)
            st.rerun()
        if rollback_column.button(t("feedback.rollback_button"), key="feedback_rollback"):
            registry.rollback()
            st.rerun()
    except RegistryError as error:
        st.error(str(error), icon=":material/error:")


def comparison_section() -> None:
    st.subheader(t("feedback.comparison_header"))
    registry = ModelRegistry.for_config(load_config(config_path()))
    retrained = [info for info in registry.versions() if info.meta.get("comparison")]
    if not retrained:
        st.info(t("feedback.no_comparison"), icon=":material/info:")
        return
    info = retrained[-1]
    comparison = info.meta["comparison"]
    metrics = comparison["metrics"]
    st.caption(t("feedback.comparison_caption", version=info.version, base=info.meta.get("base_version", "?")))
    cells = st.columns(3)
    cells[0].metric(t("feedback.ndcg_before"), f"{metrics['ndcg@10_before']:.4f}")
    cells[1].metric(t("feedback.ndcg_after"), f"{metrics['ndcg@10_after']:.4f}", delta=f"{metrics['ndcg@10_change']:+.4f}")
    cells[2].metric(t("feedback.moved_fraction"), f"{comparison['moved_fraction']:.0%}")
    st.dataframe(translated_columns(pd.DataFrame(comparison["labels"])), hide_index=True, key="feedback_rank_changes")
    top = pd.DataFrame([
        {t("feedback.column_user_id"): user["user_id"], t("feedback.column_left"): ", ".join(user["left"]), t("feedback.column_entered"): ", ".join(user["entered"])}
        for user in comparison["users"]
    ])
    st.dataframe(top, hide_index=True, key="feedback_topk_changes")
