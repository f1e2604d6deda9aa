"""Versioned text templates: the words the value model reads about a user, their history and an item.

Three templates turn canonical data (see `uvp_core.data.contract`) into plain text:

* **profile** - the user's attributes in words, one ``name value`` phrase per attribute, joined by
  ``"; "``, e.g. ``"age band 25-34; region North; membership tier premium; member since 2024-05"``.
  Column names are lower-cased with ``_``/``-`` turned into spaces; dates are shown as ``YYYY-MM``;
  missing values are left out. No attributes at all reads ``"no profile information"``.
* **item** - the candidate item: title (or ``"item <id>"`` when the item has no title or is absent from
  the items table), then ``category: ...``, ``price 12.99 (upper-middle band)``, the other attributes as
  ``name: value``, and last ``description: ...``, joined by ``"; "``. The description comes last so that
  the encoder's 128-token limit cuts the least important words.
* **history event** - one past event of the user, most recent first, e.g.
  ``"purchased Blue Ceramic Mug (Kitchen), 3 days before"`` or
  ``"rated 4 of 5: Toy Story (1995), 2 weeks before"``.

How the model reads a history event: the words shown for a history event are for the analyst; what
the encoder reads for it is the **item text** of the event's item (encoded once per item and cached).
The event's kind (event type, or rating value) and its recency enter the model as learned features
(a kind embedding and recency inputs), not as words. This keeps encoding cost proportional to
items + distinct profiles, not to events.

Text is rendered verbatim: no HTML unescaping or tag stripping ("<b>Mug</b> &amp; co" stays as is);
runs of whitespace (including newlines) collapse to one space. Long values are cut at a word
boundary and end with an ellipsis ("…"): titles at 150 characters, attribute values at 80,
descriptions at 300, whole item texts at 1000 and profiles at 600 characters.

Change any rule here -> bump TEMPLATE_VERSION (models record it and the rules' text).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

TEMPLATE_VERSION = "uvp-text-1"

NO_PROFILE = "no profile information"
SEPARATOR = "; "
ELLIPSIS = "…"
MAX_TITLE_CHARS = 150
MAX_VALUE_CHARS = 80
MAX_DESCRIPTION_CHARS = 300
MAX_ITEM_CHARS = 1000
MAX_PROFILE_CHARS = 600

# Item columns with a fixed place in the item template; any other column is an "other attribute".
ITEM_FIXED_FIELDS: tuple[str, ...] = ("item_id", "title", "category", "price", "description")
PRICE_BANDS: tuple[str, ...] = ("low", "lower-middle", "upper-middle", "high")
EVENT_VERBS: dict[str, str] = {
    "view": "viewed",
    "click": "clicked",
    "cart": "added to cart",
    "purchase": "purchased",
    "rating": "rated",
    "review": "reviewed",
}

TEMPLATE_RULES: dict[str, str] = {
    "profile": "'<attribute name> <value>' per user attribute (column name lower-cased, _ and - as spaces; "
    "dates as YYYY-MM; missing values skipped), joined by '; '; none -> 'no profile information'; "
    f"values cut at {MAX_VALUE_CHARS} chars, whole text at {MAX_PROFILE_CHARS}.",
    "item": "'<title>' (or 'item <item_id>'); 'category: <category>'; 'price <price> (<band> band)' with bands "
    "low/lower-middle/upper-middle/high at the training catalogue's price quartiles; '<attribute>: <value>' "
    "per other item column; 'description: <description>' last; joined by '; '. Title cut at "
    f"{MAX_TITLE_CHARS} chars, values at {MAX_VALUE_CHARS}, description at {MAX_DESCRIPTION_CHARS}, "
    f"whole text at {MAX_ITEM_CHARS}.",
    "history_event": "'<verb> <title> (<category>), <time before>' for typed events (verbs: "
    + ", ".join(f"{k}->{v}" for k, v in EVENT_VERBS.items())
    + "), 'rated <r> of <max>: <title>, <time before>' for rated events; most recent first, at most K. "
    "Display only: the encoder reads the event's item text; kind and recency are learned features.",
    "rendering": "Verbatim text, no HTML processing; whitespace runs collapse to one space; cuts end with '…'.",
}


@dataclass(frozen=True)
class TemplateContext:
    """Dataset-derived settings the templates need; stored with a model so rendering is reproducible."""

    price_edges: tuple[float, ...] = ()  # 3 quartile edges of catalogue prices -> 4 bands; () = no bands
    rating_max: float | None = None  # top of the rating scale, for "rated 4 of 5"
    history_k: int = 20  # how many recent events the history shows


@dataclass(frozen=True)
class PairTexts:
    """What the model reads for one (user, item, time): profile, history lines and item text."""

    profile: str
    history: tuple[str, ...]
    item: str


# --- small formatting helpers -----------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT, pd.NA and empty/whitespace strings."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.floating) and np.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return False


def clean(text: str) -> str:
    """Collapse whitespace runs to one space and strip; nothing else (HTML stays verbatim)."""
    return re.sub(r"\s+", " ", text).strip()


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters at a word boundary, ending with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + ELLIPSIS


def format_number(value: float) -> str:
    """A number as a person writes it: 4 -> '4', 3.5 -> '3.5', 12.999 -> '13'."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def format_value(value: Any) -> str:
    """One attribute value in words: dates as YYYY-MM, booleans yes/no, numbers plain, text verbatim."""
    if isinstance(value, pd.Timestamp | datetime | np.datetime64):
        return pd.Timestamp(value).strftime("%Y-%m")
    if isinstance(value, date):
        return value.strftime("%Y-%m")
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format_number(float(value))
    return truncate(clean(str(value)), MAX_VALUE_CHARS)


def attribute_name(column: str) -> str:
    """A column name in words: 'membership_tier' -> 'membership tier'."""
    return clean(re.sub(r"[_\-]+", " ", str(column))).lower()


def price_band(price: float, edges: Sequence[float]) -> str | None:
    """The band name of a price given 3 quartile edges, or None without edges."""
    if len(edges) != len(PRICE_BANDS) - 1:
        return None
    return PRICE_BANDS[int(np.searchsorted(np.asarray(edges, dtype=float), price, side="right"))]


def describe_gap(delta: pd.Timedelta) -> str:
    """A time gap in words: '3 days before', '2 weeks before', 'moments before'."""
    seconds = max(0.0, delta.total_seconds())
    days = seconds / 86400.0
    if seconds < 60:
        return "moments before"
    if seconds < 3600:
        n, unit = int(seconds // 60), "minute"
    elif seconds < 86400:
        n, unit = int(seconds // 3600), "hour"
    elif days < 14:
        n, unit = int(days), "day"
    elif days < 56:
        n, unit = int(days // 7), "week"
    elif days < 730:
        n, unit = int(days // 30.44), "month"
    else:
        n, unit = int(days // 365.25), "year"
    return f"{n} {unit}{'' if n == 1 else 's'} before"


# --- the three templates ----------------------------------------------------------------------


def render_profile(attributes: Mapping[str, Any]) -> str:
    """The profile template: user attributes in words, joined by '; '."""
    parts = [
        f"{attribute_name(name)} {format_value(value)}"
        for name, value in attributes.items()
        if name != "user_id" and not is_missing(value)
    ]
    return truncate(SEPARATOR.join(parts), MAX_PROFILE_CHARS) if parts else NO_PROFILE


def item_label(fields: Mapping[str, Any], item_id: str) -> str:
    """The item's short name: its title, or 'item <id>'."""
    title = fields.get("title")
    return truncate(clean(str(title)), MAX_TITLE_CHARS) if not is_missing(title) else f"item {item_id}"


def render_item(fields: Mapping[str, Any], item_id: str, context: TemplateContext | None = None) -> str:
    """The item template: title, category, price band, other attributes, description."""
    context = context or TemplateContext()
    parts = [item_label(fields, item_id)]
    category = fields.get("category")
    if not is_missing(category):
        parts.append(f"category: {format_value(category)}")
    price = fields.get("price")
    if not is_missing(price):
        try:
            amount = float(price)
        except (TypeError, ValueError):
            parts.append(f"price {format_value(price)}")
        else:
            band = price_band(amount, context.price_edges)
            parts.append(f"price {amount:.2f}" + (f" ({band} band)" if band else ""))
    for name, value in fields.items():
        if name not in ITEM_FIXED_FIELDS and not is_missing(value):
            parts.append(f"{attribute_name(name)}: {format_value(value)}")
    description = fields.get("description")
    if not is_missing(description):
        parts.append(f"description: {truncate(clean(str(description)), MAX_DESCRIPTION_CHARS)}")
    return truncate(SEPARATOR.join(parts), MAX_ITEM_CHARS)


def render_history_event(
    item_fields: Mapping[str, Any],
    item_id: str,
    *,
    when: pd.Timestamp,
    now: pd.Timestamp | None,
    event_type: str | None = None,
    rating: float | None = None,
    label: int | None = None,
    context: TemplateContext | None = None,
) -> str:
    """One history event in words (display only; the encoder reads the item's text)."""
    context = context or TemplateContext()
    title = item_label(item_fields, item_id)
    when_text = describe_gap(now - when) if now is not None else f"on {when:%Y-%m-%d}"
    if rating is not None and not is_missing(rating):
        scale = f" of {format_number(context.rating_max)}" if context.rating_max is not None else ""
        return f"rated {format_number(rating)}{scale}: {title}, {when_text}"
    category = item_fields.get("category")
    what = title + (f" ({format_value(category)})" if not is_missing(category) else "")
    if event_type is not None and not is_missing(event_type):
        verb = EVENT_VERBS.get(str(event_type), str(event_type))
    else:
        verb = "interacted with"
    outcome = " (outcome 1)" if label is not None and not is_missing(label) and int(label) == 1 else ""
    return f"{verb} {what}{outcome}, {when_text}"


# --- rendering from a Dataset -----------------------------------------------------------------


def row_fields(frame: pd.DataFrame | None, key: str, value: str, columns: Sequence[str] | None = None) -> dict:
    """The first row of `frame` whose `key` column equals `value`, as a dict (empty if absent)."""
    if frame is None or key not in frame.columns:
        return {}
    match = frame.loc[frame[key] == value]
    if match.empty:
        return {}
    return _fields(match.iloc[0].to_dict(), key, columns)


def fields_by_id(frame: pd.DataFrame | None, key: str, ids: Collection[str], columns: Sequence[str]) -> dict[str, dict]:
    """id -> row_fields of its first row, for the wanted ids, in one pass over the frame (absent ids are left out)."""
    if frame is None or key not in frame.columns:
        return {}
    rows = frame.loc[frame[key].isin(set(ids))].drop_duplicates(key, keep="first")
    records = (rows.iloc[position].to_dict() for position in range(len(rows)))
    return {str(record[key]): _fields(record, key, columns) for record in records}


def _fields(record: dict, key: str, columns: Sequence[str] | None) -> dict:
    """A row's fields: the chosen columns (all when None), without the id column."""
    fields = {c: record[c] for c in columns if c in record} if columns is not None else dict(record)
    fields.pop(key, None)
    return fields


def history_frame(events: pd.DataFrame, user_id: str, time: pd.Timestamp | None, k: int) -> pd.DataFrame:
    """The user's last `k` events strictly before `time` (all when None), most recent first."""
    mine = events.loc[events["user_id"] == user_id]
    if time is not None:
        mine = mine.loc[mine["timestamp"] < time]
    return mine.sort_values("timestamp", kind="stable").tail(k).iloc[::-1]


def render_pair_texts(
    dataset: Any,
    user_id: str,
    item_id: str,
    time: pd.Timestamp | None = None,
    *,
    context: TemplateContext | None = None,
    user_columns: Sequence[str] | None = None,
    item_columns: Sequence[str] | None = None,
) -> PairTexts:
    """The rendered texts for one (user, item, time) from a Dataset: what the model reads."""
    context = context or TemplateContext()
    events = dataset.events
    profile = render_profile(row_fields(dataset.users, "user_id", user_id, user_columns))
    item = render_item(row_fields(dataset.items, "item_id", item_id, item_columns), item_id, context)
    now = time if time is not None else (events["timestamp"].max() if len(events) else None)
    lines = []
    for event in history_frame(events, user_id, time, context.history_k).to_dict("records"):
        fields = row_fields(dataset.items, "item_id", event["item_id"], item_columns)
        lines.append(
            render_history_event(
                fields,
                event["item_id"],
                when=event["timestamp"],
                now=now,
                event_type=event.get("event_type"),
                rating=event.get("rating"),
                label=event.get("label"),
                context=context,
            )
        )
    return PairTexts(profile=profile, history=tuple(lines), item=item)


def field_records(frame: pd.DataFrame | None, ids: Sequence[str], key: str, columns: Sequence[str] | None = None) -> list[dict]:
    """Each id's first row of `frame` as a dict of `columns` (all but `key` when None; {} for ids absent from the frame)."""
    if frame is None or not len(frame):
        return [{} for _ in ids]
    keep = [c for c in (columns if columns is not None else frame.columns) if c in frame.columns and c != key]
    table = frame.drop_duplicates(key, keep="first").set_index(key)[keep]
    wanted = table.index.intersection(pd.Index(ids))
    lookup = table.loc[wanted].to_dict("index")
    return [lookup.get(i, {}) for i in ids]


def render_items(
    items: pd.DataFrame | None,
    item_ids: Sequence[str],
    context: TemplateContext | None = None,
    columns: Sequence[str] | None = None,
) -> list[str]:
    """Item texts for many ids at once (ids absent from `items` get 'item <id>')."""
    context = context or TemplateContext()
    records = field_records(items, item_ids, "item_id", columns)
    return [render_item(fields, i, context) for fields, i in zip(records, item_ids, strict=True)]


def render_profiles(
    users: pd.DataFrame | None, user_ids: Sequence[str], columns: Sequence[str] | None = None
) -> list[str]:
    """Profile texts for many users at once (users absent from `users` get 'no profile information')."""
    return [render_profile(fields) for fields in field_records(users, user_ids, "user_id", columns)]
