"""Evaluation splits for the quality benchmark: pure, seeded functions on a canonical events frame.

Four protocols, each an `EventSplit` of row subsets of the events frame:

- random:    a seeded random 20% of events is test, the rest train.
- time:      the most recent 20% of events (every event at or after the cutoff time) is test.
- new_users: ~15% of users (drawn among users with more than `known` events) are held out entirely;
             each one's first `known` events (by time) are visible as history at prediction time
             ("context"), the rest are test; none of their events are in train.
- new_items: 10% of items never appear in train: all their events are test. Their catalogue rows
             (title, category, ...) stay in the items table: that is catalogue data, not labels.

`make_split` turns an EventSplit into what a method sees: a train Dataset (train events + the full
items/users tables), a context Dataset (train events + the new users' visible events) for prediction,
and a test frame (user_id, item_id, timestamp, label). For a binary (purchase) target, test positives are
the distinct (user, item) pairs bought in the test events and negatives are sampled items that user
never bought anywhere in the data (at the positive's time, fixed seed).

A test row's timestamp is the prediction time: the event time, except for held-out new users, whose
prediction time is never earlier than 1 ms after their last visible event, so that "the first events are
known at prediction time" holds even when a user's events share one timestamp (bulk ratings, invoices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from uvp_core.data.contract import LIST_SEPARATOR, Dataset
from uvp_core.model.examples import first_seen
from uvp_core.model.features import to_ms

SPLITS: tuple[str, ...] = ("random", "time", "new_users", "new_items")
TEST_COLUMNS: list[str] = ["user_id", "item_id", "timestamp", "label"]
ONE_MS = pd.Timedelta(milliseconds=1)


@dataclass(frozen=True)
class EventSplit:
    """Row subsets of one events frame (original index kept): train, extra visible context, test."""

    name: str
    train: pd.DataFrame  # events a method may fit on
    context: pd.DataFrame  # events visible as history besides train (new users' first events)
    test: pd.DataFrame  # events to predict
    held_out: tuple[str, ...] = ()  # the held-out user or item ids (new_users / new_items)


@dataclass(frozen=True)
class Split:
    """What every method sees for one split: train and context Datasets and the labelled test pairs."""

    name: str
    train: Dataset  # train events + full items/users tables
    context: Dataset  # train events + visible context events + full items/users tables
    test: pd.DataFrame  # user_id, item_id, timestamp (prediction time), label
    n_held_out: int  # held-out users (new_users) or items (new_items); 0 otherwise


def _ordered(events: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by time, ties kept in their original order."""
    return events.sort_values("timestamp", kind="stable")


def random_split(events: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> EventSplit:
    """A seeded random `test_fraction` of events is test."""
    n_test = int(round(len(events) * test_fraction))
    rng = np.random.default_rng(seed)
    test = np.zeros(len(events), dtype=bool)
    test[rng.choice(len(events), size=n_test, replace=False)] = True
    return EventSplit("random", events.loc[~test], events.iloc[:0], events.loc[test])


def time_split(events: pd.DataFrame, test_fraction: float = 0.2) -> EventSplit:
    """Events at or after the time cutoff that leaves ~`test_fraction` of events most recent are test."""
    times = np.sort(events["timestamp"].to_numpy())
    cutoff = times[min(len(times) - 1, int(len(times) * (1.0 - test_fraction)))]
    test = (events["timestamp"] >= cutoff).to_numpy()
    return EventSplit("time", events.loc[~test], events.iloc[:0], events.loc[test])


def new_users_split(
    events: pd.DataFrame, user_fraction: float = 0.15, known: int = 5, seed: int = 0
) -> EventSplit:
    """Hold out ~`user_fraction` of users: their first `known` events are context, the rest test."""
    counts = events["user_id"].value_counts()
    eligible = np.sort(counts.index[counts > known].to_numpy(dtype=object))
    n_hold = int(round(counts.size * user_fraction))
    n_hold = min(n_hold, len(eligible))
    rng = np.random.default_rng(seed)
    held = eligible[rng.choice(len(eligible), size=n_hold, replace=False)] if n_hold else eligible[:0]
    is_held = events["user_id"].isin(held).to_numpy()
    mine = _ordered(events.loc[is_held])
    rank = mine.groupby("user_id", sort=False).cumcount().to_numpy()
    context, test = mine.loc[rank < known], mine.loc[rank >= known]
    return EventSplit(
        "new_users",
        events.loc[~is_held],
        context.sort_index(),
        test.sort_index(),
        tuple(sorted(map(str, held))),
    )


def new_items_split(events: pd.DataFrame, item_fraction: float = 0.1, seed: int = 0) -> EventSplit:
    """Hold out `item_fraction` of the items in the events: all their events are test."""
    items = np.sort(events["item_id"].unique().astype(object))
    n_hold = int(round(len(items) * item_fraction))
    rng = np.random.default_rng(seed)
    held = items[rng.choice(len(items), size=n_hold, replace=False)] if n_hold else items[:0]
    is_held = events["item_id"].isin(held).to_numpy()
    return EventSplit(
        "new_items", events.loc[~is_held], events.iloc[:0], events.loc[is_held], tuple(sorted(map(str, held)))
    )


def split_events(events: pd.DataFrame, name: str, seed: int = 0) -> EventSplit:
    """The named split (one of SPLITS) with default fractions."""
    if name == "random":
        return random_split(events, seed=seed)
    if name == "time":
        return time_split(events)
    if name == "new_users":
        return new_users_split(events, seed=seed)
    if name == "new_items":
        return new_items_split(events, seed=seed)
    raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")


def prediction_times(test: pd.DataFrame, context: pd.DataFrame) -> pd.Series:
    """Test event times, raised to 1 ms after the user's last context event where the user has context."""
    times = test["timestamp"]
    if context.empty:
        return times.copy()
    last = context.groupby("user_id")["timestamp"].max()
    floor = test["user_id"].map(last)
    raised = floor + ONE_MS
    return times.where(floor.isna() | (times > floor), raised).astype(times.dtype)


def rating_test(split: EventSplit) -> pd.DataFrame:
    """Test frame for a rating target: one row per test event, label = rating."""
    test = split.test
    out = pd.DataFrame(
        {
            "user_id": test["user_id"].astype(str).to_numpy(dtype=object),
            "item_id": test["item_id"].astype(str).to_numpy(dtype=object),
            "timestamp": prediction_times(test, split.context).to_numpy(),
            "label": test["rating"].to_numpy(dtype=np.float64),
        }
    )
    out["timestamp"] = out["timestamp"].astype(test["timestamp"].dtype)
    return out.loc[out["label"].notna()].reset_index(drop=True)


def purchase_test(
    split: EventSplit,
    all_events: pd.DataFrame,
    catalogue: np.ndarray,
    negatives: int = 1,
    seed: int = 0,
    rounds: int = 50,
) -> pd.DataFrame:
    """Test frame for a purchase target: distinct bought test pairs (label 1) + sampled never-bought items (0).

    A positive's time is its earliest test purchase. Each positive gets `negatives` items drawn uniformly from
    the `catalogue` items that existed at the positive's time (their first event in `all_events` is at or before
    it: an item first sold later is a trivially easy negative, and the value model no longer trains on such
    negatives, session 15) and that the user bought nowhere in `all_events`, at the positive's time; a draw still
    colliding after `rounds` rejection rounds is dropped.
    """
    test = split.test.assign(timestamp=prediction_times(split.test, split.context))
    first = _ordered(test).drop_duplicates(["user_id", "item_id"], keep="first")
    first = first.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    pos = pd.DataFrame(
        {
            "user_id": first["user_id"].astype(str).to_numpy(dtype=object),
            "item_id": first["item_id"].astype(str).to_numpy(dtype=object),
            "timestamp": first["timestamp"].to_numpy(),
            "label": np.ones(len(first), dtype=np.int8),
        }
    )
    catalogue = np.asarray(pd.unique(np.asarray(catalogue, dtype=object)), dtype=object)
    if negatives <= 0 or not len(pos) or not len(catalogue):
        return pos.astype({"timestamp": test["timestamp"].dtype})
    n_cat = len(catalogue)
    users = pd.Index(pd.unique(all_events["user_id"].astype(str).to_numpy(dtype=object)), dtype=object)
    cat_index = pd.Index(catalogue, dtype=object)
    bought_u = users.get_indexer(all_events["user_id"].astype(str).to_numpy(dtype=object)).astype(np.int64)
    bought_i = cat_index.get_indexer(all_events["item_id"].astype(str).to_numpy(dtype=object)).astype(
        np.int64
    )
    inside = bought_i >= 0
    seen = np.unique(bought_u[inside] * n_cat + bought_i[inside])
    u = np.repeat(users.get_indexer(pos["user_id"].to_numpy(dtype=object)).astype(np.int64), negatives)
    first_ms = first_seen(all_events["item_id"].astype(str).to_numpy(dtype=object), to_ms(all_events["timestamp"]), catalogue)
    order = np.argsort(first_ms, kind="stable")
    existing = np.searchsorted(first_ms[order], np.repeat(to_ms(pos["timestamp"]), negatives), side="right")
    choice = np.full(len(u), -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        todo = np.flatnonzero((choice < 0) & (existing > 0))
        if not len(todo):
            break
        draw = order[rng.integers(0, existing[todo])]
        ok = ~np.isin(u[todo] * n_cat + draw, seen)
        choice[todo[ok]] = draw[ok]
    keep = choice >= 0
    rep = np.repeat(np.arange(len(pos)), negatives)[keep]
    neg = pd.DataFrame(
        {
            "user_id": pos["user_id"].to_numpy(dtype=object)[rep],
            "item_id": catalogue[choice[keep]],
            "timestamp": pos["timestamp"].to_numpy()[rep],
            "label": np.zeros(int(keep.sum()), dtype=np.int8),
        }
    )
    out = pd.concat([pos, neg], ignore_index=True)
    return out.astype({"timestamp": test["timestamp"].dtype})


def visible_tags(tags: pd.DataFrame, parts: EventSplit) -> pd.DataFrame:
    """The user tags (user_id, item_id, tag, timestamp) a model may read in a split's item texts: none written by a
    test pair's user on that item (a tag is that user's verdict), none on a held-out new item (a new item has no tags
    yet), none after the time split's cutoff, and none by a held-out new user after their visible events."""
    pair = tags["user_id"] + "\x1f" + tags["item_id"]
    test = parts.test["user_id"].astype(str) + "\x1f" + parts.test["item_id"].astype(str)
    keep = ~pair.isin(set(test))
    if parts.name == "new_items":
        keep &= ~tags["item_id"].isin(set(parts.held_out))
    if parts.name == "time" and len(parts.test):
        keep &= tags["timestamp"] < parts.test["timestamp"].min()
    if parts.name == "new_users" and len(parts.context):
        last = parts.context.assign(user_id=parts.context["user_id"].astype(str)).groupby("user_id")["timestamp"].max()
        seen_until = tags["user_id"].map(last)
        keep &= seen_until.isna() | (tags["timestamp"] <= seen_until)
    return tags.loc[keep]


def with_tags(items: pd.DataFrame, tags: pd.DataFrame, column: str = "tags") -> pd.DataFrame:
    """The items table with its tags column rebuilt from these tags (distinct per item, first-seen order)."""
    joined = tags.drop_duplicates(["item_id", "tag"]).groupby("item_id", sort=False)["tag"].agg(LIST_SEPARATOR.join)
    out = items.copy()
    out[column] = out["item_id"].astype(str).map(joined).astype("str")
    return out


def make_split(
    dataset: Dataset, name: str, target: str = "rating", *, seed: int = 0, negatives: int = 1,
    tags: pd.DataFrame | None = None,
) -> Split:  # fmt: skip
    """Train/context Datasets and the labelled test frame for one split of a dataset.

    target "rating": labels are ratings. target "purchase": binary; negatives are drawn from the whole
    catalogue, except on new_items, where they are drawn from the held-out items (so that an item's mere
    novelty does not separate positives from negatives). tags: the user tags behind the items table's tags column
    (MovieLens), rebuilt from those visible in this split (visible_tags).
    """
    events = dataset.events
    parts = split_events(events, name, seed)
    if tags is not None and dataset.items is not None and "tags" in dataset.items.columns:
        dataset = Dataset(events=events, items=with_tags(dataset.items, visible_tags(tags, parts)), users=dataset.users,
                          name=dataset.name, source_format=dataset.source_format)  # fmt: skip
    if target == "rating":
        test = rating_test(parts)
    else:
        catalogue = _catalogue(dataset)
        if name == "new_items":
            catalogue = np.asarray(parts.held_out, dtype=object)
        test = purchase_test(parts, events, catalogue, negatives=negatives, seed=seed + 1)
    train = Dataset(
        events=parts.train.reset_index(drop=True), items=dataset.items, users=dataset.users,
        name=f"{dataset.name}:{name}:train", source_format=dataset.source_format,
    )  # fmt: skip
    visible = pd.concat([parts.train, parts.context]).sort_index() if len(parts.context) else parts.train
    context = Dataset(
        events=visible.reset_index(drop=True), items=dataset.items, users=dataset.users,
        name=f"{dataset.name}:{name}:context", source_format=dataset.source_format,
    )  # fmt: skip
    return Split(name=name, train=train, context=context, test=test, n_held_out=len(parts.held_out))


def _catalogue(dataset: Dataset) -> np.ndarray:
    """Every item id: items table first, then any only in events."""
    parts = [dataset.events["item_id"].astype(str).to_numpy(dtype=object)]
    if dataset.items is not None:
        parts.insert(0, dataset.items["item_id"].astype(str).to_numpy(dtype=object))
    return np.asarray(pd.unique(np.concatenate(parts)), dtype=object)


def subsample_users(dataset: Dataset, n_users: int, seed: int = 0) -> Dataset:
    """The dataset restricted to `n_users` users drawn with a seed (events and users table; items kept)."""
    users = np.sort(dataset.events["user_id"].unique().astype(object))
    if n_users >= len(users):
        return dataset
    keep = users[np.random.default_rng(seed).choice(len(users), size=n_users, replace=False)]
    events = dataset.events.loc[dataset.events["user_id"].isin(keep)].reset_index(drop=True)
    table = dataset.users
    if table is not None:
        table = table.loc[table["user_id"].isin(keep)].reset_index(drop=True)
    return Dataset(
        events=events,
        items=dataset.items,
        users=table,
        name=dataset.name,
        source_format=dataset.source_format,
    )
