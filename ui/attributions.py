"""Charts and the trust panel of the Attributions page, and its link from the Recommendations page."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genre_core.schema import ITEM_ID, TITLE
from ui.language import LANGUAGE_KEY, current_language, t

PAGE_PATH = "attributions"
HISTORY_ROWS = 15
SHAP_ROWS = 10
# Red raises the score and blue lowers it, in every chart of the page.
POSITIVE, NEGATIVE = "#d62728", "#1f77b4"


def explain_link(user_id: str, items: pd.DataFrame) -> None:
    """Draw a picker of the recommended items and a link to the Attributions page of the picked one."""
    if items.empty:
        return
    labels = {str(row[ITEM_ID]): f"{row['rank']}. {row.get(TITLE, row[ITEM_ID])}" for _, row in items.iterrows()}
    picker, link = st.columns([3, 2], vertical_alignment="bottom")
    item_id = picker.selectbox(t("attr.explain_item_label"), list(labels), format_func=labels.__getitem__,
                               key="rec_explain_item")
    # The link opens a new tab, which starts a new session: ?lang= keeps the page language there.
    query = urlencode({"user": user_id, "item": item_id, LANGUAGE_KEY: current_language()})
    link.markdown(f"[{t('attr.explain_link')}]({PAGE_PATH}?{query})")


def shares_chart(result: dict) -> go.Figure:
    rows = result["shares"]
    names = [t(f"attr.modality.{row['modality']}") for row in rows]
    values = [row["share"] for row in rows]
    figure = go.Figure(go.Bar(
        x=values, y=names, orientation="h", marker_color=[POSITIVE if value >= 0 else NEGATIVE for value in values],
        text=[f"{value:+.3f}" for value in values], textposition="outside", cliponaxis=False,
    ))
    # Labels sit outside the bars; a quarter of the span on each side keeps a label such as -0.068 whole.
    low, high = min(0.0, *values), max(0.0, *values)
    pad = 0.25 * ((high - low) or 1.0)
    figure.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=t("attr.contribution"),
                         xaxis=dict(range=[low - pad if low < 0 else low, high + pad if high > 0 else high]),
                         yaxis=dict(autorange="reversed"))
    return figure


def words_chart(tokens: dict) -> go.Figure:
    words = [word["word"] for word in tokens["words"]]
    values = [word["attribution"] for word in tokens["words"]]
    limit = max((abs(value) for value in values), default=1.0) or 1.0
    figure = go.Figure(go.Heatmap(
        z=[values], x=list(range(len(words))), text=[words], texttemplate="%{text}", textfont=dict(size=18),
        colorscale=[[0, NEGATIVE], [0.5, "#ffffff"], [1, POSITIVE]], zmin=-limit, zmax=limit,
        hovertemplate="%{text}: %{z:+.4f}<extra></extra>", colorbar=dict(title=t("attr.contribution")),
    ))
    figure.update_layout(height=140, margin=dict(l=10, r=10, t=10, b=10),
                         xaxis=dict(visible=False), yaxis=dict(visible=False))
    return figure


def history_chart(result: dict) -> go.Figure:
    rows = result["history"][:HISTORY_ROWS]
    titles = [row["title"] for row in rows]
    figure = go.Figure([
        go.Bar(name=t("attr.leave_one_out"), y=titles, x=[row["leave_one_out"] for row in rows],
               orientation="h", marker_color=POSITIVE),
        go.Bar(name=t("attr.method.integrated_gradients"), y=titles, x=[row["integrated_gradients"] for row in rows],
               orientation="h", marker_color="#ff9896"),
    ])
    figure.update_layout(barmode="group", height=40 + 28 * len(rows), margin=dict(l=10, r=10, t=10, b=10),
                         yaxis=dict(autorange="reversed"), xaxis_title=t("attr.contribution"),
                         legend=dict(orientation="h", y=-0.15))
    return figure


def shap_waterfall(shap_values: dict) -> go.Figure:
    features = sorted(shap_values["features"], key=lambda row: abs(row["shap"]), reverse=True)
    shown, rest = features[:SHAP_ROWS], features[SHAP_ROWS:]
    labels = [f"{row['feature']} = {row['value']:g}" for row in shown]
    values = [row["shap"] for row in shown]
    if rest:
        labels.append(t("attr.shap_other", count=len(rest)))
        values.append(sum(row["shap"] for row in rest))
    figure = go.Figure(go.Waterfall(
        orientation="h", y=labels, x=values, base=shap_values["expected_value"],
        increasing=dict(marker_color=POSITIVE), decreasing=dict(marker_color=NEGATIVE),
        text=[f"{value:+.3f}" for value in values],
    ))
    figure.update_layout(height=60 + 28 * len(labels), margin=dict(l=10, r=10, t=10, b=10),
                         yaxis=dict(autorange="reversed"))
    return figure


def trust_sentences(result: dict) -> list[str]:
    """The trust panel in plain words: how well it adds up, the baseline, and whether two methods agree."""
    percent = 100 * result["relative_convergence_delta"]
    key = "attr.trust_adds_up" if result["converged"] else "attr.trust_not_converged"
    sentences = [t(key, percent=percent, n_steps=result["n_steps"])]
    # Pictures and sounds enter the baseline's description only when the model reads them.
    media = "_media" if {"image", "audio"} & {row["modality"] for row in result["shares"]} else ""
    sentences.append(t("attr.trust_baseline", description=t(f"attr.baseline_{result['baseline']}{media}"),
                       baseline_score=result["baseline_score"], score=result["score"]))
    agreement = result["method_agreement"]
    key = "attr.trust_agree" if agreement["top3_same_order"] else "attr.trust_disagree"
    sentences.append(t(key, rho=agreement["spearman"]))
    tokens = result.get("tokens")
    if tokens:
        sentences.append(t("attr.trust_words", percent=100 * tokens["relative_convergence_delta"],
                           n_steps=tokens["n_steps"]))
    sentences.append(t("attr.trust_settings", method=t(f"attr.method.{result['method']}"),
                       baseline=t(f"attr.baseline.{result['baseline']}"), batch=result["internal_batch_size"],
                       version=result["model_version"]))
    return sentences
