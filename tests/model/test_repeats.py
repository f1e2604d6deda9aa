"""Binary models count the user's earlier outcomes on the candidate item ("bought it 3 times before") as a numeric
feature, over all earlier events, not only the history read one by one; rating models do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uvp_core.explain.features import Background, masked_inputs, pair_features
from uvp_core.model import TrainConfig, train
from uvp_core.model.examples import repeat_kinds
from uvp_core.model.features import NAT_MS, REPEAT_FEATURE, EventIndex, FeatureSpace, to_ms


@pytest.fixture(scope="module")
def short_model(binary_dataset, tiny_bert_dir):
    """A purchase model reading 4 events one by one: most earlier purchases are older than that."""
    config = TrainConfig(epochs=2, batch_size=64, patience=10, target="purchase", history_k=4)
    return train(binary_dataset, config, encoder_dir=tiny_bert_dir)


def test_repeat_kinds_per_target() -> None:
    kinds = ["click", "label 0", "label 1", "purchase", "rated 4", "view"]
    assert repeat_kinds("purchase", kinds) == ["purchase"]
    assert repeat_kinds("label", kinds) == ["label 1"]
    assert repeat_kinds("rating", kinds) == []
    assert repeat_kinds("click", ["purchase", "view"]) == []


def test_event_index_counts_earlier_events_of_the_repeat_kinds_only() -> None:
    t = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-02"], utc=True)
    events = pd.DataFrame({
        "user_id": ["a", "a", "a", "a", "b"],
        "item_id": ["x", "x", "x", "y", "x"],
        "timestamp": t,
        "event_type": ["purchase", "view", "purchase", "purchase", "purchase"],
    })  # fmt: skip
    space = FeatureSpace([], [], [], ["purchase", "view"], target_kinds=["purchase"], repeat_kinds=["purchase"])
    index = EventIndex(events, space)
    users = np.array(["a", "a", "a", "a", "b", "b", "c", "a"], dtype=object)
    items = np.array(["x", "x", "x", "x", "x", "y", "x", "z"], dtype=object)
    at = to_ms(pd.to_datetime(["2024-01-01 00:00:00", "2024-01-03 00:00:00", "2024-01-05 00:00:00", "2024-01-03 00:00:01"] * 2, utc=True))
    times = np.concatenate([at[:4], [NAT_MS, NAT_MS, NAT_MS, NAT_MS]])
    # strictly before the time; the view on x is not counted; NAT_MS = all events; unknown user or item -> 0
    assert index.repeats(users, items, times, space).tolist() == [0, 1, 2, 2, 1, 0, 0, 0]
    assert space.numeric_names[-1] == REPEAT_FEATURE and len(space.numeric_mean) == len(space.numeric_names)


def test_rating_models_keep_four_numeric_features(rating_model) -> None:
    assert rating_model.space_.repeat_kinds == []
    assert len(rating_model.space_.numeric_mean) == 4


def _bought_pairs(dataset) -> pd.DataFrame:
    """Every (user, item) the user purchased, scored one second after the user's last event."""
    ev = dataset.events
    bought = ev.loc[ev["event_type"] == "purchase", ["user_id", "item_id"]].drop_duplicates()
    last = ev.groupby("user_id")["timestamp"].max() + pd.Timedelta(seconds=1)
    return bought.assign(timestamp=bought["user_id"].map(last).to_numpy()).reset_index(drop=True)


def test_earlier_purchases_beyond_the_window_count_in_both_paths(short_model, binary_dataset) -> None:
    model, ev = short_model, binary_dataset.events
    assert model.space_.repeat_kinds == ["purchase"] and len(model.space_.numeric_mean) == 5
    pairs = _bought_pairs(binary_dataset)
    inputs = [model.pair_inputs(binary_dataset, u, i, t) for u, i, t in pairs.itertuples(index=False)]
    bought = ev.loc[ev["event_type"] == "purchase"].groupby(["user_id", "item_id"]).size()
    assert [row.repeats(["purchase"]) for row in inputs] == [int(bought[(u, i)]) for u, i, _ in pairs.itertuples(index=False)]
    assert sum(row.earlier_repeats > 0 for row in inputs) >= 3  # older than the window: the history read misses them
    np.testing.assert_allclose(model.score_inputs(inputs), model.predict(binary_dataset, pairs), atol=1e-5)


def test_explanations_name_and_mask_the_earlier_repeats(short_model, binary_dataset) -> None:
    model = short_model
    pairs = _bought_pairs(binary_dataset)
    inputs = [model.pair_inputs(binary_dataset, u, i, t) for u, i, t in pairs.itertuples(index=False)]
    row = next(r for r in inputs if r.earlier_repeats > 0)
    features = pair_features(row, model.history_k, repeat=model.space_.repeat_kinds)
    earlier = [f for f in features if f.kind == "earlier"]
    unread = row.earlier_repeats + sum(1 for e in row.reserve if e.item_id == row.item_id and e.kind == "purchase")
    assert len(earlier) == 1 and f"; {unread} of them on this item" in earlier[0].name
    read = sum(1 for e in row.history if e.item_id == row.item_id and e.kind == "purchase")
    assert (f"({row.repeats(['purchase'])} with those read one by one)" in earlier[0].name) == (read > 0)
    background = Background(profile={}, item={})
    keep = np.ones(len(features), dtype=bool)
    assert masked_inputs(row, features, keep, background).repeats(["purchase"]) == row.repeats(["purchase"])
    np.testing.assert_allclose(model.score_inputs([masked_inputs(row, features, keep, background)]), model.score_inputs([row]), atol=1e-6)
    keep[features.index(earlier[0])] = False
    masked = masked_inputs(row, features, keep, background)
    shown = sum(1 for e in row.history if e.item_id == row.item_id and e.kind == "purchase")
    assert masked.n_earlier == 0 and masked.repeats(["purchase"]) == shown  # only the events read one by one are left
    keep[:] = True
    keep[[j for j, f in enumerate(features) if f.kind == "item_id"]] = False  # the unknown item ID, not another item
    assert masked_inputs(row, features, keep, background).repeats(["purchase"]) == row.repeats(["purchase"])


def test_the_count_is_saved_and_named_in_the_card(short_model, rating_model, tmp_path) -> None:
    from uvp_core.model import load_model

    folder = short_model.save(tmp_path / "purchase")
    assert load_model(folder).space_.repeat_kinds == ["purchase"]
    assert "how many times the user had the outcome (purchase) on the candidate item before" in (folder / "README.md").read_text()
    assert "on the candidate item before" not in (rating_model.save(tmp_path / "rating") / "README.md").read_text()


def test_a_log_of_positives_only_is_named_in_the_card(binary_dataset, short_model, tiny_bert_dir, tmp_path) -> None:
    """A browser audit found 40% of a purchase log's known pairs at 0.9999: nothing there is a negative of a bought item."""
    from dataclasses import replace

    events = binary_dataset.events
    purchases = replace(binary_dataset, events=events.loc[events["event_type"] == "purchase"].reset_index(drop=True))
    model = train(purchases, TrainConfig(epochs=1, batch_size=64, target="purchase", history_k=4), encoder_dir=tiny_bert_dir)
    assert model.metrics_["n_event_negatives"] == 0 and short_model.metrics_["n_event_negatives"] > 0
    line = "no event in the data says that a user did *not* take an item"
    assert line in (model.save(tmp_path / "only") / "README.md").read_text()
    assert line not in (short_model.save(tmp_path / "mixed") / "README.md").read_text()
