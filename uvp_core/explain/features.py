"""Interpretable features of one (user, item) prediction and how each one is masked.

A feature is something an analyst can name: one user attribute, one item of the history in the model's
input with its events ("viewed, added to cart and purchased Blue Ceramic Mug, 3 days before"; or, with
history="event", each event on its own), one field of the candidate item, or the collaborative part
(the user's ID row, the item's ID row with its popularity).

Masking a feature means the model really reads the input without it, through `ValueModel.score_inputs`
(texts are re-rendered and re-encoded; never a zeroed embedding):

- user attribute  -> the background value: the dataset's most common value of that attribute
                     (free-form attributes, with more distinct values than half the rows, are left
                     out of the profile text instead); or, with a population background, each of a
                     seeded sample of users' values in turn, the prediction being their average
                     (interventional SHAP over that sample: an attribute equal to the most common
                     value is then credited for how it differs from the population);
- history item    -> its events are removed from the history (they leave the pooled set and the
                     history length drops by their number). One feature per item, not per event, by
                     default: a purchase comes with the view, click and cart before it, and Shapley
                     would split what the model reads from that one interaction between its events;
- history event   -> (history="event") the event is removed from the history;
- earlier events  -> (users with more events than the model reads one by one) the count of the others (older, or
                     of a late kind such as views: FeatureSpace.late_kinds)
                     leaves the history length (and, for a binary model, the count of the outcome on the
                     candidate leaves that feature: PairInputs.repeats); without this feature that count would
                     sit in the base value, which would then differ between users;
- item field      -> the background value: the most common value for categorical fields, the median
                     for numeric ones (price), left out of the text for free-form fields (title,
                     description); or (item_fields="absent") every categorical field left out;
- user ID         -> user_id None: the model's "unknown user" ID row;
- item ID         -> item_id None: the "unknown item" ID row, and with it the training popularity
                     (unknown items count 0).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from uvp_core.model import HistoryEvent, PairInputs, read_positions
from uvp_core.text.templates import EVENT_VERBS, attribute_name, describe_gap, format_value, is_missing, item_label

GROUPS = ("profile", "history", "item", "collaborative")
GROUP_LABELS = {"profile": "user profile", "history": "history", "item": "item text", "collaborative": "collaborative (IDs)"}
FREE_TEXT_FIELDS = ("title", "description")  # always left out of the text when masked
HISTORY_UNITS = ("item", "event")  # a history feature is one item with its events (default), or one event
ABSENT = None  # a background of None: the field is left out of the rendered text


@dataclass(frozen=True)
class Feature:
    """One interpretable input of a prediction."""

    name: str  # in the analyst's words, e.g. "membership tier = premium"
    group: str  # one of GROUPS
    kind: str  # "attribute" | "item_events" | "event" | "earlier" | "item_field" | "user_id" | "item_id"
    key: str | int  # attribute / field name, the history item's id, or the event's position in PairInputs.history
    value: str  # the data value shown to the analyst


POPULATION_SIZE = 8  # users in a population background (each explanation costs about this many times more)


@dataclass(frozen=True)
class Background:
    """What a masked attribute or item field is replaced by (None: left out of the text).

    profiles, when given, is a population sample: a masked attribute takes each sampled user's value
    in turn (profile is then unused) and the prediction is averaged over them.
    """

    profile: dict[str, Any] = field(default_factory=dict)
    item: dict[str, Any] = field(default_factory=dict)
    profiles: tuple[dict[str, Any], ...] = ()

    def rows(self) -> list[Background]:
        """One single-profile background per population row (or this one)."""
        return [Background(profile=p, item=self.item) for p in self.profiles] if self.profiles else [self]


def _typical(values: pd.Series) -> Any:
    """The median of a numeric column, the mode of a categorical one, None for free-form text."""
    values = values.dropna()
    if values.empty:
        return ABSENT
    if pd.api.types.is_bool_dtype(values):
        return values.mode().iloc[0]
    if pd.api.types.is_numeric_dtype(values):
        return float(values.median())
    if values.nunique() > max(1, len(values) // 2):
        return ABSENT
    counts = values.astype(str).value_counts()
    top = counts[counts == counts.max()].index.min()  # ties: alphabetical, so the choice is deterministic
    return values[values.astype(str) == top].iloc[0]


BACKGROUNDS = {
    "mode": "the most common value of each attribute",
    "population": f"a sample of {POPULATION_SIZE} users (slower)",
    "absent": "the attribute left out",
}
ITEM_BACKGROUNDS = {
    "mode": "the most common value (numbers: the median)",
    "absent": "the field left out (numbers: the median)",
}


def background_for(model, dataset, attributes: str = "mode", size: int = POPULATION_SIZE, seed: int = 0,
                   item_fields: str = "mode") -> Background:  # fmt: skip
    """The masking background of a dataset for a model's user and item columns (see the module doc).

    attributes="mode" (default) replaces a masked user attribute by its most common value; "absent"
    leaves it out of the profile text instead (then an attribute equal to the mode still gets credit);
    "population" takes the attributes of `size` users drawn from the users table (seeded), in turn.
    item_fields="mode" (default) replaces a masked item field by its most common value or median; "absent" leaves
    a categorical one out (titles and descriptions are always left out; numbers keep the median: a missing price
    is a rare input of its own, which took the credit on the sample). A category masked to the most common one
    can switch on what that category means to the user (their history in it), which "absent" does not.
    """
    if attributes not in BACKGROUNDS:
        raise ValueError(f"attributes must be one of {', '.join(BACKGROUNDS)}")
    if item_fields not in ITEM_BACKGROUNDS:
        raise ValueError(f"item_fields must be one of {', '.join(ITEM_BACKGROUNDS)}")
    users, items = dataset.users, dataset.items
    profile, profiles = {}, ()
    if users is not None:
        table = users.drop_duplicates("user_id")
        columns = [c for c in model.space_.user_columns if c in users.columns and c != "user_id"]
        for column in columns:
            profile[column] = _typical(table[column]) if attributes == "mode" else ABSENT
        if attributes == "population" and len(table):
            sample = table.sample(min(size, len(table)), random_state=seed)
            profiles = tuple({c: ABSENT if is_missing(row[c]) else row[c] for c in columns} for _, row in sample.iterrows())
    item = {}
    if items is not None:
        for column in model.space_.item_columns:
            if column in items.columns and column != "item_id":
                values = items.drop_duplicates("item_id")[column]
                numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
                left_out = column in FREE_TEXT_FIELDS or (item_fields == "absent" and not numeric)
                item[column] = ABSENT if left_out else _typical(values)
    return Background(profile=profile, item=item, profiles=profiles)


def uniform_sample_note(background: Background) -> str | None:
    """A note when every sampled user of a population background shares an attribute's value (92% of one country:
    eight draws are often all of it); there the sample masks that attribute as the most common value does."""
    if not background.profiles:
        return None
    first = background.profiles[0]
    same = {c: v for c, v in first.items() if v is not ABSENT and all(repr(p.get(c)) == repr(v) for p in background.profiles)}
    if not same:
        return None
    listed = ", ".join(f"{attribute_name(c)} = {format_value(v)}" for c, v in same.items())
    return (f"All {len(background.profiles)} sampled users have {listed}: against this sample a masked "
            f"{'attribute takes that value' if len(same) == 1 else 'attribute of these takes its value'}, as under the most "
            "common value, so a user with that value gets no credit for it.")  # fmt: skip


def event_label(event: HistoryEvent, fields: dict, now: pd.Timestamp | None) -> str:
    """A history event in words: 'purchased Blue Ceramic Mug, 3 days before'."""
    kind = str(event.kind)
    verb = EVENT_VERBS.get(kind, kind)
    when = describe_gap(pd.Timestamp(now) - pd.Timestamp(event.timestamp)) if now is not None else f"on {pd.Timestamp(event.timestamp):%Y-%m-%d}"
    return f"{verb} {item_label(fields, event.item_id)}, {when}"


def used_history(inputs: PairInputs, history_k: int, late: Collection[str] = ()) -> list[int]:
    """Positions (in inputs.history) of the events the model reads, oldest first: the most recent history_k, events
    of `late` kinds (the model's space_.late_kinds) only in the slots the others leave free (features.read_slots)."""
    order = sorted(range(len(inputs.history)), key=lambda j: pd.Timestamp(inputs.history[j].timestamp))
    return [order[p] for p in read_positions([inputs.history[j].kind for j in order], late, history_k)]


def item_events_label(events: Sequence[HistoryEvent], fields: dict, now: pd.Timestamp | None) -> str:
    """One history item's events in words: 'viewed, added to cart and purchased Blue Ceramic Mug, 3 days before'
    (its distinct kinds in time order; the time of its latest event)."""
    kinds = list(dict.fromkeys(str(e.kind) for e in events))
    verbs = [EVENT_VERBS.get(k, k) for k in kinds]
    joined = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + " and " + verbs[-1]
    latest = events[-1]
    when = describe_gap(pd.Timestamp(now) - pd.Timestamp(latest.timestamp)) if now is not None else f"on {pd.Timestamp(latest.timestamp):%Y-%m-%d}"
    return f"{joined} {item_label(fields, latest.item_id)}, {when}"


def _history_features(inputs: PairInputs, used: list[int], history: str) -> list[Feature]:
    """The history read, most recent first: one feature per item (history="item") or per event ("event")."""
    out = []
    if history == "event":
        for j in reversed(used):
            event = inputs.history[j]
            label = event_label(event, inputs.history_fields.get(event.item_id, {}), inputs.time)
            out.append(Feature(label, "history", "event", j, f"{event.item_id} · {event.kind} · {pd.Timestamp(event.timestamp):%Y-%m-%d %H:%M}"))
        return out
    by_item: dict[str, list[HistoryEvent]] = {}
    for j in reversed(used):  # most recent first: an item sits where its latest event is
        by_item.setdefault(inputs.history[j].item_id, []).append(inputs.history[j])
    for item_id, events in by_item.items():
        events = events[::-1]  # oldest first
        label = item_events_label(events, inputs.history_fields.get(item_id, {}), inputs.time)
        value = f"{item_id} · {' → '.join(str(e.kind) for e in events)} · {pd.Timestamp(events[-1].timestamp):%Y-%m-%d %H:%M}"
        out.append(Feature(label, "history", "item_events", item_id, value))
    return out


def pair_features(inputs: PairInputs, history_k: int, *, known_user: bool = True, known_item: bool = True,
                  history: str = "item", late: Collection[str] = (), repeat: Collection[str] = ()) -> list[Feature]:  # fmt: skip
    """The interpretable features of one pair: attributes, the history read (most recent first; one feature per
    item, or per event with history="event"; late: see used_history), item fields, IDs (an ID the model never
    saw in training is named so: it has no learned bias). repeat: the model's repeat kinds (FeatureSpace.repeat_kinds),
    whose events on the candidate among the earlier ones the "earlier events" feature names."""
    if history not in HISTORY_UNITS:
        raise ValueError(f"history must be one of {HISTORY_UNITS}, not {history!r}")
    out = [
        Feature(f"{attribute_name(k)} = {format_value(v)}", "profile", "attribute", k, format_value(v))
        for k, v in inputs.profile.items()
        if k != "user_id" and not is_missing(v)
    ]
    out.extend(_history_features(inputs, used_history(inputs, history_k, late), history))
    if inputs.n_earlier > 0:
        n = int(inputs.n_earlier)
        events = f"event{'' if n == 1 else 's'}"
        what = f"{n:,} {events} not read one by one (older ones, and {' and '.join(late)}s; " if late else f"{n:,} earlier {events} ("
        read = used_history(inputs, history_k, late)
        unread = replace(inputs, history=[e for j, e in enumerate(inputs.history) if j not in set(read)])
        again, total = (unread.repeats(repeat), inputs.repeats(repeat)) if repeat else (0, 0)
        also = f" ({total:,} with those read one by one)" if total > again else ""
        on_item = f"; {again:,} of them on this item{also}, and that number is read too" if again else ""
        out.append(Feature(f"{what}only their number is read: history length{on_item})", "history", "earlier", "n_earlier", str(n)))
    for k, v in inputs.item.items():
        if k != "item_id" and not is_missing(v):
            out.append(Feature(f"item {attribute_name(k)} = {_short(format_value(v))}", "item", "item_field", k, format_value(v)))
    if inputs.user_id is not None:
        about = "learned user bias" if known_user else "not seen in training: no learned bias"
        out.append(Feature(f"user ID {inputs.user_id} ({about})", "collaborative", "user_id", "user_id", str(inputs.user_id)))
    if inputs.item_id is not None:
        about = "learned item bias, popularity" if known_item else "not seen in training: no learned bias"
        out.append(Feature(f"item ID {inputs.item_id} ({about})", "collaborative", "item_id", "item_id", str(inputs.item_id)))
    return _unique_names(out)


def _unique_names(features: list[Feature]) -> list[Feature]:
    """Repeated names (two views of one item on one day) get ' (2)', ' (3)', ... so every name is a label."""
    seen: dict[str, int] = {}
    out = []
    for feature in features:
        seen[feature.name] = seen.get(feature.name, 0) + 1
        n = seen[feature.name]
        out.append(feature if n == 1 else Feature(f"{feature.name} ({n})", feature.group, feature.kind, feature.key, feature.value))
    return out


def _short(text: str, limit: int = 40) -> str:
    """Text cut to `limit` characters for a feature name."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def masked_inputs(inputs: PairInputs, features: Sequence[Feature], keep: np.ndarray, background: Background) -> PairInputs:
    """The inputs with every feature whose `keep` flag is False masked (see the module doc)."""
    keep = np.asarray(keep, dtype=bool)
    profile = dict(inputs.profile)
    item = dict(inputs.item)
    drop_events: set[int] = set()
    drop_items: set[str] = set()
    user_id, item_id, n_earlier = inputs.user_id, inputs.item_id, inputs.n_earlier
    reserve, earlier_repeats = inputs.reserve, inputs.earlier_repeats  # read only in the repeat count (PairInputs.repeats)
    for feature, kept in zip(features, keep, strict=True):
        if kept:
            continue
        if feature.kind == "attribute":
            _replace(profile, feature.key, background.profile.get(feature.key, ABSENT))
        elif feature.kind == "item_field":
            _replace(item, feature.key, background.item.get(feature.key, ABSENT))
        elif feature.kind == "item_events":
            drop_items.add(str(feature.key))
        elif feature.kind == "event":
            drop_events.add(int(feature.key))
        elif feature.kind == "earlier":
            n_earlier, reserve, earlier_repeats = 0, [], 0
        elif feature.kind == "user_id":
            user_id = None
        elif feature.kind == "item_id":
            item_id = None
    history = [e for j, e in enumerate(inputs.history) if j not in drop_events and e.item_id not in drop_items]
    return PairInputs(
        profile=profile, history=history, item=item, user_id=user_id, item_id=item_id, time=inputs.time,
        n_earlier=n_earlier,
        item_popularity=None if item_id is None else inputs.item_popularity,
        history_fields=inputs.history_fields,
        reserve=list(reserve),
        earlier_repeats=earlier_repeats,
        repeat_of=inputs.repeat_of if inputs.repeat_of is not None else inputs.item_id,
    )


def _replace(fields: dict, key: str, value: Any) -> None:
    """Set a field to its background value, or leave it out when the background is absent."""
    if value is ABSENT:
        fields.pop(key, None)
    else:
        fields[key] = value


def copy_inputs(inputs: PairInputs) -> PairInputs:
    """An independent copy of editable inputs."""
    return copy.deepcopy(inputs)
