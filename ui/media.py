"""Item cards with picture and sound, and the image and audio attribution maps, for datasets with media."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genre_core.explain.media_maps import audio_map, image_map, media_files
from genre_core.schema import ITEM_ID, TITLE
from ui.language import t

CARD_COUNT = 5
DESCRIPTION_COLUMN = "description"
MAP_ERRORS = (ValueError, LookupError, OSError)


def has_media(recommender) -> bool:
    """True when the model reads pictures or sounds."""
    return bool({"image", "audio"} & set(recommender.model.item_tower.modalities))


def modality_labels(recommender, item_id: str) -> list[str]:
    """Return the translated names of the modalities this item has (text, image, audio)."""
    index = recommender.dataset.item_position(item_id)
    items = recommender.inputs.items
    names = [name for name in ("text", "image", "audio")
             if name in recommender.model.item_tower.modalities and float(items[f"{name}_present"][index]) > 0]
    return [t(f"media.modality.{name}") for name in names]


def item_cards(recommender, items: pd.DataFrame) -> None:
    """Draw the first CARD_COUNT items as cards: picture, sound player, description and modalities present."""
    st.subheader(t("media.cards_header"))
    st.caption(t("media.simulated_caption", dataset=recommender.dataset.name))
    cards = items.head(CARD_COUNT)
    for column, (_, row) in zip(st.columns(max(1, len(cards))), cards.iterrows()):
        item_id = str(row[ITEM_ID])
        files = media_files(recommender, item_id)
        with column.container(border=True):
            if files["image"]:
                st.image(files["image"], width="stretch")
            else:
                st.caption(t("media.no_image"))
            st.markdown(f"**{row.get(TITLE, item_id)}**")
            description = recommender.dataset.items.iloc[recommender.dataset.item_position(item_id)].get(DESCRIPTION_COLUMN)
            if isinstance(description, str):
                st.caption(description)
            if files["audio"]:
                st.audio(files["audio"])
            st.caption(t("media.has_modalities", names=", ".join(modality_labels(recommender, item_id))))


def attribution_maps(recommender, user_id: str, items: pd.DataFrame) -> None:
    """Draw a picker of one recommended item and, on request, its image heat map and spectrogram attribution."""
    if items.empty:
        return
    st.subheader(t("media.maps_header"))
    labels = {str(row[ITEM_ID]): f"{row['rank']}. {row.get(TITLE, row[ITEM_ID])}" for _, row in items.iterrows()}
    item_id = st.selectbox(t("media.map_item_label"), list(labels), format_func=labels.__getitem__, key="media_item")
    if st.button(t("media.map_button"), key="media_compute"):
        st.session_state["media_request"] = (user_id, item_id)
    if st.session_state.get("media_request") != (user_id, item_id):
        st.caption(t("media.map_hint"))
        return

    files = media_files(recommender, item_id)
    picture_column, sound_column = st.columns(2)
    with picture_column:
        if files["image"]:
            _draw_image_map(recommender, user_id, item_id)
        else:
            st.info(t("media.no_image"))
    with sound_column:
        if files["audio"]:
            _draw_audio_map(recommender, user_id, item_id)
        else:
            st.info(t("media.no_audio"))


def _draw_image_map(recommender, user_id: str, item_id: str) -> None:
    try:
        with st.spinner(t("media.image_spinner")):
            result = image_map(recommender, user_id, item_id)
    except MAP_ERRORS as error:
        st.error(t("media.map_failed", error=str(error)))
        return
    limit = float(abs(result.values).max()) or 1.0
    figure = go.Figure(go.Image(z=(result.background * 255).astype("uint8")))
    figure.add_trace(go.Heatmap(z=result.values, zmin=-limit, zmax=limit, colorscale="RdBu_r", opacity=0.55,
                                colorbar=dict(title=t("media.contribution"))))
    figure.update_layout(height=360, margin=dict(l=0, r=0, t=30, b=0), title=t("media.image_map_title"),
                         yaxis=dict(autorange="reversed", visible=False), xaxis=dict(visible=False))
    st.plotly_chart(figure, key="media_image_map")
    st.caption(t("media.map_caption", method=result.method, score=result.score, baseline=result.baseline_score))


def _draw_audio_map(recommender, user_id: str, item_id: str) -> None:
    try:
        with st.spinner(t("media.audio_spinner")):
            result = audio_map(recommender, user_id, item_id)
    except MAP_ERRORS as error:
        st.error(t("media.map_failed", error=str(error)))
        return
    limit = float(abs(result.values).max()) or 1.0
    figure = go.Figure(go.Heatmap(z=result.values, zmin=-limit, zmax=limit, colorscale="RdBu_r",
                                  colorbar=dict(title=t("media.contribution"))))
    figure.update_layout(height=360, margin=dict(l=0, r=0, t=30, b=0), title=t("media.audio_map_title"),
                         xaxis_title=t("media.frames_axis"), yaxis_title=t("media.mel_axis"))
    st.plotly_chart(figure, key="media_audio_map")
    difference = result.score - result.baseline_score
    relative = abs(result.convergence_delta) / abs(difference) if abs(difference) > 1e-12 else 0.0
    st.caption(t("media.map_caption", method=result.method, score=result.score, baseline=result.baseline_score))
    st.caption(t("media.delta_caption", delta=result.convergence_delta, relative=relative))
