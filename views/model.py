"""Model: the active version, its data and split, its setup, its metrics and its training curve."""

import pandas as pd
import plotly.express as px
import streamlit as st

from ui.language import t
from ui.model_loading import require_recommender, show_dataset_notice
from ui.tables import count_text, display_time, display_value, epoch_tick, full_height, metric_order

CURVE_SKIPPED = ("epoch", "loss", "users")

recommender = require_recommender()
summary = recommender.model_summary()
split = summary["split"]
st.title(t("model.title"))
show_dataset_notice(recommender)

cells = st.columns([1, 2, 1, 1])
cells[0].metric(t("model.version"), summary["version"])
cells[1].metric(t("model.created_at"), display_time(summary["created_at"]))
cells[2].metric(t("model.device"), summary["device"])
cells[3].metric(t("model.parameters"), f"{summary['parameters']:,}" if summary["parameters"] else "—")

setup_column, metrics_column = st.columns(2, gap="large")

setup = {
    t("model.dataset"): summary["dataset"],
    t("model.split"): split.get("protocol"),
    t("model.split_sizes"): t("model.split_sizes_value", **{part: count_text(split.get(part))
                                                           for part in ("train", "valid", "test")}),
    t("model.training_device"): recommender.meta.get("training", {}).get("device"),
    t("model.training_time"): t("model.seconds_value", seconds=summary["training_seconds"] or 0),
    t("model.epochs"): t("model.epochs_value", epochs=summary["epochs_run"], best=summary["best_epoch"]),
    t("model.modalities"): ", ".join(summary["modalities"]),
    t("model.fusion"): summary["fusion"],
    t("model.task"): t("model.task_value", task=summary["task"], loss=summary["loss"]),
    t("model.text_model"): summary["text_model"],
}
setup_table = pd.DataFrame({t("model.setting"): list(setup), t("model.value"): [display_value(v) for v in setup.values()]})
setup_column.subheader(t("model.setup_header"))
setup_column.dataframe(setup_table, hide_index=True, key="model_setup", height=full_height(len(setup_table)),
                       column_config={t("model.setting"): st.column_config.Column(width="medium")})

metrics = summary["metrics"]
table = pd.DataFrame({t("model.valid"): metrics.get("valid", {}), t("model.test"): metrics.get("test", {})})
table = table.drop(index="users", errors="ignore").sort_index(key=metric_order)
table = table.rename_axis(t("model.metric")).reset_index()
metrics_column.subheader(t("model.metrics_header"))
metrics_column.caption(t("model.metrics_caption", protocol=split.get("protocol"),
                         users=metrics.get("test", {}).get("users", "—")))
metrics_column.dataframe(
    table, hide_index=True, key="model_metrics", height=full_height(len(table)), placeholder="—",
    column_config={column: st.column_config.NumberColumn(format="%.4f") for column in table.columns[1:]},
)

st.subheader(t("model.curve_header"))
curve = pd.DataFrame(recommender.meta.get("training", {}).get("curve", []))
if curve.empty:
    st.info(t("model.no_curve"), icon=":material/info:")
    st.stop()
loss_column, metric_column = st.columns(2)
loss_figure = px.line(curve, x="epoch", y="loss", markers=True, title=t("model.curve_loss"),
                      labels={"epoch": t("model.epoch"), "loss": t("model.loss")})
loss_figure.update_xaxes(dtick=epoch_tick(len(curve)))
loss_column.plotly_chart(loss_figure, key="model_loss_curve")
validation = [column for column in curve.columns if column not in CURVE_SKIPPED]
metric_figure = px.line(curve, x="epoch", y=validation, markers=True, title=t("model.curve_validation"),
                        labels={"epoch": t("model.epoch"), "value": t("model.value"), "variable": t("model.metric")})
metric_figure.update_xaxes(dtick=epoch_tick(len(curve)))
metric_column.plotly_chart(metric_figure, key="model_metric_curve")
