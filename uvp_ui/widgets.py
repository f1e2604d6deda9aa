"""Drawing helpers shared by the pages: tables at four decimals, downloads, validation reports, headline counts
and the explanation radios. Layout only: the caches and session-state keys they use live in uvp_ui.state."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from uvp_core import export, summary
from uvp_core.text.markdown import plain_markdown
from uvp_ui.state import EXPLAIN_BACKGROUND, EXPLAIN_HISTORY, EXPLAIN_ITEM_BACKGROUND, HISTORY_UNIT_LABELS


def validation_table(frame: pd.DataFrame) -> None:
    """Draw a validation report (ValidationReport.to_frame): the message first, every column explained."""
    st.dataframe(
        frame, hide_index=True,
        column_order=["severity", "message", "file", "column", "rows", "n_rows", "example", "rule"],
        column_config={
            "message": st.column_config.TextColumn("message", width="large"),
            "rows": st.column_config.TextColumn("data rows", help="1-based data row numbers (the header row is not counted); the first 10"),
            "n_rows": st.column_config.NumberColumn("rows in all", help="How many rows break the rule"),
            "example": st.column_config.TextColumn("example", help="One offending value, as text"),
            "rule": st.column_config.TextColumn("rule", help="The rule's id, for scripts and support"),
        },
    )  # fmt: skip
    with st.expander("The messages in full", expanded=len(frame) <= 5):  # a table cell cuts a long message off
        shown = frame.head(50)
        st.text("\n".join(f"{row.severity} · {row.file}" + (f", column {row.column}" if row.column else "") +
                          (f", rows {row.rows}" if row.rows else "") + f" ({row.rule}): {row.message}" for row in shown.itertuples()) +
                (f"\n… and {len(frame) - len(shown):,} more in the table above" if len(frame) > len(shown) else ""))  # fmt: skip


def overview_metrics(overview: summary.Overview, *, density: bool = False) -> None:
    """The dataset's headline counts in one row (Home and Data pages): events, users, items, [density]; labels below."""
    cols = st.columns(4 if density else 3)
    cols[0].metric("Events", f"{overview.n_events:,}")
    profiled = f"; the users table profiles {overview.n_profiled_users:,}" if overview.n_profiled_users else ""
    cols[1].metric("Users", f"{overview.n_users:,}", help=f"Users with at least one event{profiled}.")
    catalogue = f"; the items table lists {overview.n_catalogue_items:,}" if overview.n_catalogue_items else ""
    cols[2].metric("Items", f"{overview.n_items:,}", help=f"Items with at least one event{catalogue}.")
    if density:
        cols[3].metric("Density", f"{overview.density:.3%}", help="Distinct (user, item) pairs with an event / (users × items).")
    st.caption(f"Labels: {plain_markdown(', '.join(overview.label_roles))}")  # text, not a metric: it is never cut short
    if tables := summary.table_counts_note(overview):  # in view, not only in the tiles' help: 593 items here, 600 in the catalogue
        st.caption(tables)


SIGNED_COLUMNS = ("contribution", "difference", "delta")  # explanation tables' changes, shown with their sign


def four_decimals(frame: pd.DataFrame) -> dict:
    """st.dataframe column_config showing a table's float columns to 4 decimals, as the metrics and charts do
    (floating-point noise such as 1e-17 left by exact Shapley arithmetic reads 0.0000, not 0.00000000000000001)."""
    return {c: st.column_config.NumberColumn(format="%+.4f" if c in SIGNED_COLUMNS else "%.4f")
            for c in frame.columns if pd.api.types.is_float_dtype(frame[c])}  # fmt: skip


def table(frame: pd.DataFrame, where=st, **kwargs) -> None:
    """st.dataframe (or a column's) without the index, float columns at 4 decimals like the tiles (four_decimals)."""
    where.dataframe(frame, hide_index=True, column_config=four_decimals(frame), **kwargs)


def metric_table(values: Mapping[str, Any], meanings: Mapping[str, str], where=st) -> None:
    """A metric · value · meaning table: counts as whole numbers, other numbers at 4 decimals (in one float column the
    counts read "183.0000")."""
    def shown(value: Any) -> str:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
            return str(value)
        if isinstance(value, int | np.integer):
            return f"{int(value):,}"
        return "n/a" if not np.isfinite(value) else f"{float(value):.4f}"

    rows = [{"metric": name, "value": shown(value), "meaning": meanings.get(name, "")} for name, value in values.items()]
    table(pd.DataFrame(rows, columns=["metric", "value", "meaning"]), where=where)


def csv_download(table: pd.DataFrame, name: str, key: str) -> None:
    """A spreadsheet-safe CSV download button for a table (cells a spreadsheet would run as formulas neutralised)."""
    st.download_button(f"Download CSV ({name})", export.to_csv_bytes(table), file_name=name, mime="text/csv", key=key)


def json_download(document: object, name: str, key: str) -> None:
    """A JSON download button for a document (text from the data stays literal: JSON strings are never run)."""
    st.download_button(f"Download JSON ({name})", json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8"),
                       file_name=name, mime="application/json", key=key)  # fmt: skip


def _choice(label: str, options: dict[str, str], key: str, help: str) -> str:
    """A horizontal radio over options (value -> what it reads), kept under `key`; the first is the default."""
    return st.radio(label, list(options), format_func=options.get, horizontal=True, key=key, help=help)


def background_picker() -> str:
    """The masking background the analyst picked for explanations ("mode" by default); draws a radio."""
    from uvp_core.explain.features import BACKGROUNDS

    return _choice("A masked user attribute takes", BACKGROUNDS, EXPLAIN_BACKGROUND,
                   "The most common value is fastest, but then a user who has it gets no credit for it. A sample of "
                   "users credits every value against the population (interventional SHAP), at up to 8 times the cost.")  # fmt: skip


def item_background_picker() -> str:
    """What a masked item field takes in explanations ("mode" by default); draws a radio."""
    from uvp_core.explain.features import ITEM_BACKGROUNDS

    return _choice("A masked item field takes", ITEM_BACKGROUNDS, EXPLAIN_ITEM_BACKGROUND,
                   "The most common value: a category masked to the most common one can switch on what that category "
                   "means to this user (say, their history in it), so the category and that history get credit of "
                   "opposite signs. Left out: the item without the field (numbers such as a price still take the median).")  # fmt: skip


def history_unit_picker() -> str:
    """How the explanation counts the history ("item" by default); draws a radio."""
    return _choice("History features", HISTORY_UNIT_LABELS, EXPLAIN_HISTORY,
                   "One per item: a purchase with the view, click and cart before it is one feature, credited as one "
                   "interaction. One per event: each is credited on its own, so what one interaction tells the model "
                   "is split between its events.")  # fmt: skip
