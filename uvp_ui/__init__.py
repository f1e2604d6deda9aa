"""The dashboard's Streamlit layer: `state` (the one place for caching and session-state keys) and `widgets`
(drawing helpers shared by pages). Pages and app.py call these and uvp_core; uvp_core never imports Streamlit."""
