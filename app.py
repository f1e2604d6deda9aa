"""UVP: the entry point. Sets the page layout and the navigation (the home page is pages/0_Home.py)."""

from __future__ import annotations

import streamlit as st

from uvp_ui import state

st.set_page_config(page_title="UVP · User Value Predictor", layout="wide")
PAGES = [
    st.Page("pages/0_Home.py", title="Home", default=True),
    st.Page("pages/1_Data.py", title="Data"),
    st.Page("pages/2_Model.py", title="Model"),
    st.Page("pages/3_Segments.py", title="Segments"),
    st.Page("pages/4_Cold_start_and_long_tail.py", title="Cold start and long tail"),
    st.Page("pages/5_Explain_a_user.py", title="Explain a user"),
    st.Page("pages/6_What_if.py", title="What if"),
]
navigation = st.navigation(PAGES)  # first: until it runs, the sidebar lists the pages/ folder (with an "app" entry)
state.start_warm_up()  # once per process, in a thread: shap's imports and compilation hold no page
ws = state.workspace()
state.restore_from_url(ws)  # a reload keeps the dataset, model and user named in the URL
state.show_url_notes()  # ... and says when one of them is gone
state.keep_shared_widgets()  # the user picked on one page is the user on the next
state.preload_session_model(ws)  # in the background: the diagnostics and explain pages find it loaded
try:
    navigation.run()
finally:
    state.remember_in_url()
