"""Evaluation sets (holdout, test files, label rules) and the bias baseline, on tiny hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uvp_core.data.contract import Dataset
from uvp_core.diagnostics import evaluation_set as E
from uvp_core.diagnostics.baseline import BiasBaseline


def stamps(days: list[int]) -> pd.Series:
    """UTC timestamps at whole days from 2024-01-01."""
    return pd.Series(pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, unit="D")).astype("datetime64[ms, UTC]")


def ratings_dataset() -> Dataset:
    """Ten rated events on days 0..9 plus two unrated views."""
    events = pd.DataFrame({
        "user_id": ["u1", "u2"] * 6,
        "item_id": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"],
        "timestamp": stamps(list(range(10)) + [3, 9]),
        "rating": [5.0, 4.0, 3.0, 2.0, 1.0, 5.0, 4.0, 3.0, 2.0, 1.0, np.nan, np.nan],
    })  # fmt: skip
    return Dataset(events=events)


def test_holdout_takes_the_latest_label_events_and_trains_on_what_came_before() -> None:
    evalset = E.holdout(ratings_dataset(), "rating", fraction=0.2)
    assert evalset.cutoff == pd.Timestamp("2024-01-09", tz="UTC")
    assert evalset.pairs["y"].tolist() == [2.0, 1.0]  # the rated events of days 8 and 9
    assert evalset.task == "regression" and evalset.source == "holdout"
    assert (evalset.train_events["timestamp"] < evalset.cutoff).all() and len(evalset.train_events) == 9
    assert evalset.fingerprint() == E.holdout(ratings_dataset(), "rating", fraction=0.2).fingerprint()
    with pytest.raises(ValueError):
        E.holdout(ratings_dataset(), "rating", fraction=1.5)


def test_holdout_on_a_dataset_without_the_target_says_so() -> None:
    """An audit: a rating model on a purchase log read "Too few events carry a 'rating' label", though none did."""
    unrated = Dataset(events=ratings_dataset().events.drop(columns=["rating"]).assign(event_type="purchase"))
    with pytest.raises(ValueError, match="This dataset has no event with a 'rating' label, so a rating model cannot be"):
        E.holdout(unrated, "rating")
    one = ratings_dataset().events.assign(rating=[5.0] + [np.nan] * 11)
    with pytest.raises(ValueError, match="Only one event carries a 'rating' label"):
        E.holdout(Dataset(events=one), "rating")


def test_event_types_collapse_per_pair_for_a_binary_target() -> None:
    rows = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2"],
        "item_id": ["a", "a", "b", "a", "a"],
        "timestamp": stamps([1, 2, 3, 4, 5]),
        "event_type": ["view", "purchase", "view", "view", "click"],
    })  # fmt: skip
    pairs = E.labelled_pairs(rows, "purchase").sort_values(["user_id", "item_id"]).reset_index(drop=True)
    assert pairs[["user_id", "item_id", "y"]].values.tolist() == [["u1", "a", 1.0], ["u1", "b", 0.0], ["u2", "a", 0.0]]
    assert pairs["timestamp"].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")  # the pair's first row
    labelled = E.labelled_pairs(rows.assign(label=[0, 1, 0, 0, 1]), "purchase")
    assert labelled["y"].tolist() == [0, 1, 0, 0, 1]  # a 0/1 label column wins
    with pytest.raises(ValueError):
        E.labelled_pairs(rows.drop(columns="event_type"), "purchase")


def test_read_test_set_from_bytes_and_its_errors() -> None:
    data = b"user_id,item_id,timestamp,rating\nu1,a,2024-01-05T00:00:00Z,4\nu2,b,2024-01-06T00:00:00Z,\n007,c,2024-01-07,2\n"
    evalset = E.read_test_set(data, ratings_dataset(), "rating", name="held.csv")
    assert evalset.pairs["user_id"].tolist() == ["u1", "007"]  # ids stay text; the unrated row is dropped
    assert evalset.dropped_rows == 1 and evalset.source == "held.csv"
    assert evalset.cutoff == pd.Timestamp("2024-01-05", tz="UTC")
    assert len(evalset.train_events) == 5  # days 0..4 (and the day-3 view)
    no_time = E.read_test_set(b"user_id,item_id,rating\nu1,a,3\n", ratings_dataset(), "rating")
    assert no_time.cutoff is None and len(no_time.train_events) == 12
    with pytest.raises(ValueError, match="missing column"):
        E.read_test_set(b"who,item_id,rating\nu1,a,3\n", ratings_dataset(), "rating")
    synonyms = E.read_test_set(b"userId,movieId,stars\nu1,a,3\n", ratings_dataset(), "rating")  # as in a data file
    assert synonyms.pairs[["user_id", "item_id", "y"]].values.tolist() == [["u1", "a", 3.0]]
    with pytest.raises(ValueError, match="rating"):
        E.read_test_set(b"user_id,item_id\nu1,a\n", ratings_dataset(), "rating")
    with pytest.raises(ValueError, match="timestamp"):
        E.read_test_set(b"user_id,item_id,timestamp,rating\nu1,a,yesterday,3\n", ratings_dataset(), "rating")
    with pytest.raises(ValueError, match="0 or 1"):
        E.read_test_set(b"user_id,item_id,label\nu1,a,2\n", ratings_dataset(), "label")
    every = b"user_id,item_id,timestamp,rating\nu1,a,2024-01-05,4\nu2,b,2024-01-06,abc\nu3,c,yesterday,3\nu4,d,2024-01-07,\n"
    with pytest.raises(ValueError) as problems:  # a walk-through saw only the timestamp; "abc" was dropped as unrated
        E.read_test_set(every, ratings_dataset(), "rating", name="t.csv")
    assert "timestamp" in str(problems.value) and "column rating is not a number in row(s) 2" in str(problems.value)


def test_bias_baseline_by_hand() -> None:
    users = np.array(["u1", "u1", "u2", "u2"])
    items = np.array(["a", "b", "a", "b"])
    y = np.array([5.0, 3.0, 3.0, 1.0])  # exactly 3 + user (+1, −1) + item (+1, −1)
    exact = BiasBaseline(reg=0.0, iterations=50).fit(users, items, y)
    assert exact.mean_ == pytest.approx(3.0)
    assert exact.predict(users, items) == pytest.approx(y)
    assert exact.predict(np.array(["new"]), np.array(["a"]))[0] == pytest.approx(4.0)  # mean + item bias
    assert exact.predict(np.array(["new"]), np.array(["new"]))[0] == pytest.approx(3.0)
    shrunk = BiasBaseline(reg=1e9).fit(users, items, y)
    assert shrunk.predict(users, items) == pytest.approx(np.full(4, 3.0))
    one_step = BiasBaseline(reg=2.0, iterations=1).fit(users, items, y)
    # item a: Σ residuals (2 + 0) / (2 + 2) = 0.5; then user u1: Σ (2 − 0.5, 0 + 0.5) / (2 + 2) = 0.5
    assert one_step.item_bias_[0] == pytest.approx(0.5) and one_step.user_bias_[0] == pytest.approx(0.5)
    clipped = BiasBaseline(reg=0.0, clip=(0.0, 1.0)).fit(users, items, y / 5)
    assert clipped.predict(users, items).max() <= 1.0


def test_the_baseline_as_of_a_pairs_time_folds_in_the_users_later_ratings_before_it() -> None:
    """The value model reads a user's ratings since the cutoff in its history; a baseline that did not knew nothing of a
    user first seen after the cutoff (MovieLens: baseline RMSE 1.07 against the model's 0.81; 0.87 with them)."""
    users, items, y = np.array(["u1", "u1", "u2", "u2"]), np.array(["a", "b", "a", "b"]), np.array([5.0, 3.0, 3.0, 1.0])
    model = BiasBaseline(reg=2.0, iterations=50).fit(users, items, y)
    day = pd.to_datetime(["2024-02-01", "2024-02-02", "2024-02-03"], utc=True).to_numpy()
    later_users, later_items, later_y, later_times = np.array(["new", "u1"]), np.array(["a", "a"]), np.array([5.0, 2.0]), day[:2]
    pairs_u, pairs_i = np.array(["new", "new", "u1", "u1", "u2"]), np.array(["b", "b", "b", "b", "b"])
    times = np.array([day[0], day[1], day[0], day[2], day[2]])
    got = model.predict_as_of(pairs_u, pairs_i, times, later_users, later_items, later_y, later_times)
    plain = model.predict(pairs_u, pairs_i)
    assert got[0] == pytest.approx(plain[0])  # the new user's rating is at that very time: not before it
    r_new = 5.0 - model.mean_ - model.item_bias_[0]  # item a is index 0
    assert got[1] == pytest.approx(model.mean_ + model.item_bias_[1] + r_new / (1 + 2.0))  # one rating, shrunk by reg
    assert got[2] == pytest.approx(plain[2])  # u1's later rating comes after this pair
    r_u1 = 2.0 - model.mean_ - model.item_bias_[0]
    u1 = (model.user_bias_[0] * (2 + 2.0) + r_u1) / (2 + 1 + 2.0)  # two training ratings and one later one
    assert got[3] == pytest.approx(model.mean_ + model.item_bias_[1] + u1)
    assert got[4] == pytest.approx(plain[4])  # u2 has no later rating
    nat = np.array([np.datetime64("NaT")] * 2, dtype="datetime64[ns]")
    assert model.predict_as_of(pairs_u[:2], pairs_i[:2], nat, later_users, later_items, later_y, later_times) == pytest.approx(plain[:2])


def test_the_model_cards_baseline_and_the_pages_fold_in_alike() -> None:
    """The card's validation baseline (training) and the pages' (diagnostics) are one model: same numbers as of each time."""
    from uvp_core.model.examples import bias_baseline

    rng = np.random.default_rng(0)
    users, items, y = rng.integers(0, 8, 60).astype(str), rng.integers(0, 6, 60).astype(str), rng.integers(1, 6, 60).astype(float)
    later_users, later_items, later_y = rng.integers(4, 12, 30).astype(str), rng.integers(0, 7, 30).astype(str), rng.integers(1, 6, 30).astype(float)
    times = np.sort(rng.integers(1_700_000_000_000, 1_700_100_000_000, 30))  # int64 ms, as Examples.times
    card = bias_baseline(users, items, y, later_users, later_items, times=times, y=later_y)
    stamps = pd.to_datetime(times, unit="ms", utc=True).to_numpy()
    pages = BiasBaseline(reg=5.0, iterations=15).fit(users, items, y).predict_as_of(later_users, later_items, stamps, later_users,
                                                                                    later_items, later_y, stamps)  # fmt: skip
    np.testing.assert_allclose(card, pages, atol=1e-12)
    assert not np.allclose(card, bias_baseline(users, items, y, later_users, later_items))  # the fold-in moved something


def purchase_log() -> Dataset:
    """A purchase log: 40 users buy from 30 items on days 0..39, every event a purchase (no negatives in the data)."""
    rng = np.random.default_rng(3)
    n = 400
    events = pd.DataFrame({
        "user_id": [f"u{j}" for j in rng.integers(0, 40, n)],
        "item_id": [f"i{j}" for j in rng.integers(0, 30, n)],
        "timestamp": stamps(sorted(rng.integers(0, 40, n).tolist())),
        "event_type": "purchase",
    }).drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)  # fmt: skip
    return Dataset(events=events)


def test_a_positives_only_set_gets_sampled_negatives_and_the_baseline_too() -> None:
    """Every event of a purchase log is a positive: AUC was undefined and the bias baseline, fitted on all-1 labels,
    predicted 1 and looked perfect. Each positive now gets one sampled item the user never interacted with."""
    from uvp_core.diagnostics.frame import train_labels

    dataset = purchase_log()
    evalset = E.holdout(dataset, "purchase", fraction=0.2)
    observed = evalset.observed_pairs
    assert (observed["y"] == 1).all() and evalset.sampled_negatives == len(observed)
    negatives = evalset.pairs.iloc[len(observed):]
    assert (negatives["y"] == 0).all() and set(negatives.columns) == set(observed.columns)
    seen = set(zip(dataset.events["user_id"], dataset.events["item_id"], strict=True))
    assert not seen & set(zip(negatives["user_id"], negatives["item_id"], strict=True))  # items they never touched
    assert negatives["timestamp"].tolist() == observed["timestamp"].tolist()  # at their positive's time
    assert "sampled items the users never interacted with were added as negatives" in evalset.note
    labels = train_labels(evalset)
    assert set(labels["y"]) == {0.0, 1.0}  # the baseline learns from both classes
    assert E.holdout(dataset, "purchase", fraction=0.2).fingerprint() == evalset.fingerprint()  # seeded
    rated = E.holdout(ratings_dataset(), "rating", fraction=0.2)
    assert rated.sampled_negatives == 0 and "negatives" not in rated.note


def test_a_label_column_of_ones_gets_the_same_negatives_in_the_baseline() -> None:
    from uvp_core.diagnostics.frame import evaluation_frame

    log = purchase_log().events
    dataset = Dataset(events=log.drop(columns=["event_type"]).assign(label=1))  # a transactions layout: label 1 on every row
    evalset = E.holdout(dataset, "label", fraction=0.2)
    assert evalset.sampled_negatives == len(evalset.observed_pairs)
    frame = evaluation_frame(evalset.pairs.assign(prediction=0.5), dataset, evalset)
    assert frame["baseline"].max() < 0.9 and 0.3 < frame["baseline"].mean() < 0.7  # it was 1 everywhere: "perfect"
