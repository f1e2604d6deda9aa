"""Interpretable features and masking: the model really sees the input without the feature."""

from __future__ import annotations

import numpy as np

from uvp_core.explain import background_for, masked_inputs, pair_features


def test_features_cover_profile_history_item_and_ids(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    groups = [f.group for f in features]
    assert groups.count("profile") == 2  # age_band, region
    assert groups.count("history") == min(len(inputs.history), rating_model.history_k)
    assert {f.key for f in features if f.group == "item"} == {"title", "category", "price", "description"}
    assert [f.kind for f in features if f.group == "collaborative"] == ["user_id", "item_id"]
    event = next(f for f in features if f.kind == "event")
    assert "before" in event.name  # "rated 3 Red Mug 25, 3 months before"


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
    used = {f.key for f in features if f.kind == "event"}
    assert len(masked.history) == len(inputs.history) - len(used)
    assert inputs.user_id == "u001" and len(inputs.history) >= len(used)  # the original is unchanged
    # masking changes what the model sees, so (generically) the prediction
    scores = rating_model.score_inputs([inputs, masked])
    assert scores[0] != scores[1]


def test_absent_attribute_background(rating_model, rating_dataset):
    background = background_for(rating_model, rating_dataset, attributes="absent")
    assert set(background.profile.values()) == {None}
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    features = pair_features(inputs, rating_model.history_k)
    keep = np.array([f.group != "profile" for f in features])
    assert masked_inputs(inputs, features, keep, background).profile == {}
