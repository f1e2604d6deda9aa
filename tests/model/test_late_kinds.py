"""Rating models read views last: views fill only the history places that a user's other events leave free.

On the sample shop, views are 60% of the events and pushed the purchases that carry a user's tastes out of
the 20 events the model reads (docs/BENCHMARKS.md, session 11). Both scoring paths (predict's vectorised
Context and score_inputs' explicit events, as SHAP and what-if use) must pick the same events.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from uvp_core.data.contract import Dataset
from uvp_core.explain.features import pair_features, used_history
from uvp_core.explain.whatif import within_window
from uvp_core.model import HistoryEvent, TrainConfig, read_positions, train
from uvp_core.model.features import fit_late_kinds, read_slots

K = 5


def test_views_fill_only_the_free_places() -> None:
    kinds = ["purchase", "view", "click", "view", "view", "rated 5", "view", "view"]  # oldest first
    assert read_positions(kinds, ["view"], 3) == [0, 2, 5]  # three non-views: every view left out
    assert read_positions(kinds, ["view"], 5) == [0, 2, 5, 6, 7]  # two places left: the two latest views
    assert read_positions(kinds, [], 5) == [3, 4, 5, 6, 7]  # no late kinds: the most recent, by time only
    assert read_positions([], ["view"], 5) == []
    candidates = np.array([[True, True, False, True], [True, True, True, True]])  # row 0: one event left out
    late = np.array([[False, True, False, True], [True, True, True, False]])
    assert read_slots(candidates, late, 2).tolist() == [[True, False, False, True], [False, False, True, True]]


def test_late_kinds_are_views_when_other_kinds_exist() -> None:
    assert fit_late_kinds(["click", "purchase", "rated 4", "view"], ["rated 4"]) == ["view"]
    assert fit_late_kinds(["click", "view"], ["view"]) == []  # the target itself is never read last
    assert fit_late_kinds(["view"], []) == []  # nothing else to read first
    assert fit_late_kinds(["rated 4", "rated 5"], ["rated 4", "rated 5"]) == []


@pytest.fixture(scope="module")
def rated_shop(binary_dataset) -> Dataset:
    """The shop's events with a 1-5 rating on every purchase: a rating target next to views and clicks."""
    events = binary_dataset.events.copy()
    rng = np.random.default_rng(3)
    rating = rng.integers(1, 6, len(events)).astype("float64")
    events["rating"] = np.where(events["event_type"] == "purchase", rating, np.nan)
    return replace(binary_dataset, events=events, name="rated shop")


@pytest.fixture(scope="module")
def late_model(rated_shop, tiny_bert_dir):
    return train(rated_shop, TrainConfig(epochs=2, batch_size=64, history_k=K, target="rating"), encoder_dir=tiny_bert_dir)


def test_rating_model_reads_views_last_and_both_paths_agree(late_model, rated_shop) -> None:
    assert late_model.late_kinds == ["view"]
    events = rated_shop.events
    users = events["user_id"].value_counts().index[:15]
    items = rated_shop.items["item_id"].iloc[:15].tolist()
    pairs = pd.DataFrame({"user_id": users, "item_id": items})
    inputs = [late_model.pair_inputs(rated_shop, u, i) for u, i in pairs.itertuples(index=False)]
    crowded = 0
    for row in inputs:
        mine = events.loc[events["user_id"] == row.user_id].sort_values("timestamp", kind="stable")
        others = mine.loc[(mine["event_type"] != "view") & ~((mine["item_id"] == row.item_id) & mine["rating"].isna())]
        if len(others.tail(K * 5)) >= K and (mine.tail(K)["event_type"] == "view").any():
            crowded += 1  # a recent view that the model does not read
            assert not [e for e in row.history if e.kind == "view"]
            assert len(row.history) == K
    assert crowded >= 3
    np.testing.assert_allclose(late_model.score_inputs(inputs), late_model.predict(rated_shop, pairs), atol=1e-5)


def test_an_added_event_pushes_out_a_view_first(late_model, rated_shop) -> None:
    """What-if: one more purchase in a full history drops its oldest view, not its oldest event; the explanation
    lists the events the model reads, and the model scores the edited inputs as it scores what it lists."""
    model = late_model
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    kinds = ["purchase", "view", "click", "view", "purchase"]  # a full history (K events) holding views, oldest first
    history = [HistoryEvent(f"i{10 + j:03d}", kind, t0 + pd.Timedelta(days=j)) for j, kind in enumerate(kinds)]
    base = model.pair_inputs(rated_shop, "u001", "i000", t0 + pd.Timedelta(days=30))
    inputs = replace(base, history=history, history_fields={e.item_id: {} for e in history}, reserve=[])  # these events only
    t = pd.Timestamp(max(e.timestamp for e in inputs.history)) + pd.Timedelta(hours=1)
    edited = replace(inputs, history=[*inputs.history, HistoryEvent("i001", "purchase", t)])
    kept = within_window(edited, K, model.late_kinds)
    first_view = kinds.index("view")
    assert kept.history == [e for j, e in enumerate(inputs.history) if j != first_view] + [edited.history[-1]]
    assert kept.n_earlier == inputs.n_earlier + 1
    assert sorted(used_history(edited, K, model.late_kinds)) == [j for j in range(K + 1) if j != first_view]
    listed = [f for f in pair_features(edited, K, late=model.late_kinds) if f.kind == "item_events"]
    assert {f.key for f in listed} == {e.item_id for e in kept.history}
    np.testing.assert_allclose(model.score_inputs([edited]), model.score_inputs([replace(kept, n_earlier=edited.n_earlier)]), atol=1e-6)


def test_late_kinds_are_saved_loaded_and_on_the_card(late_model, rated_shop, tmp_path) -> None:
    from uvp_core.model import load_model

    late_model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.late_kinds == ["view"]
    pairs = rated_shop.events[["user_id", "item_id"]].head(20)
    np.testing.assert_allclose(loaded.predict(rated_shop, pairs), late_model.predict(rated_shop, pairs), atol=1e-6)
    card = (tmp_path / "m" / "README.md").read_text()
    assert "Events of kind view fill only the history places" in card
    assert "biases were refitted on training and validation ratings" in card


def test_a_removed_event_lets_the_next_unread_event_in_as_deleting_it_would(late_model, rated_shop) -> None:
    """What-if: removing an event the model reads from a full history frees its place for the event the model would
    read without it (an older non-view first, else the latest view it left out), as deleting it from the data does.
    (Here every user has older non-views in reserve; test_whatif has a view coming in.)"""
    from uvp_core.explain.whatif import RemoveEvent, what_if

    events = rated_shop.events
    checked, kinds_in = 0, []
    for user in events["user_id"].unique():
        inputs = late_model.pair_inputs(rated_shop, user, "i000")
        if not inputs.reserve or len(inputs.history) < K or checked >= 8:
            continue
        latest = max(range(len(inputs.history)), key=lambda j: inputs.history[j].timestamp)
        removed = inputs.history[latest]
        result = what_if(late_model, inputs, [RemoveEvent(latest)], None, explain=False)
        came_in = [e for e in result.edited.history if e not in inputs.history]
        assert len(result.edited.history) == K and len(came_in) == 1 and came_in[0] in inputs.reserve
        kinds_in.append(came_in[0].kind)
        row = np.flatnonzero(((events["user_id"] == user) & (events["item_id"] == removed.item_id) & (events["timestamp"] == removed.timestamp)).to_numpy())[0]
        deleted = replace(rated_shop, events=events.drop(index=events.index[row]).reset_index(drop=True))
        pair = pd.DataFrame({"user_id": [user], "item_id": ["i000"]})
        np.testing.assert_allclose(result.after, late_model.predict(deleted, pair)[0], atol=1e-5)
        checked += 1
    assert checked >= 5, kinds_in
