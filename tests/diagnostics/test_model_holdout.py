"""The default evaluation set is held out from the model's training: its own validation period, recomputed.

The checks compare with what training itself recorded (`n_validation`, `val_rmse`), and with cutoffs
computed here by hand, so a drift between the model's split and the diagnostics' split fails them.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from uvp_core.data.contract import Dataset
from uvp_core.diagnostics import evaluation_set as E
from uvp_core.model import TrainConfig, load_model


def test_rating_model_default_set_is_its_validation_period(rating_model, rating_dataset) -> None:
    evalset = E.model_holdout(rating_model, rating_dataset)
    rated = rating_dataset.events.loc[rating_dataset.events["rating"].notna()]
    times = np.sort(rated["timestamp"].to_numpy())
    cutoff = pd.Timestamp(times[int(len(times) * (1 - rating_model.config.val_fraction))])
    assert evalset.cutoff == cutoff
    assert (
        len(evalset.pairs) == rating_model.metrics_["n_validation"]
    )  # exactly the examples training validated on
    assert (evalset.train_events["timestamp"] < cutoff).all() and (evalset.pairs["timestamp"] >= cutoff).all()
    assert evalset.source == "validation period"
    assert evalset.note.startswith("held-out: events from ") and "not seen in training" in evalset.note
    assert "before their refit" in evalset.note  # scored as validated: the biases before they read these events
    prediction = rating_model.as_validated().predict(rating_dataset, evalset.pairs)
    rmse = np.sqrt(np.mean((prediction - evalset.pairs["y"].to_numpy()) ** 2))
    assert rmse == pytest.approx(
        rating_model.metrics_["val_rmse"], rel=1e-5
    )  # training's own validation RMSE


def test_purchase_model_default_set_starts_where_its_validation_examples_start(
    purchase_model, binary_dataset
) -> None:
    events = binary_dataset.events
    evalset = E.model_holdout(purchase_model, binary_dataset)
    assert evalset.note.startswith("held-out:") and "calibrate" in evalset.note
    # Training's examples: purchase events, the other events that no later purchase of their pair follows, and one
    # sampled negative per purchase at the purchase's time (minus the few that found no unseen item: `dropped`).
    purchase = (events["event_type"] == "purchase").to_numpy()
    pair = events["user_id"] + "|" + events["item_id"]
    last = events.loc[purchase].assign(pair=pair[purchase]).groupby("pair")["timestamp"].max()
    converting = purchase | (pair.map(last) >= events["timestamp"]).fillna(False).to_numpy()
    metrics = purchase_model.metrics_
    dropped = int(purchase.sum()) - metrics["n_sampled_negatives"]
    assert 0 <= dropped <= 5
    assert (
        purchase.sum() + (~converting).sum() + metrics["n_sampled_negatives"]
        == metrics["n_train"] + metrics["n_validation"]
    )
    after = (events["timestamp"] >= evalset.cutoff).to_numpy()
    for side, count in ((after, metrics["n_validation"]), (~after, metrics["n_train"])):
        most = 2 * (purchase & side).sum() + (~converting & side).sum()
        assert most - dropped <= count <= most  # the split this cutoff makes is training's split
    assert set(evalset.pairs["y"]) == {0.0, 1.0} and (evalset.pairs["timestamp"] >= evalset.cutoff).all()
    # Its calibration mix held sampled items these pairs do not: the note says so, once, on every model-aware source.
    assert "the calibration was fitted on these events and on sampled items" in evalset.note
    assert evalset.note.count("its probabilities are relative to its training mix, which adds 1 sampled item the user") == 1
    for other in (E.model_fraction_holdout(purchase_model, binary_dataset, 0.2), E.all_events_for([purchase_model], binary_dataset)):
        assert other.note.count("its probabilities are relative to its training mix") == 1
    rating_like = copy.copy(purchase_model)
    rating_like.metrics_ = {**purchase_model.metrics_, "n_event_negatives": 0}  # a log of positives only: one mix
    assert E.calibration_mix_note(rating_like) == ""


def test_another_dataset_gets_a_time_holdout_that_says_so(rating_model, rating_dataset) -> None:
    other = replace(rating_dataset, events=rating_dataset.events.iloc[1:].reset_index(drop=True))
    assert E.trained_on(rating_model, rating_dataset) and not E.trained_on(rating_model, other)
    evalset = E.model_holdout(rating_model, other)
    assert evalset.cutoff == E.holdout(other, "rating").cutoff and evalset.source == "holdout"
    assert evalset.note.startswith("time holdout: the latest 10%") and "trained on other data" in evalset.note


def test_the_same_events_with_other_items_count_as_the_models_own_data(rating_model, rating_dataset, tmp_path) -> None:
    """A review compared a model on a re-upload of its own events (one title fixed): the data fingerprint differed, so
    the model was scored with biases refitted on those very events (validation RMSE 0.842, "held-out" 0.768)."""
    items = rating_dataset.items.copy()
    items.loc[0, "title"] = "<b>x</b>"
    reupload = replace(rating_dataset, items=items)
    assert reupload.fingerprint() != rating_dataset.fingerprint()
    assert reupload.events_fingerprint() == rating_dataset.events_fingerprint()
    for model in (rating_model, load_model(rating_model.save(tmp_path / "m"))):  # recorded, and kept on saving
        assert E.trained_on(model, reupload) and E.scored_as_validated(model, reupload)
        assert E.model_holdout(model, reupload).cutoff == E.model_holdout(model, rating_dataset).cutoff
    assert not E.trained_on(rating_model, replace(rating_dataset, events=rating_dataset.events.iloc[1:].reset_index(drop=True)))


def test_a_test_file_is_checked_against_the_models_validation_cutoff(rating_model, rating_dataset) -> None:
    events = rating_dataset.events
    cutoff = E.model_holdout(rating_model, rating_dataset).cutoff
    late = int((events["timestamp"] >= cutoff).sum())

    def test_file(rows: pd.DataFrame, *, timestamps: bool = True) -> bytes:
        columns = (
            ["user_id", "item_id", "timestamp", "rating"] if timestamps else ["user_id", "item_id", "rating"]
        )
        return (
            rows.assign(timestamp=rows["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))[columns]
            .to_csv(index=False)
            .encode()
        )

    def note(data: bytes, dataset=rating_dataset) -> str:
        return E.annotate_test_set(
            E.read_test_set(data, dataset, "rating", name="t.csv"), rating_model, dataset
        ).note

    assert note(test_file(events.tail(late))).startswith("held-out: every row of test file t.csv is from ")
    assert note(test_file(events.tail(late + 7))).startswith(
        f"partly in-sample: 7 of {late + 7:,} rows of test file t.csv are before "
    )
    assert "cannot be told" in note(test_file(events.tail(5), timestamps=False))
    other = replace(rating_dataset, events=events.iloc[1:].reset_index(drop=True))
    assert "trained on other data" in note(test_file(events.tail(5)), other)


def hand_dataset(days: list[int]) -> Dataset:
    """Rated events on the given days (two users, three items)."""
    n = len(days)
    events = pd.DataFrame({
        "user_id": [f"u{i % 2}" for i in range(n)],
        "item_id": [f"i{i % 3}" for i in range(n)],
        "timestamp": (pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, unit="D")).astype("datetime64[ms, UTC]"),
        "rating": [float(1 + i % 5) for i in range(n)],
    })  # fmt: skip
    return Dataset(events=events)


def fake_model(dataset: Dataset, **config) -> SimpleNamespace:
    """What model_holdout reads from a ValueModel: target, task, config and the data fingerprint."""
    return SimpleNamespace(target="rating", task="regression", config=TrainConfig(target="rating", **config),
                           data_fingerprint_=dataset.fingerprint())  # fmt: skip


def test_all_events_and_a_random_validation_split_are_labelled_in_sample() -> None:
    dataset = hand_dataset(list(range(20)))
    everything = E.all_label_events(dataset, "rating", in_sample=True)
    assert len(everything.pairs) == 20 and everything.cutoff is None
    assert everything.note == "in-sample: the model trained on these events — numbers are optimistic"
    assert E.all_label_events(dataset, "rating", in_sample=False).note.startswith(
        "all label events of this dataset"
    )
    same_day = hand_dataset([0] * 20)  # one distinct time: training split its validation set at random
    evalset = E.model_holdout(fake_model(same_day), same_day)
    assert E.model_validation_cutoff(fake_model(same_day), same_day) is None
    assert evalset.note.startswith("in-sample:") and "at random" in evalset.note


def test_two_models_share_the_later_default_set() -> None:
    dataset = hand_dataset(list(range(20)))
    a, b = fake_model(dataset, val_fraction=0.3), fake_model(dataset, val_fraction=0.1)
    assert E.model_holdout(a, dataset).cutoff == pd.Timestamp(
        "2024-01-15", tz="UTC"
    )  # days 14..19: 30% of 20
    shared = E.holdout_for_models(a, b, dataset)
    assert (
        shared.cutoff == pd.Timestamp("2024-01-19", tz="UTC") and len(shared.pairs) == 2
    )  # days 18, 19: 10%
    assert "the later of the two models' default sets" in shared.note
    assert E.holdout_for_models(b, b, dataset).note == E.model_holdout(b, dataset).note


def test_the_cutoff_is_recorded_with_the_model_and_matches_the_recomputed_one(rating_model, rating_dataset) -> None:
    recorded = rating_model.metrics_["validation_cutoff"]
    assert rating_model.metrics_["validation_split"] == "time" and recorded
    assert E.model_validation_cutoff(rating_model, rating_dataset) == pd.Timestamp(recorded)
    older = SimpleNamespace(**{**vars(rating_model), "metrics_": {}})  # a model saved before the cutoff was recorded
    older.target, older.task, older.config = rating_model.target, rating_model.task, rating_model.config
    assert E.model_validation_cutoff(older, rating_dataset) == pd.Timestamp(recorded)


def test_a_test_file_note_says_how_many_rows_had_no_usable_label(rating_model, rating_dataset, tmp_path) -> None:
    """evaluate --test left rows with empty ratings out quietly (only a count deep in the JSON); a rating that is
    not a number ('five') is an error naming its row (session 14: it was left out like an empty one)."""
    from uvp_core.diagnostics import evaluation_set

    late = rating_dataset.events.tail(3)
    rows = [f"{u},{i},{t.isoformat()},{r}" for u, i, t, r in zip(late["user_id"], late["item_id"], late["timestamp"], ["4", "", ""], strict=True)]
    (tmp_path / "t.csv").write_text("user_id,item_id,timestamp,rating\n" + "\n".join(rows) + "\n")
    evalset = evaluation_set.read_test_set(tmp_path / "t.csv", rating_dataset, "rating")
    note = evaluation_set.annotate_test_set(evalset, rating_model, rating_dataset).note
    assert len(evalset.pairs) == 1 and note.endswith("; 2 row(s) without a usable label were left out")
    (tmp_path / "t.csv").write_text("user_id,item_id,timestamp,rating\n" + "\n".join(rows).replace(",\n", ",five\n", 1) + "\n")
    with pytest.raises(ValueError, match=r"t\.csv: column rating is not a number in row\(s\) 2"):
        evaluation_set.read_test_set(tmp_path / "t.csv", rating_dataset, "rating")


def test_every_set_on_the_training_data_says_the_biases_are_from_before_their_refit(rating_model, rating_dataset) -> None:
    """scoring.as_scored scores any set on the model's own data with the pre-refit biases, so each such note says so."""
    refit = "scored with the user and item biases as they were before their refit"
    assert rating_model.validated_  # trained with refit_biases (the default)
    assert refit in E.all_events_for([rating_model], rating_dataset).note
    everything = E.all_events_for([rating_model], rating_dataset)
    cutoff = E.model_validation_cutoff(rating_model, rating_dataset)
    later = int((everything.pairs["timestamp"] >= cutoff).sum())
    assert 0 < later < len(everything.pairs)  # the validation period: in the set, but not trained on
    assert everything.note.startswith(f"partly in-sample: the model trained on the {len(everything.pairs) - later:,} pairs before ")
    assert f"the other {later:,}, its validation period, only chose when training stopped" in everything.note
    assert refit in E.noting_refit(E.holdout(rating_dataset, "rating"), rating_dataset, rating_model).note
    late = rating_dataset.events.tail(3)
    data = late[["user_id", "item_id", "timestamp", "rating"]].assign(
        timestamp=late["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    test = E.read_test_set(data.to_csv(index=False).encode(), rating_dataset, "rating", name="t.csv")
    assert refit in E.annotate_test_set(test, rating_model, rating_dataset).note
    other = replace(rating_dataset, events=rating_dataset.events.iloc[1:].reset_index(drop=True))  # another fingerprint
    assert refit not in E.all_events_for([rating_model], other).note
    assert refit not in E.annotate_test_set(test, rating_model, other).note
    assert refit not in E.all_events_for([rating_model.as_validated()], rating_dataset).note  # nothing was swapped


def test_a_chosen_holdout_says_how_much_of_it_the_model_trained_on() -> None:
    """`evaluate --holdout 0.2` on a model's own data scored half its training period without a word."""
    dataset = hand_dataset(list(range(20)))
    model = fake_model(dataset, val_fraction=0.1)  # trained on days 0..17
    wide = E.model_fraction_holdout(model, dataset, 0.3)  # days 14..19
    assert wide.note.startswith("partly in-sample: 4 of 6 of these pairs are before 2024-01-19 00:00 UTC")
    assert "numbers are optimistic (time holdout: the latest 30%" in wide.note
    narrow = E.model_fraction_holdout(model, dataset, 0.1)  # days 18, 19: the model's own validation period
    assert narrow.note.startswith("time holdout:") and "in-sample" not in narrow.note
    other = hand_dataset(list(range(21)))
    assert "trained on other data" in E.model_fraction_holdout(model, other, 0.3).note
    same_day = hand_dataset([0] * 20)
    assert E.model_fraction_holdout(fake_model(same_day), same_day, 0.5).note.startswith("in-sample: the model split its validation set at random")
