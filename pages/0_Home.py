"""UVP home page: what the dashboard does, and the dataset this session works on (the sample at first)."""

from __future__ import annotations

import streamlit as st

from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.title("UVP · User Value Predictor")
st.write(
    "Predict how much a user will value an item — a rating, a click, a purchase — and see why. "
    "Upload behaviour data or use the bundled sample, train a BERT-family value model, inspect "
    "predictions by segment, read cold-start and long-tail diagnostics, and explain single users."
)

ws = state.workspace()
root = str(ws.root.resolve())
dataset_id = state.active_dataset_id()
record = ws.get_dataset_record(dataset_id)
overview = state.dataset_summaries(root, dataset_id)["overview"]

st.subheader("Active dataset")
st.text(f"{record.name}  ·  id {record.id}  ·  stored {record.created_at}")
widgets.overview_metrics(overview)

st.subheader("Where to go next")
st.page_link("pages/1_Data.py", label="Data: upload, map columns, validate, summarise")
st.page_link("pages/2_Model.py", label="Model: train in the background, load, the registry")
st.page_link("pages/3_Segments.py", label="Segments: quality by attribute and cohort, compare models")
st.page_link("pages/4_Cold_start_and_long_tail.py", label="Cold start & long tail: quality by how much history a user or item has, and by item popularity")
st.page_link("pages/5_Explain_a_user.py", label="Explain a user: SHAP explanations")
st.page_link("pages/6_What_if.py", label="What-if: edit a user or a cohort and re-predict")
st.caption(f"Workspace: {state.plain_markdown(str(ws.root.resolve()))} · models stored: {len(ws.list_models())}")
