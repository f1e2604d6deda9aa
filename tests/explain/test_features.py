"""Interpretable features and masking: the model really sees the input without the feature."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from uvp_core.explain import Background, background_for, masked_inputs, pair_features
from uvp_core.model import HistoryEvent


def test_features_cover_profile_history_item_and_ids(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    groups = [f.group for f in features]
    assert groups.count("profile") == 2  # age_band, region
    read = inputs.history[-rating_model.history_k :]
    assert groups.count("history") == len({e.item_id for e in read})  # one feature per item read
    assert {f.key for f in features if f.group == "history"} == {e.item_id for e in read}
    assert {f.key for f in features if f.group == "item"} == {"title", "category", "price", "description"}
    assert [f.kind for f in features if f.group == "collaborative"] == ["user_id", "item_id"]
    item = next(f for f in features if f.kind == "item_events")
    assert "before" in item.name  # "rated 3 Red Mug 25, 3 months before"
    per_event = pair_features(inputs, rating_model.history_k, history="event")
    assert [f.group for f in per_event].count("history") == min(len(inputs.history), rating_model.history_k)
    assert all(f.kind == "event" for f in per_event if f.group == "history")


def test_an_items_events_are_one_feature_named_in_order(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    t = pd.Timestamp("2024-06-01", tz="UTC")
    funnel = [HistoryEvent("i003", kind, t + pd.Timedelta(minutes=m)) for m, kind in enumerate(("view", "cart", "view", "purchase"))]
    other = HistoryEvent("i004", "view", t + pd.Timedelta(days=1))
    edited = replace(inputs, history=[*funnel, other], time=t + pd.Timedelta(days=4))
    history = [f for f in pair_features(edited, rating_model.history_k) if f.group == "history"]
    assert [f.key for f in history] == ["i004", "i003"]  # most recent first
    assert history[1].name.startswith("viewed, added to cart and purchased ") and history[1].name.endswith(", 3 days before")
    assert history[1].value.startswith("i003 · view → cart → view → purchase · 2024-06-01 00:03")
    keep = np.array([f.key != "i003" for f in pair_features(edited, rating_model.history_k)])
    masked = masked_inputs(edited, pair_features(edited, rating_model.history_k), keep, Background())
    assert masked.history == [other]  # every event of the item leaves the history
    with pytest.raises(ValueError, match="history must be one of"):
        pair_features(edited, rating_model.history_k, history="session")


def test_background_is_mode_median_or_absent(rating_model, rating_dataset):
    background = background_for(rating_model, rating_dataset)
    users, items = rating_dataset.users, rating_dataset.items
    assert background.profile["age_band"] == users["age_band"].mode().iloc[0]
    assert background.item["price"] == float(items["price"].median())
    assert background.item["category"] in set(items["category"])
    assert background.item["title"] is None and background.item["description"] is None  # free-form: left out


def test_masking_replaces_removes_and_unknowns(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    background = background_for(rating_model, rating_dataset)
    keep = np.ones(len(features), bool)
    assert masked_inputs(inputs, features, keep, background).history == inputs.history
    keep[:] = False
    masked = masked_inputs(inputs, features, keep, background)
    assert masked.user_id is None and masked.item_id is None
    assert masked.profile == background.profile
    assert "title" not in masked.item and masked.item["price"] == background.item["price"]
    used = {f.key for f in features if f.kind == "item_events"}
    assert len(masked.history) == sum(e.item_id not in used for e in inputs.history) < len(inputs.history)
    assert inputs.user_id == "u001" and {e.item_id for e in inputs.history} >= used  # the original is unchanged
    # masking changes what the model sees, so (generically) the prediction
    scores = rating_model.score_inputs([inputs, masked])
    assert scores[0] != scores[1]


def test_item_fields_left_out_background(rating_model, rating_dataset):
    typical = background_for(rating_model, rating_dataset)
    left_out = background_for(rating_model, rating_dataset, item_fields="absent")
    numeric = [c for c, v in typical.item.items() if isinstance(v, float)]
    assert numeric and any(isinstance(v, str) for v in typical.item.values())
    assert all(left_out.item[c] is None for c in typical.item if c not in numeric)  # categorical and free text: left out
    assert all(left_out.item[c] == typical.item[c] for c in numeric)  # numbers keep the median (a missing price is rare)
    assert left_out.profile == typical.profile  # user attributes keep their own background
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    keep = np.array([f.kind != "item_field" for f in features])
    masked = masked_inputs(inputs, features, keep, left_out)
    fields = [f.key for f in features if f.kind == "item_field" and f.key not in numeric]
    assert fields and not any(k in masked.item for k in fields) and all(k in inputs.item for k in fields)
    with pytest.raises(ValueError, match="item_fields must be one of"):
        background_for(rating_model, rating_dataset, item_fields="population")


def test_absent_attribute_background(rating_model, rating_dataset):
    background = background_for(rating_model, rating_dataset, attributes="absent")
    assert set(background.profile.values()) == {None}
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    keep = np.array([f.group != "profile" for f in features])
    assert masked_inputs(inputs, features, keep, background).profile == {}


def test_a_population_sample_of_one_value_is_noted() -> None:
    """A browser audit: on Online Retail (92% of customers in the UK) "a sample of 8 users" changed nothing, since the
    eight were all UK customers, and nothing said why."""
    from uvp_core.explain.features import ABSENT, Background, uniform_sample_note

    uk = Background(profiles=tuple({"country": "United Kingdom", "tier": t, "age": ABSENT} for t in ("basic", "premium")))
    note = uniform_sample_note(uk)
    assert note.startswith("All 2 sampled users have country = United Kingdom:") and "tier" not in note and "age" not in note
    mixed = Background(profiles=({"country": "United Kingdom"}, {"country": "France"}))
    assert uniform_sample_note(mixed) is None and uniform_sample_note(Background(profile={"country": "France"})) is None
