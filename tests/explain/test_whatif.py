"""What-if edits for one user and a cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uvp_core.explain import ExplainConfig, background_for, whatif


def test_edits_do_not_change_the_original(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    n = len(inputs.history)
    edited = whatif.apply_edits(inputs, [whatif.SetAttribute("region", "South"), whatif.DropLastEvents(2),
                                         whatif.add_event(rating_dataset, "i004", "rated 5"), whatif.SetItemField("price", 1.0)])  # fmt: skip
    assert edited.profile["region"] == "South" and edited.item["price"] == 1.0
    assert len(edited.history) == n - 2 + 1
    assert edited.history_fields["i004"]["title"] == rating_dataset.items.set_index("item_id").loc["i004", "title"]
    assert len(inputs.history) == n and inputs.item["price"] != 1.0


def test_move_event_keeps_timestamps(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    moved = whatif.MoveEvent(0, 3).apply(inputs)
    assert sorted(e.timestamp for e in moved.history) == sorted(e.timestamp for e in inputs.history)
    first = min(inputs.history, key=lambda e: e.timestamp)
    assert sorted(moved.history, key=lambda e: e.timestamp)[3].item_id == first.item_id


def test_what_if_repredicts_with_explanation(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    result = whatif.what_if(rating_model, inputs, [whatif.DropLastEvents(5), whatif.SetItemField("category", "Toys")],
                            background_for(rating_model, rating_dataset), config=ExplainConfig(permutations=2))  # fmt: skip
    assert result.before == rating_model.score_inputs([inputs])[0]
    assert result.after == rating_model.score_inputs([result.edited])[0]
    assert result.delta != 0
    exp = result.explanation
    assert abs(float(exp.base_values) + exp.values.sum() - result.after) < 1e-4


def test_cohort_what_if_mean_shift_and_interval(rating_model, rating_dataset):
    users = sorted(rating_dataset.events["user_id"].unique())[:12]
    pairs = pd.DataFrame({"user_id": users, "item_id": "i005"})
    inputs = whatif.cohort_inputs(rating_model, rating_dataset, pairs)
    direct = [rating_model.pair_inputs(rating_dataset, u, "i005") for u in users]
    assert rating_model.score_inputs(inputs).tolist() == rating_model.score_inputs(direct).tolist()
    result = whatif.cohort_what_if(rating_model, rating_dataset, pairs, whatif.DropLastEvents(3), inputs=inputs)
    assert len(result.frame) == 12
    assert np.allclose(result.frame["after"] - result.frame["before"], result.frame["delta"])
    assert result.ci_low <= result.mean_shift <= result.ci_high
    assert result.summary()["users"] == 12


def test_user_search_and_cohorts(rating_dataset):
    table = whatif.user_table(rating_dataset)
    assert {"user_id", "events", "age_band", "region", "segment"} <= set(table.columns)
    found = whatif.search_users(table, "north")
    assert len(found) and (found["region"] == "North").all()
    assert whatif.search_users(table, "u001")["user_id"].tolist() == ["u001"]
    active = whatif.cohort_users(table, whatif.SEGMENTS[2], "region", "South", max_users=5)
    assert len(active) == 5 and set(table.set_index("user_id").loc[active, "region"]) == {"South"}
    assert whatif.parse_value("12.5", 3.0) == 12.5 and whatif.parse_value("x", "y") == "x"


def test_user_search_needs_every_term_and_matches_whole_attribute_values() -> None:
    """A walk-through found "premium North" matching nothing (one substring) and "male" also listing female users."""
    table = pd.DataFrame({"user_id": ["U00001", "U00002", "U00003", "U00104"], "events": [3, 9, 0, 4],
                          "gender": ["male", "female", "male", None], "region": ["North", "North", "South East", "North"],
                          "tier": ["premium", "premium", "basic", "premium"]})  # fmt: skip
    assert whatif.search_users(table, "premium North")["user_id"].tolist() == ["U00001", "U00002", "U00104"]
    assert whatif.search_users(table, "  north   PREMIUM male ")["user_id"].tolist() == ["U00001"]
    assert whatif.search_users(table, "male")["user_id"].tolist() == ["U00001", "U00003"]  # not the female user
    assert whatif.search_users(table, "east")["user_id"].tolist() == ["U00003"]  # a whole word of a value
    assert whatif.search_users(table, "nort").empty and whatif.search_users(table, "none").empty  # no part-words, no "None"
    assert whatif.search_users(table, "u0000")["user_id"].tolist() == ["U00001", "U00002", "U00003"]  # ids by substring
    assert whatif.search_users(table, "u001 north")["user_id"].tolist() == ["U00104"]


def test_a_cut_user_list_says_so() -> None:
    """A browser audit typed a user id into the Explain page's User list, found nothing, and was not told to search."""
    table = pd.DataFrame({"user_id": [f"u{i:03d}" for i in range(10)], "events": range(10), "tier": ["basic"] * 9 + ["plus"]})
    found = whatif.search_users(table, "", limit=4)
    assert whatif.listed_note(found, len(table), "", limit=4) == "The User list holds the first 4 of 10 users; search above to reach the others."
    assert "users matching this search" in whatif.listed_note(whatif.search_users(table, "basic", limit=4), len(table), "basic", limit=4)
    assert whatif.listed_note(whatif.search_users(table, "plus", limit=4), len(table), "plus", limit=4) is None  # all it could
    assert whatif.listed_note(whatif.search_users(table, "", limit=10), len(table), "", limit=10) is None


def test_users_without_events_are_listed_as_cold_users(rating_dataset) -> None:
    """A walk-through found a user of the users table without events unsearchable ("No user matches this search")."""
    from dataclasses import replace

    cold = pd.DataFrame({"user_id": pd.array(["u900"], dtype="str"), "age_band": ["25-34"], "region": ["North"]})
    dataset = replace(rating_dataset, users=pd.concat([rating_dataset.users, cold], ignore_index=True))
    table = whatif.user_table(dataset)
    row = table.loc[table["user_id"] == "u900"].iloc[0]
    assert row["events"] == 0 and row["segment"] == "new" and row["region"] == "North"
    assert len(table) == rating_dataset.users["user_id"].nunique() + 1
    assert whatif.search_users(table, "u900")["user_id"].tolist() == ["u900"]
    assert whatif.cold_user_note(table, "u900").startswith("u900 has no events in this dataset")
    assert whatif.cold_user_note(table, "u001") is None
    assert "u900" in whatif.cohort_users(table, whatif.SEGMENTS[1], max_users=1000)  # at most 5 events: none counts


def test_edits_refuse_blank_values_and_text_for_numbers(rating_dataset):
    """A review found a price of "abc" accepted (the model then read "item price = abc") and a cohort set to a blank tier."""
    with pytest.raises(ValueError, match="item price must be a number: 'abc'"):
        whatif.parse_value("abc", 9.99, "item price")
    # a browser audit: a price of -5 was applied without a word, and 1e9 predicted 5.0 as if it were a price
    with pytest.raises(ValueError, match="item price must be 0 or more"):
        whatif.parse_value("-5", 9.99, "item price", non_negative=True)
    with pytest.raises(ValueError, match="finite"):
        whatif.parse_value("inf", 9.99, "item price")
    prices = pd.Series([4.99, 448.99])
    assert whatif.outside_range_note(prices, 1e9, "item price").startswith("item price 1e+09 lies outside the data's range (4.99 to 448.99)")
    assert whatif.outside_range_note(prices, 20.0, "item price") is None and whatif.outside_range_note(prices, "x", "t") is None
    with pytest.raises(ValueError, match="region: give a value"):
        whatif.set_attribute("region", "  ")
    table = whatif.user_table(rating_dataset)
    assert whatif.typical_value(table, "region") in set(table["region"]) and whatif.typical_value(table, "nothing") is None


def test_cohort_inputs_equal_pair_inputs(purchase_model, binary_dataset):
    users = sorted(binary_dataset.events["user_id"].unique())[:8] + ["nobody"]
    pairs = pd.DataFrame({"user_id": users, "item_id": ["i003"] * 8 + ["i004"]})
    fast = whatif.cohort_inputs(purchase_model, binary_dataset, pairs)
    for inputs, user_id, item_id in zip(fast, pairs["user_id"], pairs["item_id"], strict=True):
        direct = purchase_model.pair_inputs(binary_dataset, user_id, item_id)
        assert inputs.history == direct.history and inputs.n_earlier == direct.n_earlier
        assert inputs.profile == direct.profile and inputs.item == direct.item and inputs.time == direct.time
        assert inputs.history_fields == direct.history_fields


def test_attribute_values_lists_a_categorical_attributes_values_only() -> None:
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "region": ["West", None, "East"], "age": [31, 40, 22],
                          "note": ["x", "y", "z"]})  # fmt: skip
    assert whatif.attribute_values(users, "region") == ["East", "West"]
    assert whatif.attribute_values(users, "age") == []  # numeric: typed, not picked
    assert whatif.attribute_values(users, "missing") == []
    assert whatif.attribute_values(users, "note", limit=2) == []  # too many to list


def test_a_cohort_edit_to_a_value_the_data_never_has_is_explained() -> None:
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "tier": ["basic", "plus", "basic"], "age": [31, 40, 22]})
    note = whatif.unseen_value_note(users, "tier", "gold")
    assert note.startswith("gold is not a value of tier in this dataset (basic, plus): the model has never seen it.")
    assert "removing the users' tier" in note
    assert whatif.unseen_value_note(users, "tier", "plus") is None and whatif.unseen_value_note(users, "age", 99) is None


def test_an_event_pushed_out_of_the_window_is_counted_not_listed() -> None:
    from uvp_core.model import HistoryEvent, PairInputs

    events = [HistoryEvent(f"i{j}", "view", pd.Timestamp(f"2024-01-0{j + 1}", tz="UTC")) for j in range(3)]
    inputs = PairInputs(profile={}, history=[events[2], events[0], events[1]], item={}, n_earlier=4)
    kept = whatif.within_window(inputs, 2)
    assert [e.item_id for e in kept.history] == ["i1", "i2"] and kept.n_earlier == 5  # oldest first; the oldest counted
    assert [e.item_id for e in kept.reserve] == ["i0"]  # and kept in reserve
    assert whatif.within_window(inputs, 3) is inputs
    refilled = whatif.within_window(whatif.RemoveEvent(1).apply(kept), 2)  # i2 removed: i0 comes back into view
    assert [e.item_id for e in refilled.history] == ["i0", "i1"] and refilled.reserve == [] and refilled.n_earlier == 4


def test_a_removed_event_lets_a_recent_unread_view_in_when_no_other_event_waits() -> None:
    from uvp_core.model import HistoryEvent, PairInputs

    day = [pd.Timestamp(f"2024-01-0{j + 1}", tz="UTC") for j in range(5)]
    purchase, click, cart, view = (HistoryEvent("p", "purchase", day[0]), HistoryEvent("c", "click", day[1]),
                                   HistoryEvent("k", "cart", day[2]), HistoryEvent("v", "view", day[4]))  # fmt: skip
    inputs = PairInputs(profile={}, history=[purchase, click, cart], item={}, n_earlier=1, reserve=[view])
    assert whatif.within_window(inputs, 3, ["view"]).history == [purchase, click, cart]  # the view waits for a free place
    removed = whatif.apply_edits(inputs, [whatif.RemoveEvent(1)], 3, ["view"])
    assert removed.history == [purchase, cart, view] and removed.reserve == [] and removed.n_earlier == 0


def _without_events(dataset, user: str, events) -> object:
    """The dataset with these history events of the user deleted (one row each)."""
    from dataclasses import replace

    frame = dataset.events
    drop = np.zeros(len(frame), bool)
    for event in events:
        hit = np.flatnonzero(((frame["user_id"] == user) & (frame["item_id"] == event.item_id) & (frame["timestamp"] == event.timestamp)).to_numpy() & ~drop)
        drop[hit[0]] = True
    return replace(dataset, events=frame.loc[~drop].reset_index(drop=True))


def test_removing_events_predicts_as_deleting_them_from_the_data(rating_model, rating_dataset) -> None:
    counts = rating_dataset.events["user_id"].value_counts()
    user, item = str(counts.index[0]), "i001"
    inputs = rating_model.pair_inputs(rating_dataset, user, item)
    assert inputs.reserve, "a user with more events than the model reads"
    latest = max(range(len(inputs.history)), key=lambda j: inputs.history[j].timestamp)
    result = whatif.what_if(rating_model, inputs, [whatif.RemoveEvent(latest)], None, explain=False)
    assert len(result.edited.history) == len(inputs.history)  # the next older event moved into the freed place
    deleted = _without_events(rating_dataset, user, [inputs.history[latest]])
    pair = pd.DataFrame({"user_id": [user], "item_id": [item]})
    assert result.after == pytest.approx(rating_model.predict(deleted, pair)[0], abs=1e-6)
    cohort = whatif.cohort_what_if(rating_model, rating_dataset, pair, whatif.DropLastEvents(3))
    last3 = sorted(inputs.history, key=lambda e: e.timestamp)[-3:]
    assert cohort.frame["after"].iloc[0] == pytest.approx(rating_model.predict(_without_events(rating_dataset, user, last3), pair)[0], abs=1e-6)


def test_adding_an_event_to_a_full_history_keeps_the_explanation_in_the_window(rating_model, rating_dataset) -> None:
    counts = rating_dataset.events["user_id"].value_counts()
    user = str(counts.index[0])
    assert counts.iloc[0] > rating_model.history_k  # a full window
    inputs = rating_model.pair_inputs(rating_dataset, user, "i001")
    edit = whatif.add_event(rating_dataset, "i002", rating_model.kinds_[0], 0.0, rating_model.space_.item_columns)
    result = whatif.what_if(rating_model, inputs, [edit], background_for(rating_model, rating_dataset), config=ExplainConfig(permutations=1))
    assert len(result.edited.history) == rating_model.history_k and result.edited.n_earlier == inputs.n_earlier + 1
    exp = result.explanation
    assert abs(float(exp.base_values) + float(exp.values.sum()) - result.after) < 1e-4


def test_a_saved_segments_cohort_of_user_attributes_picks_users(rating_dataset) -> None:
    from uvp_core.diagnostics.cohorts import Cohort, CohortFilter

    table = whatif.user_table(rating_dataset)
    north = Cohort("north", (CohortFilter("user.region", "==", "North"),))
    assert whatif.user_level(north)
    expected = sorted(table.loc[table["region"] == "North", "user_id"].astype(str))
    assert sorted(whatif.saved_cohort_users(table, north)) == expected and expected
    mixed = Cohort("mixed", (CohortFilter("user.region", "==", "North"), CohortFilter("item.category", "==", "Kitchen")))
    assert not whatif.user_level(mixed)
    with pytest.raises(ValueError, match="item.category"):
        whatif.saved_cohort_users(table, mixed)


def test_edits_survive_a_json_round_trip(rating_model, rating_dataset) -> None:
    import json

    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    columns = rating_model.space_.item_columns
    edits = [whatif.SetAttribute("region", "South"), whatif.SetItemField("price", np.float64(12.5)),
             whatif.add_event(rating_dataset, "i004", "rated 5", 2.0, columns), whatif.RemoveEvent(1, "rated 4 · x · 2024-01-01"),
             whatif.MoveEvent(2, 0, "moved"), whatif.DropLastEvents(1)]  # fmt: skip
    text = json.dumps(whatif.edit_records(edits))  # what the page's link holds
    assert "title" not in text, "an added event's item text belongs in the catalogue, not in the link"
    back = whatif.edits_from_records(json.loads(text), rating_dataset, columns)
    assert back == edits
    assert rating_model.score_inputs([whatif.apply_edits(inputs, back)])[0] == rating_model.score_inputs([whatif.apply_edits(inputs, edits)])[0]


@pytest.mark.parametrize(("records", "message"), [
    ({"op": "drop_last_events", "n": 1}, "must be a list"),
    ([{"op": "explode"}], "edit 1: 'op' must be one of set_attribute"),
    ([{"op": "drop_last_events", "n": 1}, {"op": "set_attribute", "value": "x"}], "edit 2 (set_attribute): missing 'name'"),
    ([{"op": "move_event", "source": "1", "target": 0}], "edit 1 (move_event): source, target must be whole numbers"),
    ([{"op": "add_event", "item_id": "no-such-item", "kind": "rated 5"}], "edit 1 (add_event): item 'no-such-item' is not in the catalogue"),
    ([{"op": "set_item_field", "name": "title", "value": {"html": 1}}], "'value' must be text, a number or null"),
])  # fmt: skip
def test_malformed_edit_records_are_refused_with_the_record_and_rule(rating_dataset, records, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        whatif.edits_from_records(records, rating_dataset)


def test_a_chosen_user_beyond_the_first_200_stays_listed() -> None:
    """A link to MovieLens user 414 opened on user 1: the picker lists the first 200 users and reset the choice."""
    table = pd.DataFrame({"user_id": [str(n) for n in range(1, 611)], "events": 20})
    listed = whatif.search_users(table, "", keep="414")["user_id"].tolist()
    assert listed[0] == "414" and len(listed) == 200 and listed.count("414") == 1
    assert whatif.search_users(table, "", keep="7")["user_id"].tolist()[:2] == ["7", "1"]
    assert whatif.search_users(table, "", keep="nobody")["user_id"].tolist()[:2] == ["1", "2"]


def test_cohort_categories_are_single_genres_of_multi_genre_items() -> None:
    """The cohort picker listed every MovieLens genre combination ("Crime|Film-Noir|Thriller"), hundreds of them."""
    from uvp_core.data.contract import Dataset

    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["Crime|Thriller", "Comedy", "Thriller|Comedy"], "title": ["A", "B", "C"]})
    events = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["c", "c", "a"],
                           "timestamp": pd.to_datetime([1, 2, 3], unit="D", utc=True), "rating": [4.0, 5.0, 3.0]})  # fmt: skip
    assert whatif.category_values(items) == ["Comedy", "Thriller", "Crime"]  # by the items listing them, then by name
    dataset = Dataset(events=events, items=items, users=None, name="genres")
    assert whatif.add_event_in_category(dataset, "Thriller", "rated 5").item_id == "c"  # the most popular Thriller item
    assert whatif.add_event_in_category(dataset, "Crime", "rated 5").item_id == "a"


def test_a_basket_split_by_the_history_window_is_noted() -> None:
    """A walk-through on Online Retail: 43 lines of one invoice, all at one time, read as "the 20 most recent" and
    "23 earlier events", though none is earlier; which 20 are read follows the order of the data."""
    from uvp_core.model import HistoryEvent, PairInputs

    at = pd.Timestamp("2010-12-07 09:51", tz="UTC")
    basket = [HistoryEvent(f"i{j}", "purchase", at) for j in range(3)]
    events = pd.DataFrame({"user_id": ["u"] * 5, "item_id": [f"i{j}" for j in range(5)], "timestamp": [at] * 5})
    inputs = PairInputs(profile={}, history=basket, item={}, user_id="u", n_earlier=2)
    note = whatif.same_time_note(events, inputs, 3)
    assert note is not None and note.startswith("5 of this user's events share the time of the oldest event read (2010-12-07 09:51)")
    older = events.assign(timestamp=[at] * 3 + [at - pd.Timedelta(days=1)] * 2)
    assert whatif.same_time_note(older, inputs, 3) is None  # the two not read are older: "earlier" is right


@pytest.mark.parametrize(("events", "expected"), [
    (0, "0 events in this dataset: a new user (at most 5 events)"),
    (1, "1 event in this dataset: a new user (at most 5 events)"),
    (52, "52 events in this dataset: an active user (more than 5 events)"),
])  # fmt: skip
def test_activity_note_names_the_segment_rule(events, expected) -> None:
    assert whatif.activity_note(events) == expected


def test_a_known_users_history_credit_is_explained_as_shared_with_the_user_id(rating_model, rating_dataset) -> None:
    """A browser audit: a known user's 2-star rating got −0.10 in the waterfall, yet removing it in What-if moved
    nothing. With the ID masked, the fold-in reads the user's bias from the history; the page now says so."""
    from dataclasses import replace

    from uvp_core.explain import explain_inputs

    assert rating_model.head_.fold_in
    background = background_for(rating_model, rating_dataset)
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    known = explain_inputs(rating_model, inputs, background, ExplainConfig(permutations=2))
    assert known.known_user and any(g == "history" and v for g, v in zip(known.groups, known.values, strict=True))
    assert "share credit with the user ID" in whatif.shared_credit_note(rating_model, known)
    new = explain_inputs(rating_model, replace(inputs, user_id="someone-new"), background, ExplainConfig(permutations=2))
    assert not new.known_user and whatif.shared_credit_note(rating_model, new) is None


def test_a_group_importance_sample_without_new_users_says_so() -> None:
    """A browser audit: the caption promised bars for new and active users, but the 20 sampled users were all active."""
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "segment": ["active", "active", "new"]})
    assert whatif.segments_left_out(users, pd.Series(["all", "active"])) == (
        "No new user (1 of the 3 users are new) fell in this sample, so that segment has no bars: raise the sample size to include some.")
    assert whatif.segments_left_out(users, pd.Series(["all", "active", "new"])) is None


def test_the_group_importance_sample_pairs_each_sampled_user_with_their_top_item() -> None:
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(10)], "segment": ["new"] * 3 + ["active"] * 7})
    seen = []
    pairs = whatif.top_item_pairs(users, 4, lambda user: "top-of-" + user, progress=lambda done, total: seen.append((done, total)))
    assert len(pairs) == 4 and pairs["user_id"].is_unique and seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert (pairs["item_id"] == "top-of-" + pairs["user_id"]).all()
    assert pairs.set_index("user_id")["segment"].to_dict() == users.set_index("user_id").loc[pairs["user_id"], "segment"].to_dict()
    assert pairs.equals(whatif.top_item_pairs(users, 4, lambda user: "top-of-" + user))  # seeded: the same sample again
    assert len(whatif.top_item_pairs(users, 50, str)) == 10  # at most every user


def test_cohort_segments_are_offered_with_their_user_counts() -> None:
    """A browser audit picked "new users" on MovieLens, where every user has 20 ratings, and got "No user in this cohort"."""
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "segment": ["active", "active", "active"]})
    assert whatif.segment_label(users, whatif.SEGMENTS[1]) == "new users (at most 5 events) · 0 users"
    assert whatif.segment_label(users, whatif.SEGMENTS[2]) == "active users (more than 5 events) · 3 users"


def test_a_what_if_at_the_edge_of_the_probability_scale_says_so() -> None:
    """A browser audit added purchases to a pair predicted 0.9999 and saw nothing move, with nothing said."""
    assert "edge of the probability scale" in whatif.edge_note("binary", 0.99991, 0.99994)
    assert whatif.edge_note("binary", 0.00002, 0.00004) is not None
    assert whatif.edge_note("binary", 0.9861, 0.9999) is None  # a change that shows
    assert whatif.edge_note("binary", 0.70, 0.70) is None  # no change, but not at the edge
    assert whatif.edge_note("regression", 5.0, 5.0) is None  # not said to be capped
    # a rating model's prediction clipped at the top of its scale before and after (a browser audit: 5.0000 -> 5.0000)
    assert "end of the rating scale (5)" in whatif.edge_note("regression", 5.0, 5.0, 5.0)
    assert "end of the rating scale (0.5)" in whatif.edge_note("regression", 0.5, 0.5, 0.5)
    assert whatif.edge_note("regression", 4.2, 4.2, None) is None  # inside the scale: no change is no change
    assert whatif.edge_note("regression", 5.0, 4.6, None) is None  # a change that shows
