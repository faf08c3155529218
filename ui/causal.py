"""Cached analysis runs and the charts and tables of the Causal Effects page."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genre_core.causal.analysis import AnalysisSettings, analyse
from genre_core.causal.questions import Question
from genre_core.causal.table import build_analysis_table
from ui.language import t

SAMPLE_SEED = 0


@st.cache_resource(show_spinner=False, max_entries=2)
def analysis_table(config_path: str, version: str, _recommender) -> pd.DataFrame:
    """The analysis table of the served model; `config_path` and `version` are the cache key."""
    return build_analysis_table(_recommender.dataset, _recommender)


# Finished reports, shared by every session of this server. Not st.cache_data: that cache records the progress
# bar's updates and replays them on a hit, into a bar that no longer exists, which raises CacheReplayClosureError.
_REPORTS: OrderedDict[tuple, dict] = OrderedDict()
_REPORTS_LOCK = threading.Lock()
MAX_REPORTS = 16


def run_analysis(config_path: str, version: str, question: Question, settings: AnalysisSettings, rows: int,
                 _table: pd.DataFrame, _progress=None) -> dict:
    """Answer one question on a seeded sample of `rows` ratings; every argument without `_` is the cache key."""
    key = (config_path, version, repr(question), repr(settings), rows)
    with _REPORTS_LOCK:
        if key in _REPORTS:
            _REPORTS.move_to_end(key)
            return copy.deepcopy(_REPORTS[key])
    table = _table if rows >= len(_table) else _table.sample(n=rows, random_state=SAMPLE_SEED)
    report = analyse(table.reset_index(drop=True), question, settings, progress=_progress).to_dict()
    with _REPORTS_LOCK:
        _REPORTS[key] = report
        while len(_REPORTS) > MAX_REPORTS:
            _REPORTS.popitem(last=False)
    return copy.deepcopy(report)


def estimates_chart(report: dict) -> go.Figure:
    estimates = report["estimates"]
    names = [estimator_label(item["estimator"]) for item in estimates]
    values = [item["value"] for item in estimates]
    figure = go.Figure(go.Scatter(
        x=values, y=names, mode="markers",
        error_x={"type": "data", "symmetric": False,
                 "array": [item["ci_high"] - item["value"] for item in estimates],
                 "arrayminus": [item["value"] - item["ci_low"] for item in estimates]},
        marker={"size": 11},
    ))
    figure.add_vline(x=0, line_color="grey")
    figure.add_vline(x=report["naive_difference"], line_dash="dash", line_color="firebrick",
                     annotation_text=t("causal.naive_line"))
    figure.update_layout(height=90 + 60 * len(names), margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         xaxis_title=t("causal.effect_axis", outcome=report["question"]["outcome"]))
    return figure


def p_value_text(value: float | None) -> str:
    """Show a p-value as the field prints it: three decimals, or "< 0.001" below that."""
    if value is None or value != value:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def estimator_label(name: str) -> str:
    """Name a DoWhy estimator (linear_regression, ...) in the page language."""
    return t(f"causal.estimator.{name}")


def estimates_table(report: dict) -> pd.DataFrame:
    frame = pd.DataFrame(report["estimates"])[["estimator", "value", "ci_low", "ci_high", "p_value", "interval"]]
    # How each interval was computed, in the page language (the report contains the English text).
    frame["interval"] = [t(f"causal.interval.{name}") for name in frame["estimator"]]
    frame["estimator"] = frame["estimator"].map(estimator_label)
    frame["p_value"] = frame["p_value"].map(p_value_text)
    return frame.rename(columns={
        "estimator": t("causal.column.estimator"), "value": t("causal.column.effect"),
        "ci_low": t("causal.column.ci_low"), "ci_high": t("causal.column.ci_high"),
        "p_value": t("causal.column.p_value"), "interval": t("causal.column.interval"),
    })


def refutation_table(report: dict) -> pd.DataFrame:
    rows = []
    for item in report["refutations"]:
        if item["passed"] is None:
            verdict, meaning = t("causal.verdict_error"), item["message"]
        else:
            outcome = "pass" if item["passed"] else "fail"
            verdict = t(f"causal.verdict_{outcome}")
            meaning = t(f"causal.verdict.{item['refuter']}.{outcome}")
        rows.append({
            t("causal.column.refuter"): t(f"causal.refuter.{item['refuter']}"),
            t("causal.column.new_effect"): item["new_effect"],
            t("causal.column.expected"): item["expected"],
            t("causal.column.p_value"): p_value_text(item["p_value"]),
            t("causal.column.verdict"): verdict,
            t("causal.column.explanation"): meaning,
        })
    return pd.DataFrame(rows)


def segments_chart(report: dict) -> go.Figure | None:
    estimated = [item for item in report["segments"] if "effect" in item]
    if not estimated:
        return None
    labels = [f"{item['segment']} = {item['value']} (n={item['rows']})" for item in estimated]
    figure = go.Figure(go.Scatter(
        x=[item["effect"] for item in estimated], y=labels, mode="markers",
        error_x={"type": "data", "symmetric": False,
                 "array": [item["ci_high"] - item["effect"] for item in estimated],
                 "arrayminus": [item["effect"] - item["ci_low"] for item in estimated]},
    ))
    figure.add_vline(x=0, line_color="grey")
    figure.update_layout(height=80 + 24 * len(labels), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         xaxis_title=t("causal.effect_axis", outcome=report["question"]["outcome"]))
    return figure
