"""GENRE workbench: `streamlit run app.py` (the config file comes from $GENRE_CONFIG)."""

import streamlit as st

from ui.language import language_switch, t
from ui.model_loading import config_label

st.set_page_config(page_title="GENRE", page_icon=":material/movie:", layout="wide")

language_switch()
st.sidebar.caption(t("app.config", path=config_label()))

pages = [
    st.Page(
        "pages/recommendations.py", title=t("nav.recommendations"), icon=":material/recommend:",
        url_path="recommendations", default=True,
    ),
    st.Page("pages/model.py", title=t("nav.model"), icon=":material/model_training:", url_path="model"),
]
st.navigation(pages).run()
