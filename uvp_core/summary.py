"""Dataset summaries for the Data page: counts, sparsity, activity over time, labels, long tail."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from uvp_core.data.contract import EVENT_TYPE_ORDER, Dataset

HISTORY_BUCKETS: tuple[tuple[int, int], ...] = (
    (1, 1), (2, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, 10**12),
)


@dataclass(frozen=True)
class Overview:
    """Headline counts of a dataset."""

    n_events: int
    n_users: int
    n_items: int
    density: float  # distinct (user, item) pairs / (users × items)
    first_event: pd.Timestamp
    last_event: pd.Timestamp
    label_roles: tuple[str, ...]
    n_catalogue_items: int  # rows of the items table (0 when absent)
    n_profiled_users: int  # rows of the users table (0 when absent)


def overview(dataset: Dataset) -> Overview:
    """Counts, density and time range of a dataset."""
    events = dataset.events
    n_users = int(events["user_id"].nunique())
    n_items = int(events["item_id"].nunique())
    pairs = len(events[["user_id", "item_id"]].drop_duplicates())
    return Overview(
        n_events=len(events),
        n_users=n_users,
        n_items=n_items,
        density=pairs / (n_users * n_items) if n_users and n_items else 0.0,
        first_event=events["timestamp"].min(),
        last_event=events["timestamp"].max(),
        label_roles=dataset.label_roles,
        n_catalogue_items=0 if dataset.items is None else len(dataset.items),
        n_profiled_users=0 if dataset.users is None else len(dataset.users),
    )


def table_counts_note(overview: Overview) -> str:
    """Where the items or users tables list other counts than the events hold ("" when they agree or are absent)."""
    parts = [f"the {what} table lists {listed:,}" for what, listed, seen in
             (("items", overview.n_catalogue_items, overview.n_items), ("users", overview.n_profiled_users, overview.n_users))
             if listed and listed != seen]  # fmt: skip
    return f"Users and items are counted by their events; {' and '.join(parts)}." if parts else ""


def time_grain(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """A readable period for a time span: day up to ~4 months, week up to ~3 years, else month."""
    days = (last - first).days
    return "D" if days <= 120 else "W" if days <= 1100 else "M"


def events_over_time(events: pd.DataFrame) -> pd.DataFrame:
    """Event counts per period (and per event type when present): columns period, series, events."""
    stamps = events["timestamp"]
    grain = time_grain(stamps.min(), stamps.max())
    period = stamps.dt.tz_convert(None).dt.to_period(grain).dt.start_time
    series = events["event_type"] if "event_type" in events.columns else pd.Series("events", index=events.index)
    counts = (
        pd.DataFrame({"period": period, "series": series.astype(str)})
        .groupby(["period", "series"], observed=True)
        .size()
        .rename("events")
        .reset_index()
    )
    return counts.sort_values(["period", "series"], ignore_index=True)


def label_distribution(events: pd.DataFrame, role: str) -> pd.DataFrame:
    """How often each label value occurs: columns value, events, share (event types in funnel order)."""
    if role not in events.columns:
        raise KeyError(f"The events have no '{role}' column")
    values = events[role].dropna()
    counts = values.value_counts().rename("events").rename_axis("value").reset_index()
    if role == "event_type":
        order = {name: i for i, name in enumerate(EVENT_TYPE_ORDER)}
        counts = counts.sort_values("value", key=lambda s: s.map(order).fillna(len(order)), ignore_index=True)
    else:
        counts = counts.sort_values("value", ignore_index=True)
    counts["share"] = counts["events"] / max(len(values), 1)
    return counts


def item_popularity(events: pd.DataFrame) -> pd.DataFrame:
    """Items ranked by event count: columns rank, item_id, events, cumulative_share, item_share."""
    counts = events["item_id"].value_counts().rename("events").rename_axis("item_id").reset_index()
    counts = counts.sort_values(["events", "item_id"], ascending=[False, True], ignore_index=True)
    counts.insert(0, "rank", np.arange(1, len(counts) + 1))
    counts["cumulative_share"] = counts["events"].cumsum() / counts["events"].sum()
    counts["item_share"] = counts["rank"] / len(counts)
    return counts


def bucket_label(low: int, high: int) -> str:
    """A bucket's display label, e.g. '2–3', '51+'."""
    if high >= 10**12:
        return f"{low}+"
    return str(low) if low == high else f"{low}–{high}"


def history_length_distribution(events: pd.DataFrame) -> pd.DataFrame:
    """Users per history-length bucket: columns history_length, users, share (buckets in order)."""
    per_user = events.groupby("user_id", observed=True).size()
    labels = [bucket_label(lo, hi) for lo, hi in HISTORY_BUCKETS]
    edges = [lo - 0.5 for lo, _ in HISTORY_BUCKETS] + [float("inf")]
    binned = pd.cut(per_user, bins=edges, labels=labels)
    counts = binned.value_counts().reindex(labels, fill_value=0)
    out = pd.DataFrame({"history_length": labels, "users": counts.to_numpy()})
    out["share"] = out["users"] / max(len(per_user), 1)
    return out


def head_share(popularity: pd.DataFrame, item_fraction: float = 0.2) -> float:
    """Share of events that go to the most popular `item_fraction` of items."""
    n_head = max(1, int(round(len(popularity) * item_fraction)))
    return float(popularity["events"].iloc[:n_head].sum() / popularity["events"].sum())


def preview(frame: pd.DataFrame, rows: int = 200) -> pd.DataFrame:
    """The first rows of a table for display: empty text cells blank (not "None"), numbers as they are."""
    head = frame.head(rows).copy()
    for column in head.columns:
        if not pd.api.types.is_numeric_dtype(head[column]) and not pd.api.types.is_datetime64_any_dtype(head[column]):
            head[column] = head[column].astype(object).where(head[column].notna(), "")
    return head
