"""Tables and charts of the Model Health page: the replay timeline, the policy and the action log."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from genre_core.adaptation.actions import ActionLog
from genre_core.config import Config
from genre_core.replay import POLICIES
from ui.language import t
from ui.tables import display_value

# Marker symbols and colours of the events drawn on the timeline.
ALARM_STYLE = {"symbol": "x", "size": 12, "color": "#d62728"}
PROMOTED_STYLE = {"symbol": "triangle-up", "size": 13, "color": "#2ca02c"}
REJECTED_STYLE = {"symbol": "triangle-down", "size": 13, "color": "#ff7f0e"}
SETTING_STYLE = {"symbol": "diamond", "size": 11, "color": "#9467bd"}


def policy_label(name: str) -> str:
    return t(f"health.policy.{name}")


def action_label(name: str) -> str:
    return t(f"health.action.{name}")


def trigger_label(name: str) -> str:
    return t(f"health.trigger.{name}")


def summary_table(run: dict, k: int) -> pd.DataFrame:
    """Build one row per policy: prequential NDCG@k and HR@k, updates, alarms and compute time."""
    rows = []
    for name in POLICIES:
        summary = run["policies"][name]["summary"]
        rows.append({
            t("health.column.policy"): policy_label(name),
            t("health.column.ndcg", k=k): summary[f"ndcg@{k}"],
            t("health.column.hit", k=k): summary[f"hit@{k}"],
            t("health.column.updates"): summary["updates"],
            t("health.column.promoted"): summary["promoted"],
            t("health.column.setting_changes"): summary["setting_changes"],
            t("health.column.alarms"): summary["alarms"],
            t("health.column.update_seconds"): summary["update_seconds"],
            t("health.column.seconds"): summary["seconds"],
        })
    return pd.DataFrame(rows)


def verdict(run: dict, k: int) -> str:
    """State in one sentence how the adaptive policy did against periodic retraining."""
    adaptive, periodic = run["policies"]["adaptive"]["summary"], run["policies"]["periodic"]["summary"]
    values = {"adaptive": adaptive[f"ndcg@{k}"], "periodic": periodic[f"ndcg@{k}"],
              "adaptive_updates": adaptive["updates"], "periodic_updates": periodic["updates"], "k": k}
    key = "health.verdict_matches" if adaptive[f"ndcg@{k}"] >= periodic[f"ndcg@{k}"] else "health.verdict_behind"
    return t(key, adaptive=f"{values['adaptive']:.4f}", periodic=f"{values['periodic']:.4f}",
             adaptive_updates=values["adaptive_updates"], periodic_updates=values["periodic_updates"], k=k)


def timeline_figure(timeline: list[dict], k: int) -> go.Figure:
    """Windowed quality (top) and drift statistics (bottom), with detector alarms and actions as markers."""
    frame = pd.DataFrame(timeline)
    windows = frame["window"] + 1
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                           subplot_titles=(t("health.chart.quality"), t("health.chart.drift")))
    quality = {f"ndcg@{k}": t("health.series.ndcg", k=k), f"hit@{k}": t("health.series.hit", k=k),
               "positive_rate": t("health.series.positive_rate")}
    for column, name in quality.items():
        figure.add_trace(go.Scatter(x=windows, y=frame[column], mode="lines+markers", name=name), row=1, col=1)
    drift = {"score_psi": t("health.series.score_psi"), "score_ks": t("health.series.score_ks"),
             "feature_psi": t("health.series.feature_psi")}
    for column, name in drift.items():
        figure.add_trace(go.Scatter(x=windows, y=frame[column], mode="lines+markers", name=name), row=2, col=1)

    ndcg = dict(zip(frame["window"], frame[f"ndcg@{k}"]))
    _add_events(figure, frame, ndcg)
    figure.update_xaxes(title_text=t("health.axis.window"), row=2, col=1, dtick=max(1, len(frame) // 20))
    figure.update_yaxes(title_text=t("health.axis.value"), row=1, col=1)
    figure.update_yaxes(title_text=t("health.axis.drift"), row=2, col=1)
    figure.update_layout(height=620, legend={"orientation": "h", "y": -0.12}, margin={"t": 40})
    return figure


def _add_events(figure: go.Figure, frame: pd.DataFrame, ndcg: dict) -> None:
    alarms = [(row.window + 1, ndcg[row.window]) for row in frame.itertuples() for _ in row.alarms]
    groups = {"promoted": [], "rejected": [], "setting": []}
    for row in frame.itertuples():
        for action in row.actions:
            if action["promoted"] is None:
                kind = "setting"
            elif action["promoted"]:
                kind = "promoted"
            else:
                kind = "rejected"
            text = f"{action_label(action['action'])} · {trigger_label(action['trigger'])}<br>{action['outcome']}"
            groups[kind].append((row.window + 1, ndcg[row.window], text))

    if alarms:
        x, y = zip(*alarms)
        figure.add_trace(go.Scatter(x=x, y=y, mode="markers", marker=ALARM_STYLE, name=t("health.marker.alarm")),
                         row=1, col=1)
    styles = {"promoted": PROMOTED_STYLE, "rejected": REJECTED_STYLE, "setting": SETTING_STYLE}
    for kind, events in groups.items():
        if not events:
            continue
        x, y, text = zip(*events)
        figure.add_trace(go.Scatter(x=x, y=y, mode="markers", marker=styles[kind], name=t(f"health.marker.{kind}"),
                                    hovertext=text, hoverinfo="text"), row=1, col=1)


def comparison_figure(run: dict, k: int) -> go.Figure:
    """Prequential NDCG@k of each window for the three policies."""
    figure = go.Figure()
    for name in POLICIES:
        frame = pd.DataFrame(run["policies"][name]["timeline"])
        figure.add_trace(go.Scatter(x=frame["window"] + 1, y=frame[f"ndcg@{k}"], mode="lines+markers", name=policy_label(name)))
    figure.update_layout(height=360, xaxis_title=t("health.axis.window"), yaxis_title=t("health.series.ndcg", k=k),
                         legend={"orientation": "h", "y": -0.2}, margin={"t": 20})
    figure.update_xaxes(dtick=max(1, len(figure.data[0].x) // 20))
    return figure


def rules_table(config: Config) -> pd.DataFrame:
    rows = [{
        t("health.rules.order"): position + 1,
        t("health.rules.trigger"): trigger_label(rule.trigger),
        # The alarm and rejection triggers take no threshold: a dash, as in the app's other tables.
        t("health.rules.threshold"): (display_value(rule.threshold)
                                      if rule.trigger not in ("detector_alarm", "update_rejected") else "—"),
        t("health.rules.action"): action_label(rule.action),
    } for position, rule in enumerate(config.monitoring.policy.rules)]
    return pd.DataFrame(rows)


def settings_table(config: Config) -> pd.DataFrame:
    """Monitoring settings and the factors of the setting actions, as (setting, value) rows."""
    monitoring, policy, replay = config.monitoring, config.monitoring.policy, config.monitoring.replay
    values = {
        "window": monitoring.window, "k": monitoring.k, "positive_rating": monitoring.positive_rating,
        "psi_bins": monitoring.psi_bins, "psi_threshold": monitoring.psi_threshold, "ks_alpha": monitoring.ks_alpha,
        "detector": monitoring.detector, "detector_delta": monitoring.detector_delta,
        "lr_factor": policy.lr_factor, "weight_decay_factor": policy.weight_decay_factor,
        "update_learning_rate": replay.update_learning_rate, "update_epochs": replay.update_epochs,
        "replay_fraction": replay.replay_fraction, "guard_fraction": replay.guard_fraction,
        "tolerance": config.feedback.tolerance, "periodic_every": replay.periodic_every,
    }
    return pd.DataFrame({t("health.settings.setting"): [t(f"health.settings.{name}") for name in values],
                         t("health.settings.value"): [str(value) for value in values.values()]})


def action_log_table(run: dict, policy: str) -> pd.DataFrame:
    """Return the policy's action log, newest first, from its JSON-lines file or else from the saved timeline."""
    path = run["policies"][policy].get("action_log")
    records = ActionLog(path).read() if path else []
    if not records:
        records = [action for row in run["policies"][policy]["timeline"] for action in row["actions"]]
    rows = [{
        t("health.log.window"): record["window"] + 1,
        t("health.log.action"): action_label(record["action"]),
        t("health.log.trigger"): trigger_label(record["trigger"]),
        t("health.log.value"): record["numbers"].get("trigger_value"),
        t("health.log.outcome"): record["outcome"],
        t("health.log.version"): record.get("version") or "—",
        t("health.log.seconds"): record.get("seconds"),
        t("health.log.logged_at"): record.get("logged_at"),
    } for record in reversed(records)]
    return pd.DataFrame(rows)
