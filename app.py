"""GENRE workbench: `streamlit run app.py` (the config file comes from $GENRE_CONFIG)."""

from pathlib import Path

import streamlit as st

from ui.language import language_switch, t
from ui.model_loading import config_label

# A local icon file: a ":material/...:" page icon makes the browser fetch it from a font server.
st.set_page_config(page_title="GENRE", page_icon=str(Path(__file__).parent / "assets" / "genre-icon.png"), layout="wide")

language_switch()
st.sidebar.caption(t("app.config", path=config_label()))

# The page scripts live in views/ because Streamlit 1.67 treats a pages/ folder
# next to app.py as a legacy multipage app on a server's first run. That run
# skips this file for a deep-linked page and resets the widgets drawn here.
pages = [
    st.Page(
        "views/recommendations.py", title=t("nav.recommendations"), icon=":material/recommend:",
        url_path="recommendations", default=True,
    ),
    st.Page("views/model.py", title=t("nav.model"), icon=":material/model_training:", url_path="model"),
    st.Page("views/feedback.py", title=t("feedback.nav"), icon=":material/thumbs_up_down:", url_path="feedback"),
    st.Page("views/attributions.py", title=t("attr.nav"), icon=":material/insights:", url_path="attributions"),
    st.Page("views/causal.py", title=t("causal.nav"), icon=":material/account_tree:", url_path="causal"),
    st.Page("views/health.py", title=t("health.nav"), icon=":material/monitor_heart:", url_path="health"),
    st.Page("views/whatif.py", title=t("whatif.nav"), icon=":material/science:", url_path="whatif"),
]
st.navigation(pages).run()
