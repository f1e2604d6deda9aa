"""Data page: pick the sample, a stored dataset or an upload; map columns; validate; summarise."""

from __future__ import annotations

import dataclasses

import streamlit as st

from uvp_core import figures, summary
from uvp_core.data import ENCODINGS, layout_name, parse_map_args
from uvp_core.data.contract import ValidationReport
from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.set_page_config(page_title="UVP · Data", layout="wide")
st.title("Data")

SOURCES = ("Bundled sample", "Stored dataset", "Upload files")
AUTO_ENCODING = "UTF-8 (default)"
ws = state.workspace()
if state.DATA_SOURCE not in st.session_state:  # a new visit (or a reload): start from the active dataset
    st.session_state[state.DATA_SOURCE] = SOURCES[0] if state.active_is_sample() else SOURCES[1]
source = st.radio("Dataset source", SOURCES, horizontal=True, key=state.DATA_SOURCE)
root = str(ws.root.resolve())

if source == "Bundled sample":
    state.set_active_dataset(state.sample_dataset_id())

elif source == "Stored dataset":
    records = ws.list_datasets()
    if not records:
        st.info("No datasets stored yet. Upload one, or use the bundled sample.")
    else:
        labels = {r.id: f"{r.name} · {r.n_events:,} events · {r.created_at} · {r.id}" for r in records}
        current = st.session_state.get(state.ACTIVE_DATASET)
        ids = list(labels)
        chosen = st.selectbox(
            "Stored dataset", ids, index=ids.index(current) if current in ids else 0, format_func=labels.get
        )
        state.set_active_dataset(chosen)

else:
    st.caption(
        "Upload the events file (required) and optionally items and users files — CSV, Parquet or "
        "JSON Lines, gzip allowed — or a MovieLens, Amazon-reviews or transaction-log export. "
        "Files named events.\\*, items.\\* and users.\\* are those tables. A file with another name is "
        "recognised by its columns: user ID, item ID and timestamp make the events table; an item ID without a "
        "user ID, the items table; a user ID without an item ID, the users table. A file that fits none, or two "
        "files for one table, are refused: rename the file or map its columns below."
    )
    uploads = st.file_uploader("Files", accept_multiple_files=True, key="uvp.uploader")
    encoding_choice = st.selectbox(
        "Encoding",
        (AUTO_ENCODING, *ENCODINGS),
        key="uvp.upload_encoding",
        accept_new_options=True,
        help="The text encoding of CSV and JSON Lines files. Keep UTF-8 unless the report says the files are in "
        "another encoding; any encoding name Python knows can be typed in.",
    )
    mapping_text = st.text_area(
        "Column mapping overrides (one `role=column` or `table.role=column` per line)",
        key=state.UPLOAD_MAPPING,
        placeholder="item_id=sku\nitems.title=product_name",
    )
    if uploads:
        try:
            mapping = parse_map_args([line.strip() for line in mapping_text.splitlines() if line.strip()])
        except ValueError as exc:
            st.error(f"Mapping: {state.plain_markdown(str(exc))}")
            st.stop()
        files, replaced = state.latest_uploads(uploads)
        if replaced:
            st.warning(
                "These files were uploaded more than once: the latest copy of each is used and the earlier "
                "ones were released from memory (remove their entries above with ×)."
            )
            st.text(", ".join(replaced))
        encoding = None if encoding_choice == AUTO_ENCODING else encoding_choice.strip()
        result = state.validate_uploads(files, mapping, encoding)
        st.subheader("Column mapping")
        st.dataframe(
            [{"table": t, "role": r, "column": c} for t, roles in result.mapping.items() for r, c in roles.items()],
            hide_index=True,
        )
        st.caption(f"Read as {layout_name(result.layout)}." + (f" Not used (this layout has no table for them): "
                   f"{state.plain_markdown(', '.join(result.skipped))}." if result.skipped else ""))  # fmt: skip
        st.subheader("Validation report")
        report = result.report
        if report.issues:
            widgets.validation_table(report.to_frame())
        if not report.ok:
            st.error(f"{len(report.errors)} error(s): nothing was stored. Fix the files or the mapping and upload again.")
            st.stop()
        st.success(f"Valid, with {len(report.warnings)} warning(s).")
        stored = ws.find_dataset(result.dataset.fingerprint())  # the same content saved before (by anyone)
        if stored is None:
            upload_name = st.text_input("Dataset name", value=result.dataset.name, key="uvp.upload_name")
            if st.button("Save to workspace", type="primary"):
                saved = ws.save_dataset(dataclasses.replace(result.dataset, name=upload_name.strip() or result.dataset.name))
                st.session_state[state.JUST_SAVED] = saved.id
                st.rerun()  # redrawn without the name box and the button
        if stored is None:
            st.info("Save the upload to see its summary, train a model on it and explain it.")
            st.stop()  # the summary below would be of another dataset
        state.set_active_dataset(stored.id)
        how = "Stored as" if st.session_state.get(state.JUST_SAVED) == stored.id else "These files are already stored as"
        st.success(f"{how} dataset {stored.id} ({state.plain_markdown(stored.name)}): the active dataset.")
    elif st.session_state.get(state.ACTIVE_DATASET) is None:
        st.stop()

dataset_id = st.session_state.get(state.ACTIVE_DATASET)
if dataset_id is None:
    st.stop()

dataset = state.load_dataset(root, dataset_id)
parts = state.dataset_summaries(root, dataset_id)
ov = parts["overview"]
st.header(f"Summary · {state.plain_markdown(dataset.name)}")
widgets.overview_metrics(ov, density=True)
st.caption(f"From {ov.first_event:%Y-%m-%d} to {ov.last_event:%Y-%m-%d} · dataset id {dataset_id}")
if dataset.warnings:
    with st.expander(f"{len(dataset.warnings)} validation warning(s)"):
        widgets.validation_table(ValidationReport(dataset.warnings).to_frame())

left, right = st.columns(2)
left.plotly_chart(figures.events_over_time(parts["over_time"]))
label_role = right.selectbox("Label", ov.label_roles) if len(ov.label_roles) > 1 else ov.label_roles[0]
right.plotly_chart(figures.label_distribution(parts["labels"][label_role], label_role))
left, right = st.columns(2)
left.plotly_chart(figures.popularity_curve(parts["popularity"]))
right.plotly_chart(figures.history_lengths(parts["history"]))

st.subheader("Preview")
tables = dataset.tables()
for tab, frame in zip(st.tabs(list(tables)), tables.values(), strict=True):
    tab.caption(f"{len(frame):,} rows · first 200 shown; text is shown as text")
    tab.dataframe(summary.preview(frame), hide_index=True)
