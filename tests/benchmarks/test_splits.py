"""Split invariants on tiny hand-made event frames (no real data needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.splits import (
    make_split,
    new_items_split,
    new_users_split,
    prediction_times,
    purchase_test,
    random_split,
    split_events,
    subsample_users,
    time_split,
    visible_tags,
)
from uvp_core.data.contract import Dataset


def events_frame(n_users: int = 20, per_user: int = 9, n_items: int = 15, seed: int = 0) -> pd.DataFrame:
    """Ratings with distinct per-user times; user u's k-th event is at day 100*k + u (a known order)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        for k, i in enumerate(items):
            rows.append(
                (
                    f"u{u}",
                    f"i{i}",
                    pd.Timestamp("2020-01-01", tz="UTC") + pd.Timedelta(days=100 * k + u),
                    float(1 + (u + i) % 5),
                )
            )
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ms, UTC]")
    # shuffled: splits must not rely on row order
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def dataset(events: pd.DataFrame) -> Dataset:
    """A Dataset with an items table holding every item plus one never-interacted item."""
    ids = sorted(set(events["item_id"])) + ["i_unused"]
    items = pd.DataFrame({"item_id": ids, "title": [f"title {i}" for i in ids]})
    return Dataset(events=events, items=items, name="tiny")


def test_random_split_is_disjoint_complete_and_deterministic():
    ev = events_frame()
    a, b = random_split(ev, 0.2, seed=3), random_split(ev, 0.2, seed=3)
    assert a.train.index.intersection(a.test.index).empty
    assert len(a.train) + len(a.test) == len(ev)
    assert len(a.test) == round(0.2 * len(ev))
    assert a.test.index.equals(b.test.index)
    assert not a.test.index.equals(random_split(ev, 0.2, seed=4).test.index)


def test_time_split_puts_the_latest_events_in_test():
    ev = events_frame()
    s = time_split(ev, 0.2)
    assert s.train["timestamp"].max() < s.test["timestamp"].min()
    assert len(s.train) + len(s.test) == len(ev)
    assert abs(len(s.test) - 0.2 * len(ev)) <= ev["timestamp"].value_counts().max()


def test_time_split_keeps_ties_together():
    ev = events_frame()
    ev["timestamp"] = pd.Timestamp("2021-01-01", tz="UTC")  # one shared time: all in test, never straddling
    ev["timestamp"] = ev["timestamp"].astype("datetime64[ms, UTC]")
    s = time_split(ev, 0.2)
    assert len(s.train) == 0 and len(s.test) == len(ev)


def test_new_users_hold_out_users_entirely_with_first_five_as_context():
    ev = events_frame(n_users=20, per_user=9)
    s = new_users_split(ev, user_fraction=0.15, known=5, seed=1)
    held = set(s.held_out)
    assert len(held) == 3
    assert held.isdisjoint(set(s.train["user_id"]))  # no held-out user is in train
    assert set(s.context["user_id"]) == held and set(s.test["user_id"]) == held
    assert s.context.groupby("user_id").size().eq(5).all()
    assert s.test.groupby("user_id").size().eq(4).all()
    for user in held:  # the context is exactly the user's first 5 events by time
        mine = ev.loc[ev["user_id"] == user].sort_values("timestamp")
        assert set(s.context.index[s.context["user_id"] == user]) == set(mine.index[:5])
        assert s.context.loc[s.context["user_id"] == user, "timestamp"].max() < mine["timestamp"].iloc[5]
    parts = [s.train.index, s.context.index, s.test.index]
    assert sum(len(p) for p in parts) == len(ev)
    assert parts[0].intersection(parts[1]).empty and parts[1].intersection(parts[2]).empty
    assert s.test.index.equals(new_users_split(ev, 0.15, 5, seed=1).test.index)


def test_new_users_only_draws_users_with_events_left_to_predict():
    ev = events_frame(n_users=10, per_user=9)
    short = (
        ev.loc[ev["user_id"].isin(["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"])]
        .groupby("user_id")
        .head(5)
    )
    ev = pd.concat([ev.loc[ev["user_id"].isin(["u8", "u9"])], short], ignore_index=True)
    s = new_users_split(ev, user_fraction=0.5, known=5, seed=0)
    assert set(s.held_out) == {"u8", "u9"}  # only they have more than 5 events


def test_new_items_never_appear_in_train():
    ev = events_frame()
    s = new_items_split(ev, item_fraction=0.1, seed=2)
    held = set(s.held_out)
    assert len(held) == round(0.1 * ev["item_id"].nunique())
    assert held.isdisjoint(set(s.train["item_id"]))
    assert set(s.test["item_id"]) == held
    assert len(s.train) + len(s.test) == len(ev)


def test_prediction_time_is_after_the_visible_context():
    t0 = pd.Timestamp("2020-01-01", tz="UTC")
    context = pd.DataFrame({"user_id": ["a", "a"], "timestamp": [t0, t0 + pd.Timedelta(hours=1)]})
    test = pd.DataFrame(
        {"user_id": ["a", "a", "b"], "timestamp": [t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(days=2), t0]}
    )
    times = prediction_times(test, context)
    assert times.tolist() == [t0 + pd.Timedelta(hours=1, milliseconds=1), t0 + pd.Timedelta(days=2), t0]


def test_make_split_datasets_and_rating_test_frame():
    ev = events_frame()
    data = dataset(ev)
    s = make_split(data, "new_users", "rating", seed=0)
    assert list(s.test.columns) == ["user_id", "item_id", "timestamp", "label"]
    assert s.train.items is data.items  # the full catalogue stays available
    held = set(s.test["user_id"])
    assert held.isdisjoint(set(s.train.events["user_id"]))
    visible = s.context.events.loc[s.context.events["user_id"].isin(held)]
    assert visible.groupby("user_id").size().eq(5).all()
    assert len(s.context.events) == len(s.train.events) + len(visible)
    last = visible.groupby("user_id")["timestamp"].max()
    assert (s.test["timestamp"] > s.test["user_id"].map(last)).all()
    assert s.test["label"].between(1, 5).all()
    again = make_split(data, "new_users", "rating", seed=0)
    pd.testing.assert_frame_equal(s.test, again.test)


def purchases() -> pd.DataFrame:
    """Tiny purchase log: a buys x twice and y; b buys y; c buys z."""
    t = pd.Timestamp("2020-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "c"],
            "item_id": ["x", "x", "y", "y", "z"],
            "timestamp": [t + pd.Timedelta(days=d) for d in (3, 1, 2, 1, 1)],
            "event_type": "purchase",
        }
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ms, UTC]")
    return frame


def test_purchase_test_dedupes_positives_and_samples_never_bought_negatives():
    ev = purchases()
    split = split_events(ev, "random")  # the split itself is irrelevant: test on every event
    split = type(split)("all", ev.iloc[:0], ev.iloc[:0], ev)
    catalogue = np.array(["x", "y", "z", "w", "v"], dtype=object)
    test = purchase_test(split, ev, catalogue, negatives=3, seed=0)
    pos = test.loc[test["label"] == 1]
    assert sorted(zip(pos["user_id"], pos["item_id"], strict=True)) == [
        ("a", "x"),
        ("a", "y"),
        ("b", "y"),
        ("c", "z"),
    ]
    first_ax = pos.loc[(pos["user_id"] == "a") & (pos["item_id"] == "x"), "timestamp"].iloc[0]
    assert first_ax == pd.Timestamp("2020-01-02", tz="UTC")  # the earliest of a's two purchases of x
    neg = test.loc[test["label"] == 0]
    bought = set(zip(ev["user_id"], ev["item_id"], strict=True))
    assert not any((u, i) in bought for u, i in zip(neg["user_id"], neg["item_id"], strict=True))
    assert neg.groupby("user_id").size().to_dict() == {"a": 6, "b": 3, "c": 3}  # nothing left to collide for
    pd.testing.assert_frame_equal(test, purchase_test(split, ev, catalogue, negatives=3, seed=0))


def test_purchase_new_items_negatives_come_from_held_out_items():
    ev = events_frame(n_users=30, per_user=6, n_items=40).drop(columns="rating").assign(event_type="purchase")
    s = make_split(dataset(ev), "new_items", "purchase", seed=0, negatives=1)
    held = set(s.test.loc[s.test["label"] == 1, "item_id"])
    assert set(s.test.loc[s.test["label"] == 0, "item_id"]) <= set(new_items_split(ev, 0.1, 0).held_out)
    assert held.isdisjoint(set(s.train.events["item_id"]))


@pytest.mark.parametrize("name", ["random", "time", "new_users", "new_items"])
def test_make_split_is_deterministic(name):
    ev = events_frame()
    a, b = make_split(dataset(ev), name, seed=5), make_split(dataset(ev), name, seed=5)
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.train.events, b.train.events)


def test_subsample_users_keeps_whole_users():
    ev = events_frame()
    users = pd.DataFrame({"user_id": sorted(set(ev["user_id"])), "age": 1})
    data = Dataset(events=ev, items=dataset(ev).items, users=users)
    small = subsample_users(data, 5, seed=0)
    kept = set(small.events["user_id"])
    assert len(kept) == 5 and set(small.users["user_id"]) == kept
    assert len(small.events) == 5 * 9
    assert small.items is data.items


def test_purchase_negatives_existed_at_the_positives_time():
    """Session 15: an item first sold after a positive's time is a trivially easy negative; the value model no longer
    trains on such negatives, so the benchmark no longer tests on them (for any method)."""
    day = pd.Timedelta(days=1)
    start = pd.Timestamp("2020-01-01", tz="UTC")
    ev = pd.DataFrame({
        "user_id": [f"u{k}" for k in range(20)] + ["late"],
        "item_id": ["OLD"] * 20 + ["NEW"],
        "timestamp": [start + k * day for k in range(20)] + [start + 30 * day],
        "event_type": "purchase",
    })  # fmt: skip
    ev = pd.concat([ev, pd.DataFrame({"user_id": ["seller"], "item_id": ["SHELF"], "timestamp": [start - day], "event_type": ["purchase"]})],
                   ignore_index=True)  # fmt: skip
    split = split_events(ev, "random")
    split = type(split)("all", ev.iloc[:0], ev.iloc[:0], ev.loc[ev["user_id"] != "seller"])
    test = purchase_test(split, ev, np.array(["OLD", "NEW", "SHELF", "NEVER-SOLD"], dtype=object), negatives=2, seed=0)
    neg = test.loc[test["label"] == 0]
    early = neg.loc[neg["user_id"] != "late", "item_id"]
    assert len(early) == 40 and set(early) == {"SHELF"}  # NEW first sold on day 30; NEVER-SOLD never
    assert set(neg.loc[neg["user_id"] == "late", "item_id"]) <= {"OLD", "SHELF"}


def test_item_texts_hold_only_the_tags_visible_in_the_split():
    """A browser audit: MovieLens tags written by the user of a test rating (or after the time cutoff) were in the
    item texts, so the model read that user's verdict ("boring", "masterpiece") on the item it predicted."""
    events = events_frame()
    test_row = events.iloc[0]
    tags = pd.DataFrame({"user_id": [test_row["user_id"], "u1", "u2"], "item_id": [test_row["item_id"], "i3", "i4"],
                         "tag": ["boring", "classic", "late"],
                         "timestamp": pd.to_datetime(["2020-01-01", "2020-01-02", "2035-01-01"], utc=True)})  # fmt: skip
    items = dataset(events).items.assign(tags="x")
    for name in ("random", "time", "new_users", "new_items"):
        parts = split_events(events, name, 0)
        shown = visible_tags(tags, parts)
        test_pairs = set(zip(parts.test["user_id"], parts.test["item_id"], strict=True))
        assert not any((u, i) in test_pairs for u, i in zip(shown["user_id"], shown["item_id"], strict=True)), name
        if name == "time":
            assert (shown["timestamp"] < parts.test["timestamp"].min()).all() and "late" not in set(shown["tag"])
        if name == "new_items":
            assert not set(shown["item_id"]) & set(parts.held_out)
        split = make_split(Dataset(events=events, items=items, name="tiny"), name, tags=tags)
        texts = split.train.items.set_index("item_id")["tags"]
        assert set(texts.dropna()) <= set(shown["tag"]) and split.context.items is split.train.items
