"""What-if: edit a pair's inputs (attributes, history, item fields) and re-predict, for one user or a cohort.

An edit is a small frozen dataclass with `apply(inputs) -> PairInputs` returning edited copies (the
input is never changed). `what_if` re-scores one pair and explains the edited prediction;
`cohort_what_if` applies one edit to every pair of a cohort in two batched `score_inputs` calls and
reports how the distribution of predicted value moves (mean shift with a bootstrap interval).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import shap

from uvp_core.data.contract import listed_values
from uvp_core.diagnostics.cohorts import Cohort, cohort_mask
from uvp_core.explain.features import Background, copy_inputs, used_history
from uvp_core.explain.shap_explain import ExplainConfig, explain_inputs
from uvp_core.model import HistoryEvent, PairInputs
from uvp_core.model.value_model import count_on
from uvp_core.text.templates import fields_by_id, row_fields


@dataclass(frozen=True)
class SetAttribute:
    """Set a user attribute (value None: remove it from the profile)."""

    name: str
    value: Any

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs with the attribute set."""
        profile = dict(inputs.profile)
        if self.value is None:
            profile.pop(self.name, None)
        else:
            profile[self.name] = self.value
        return replace(copy_inputs(inputs), profile=profile)

    def describe(self) -> str:
        """The edit in words."""
        return f"set {self.name} to {self.value}"


@dataclass(frozen=True)
class SetItemField:
    """Set a field of the candidate item (value None: remove it from the item text)."""

    name: str
    value: Any

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs with the item field set."""
        item = dict(inputs.item)
        if self.value is None:
            item.pop(self.name, None)
        else:
            item[self.name] = self.value
        return replace(copy_inputs(inputs), item=item)

    def describe(self) -> str:
        """The edit in words."""
        return f"set item {self.name} to {self.value}"


@dataclass(frozen=True)
class AddEvent:
    """Add a history event on a catalogue item, `days_before` the prediction time (0: the most recent)."""

    item_id: str
    kind: str
    fields: tuple[tuple[str, Any], ...] = ()  # the item's fields (see add_event), for its text
    days_before: float = 0.0

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs with one more event."""
        out = copy_inputs(inputs)
        if out.time is not None:
            when = pd.Timestamp(out.time) - pd.Timedelta(days=self.days_before) - pd.Timedelta(seconds=1)
        else:  # the prediction time follows the latest event: the new event becomes the latest
            latest = max((pd.Timestamp(e.timestamp) for e in out.history), default=pd.Timestamp("2000-01-01", tz="UTC"))
            when = latest + pd.Timedelta(seconds=1)
        out.history = [*out.history, HistoryEvent(self.item_id, self.kind, when)]
        out.history_fields = {**out.history_fields, self.item_id: dict(self.fields)}
        return out

    def describe(self) -> str:
        """The edit in words."""
        title = dict(self.fields).get("title")
        return f"add a '{self.kind}' event on item {self.item_id}{f' ({title})' if title else ''}, {self.days_before:g} day{'' if self.days_before == 1 else 's'} before"


@dataclass(frozen=True)
class RemoveEvent:
    """Remove the history event at a position of PairInputs.history (label: how the analyst saw it, for the log)."""

    index: int
    label: str = ""

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs without that event."""
        out = copy_inputs(inputs)
        out.history = [e for j, e in enumerate(out.history) if j != self.index]
        return out

    def describe(self) -> str:
        """The edit in words."""
        return f"remove history event {self.index}" + (f" ({self.label})" if self.label else "")


@dataclass(frozen=True)
class DropLastEvents:
    """Drop the user's n most recent history events."""

    n: int

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs without the n most recent events."""
        out = copy_inputs(inputs)
        order = sorted(range(len(out.history)), key=lambda j: pd.Timestamp(out.history[j].timestamp))
        drop = set(order[-self.n :]) if self.n > 0 else set()
        out.history = [e for j, e in enumerate(out.history) if j not in drop]
        return out

    def describe(self) -> str:
        """The edit in words."""
        return f"drop the last {self.n} events"


@dataclass(frozen=True)
class MoveEvent:
    """Reorder history: the event at chronological position `source` moves to position `target` (0 = oldest);
    the events keep the original set of timestamps."""

    source: int
    target: int
    label: str = ""  # the moved event as the analyst saw it, for the log

    def apply(self, inputs: PairInputs) -> PairInputs:
        """The inputs with the history reordered."""
        out = copy_inputs(inputs)
        events = sorted(out.history, key=lambda e: pd.Timestamp(e.timestamp))
        times = [e.timestamp for e in events]
        moved = events.pop(self.source)
        events.insert(self.target, moved)
        out.history = [replace(e, timestamp=t) for e, t in zip(events, times, strict=True)]
        return out

    def describe(self) -> str:
        """The edit in words."""
        return f"move {self.label or f'event {self.source}'} to place {self.target + 1} (1 = the oldest)"


Edit = SetAttribute | SetItemField | AddEvent | RemoveEvent | DropLastEvents | MoveEvent


def add_event(dataset, item_id: str, kind: str, days_before: float = 0.0, columns: Sequence[str] | None = None) -> AddEvent:
    """An AddEvent for a catalogue item, carrying the item's fields from the dataset."""
    fields = row_fields(dataset.items, "item_id", item_id, columns)
    return AddEvent(item_id, kind, tuple(fields.items()), days_before)


def _item_categories(items: pd.DataFrame) -> pd.Series:
    """Each item's single categories, as a list ("Crime|Thriller" -> ["Crime", "Thriller"]; no category: no row)."""
    return items["category"].dropna().astype(str).apply(listed_values)


def category_values(items: pd.DataFrame | None) -> list[str]:
    """The single categories of a catalogue, the most common first, then by name ("Crime|Thriller" counts as Crime and
    Thriller): the picker opens on the largest, not on MovieLens's "(no genres listed)", which sorts first by name."""
    if items is None or "category" not in items:
        return []
    counts = pd.Series([c for values in _item_categories(items) for c in set(values)], dtype=object).value_counts()
    return sorted(counts.index.astype(str), key=lambda c: (-counts[c], c))


def add_event_in_category(dataset, category: str, kind: str, columns: Sequence[str] | None = None) -> AddEvent:
    """An AddEvent on the most popular item of a category ("one more purchase in category X"; an item listing
    several categories, "Crime|Thriller", is in each)."""
    items = dataset.items
    listed = _item_categories(items)
    ids = items.loc[listed.index[listed.apply(lambda values: str(category) in values)], "item_id"].astype(str)
    if ids.empty:
        raise ValueError(f"no item in category {category!r}")
    counts = dataset.events["item_id"].astype(str).value_counts()
    best = max(ids, key=lambda i: (counts.get(i, 0), i))
    return add_event(dataset, best, kind, 0.0, columns)


EDIT_OPS = {"set_attribute": SetAttribute, "set_item_field": SetItemField, "add_event": AddEvent, "remove_event": RemoveEvent,
            "drop_last_events": DropLastEvents, "move_event": MoveEvent}  # fmt: skip
_FIELDS = {SetAttribute: ("name", "value"), SetItemField: ("name", "value"), AddEvent: ("item_id", "kind", "days_before"),
           RemoveEvent: ("index", "label"), DropLastEvents: ("n",), MoveEvent: ("source", "target", "label")}  # fmt: skip


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (numpy numbers as Python ones)."""
    return value.item() if isinstance(value, np.generic) else value


def edit_records(edits: Sequence[Edit]) -> list[dict]:
    """The edits as JSON-ready records ({"op": ..., fields}); an added event keeps its item id, not the item's text."""
    ops = {cls: op for op, cls in EDIT_OPS.items()}
    return [{"op": ops[type(e)], **{f: _plain(getattr(e, f)) for f in _FIELDS[type(e)]}} for e in edits]


def edits_from_records(records: Any, dataset, columns: Sequence[str] | None = None) -> list[Edit]:
    """Edits rebuilt from edit_records' output (added events take their item's fields from the dataset again);
    ValueError naming the record and the rule when one is malformed."""
    if not isinstance(records, list):
        raise ValueError("the edits must be a list of records")
    out: list[Edit] = []
    for n, record in enumerate(records, start=1):
        cls = EDIT_OPS.get(record.get("op")) if isinstance(record, dict) else None
        if cls is None:
            raise ValueError(f"edit {n}: 'op' must be one of {', '.join(EDIT_OPS)}")
        values = {f: record[f] for f in _FIELDS[cls] if f in record}
        try:
            if cls is AddEvent:
                item_id = str(values["item_id"])
                if dataset.items is not None and item_id not in set(dataset.items["item_id"].astype(str)):
                    raise ValueError(f"item {item_id!r} is not in the catalogue")
                out.append(add_event(dataset, item_id, str(values["kind"]), float(values.get("days_before", 0.0)), columns))
            elif cls in (SetAttribute, SetItemField):
                value = values["value"]
                if not (value is None or isinstance(value, str | int | float)) or isinstance(value, bool):
                    raise ValueError("'value' must be text, a number or null")
                out.append(cls(str(values["name"]), value))
            else:
                numbers = {f: v for f, v in values.items() if f != "label"}
                if any(isinstance(v, bool) or not isinstance(v, int) for v in numbers.values()):
                    raise ValueError(f"{', '.join(numbers) or 'its fields'} must be whole numbers")
                out.append(cls(**numbers, **({"label": str(values["label"])} if "label" in values else {})))
        except KeyError as exc:
            raise ValueError(f"edit {n} ({record['op']}): missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"edit {n} ({record['op']}): {exc}") from None
    return out


def apply_edits(inputs: PairInputs, edits: Sequence[Edit], history_k: int | None = None, late: Collection[str] = ()) -> PairInputs:
    """The inputs after every edit, in order (the original is unchanged); with history_k, each edit's result is brought
    within the model's window (within_window), so an edit's positions refer to the history as the model reads it."""
    out = copy_inputs(inputs)
    for edit in edits:
        out = edit.apply(out)
        if history_k is not None:
            out = within_window(out, history_k, late)
    return out


def changes(inputs: PairInputs, edit: Edit) -> bool:
    """Whether an edit changes these inputs (setting a value to what it already is does not)."""
    edited = edit.apply(inputs)
    return (edited.profile, edited.item, edited.history) != (inputs.profile, inputs.item, inputs.history)


def within_window(inputs: PairInputs, history_k: int, late: Collection[str] = ()) -> PairInputs:
    """The inputs with the events the model reads listed, chosen from the history and its reserve as the model chooses
    (used_history), the rest kept in the reserve and counted in n_earlier: an added event pushes the oldest out, a
    removed one lets the next reserve event in, as editing the data would. Masking a listed event in an explanation
    brings nothing back into view (scoring never reads the reserve)."""
    if len(inputs.history) <= history_k and not inputs.reserve:
        return inputs
    pool = [*inputs.reserve, *inputs.history]  # at equal times the reserve first: the model read the later-listed ones
    pool = [pool[j] for j in sorted(range(len(pool)), key=lambda j: pd.Timestamp(pool[j].timestamp))]
    merged = replace(inputs, history=pool)
    read = set(used_history(merged, history_k, late))
    history = [e for j, e in enumerate(pool) if j in read]
    return replace(inputs, history=history, reserve=[e for j, e in enumerate(pool) if j not in read],
                   n_earlier=inputs.n_earlier + len(inputs.history) - len(history))  # fmt: skip


@dataclass(frozen=True)
class WhatIf:
    """One pair before and after edits."""

    before: float
    after: float
    edited: PairInputs
    explanation: shap.Explanation | None  # of the edited prediction

    @property
    def delta(self) -> float:
        """after - before."""
        return self.after - self.before


DEFAULT_EXPLAIN = ExplainConfig()  # frozen: safe as a shared default


def what_if(model, inputs: PairInputs, edits: Sequence[Edit], background: Background, *, explain: bool = True,
            config: ExplainConfig = DEFAULT_EXPLAIN) -> WhatIf:  # fmt: skip
    """Re-predict one pair after edits (one batched call), with the edited prediction's explanation."""
    edited = apply_edits(inputs, edits, model.history_k, model.late_kinds)
    before, after = model.score_inputs([inputs, edited])
    explanation = explain_inputs(model, edited, background, config) if explain else None
    return WhatIf(float(before), float(after), edited, explanation)


@dataclass(frozen=True)
class CohortWhatIf:
    """Predictions of a cohort before and after one edit."""

    frame: pd.DataFrame  # user_id, item_id, before, after, delta
    mean_shift: float
    ci_low: float
    ci_high: float
    level: float

    def summary(self) -> dict[str, float]:
        """Headline numbers."""
        return {
            "users": float(len(self.frame)),
            "mean_before": float(self.frame["before"].mean()),
            "mean_after": float(self.frame["after"].mean()),
            "mean_shift": self.mean_shift,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }


def bootstrap_mean(values: np.ndarray, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def cohort_inputs(model, dataset, pairs: pd.DataFrame) -> list[PairInputs]:
    """PairInputs for every (user_id, item_id) row, equal to model.pair_inputs(dataset, user, item) but
    built in one pass over the events (one sort, one kind lookup, one field table per id)."""
    space, k = model.space_, model.history_k
    events = dataset.events
    now = events["timestamp"].max() if len(events) else None
    user_ids = pairs["user_id"].astype(str).tolist()
    item_ids = pairs["item_id"].astype(str).tolist()
    mine = events.loc[events["user_id"].isin(set(user_ids))].sort_values("timestamp", kind="stable")
    kinds = pd.Series(space.kind_names(mine), index=mine.index)
    counts = mine["user_id"].value_counts()
    counted = mine.loc[kinds.isin(space.repeat_kinds).to_numpy()]  # repeat kinds: "bought this item before" (PairInputs.repeats)
    repeats = {(str(u), str(i)): int(n) for (u, i), n in counted.groupby(["user_id", "item_id"], observed=True).size().items()}
    window = space.history_window
    recent = mine.groupby("user_id", sort=False, observed=True).tail(window) if k else mine.iloc[:0]
    histories: dict[str, list[HistoryEvent]] = {}
    for user_id, item_id, kind, ts in zip(recent["user_id"], recent["item_id"], kinds.loc[recent.index], recent["timestamp"], strict=True):
        histories.setdefault(str(user_id), []).append(HistoryEvent(str(item_id), str(kind), ts))  # oldest first, as pair_inputs
    needed_items = set(item_ids) | {e.item_id for h in histories.values() for e in h}
    item_fields = fields_by_id(dataset.items, "item_id", needed_items, space.item_columns)
    user_fields = fields_by_id(dataset.users, "user_id", set(user_ids), space.user_columns)
    out = []
    for user_id, item_id in zip(user_ids, item_ids, strict=True):
        history, reserve = model.split_history(histories.get(user_id, []), item_id)
        shown = count_on(item_id, [*history, *reserve], space.repeat_kinds)
        out.append(PairInputs(
            profile=dict(user_fields.get(user_id, {})), history=history, item=dict(item_fields.get(item_id, {})),
            user_id=user_id, item_id=item_id, time=now, n_earlier=max(0, int(counts.get(user_id, 0)) - len(history)),
            history_fields={e.item_id: dict(item_fields.get(e.item_id, {})) for e in [*history, *reserve]}, reserve=reserve,
            earlier_repeats=max(0, repeats.get((user_id, item_id), 0) - shown),
        ))  # fmt: skip
    return out


def cohort_what_if(model, dataset, pairs: pd.DataFrame, edit: Edit, *, resamples: int = 1000, level: float = 0.95,
                   seed: int = 0, inputs: Sequence[PairInputs] | None = None) -> CohortWhatIf:  # fmt: skip
    """Apply one edit to every pair of a cohort; predictions before/after and the mean shift with a bootstrap interval."""
    rows = list(inputs) if inputs is not None else cohort_inputs(model, dataset, pairs)
    edited = [within_window(edit.apply(r), model.history_k, model.late_kinds) for r in rows]
    scores = model.score_inputs([*rows, *edited])
    before, after = scores[: len(rows)], scores[len(rows) :]
    frame = pd.DataFrame(
        {"user_id": pairs["user_id"].astype(str).to_numpy(), "item_id": pairs["item_id"].astype(str).to_numpy(),
         "before": before, "after": after, "delta": after - before}  # fmt: skip
    )
    low, high = bootstrap_mean(frame["delta"].to_numpy(), resamples, level, seed)
    return CohortWhatIf(frame, float(frame["delta"].mean()) if len(frame) else float("nan"), low, high, level)


# --- choosing users and cohorts -------------------------------------------------------------------------
NEW_USER_EVENTS = 5  # users with at most this many events count as "new"
SEGMENTS = ("all users", "new users (at most 5 events)", "active users (more than 5 events)")


def user_table(dataset) -> pd.DataFrame:
    """One row per user with events or in the users table: user_id, events (0: a cold user, predicted from the
    profile alone), the users-table attributes, segment (new / active)."""
    counts = dataset.events["user_id"].astype(str).value_counts().rename_axis("user_id").reset_index(name="events")
    frame = counts
    if dataset.users is not None:
        users = dataset.users.drop_duplicates("user_id").assign(user_id=lambda f: f["user_id"].astype(str))
        frame = counts.merge(users, on="user_id", how="outer")
        frame["events"] = frame["events"].fillna(0).astype(int)
    frame["segment"] = np.where(frame["events"] <= NEW_USER_EVENTS, "new", "active")
    return frame.sort_values("user_id", kind="stable").reset_index(drop=True)


def activity_note(events: int) -> str:
    """A user's event count and segment in words (user_table's events and segment columns)."""
    segment = f"a new user (at most {NEW_USER_EVENTS} events)" if events <= NEW_USER_EVENTS else f"an active user (more than {NEW_USER_EVENTS} events)"
    return f"{events:,} event{'' if events == 1 else 's'} in this dataset: {segment}"


def cold_user_note(table: pd.DataFrame, user_id: str) -> str | None:
    """What the pages say about a user of user_table without events (None when the user has events)."""
    events = table.loc[table["user_id"] == user_id, "events"]
    if len(events) and int(events.iloc[0]) == 0:
        return (f"{user_id} has no events in this dataset: a cold user. The model predicts them from their profile "
                "and the candidate item alone, so the history is empty and the explanation credits no history.")  # fmt: skip
    return None


def top_item_pairs(users: pd.DataFrame, n: int, top_item: Callable[[str], str],
                   progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:  # fmt: skip
    """A seeded sample of n users (user_table rows) with each one's top item and segment: what group_importance explains."""
    sample = users.sample(min(int(n), len(users)), random_state=0)
    tops = []
    for done, user in enumerate(sample["user_id"], start=1):
        tops.append(str(top_item(str(user))))
        if progress is not None:
            progress(done, len(sample))
    return pd.DataFrame({"user_id": sample["user_id"].tolist(), "item_id": tops, "segment": sample["segment"].tolist()})


def segments_left_out(users: pd.DataFrame, sampled: pd.Series) -> str | None:
    """A note naming the user segments (user_table's new / active) that a group-importance sample missed (None: all in)."""
    missing = [s for s in pd.unique(users["segment"].astype(str)) if s not in set(sampled.astype(str))]
    if not missing:
        return None
    counts = users["segment"].astype(str).value_counts()
    listed = " and no ".join(f"{s} user ({counts[s]:,} of the {len(users):,} users are {s})" for s in missing)
    return f"No {listed} fell in this sample, so that segment has no bars: raise the sample size to include some."


def shared_credit_note(model, exp: shap.Explanation) -> str | None:
    """Why a known user's history events get credit that What-if edits do not reproduce: with the user ID masked, the
    model reads the user's bias from the history, as for a new user (None: no fold-in, a new user, or no event credited)."""
    if not getattr(getattr(model, "head_", None), "fold_in", False) or not getattr(exp, "known_user", False):
        return None
    if not any(feature.group == "history" and value for feature, value in zip(exp.features, exp.values, strict=True)):
        return None
    return ("This user was in the training data, so the model has learned their user bias, which already holds what their "
            "past events say. With the user ID masked, the model reads that bias from the history instead, as it does for "
            "a new user, so the history events share credit with the user ID. With the ID known, adding or removing an "
            "event (What-if) moves the prediction only through what the model reads of the events themselves (their items "
            "and kinds), which can be much less than the event's contribution here.")  # fmt: skip


def same_time_note(events: pd.DataFrame, inputs: PairInputs, history_k: int, late: Collection[str] = ()) -> str | None:
    """A note when the oldest event read shares its time with events not read (a basket of one invoice): which of
    them are read one by one then follows the order of the data, not time (None otherwise)."""
    read = used_history(inputs, history_k, late)
    if inputs.n_earlier <= 0 or not read:
        return None
    oldest = min(inputs.history[j].timestamp for j in read)
    mine = events.loc[(events["user_id"] == inputs.user_id).to_numpy()]
    at_oldest = int((mine["timestamp"] == oldest).sum())
    read_there = sum(1 for j in read if inputs.history[j].timestamp == oldest)
    if at_oldest <= read_there:
        return None
    return (f"{at_oldest:,} of this user's events share the time of the oldest event read ({pd.Timestamp(oldest):%Y-%m-%d %H:%M}), "
            f"so which {read_there:,} of them the model reads one by one follows the order of the data, not time; the others "
            "count in the history length with the earlier events.")  # fmt: skip


def _word_pattern(term: str) -> str:
    """A regex matching `term` as a whole value or a whole word of one (so "male" does not match "female")."""
    return rf"(?<!\w){re.escape(term)}(?!\w)"


SEARCH_LIMIT = 200  # users a search lists at most (the Explain page's user picker)


def search_users(table: pd.DataFrame, query: str, limit: int = SEARCH_LIMIT, keep: str | None = None) -> pd.DataFrame:
    """Users matching every whitespace-separated term of the query (case-insensitive): a term matches the user id
    as a substring, or any attribute value as a whole value or word; at most `limit`. With no query, `keep` (the
    user already chosen, e.g. from a link) is listed first even when it is not among the first `limit`."""
    terms = query.lower().split()
    if not terms:
        kept = table.loc[table["user_id"] == keep] if keep is not None else table.iloc[:0]
        return pd.concat([kept, table.loc[table["user_id"] != keep].head(limit - len(kept))]) if len(kept) else table.head(limit)
    ids = table["user_id"].astype(str).str.lower()
    values = table.drop(columns=["user_id", "events"]).apply(lambda c: c.astype(object).where(c.notna(), "").astype(str).str.lower())
    mask = pd.Series(True, index=table.index)
    for term in terms:
        pattern = _word_pattern(term)
        mask &= ids.str.contains(term, regex=False) | values.apply(lambda c, p=pattern: c.str.contains(p, regex=True)).any(axis=1)
    return table.loc[mask].head(limit)


def listed_note(found: pd.DataFrame, n_users: int, query: str, limit: int = SEARCH_LIMIT) -> str | None:
    """A note when a search_users list is cut at `limit` (None when it holds every user it could)."""
    if len(found) < limit or n_users <= len(found):
        return None
    which = "of the users matching this search" if query.strip() else f"of {n_users:,} users"
    return f"The User list holds the first {len(found):,} {which}; search above to reach the others."


def cohort_users(table: pd.DataFrame, segment: str = SEGMENTS[0], attribute: str | None = None, value: Any = None,
                 max_users: int = 1000, seed: int = 0) -> list[str]:  # fmt: skip
    """User ids of a segment (and optionally attribute == value), a seeded sample of at most max_users."""
    chosen = table
    if segment == SEGMENTS[1]:
        chosen = chosen.loc[chosen["segment"] == "new"]
    elif segment == SEGMENTS[2]:
        chosen = chosen.loc[chosen["segment"] == "active"]
    if attribute:
        chosen = chosen.loc[chosen[attribute].astype(str) == str(value)]
    if len(chosen) > max_users:
        chosen = chosen.sample(max_users, random_state=seed).sort_values("user_id")
    return chosen["user_id"].astype(str).tolist()


def segment_label(table: pd.DataFrame, segment: str) -> str:
    """A cohort segment's name with how many users it holds ("new users (at most 5 events) · 0 users" on MovieLens,
    where every user has 20 ratings: picking it used to end in "No user in this cohort")."""
    n = len(cohort_users(table, segment, max_users=len(table)))
    return f"{segment} · {n:,} user{'' if n == 1 else 's'}"


def with_value_before(result: CohortWhatIf, users: pd.DataFrame, attribute: str) -> CohortWhatIf:
    """The result with each user's value of `attribute` before the edit as a column (an attribute edit leaves users who
    already had the new value unchanged: this tells them apart)."""
    if attribute not in users.columns:
        return result
    values = users.drop_duplicates("user_id").assign(user_id=lambda t: t["user_id"].astype(str)).set_index("user_id")[attribute]
    before = result.frame["user_id"].astype(str).map(values)
    return replace(result, frame=result.frame.assign(**{f"{attribute} before": before}))


def user_level(cohort: Cohort) -> bool:
    """Whether every filter of a saved Segments cohort is on a user attribute (user.<column>), so it can pick users."""
    return all(f.column.startswith("user.") for f in cohort.filters)


def saved_cohort_users(table: pd.DataFrame, cohort: Cohort, max_users: int = 1000, seed: int = 0) -> list[str]:
    """User ids (of user_table) that a user-level saved cohort selects, a seeded sample of at most max_users."""
    if not user_level(cohort):
        raise ValueError(f"The cohort {cohort.name!r} also filters on {', '.join(f.column for f in cohort.filters if not f.column.startswith('user.'))}: "
                         "only filters on user attributes (user.…) can pick users for a what-if.")  # fmt: skip
    frame = table.rename(columns={c: f"user.{c}" for c in table.columns if c != "user_id"})
    chosen = table.loc[cohort_mask(frame, cohort)]
    if len(chosen) > max_users:
        chosen = chosen.sample(max_users, random_state=seed).sort_values("user_id")
    return chosen["user_id"].astype(str).tolist()


def parse_value(text: str, like: Any, name: str = "The value", *, non_negative: bool = False) -> Any:
    """A typed value for an edit: a number when the field it replaces is numeric (else the text as is); refuses a
    blank value, text that is not a finite number in place of one (a price of "abc" used to be read as text), and with
    non_negative a number below 0 (the data contract's rule for a price)."""
    if not str(text).strip():
        raise ValueError(f"{name}: give a value (the box is empty).")
    if isinstance(like, int | float | np.integer | np.floating) and not isinstance(like, bool):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} must be a number: {text!r} is not one.") from None
        if not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number: {text!r} is not one.")
        if non_negative and value < 0:
            raise ValueError(f"{name} must be 0 or more (as in the data): {text!r} is below 0.")
        return value
    return text


def outside_range_note(values: pd.Series, value: Any, name: str) -> str | None:
    """A note when a number set by an edit lies outside the range the data holds (the model never saw such a value)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if not isinstance(value, float) or not len(numbers) or numbers.min() <= value <= numbers.max():
        return None
    return (f"{name} {value:g} lies outside the data's range ({numbers.min():g} to {numbers.max():g}): the model never "
            "saw such a value, so read the prediction as an extrapolation.")


NO_USERS_NOTE = (
    'This dataset has no users table, so the model was trained on an empty profile ("no profile '
    'information"). An attribute you set here is written into the profile text the model reads, but the '
    "model never learned what attributes mean: read the change with care."
)


def attribute_names(model) -> list[str]:
    """The user attributes in the model's profile text (empty when its dataset had no users table)."""
    return [c for c in model.space_.user_columns if c != "user_id"]


def attribute_values(users: pd.DataFrame, name: str, limit: int = 200) -> list[str]:
    """The values a user attribute takes in the data, sorted (empty when it is numeric, missing or has over `limit`)."""
    if name not in users.columns or pd.api.types.is_numeric_dtype(users[name]):
        return []
    values = users[name].dropna().astype(str).unique()
    return sorted(values) if len(values) <= limit else []


def unseen_value_note(users: pd.DataFrame, name: str, value: Any) -> str | None:
    """What a cohort edit to a value the attribute never takes in the data measures (None for a known value)."""
    known = attribute_values(users, name)
    if not known or str(value) in known:
        return None
    return (f"{value} is not a value of {name} in this dataset ({', '.join(known[:8])}{', ...' if len(known) > 8 else ''}): "
            "the model has never seen it. Its indicators read it as a missing value (only the profile text still carries "
            f"the word), so this shift mostly shows the effect of removing the users' {name}, not of a new value.")


EDGE = 5e-4  # a probability this close to 0 or 1 shows as 0.0000 / 0.9999+ at four decimals


def edge_note(task: str, before: float, after: float, cap: float | None = None) -> str | None:
    """A note when a what-if's prediction sits at the edge of its scale before and after, so its shown change is 0:
    a binary model's probability near 0 or 1, or a rating model's prediction at `cap`, the end of the rating scale
    where predictions are clipped (shap_explain.capped_at of the prediction after). None otherwise."""
    if f"{before:.4f}" != f"{after:.4f}":  # as the page shows them
        return None
    if task == "binary" and (min(before, after) >= 1 - EDGE or max(before, after) <= EDGE):
        return ("Both predictions are at the edge of the probability scale: the model is already nearly certain for "
                "this pair, and what this edit changes, if anything, is smaller than four decimals show.")
    if task == "regression" and cap is not None:
        return (f"Both predictions are at the end of the rating scale ({cap:g}), where predictions are capped: what this edit "
                "changes, if anything, stays beyond the cap and does not show. Pick a candidate predicted inside the scale "
                "to see the edit move it.")
    return None


def catalogue(dataset, first: Sequence[str] = ()) -> list[str]:
    """The items a pair can take as its candidate: the items table's, else those in the events (sorted); `first`
    (say, the user's top predicted items) ahead of the rest."""
    items = dataset.items["item_id"].astype(str).tolist() if dataset.items is not None else sorted(dataset.events["item_id"].astype(str).unique())
    ahead = set(first)
    return [*first, *(i for i in items if i not in ahead)]


def has_events(dataset, user_id: str, item_id: str) -> bool:
    """Whether the user has any event on the item in the dataset."""
    events = dataset.events
    return bool((events.loc[events["user_id"] == user_id, "item_id"] == item_id).any())


def typical_value(users: pd.DataFrame, name: str) -> Any:
    """A value of the users table's column `name` (None when it has none), to type what an analyst enters for it."""
    if name not in users.columns or not users[name].notna().any():
        return None
    return users[name].dropna().iloc[0]


def set_attribute(name: str, text: str, like: Any = None) -> SetAttribute:
    """A SetAttribute from what an analyst typed (a number when `like` is numeric); refuses a blank name or user_id."""
    name = (name or "").strip()
    if not name:
        raise ValueError("Name the attribute to set (for example: region).")
    if name == "user_id":
        raise ValueError("user_id is not a profile attribute: the model reads it as an ID, not as text.")
    return SetAttribute(name, parse_value(text, like, name))


def event_label(inputs: PairInputs, position: int) -> str:
    """One history event (a position of inputs.history) in words: 'kind · title · date'."""
    event = inputs.history[position]
    title = str(inputs.history_fields.get(event.item_id, {}).get("title", "") or event.item_id)
    return f"{event.kind} · {title} · {pd.Timestamp(event.timestamp):%Y-%m-%d}"


def chronological(inputs: PairInputs) -> list[int]:
    """Positions of inputs.history from the oldest event to the most recent (MoveEvent's places)."""
    return sorted(range(len(inputs.history)), key=lambda j: pd.Timestamp(inputs.history[j].timestamp))


def history_table(inputs: PairInputs, history_k: int, late: Collection[str] = ()) -> pd.DataFrame:
    """The history events the model reads (used_history), most recent first: position, time, event, item_id, title."""
    rows = [
        {"position": j, "time": inputs.history[j].timestamp, "event": inputs.history[j].kind, "item_id": inputs.history[j].item_id,
         "title": str(inputs.history_fields.get(inputs.history[j].item_id, {}).get("title", ""))}  # fmt: skip
        for j in reversed(used_history(inputs, history_k, late))
    ]
    return pd.DataFrame(rows, columns=["position", "time", "event", "item_id", "title"])
