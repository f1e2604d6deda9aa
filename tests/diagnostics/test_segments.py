"""Segment builders and derived segments against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uvp_core import diagnostic_figures as figures
from uvp_core.diagnostics import frame as F
from uvp_core.diagnostics import segments as S
from uvp_core.diagnostics.cold_start import COUNT_LABELS, count_bucket
from uvp_core.diagnostics.metrics import Bootstrap

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def test_categorical_levels_fold_rare_ones_into_other() -> None:
    series = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] + [None])
    cut = S.categorical_segment(series, min_count=3)
    assert list(cut.categories) == ["a", "b", "other", "missing"]
    assert list(cut) == ["a"] * 5 + ["b"] * 3 + ["other", "missing"]
    assert list(S.categorical_segment(series, min_count=1, max_levels=1).categories) == ["a", "other", "missing"]


def test_numeric_quantile_bins_and_explicit_edges() -> None:
    cut = S.numeric_segment(pd.Series([1, 2, 3, 4, 5, 6, 7, 8], dtype=float), bins=4)
    # quantile edges 1, 2.75, 4.5, 6.25, 8: two values per bin, the last bin closed
    assert list(cut.categories) == ["[1, 2.75)", "[2.75, 4.5)", "[4.5, 6.25)", "[6.25, 8]"]
    assert cut.codes.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    edges = S.numeric_segment(pd.Series([1.0, 5.0, 9.0, 12.0, np.nan]), bins=(0, 5, 10))
    assert list(edges.categories) == ["[0, 5)", "[5, 10)", "[10, 12]", "missing"]
    assert edges.codes.tolist() == [0, 1, 1, 2, 3]


def test_dates_by_period() -> None:
    dates = pd.Series(pd.to_datetime(["2024-01-15", "2024-02-01", "2024-04-30", None], utc=True))
    assert list(S.date_segment(dates, "M")) == ["2024-01", "2024-02", "2024-04", "missing"]
    assert list(S.date_segment(dates, "Q")) == ["2024Q1", "2024Q1", "2024Q2", "missing"]
    assert S.default_period(dates) == "M"


def test_segment_kinds_and_usable_columns() -> None:
    frame = pd.DataFrame({
        "user.region": ["N", "S"] * 10, "item.price": np.arange(20.0), "item.stars": [1.0, 2.0] * 10,
        "item.title": ["a long title that is not a segment"] * 20, "item.blurb": ["x" * 60] * 20,
        "history_bucket": count_bucket(np.arange(20)), "y": 1.0,
    })  # fmt: skip
    assert S.segment_kind(frame["item.price"]) == "numeric"
    assert S.segment_kind(frame["item.stars"]) == "categorical"  # few distinct numbers
    assert S.segment_kind(frame["history_bucket"]) == "derived"
    assert S.segment_columns(frame) == ["history_bucket", "user.region", "item.price", "item.stars"]


def test_count_tenure_and_activity_buckets() -> None:
    counts = [0, 1, 2, 3, 4, 5, 6, 10, 11, 20, 21, 50, 51, 1000]
    expected = ["0", "1", "2–3", "2–3", "4–5", "4–5", "6–10", "6–10", "11–20", "11–20", "21–50", "21–50", "51+", "51+"]
    assert list(count_bucket(counts)) == expected
    assert list(COUNT_LABELS) == ["0", "1", "2–3", "4–5", "6–10", "11–20", "21–50", "51+"]
    assert list(F.tenure_bucket([np.nan, 0.5, 6.9, 7.0, 45, 200, 365])) == [
        "no history", "under 1 week", "under 1 week", "1–4 weeks", "1–3 months", "3–12 months", "1 year or more"]  # fmt: skip
    assert list(F.activity_bucket([0, 1, 2, 3, 6, 11])) == ["0", "1–2", "1–2", "3–5", "6–10", "11+"]


def test_history_features_by_hand() -> None:
    events = pd.DataFrame({
        "user_id": ["u", "u", "u", "v"],
        "timestamp": pd.Series([T0, T0 + DAY, T0 + 40 * DAY, T0]).astype("datetime64[ms, UTC]"),
    })  # fmt: skip
    pairs = pd.DataFrame({
        "user_id": ["u", "u", "w", "u", "v"],
        "timestamp": pd.Series([T0 + 41 * DAY, T0 + DAY, T0 + DAY, pd.NaT, T0]).astype("datetime64[ms, UTC]"),
    })  # fmt: skip
    out = F.history_features(pairs, events)
    assert out["history_length"].tolist() == [3, 1, 0, 3, 0]  # strictly before; no time -> every event
    assert out["tenure_days"].iloc[0] == pytest.approx(41.0) and out["tenure_days"].iloc[1] == pytest.approx(1.0)
    assert math.isnan(out["tenure_days"].iloc[2]) and math.isnan(out["tenure_days"].iloc[4])
    assert out["activity_30d"].tolist() == [1, 1, 0, 1, 0]  # only the day-40 event is within 30 days of day 41


def test_parse_dates_only_for_iso_date_text() -> None:
    assert pd.api.types.is_datetime64_any_dtype(F.parse_dates(pd.Series(["2024-10-12", "2023-01-01", None])))
    assert F.parse_dates(pd.Series(["North", "South"])).tolist() == ["North", "South"]


def scored_frame() -> pd.DataFrame:
    """Six rows in two regions with known errors."""
    return pd.DataFrame({
        "user.region": ["N", "N", "N", "S", "S", "S"],
        "item.kind": ["x", "y", "x", "y", "x", "y"],
        "y": [1.0, 2.0, 3.0, 1.0, 1.0, 1.0],
        "prediction": [1.0, 2.0, 3.0, 2.0, 3.0, 4.0],
    })  # fmt: skip


def test_segment_table_two_way_and_distribution_by_hand() -> None:
    frame = scored_frame()
    table = S.segment_table(frame, S.SegmentSpec("user.region", min_count=1), "regression", Bootstrap(resamples=50), min_rows=3)
    north, south = table.set_index("segment").loc["N"], table.set_index("segment").loc["S"]
    assert north["rmse"] == 0 and south["mae"] == pytest.approx(2.0) and south["rmse"] == pytest.approx(math.sqrt(14 / 3))
    assert table["trusted"].all()
    two_way = S.two_way_table(frame, S.SegmentSpec("user.region", min_count=1), S.SegmentSpec("item.kind", min_count=1), "regression", "mae")
    cell = two_way.set_index(["row_segment", "column_segment"]).loc[("S", "y")]
    assert cell["n"] == 2 and cell["value"] == pytest.approx(2.0)  # errors 1 and 3
    mean = S.two_way_table(frame, S.SegmentSpec("user.region", min_count=1), S.SegmentSpec("item.kind", min_count=1), "regression", "mean_prediction")
    assert mean.set_index(["row_segment", "column_segment"]).loc[("N", "x"), "value"] == pytest.approx(2.0)
    dist = S.prediction_distribution(frame, S.SegmentSpec("user.region", min_count=1), max_rows=4)
    assert len(dist) == 4 and set(dist.columns) == {"segment", "prediction", "y"}


def test_two_way_view_keeps_the_column_segments_in_their_order() -> None:
    """A browser audit: the heatmap's columns came in first-seen order ("no history … 1 year or more, 1–4 weeks")
    when the first row segment had no pairs in a middle band."""
    bands = pd.CategoricalDtype(["no history", "under 1 week", "1–4 weeks", "1 year or more"], ordered=True)
    frame = pd.DataFrame({"user.region": ["N", "N", "S", "S", "T"], "tenure": ["under 1 week", "1 year or more"] * 2 + ["1–4 weeks"],
                          "y": [1.0] * 5, "prediction": [1.5] * 5}).astype({"tenure": bands})  # fmt: skip
    table = S.two_way_table(frame, S.SegmentSpec("user.region", min_count=1), S.SegmentSpec("tenure"), "regression")
    assert list(dict.fromkeys(table["column_segment"].astype(str)))[-1] == "1–4 weeks"  # the case the audit met
    fig = figures.two_way_heatmap(table, "rmse")
    assert list(fig.data[0].x) == ["under 1 week", "1–4 weeks", "1 year or more"]
    assert sorted(fig.data[0].y) == ["N", "S", "T"]


def test_weakest_segments_rank_by_relative_error_and_respect_min_rows() -> None:
    frame = scored_frame()
    specs = [S.SegmentSpec("user.region", min_count=1), S.SegmentSpec("item.kind", min_count=1)]
    weakest = S.weakest_segments(frame, specs, "regression", Bootstrap(resamples=50), min_rows=3)
    overall = math.sqrt((1 + 4 + 9) / 6)
    top = weakest.iloc[0]
    assert (top["column"], top["segment"]) == ("user.region", "S")
    assert top["value"] == pytest.approx(math.sqrt(14 / 3)) and top["relative"] == pytest.approx(math.sqrt(14 / 3) / overall)
    assert top["low"] <= top["value"] <= top["high"]
    assert weakest["relative"].is_monotonic_decreasing and (weakest["n"] >= 3).all()
    assert (weakest["clearly_worse"] == (weakest["low"] > overall)).all()
    assert S.weakest_segments(frame, specs, "regression", None, min_rows=4).empty


def test_clearly_worse_needs_the_whole_interval_on_the_worse_side() -> None:
    tables = {"c": pd.DataFrame({"segment": ["noisy", "sure"], "n": [40, 400], "rmse": [1.2, 1.0],
                                 "rmse_low": [0.7, 0.95], "rmse_high": [1.7, 1.05]})}  # fmt: skip
    ranked = S.rank_weakest(tables, 0.9, "rmse", min_rows=30)
    assert list(ranked["segment"]) == ["noisy", "sure"] and list(ranked["clearly_worse"]) == [False, True]
    auc = {"c": pd.DataFrame({"segment": ["a"], "n": [50], "auc": [0.6], "auc_low": [0.55], "auc_high": [0.65]})}
    assert bool(S.rank_weakest(auc, 0.7, "auc", min_rows=30)["clearly_worse"].iloc[0])  # higher is better: high < overall


def test_weakest_segments_are_shown_with_the_pickers_names() -> None:
    """A walk-through found the weakest view saying "history_bucket = 11–20" and "clearly_worse" where the picker says words."""
    tables = {"history_bucket": pd.DataFrame({"segment": ["11–20"], "n": [40], "rmse": [1.2]}),
              "user.region": pd.DataFrame({"segment": ["North"], "n": [40], "rmse": [1.1]})}  # fmt: skip
    shown = S.weakest_display(S.rank_weakest(tables, 1.0, "rmse", min_rows=30))
    assert list(shown["segment by"]) == ["history length (user events before the prediction time)", "user.region"]
    assert {"clearly worse", "relative to overall"} <= set(shown.columns) and not {"column", "clearly_worse"} & set(shown.columns)
    assert S.segment_name("popularity_bucket") == S.DERIVED_SEGMENTS["popularity_bucket"] and S.segment_name("item.kind") == "item.kind"


def test_evaluation_frame_joins_attributes_and_flags_new_users_and_items() -> None:
    from uvp_core.data.contract import Dataset
    from uvp_core.diagnostics.evaluation_set import EvaluationSet

    events = pd.DataFrame({
        "user_id": ["u1", "u1", "u2", "u2"], "item_id": ["a", "b", "a", "c"],
        "timestamp": pd.Series([T0, T0 + DAY, T0 + 2 * DAY, T0 + 10 * DAY]).astype("datetime64[ms, UTC]"),
        "rating": [4.0, 2.0, 5.0, 3.0],
    })  # fmt: skip
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "region": ["N", "S", "N"], "signup_date": ["2023-05-01", "2023-06-01", None]})
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "price": [1.0, 2.0, 3.0, 4.0]})
    dataset = Dataset(events=events, items=items, users=users)
    train = events.iloc[:3].reset_index(drop=True)
    pairs = pd.DataFrame({
        "user_id": ["u2", "zz", "u1"], "item_id": ["c", "a", "d"],
        "timestamp": pd.Series([T0 + 10 * DAY, T0 + 10 * DAY, T0 + 11 * DAY]).astype("datetime64[ms, UTC]"),
        "y": [3.0, 4.0, 1.0], "prediction": [3.5, 3.0, 2.0],
    })  # fmt: skip
    evalset = EvaluationSet(pairs=pairs, train_events=train, cutoff=T0 + 10 * DAY, target="rating", source="test")
    frame = F.evaluation_frame(pairs, dataset, evalset)
    assert frame["error"].tolist() == [0.5, -1.0, 1.0]
    assert frame["history_length"].tolist() == [1, 0, 2]
    assert frame["new_user"].tolist() == [False, True, False] and frame["new_item"].tolist() == [True, False, True]
    assert frame["item_train_count"].tolist() == [0, 2, 0]
    assert frame["user.region"].iloc[0] == "S" and pd.isna(frame["user.region"].iloc[1])
    assert pd.api.types.is_datetime64_any_dtype(frame["user.signup_date"])
    assert frame["item.price"].tolist() == [3.0, 1.0, 4.0]
    assert list(frame["popularity_bucket"]) == ["tail", "head", "tail"]  # a holds 2 of 3 training interactions
    baseline = F.fit_baseline(evalset)
    assert frame["baseline"].to_numpy() == pytest.approx(baseline.predict(pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy()))


def test_batched_segment_tables_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({
        "user.region": rng.choice(["N", "S", "E"], 400), "item.price": rng.uniform(1, 50, 400),
        "y": rng.normal(3, 1, 400), "prediction": rng.normal(3, 1, 400),
    })  # fmt: skip
    specs = [S.SegmentSpec("user.region"), S.SegmentSpec("item.price", bins=3)]
    boot = Bootstrap(resamples=40, seed=2)
    batched = S.segment_tables(frame, specs, "regression", boot)
    for spec in specs:
        pd.testing.assert_frame_equal(batched[spec.column], S.segment_table(frame, spec, "regression", boot))


def _genre_frame() -> pd.DataFrame:
    """Six pairs; item.category lists genres joined by '|' in some rows (as MovieLens genres)."""
    return pd.DataFrame({
        "user.region": ["N", "N", "S", "S", "N", "S"],
        "item.category": ["Crime|Thriller", "Drama", "Thriller", "Crime| Drama", None, "Drama|Crime"],
        "y": [4.0, 3.0, 5.0, 2.0, 4.0, 3.0],
        "prediction": [3.5, 3.0, 4.0, 3.0, 4.0, 3.5],
    })  # fmt: skip


def test_a_column_listing_several_values_is_cut_by_single_value() -> None:
    frame = _genre_frame()
    assert S.lists_values(frame["item.category"]) and not S.lists_values(frame["user.region"])
    rows, values = S.split_values(frame["item.category"])
    pairs = sorted((int(r), None if pd.isna(v) else v) for r, v in zip(rows, values, strict=True))
    assert pairs == [(0, "Crime"), (0, "Thriller"), (1, "Drama"), (2, "Thriller"), (3, "Crime"), (3, "Drama"), (4, None),
                     (5, "Crime"), (5, "Drama")]  # fmt: skip
    table = S.segment_table(frame, S.SegmentSpec("item.category", min_count=1), "regression", boot=None).set_index("segment")
    assert table["n"].to_dict() == {"Crime": 3, "Drama": 3, "Thriller": 2, "missing": 1}
    crime = frame.iloc[[0, 3, 5]]  # every row listing Crime, and only those
    assert table.loc["Crime", "rmse"] == pytest.approx(math.sqrt(((crime["y"] - crime["prediction"]) ** 2).mean()))
    note = S.overlap_note(frame, "item.category")
    assert note.startswith("item.category lists several values in 3 of 6 rows") and "overlap" in note
    assert S.overlap_note(frame, "user.region") is None


def test_every_view_cuts_a_listing_column_the_same_way() -> None:
    from uvp_core.diagnostics.compare import compare_models

    frame = _genre_frame()
    genre, region = S.SegmentSpec("item.category", min_count=1), S.SegmentSpec("user.region", min_count=1)
    two_way = S.two_way_table(frame, region, genre, "regression").set_index(["row_segment", "column_segment"])
    assert two_way.loc[("N", "Crime"), "n"] == 1 and two_way.loc[("S", "Crime"), "n"] == 2 and two_way.loc[("S", "Drama"), "n"] == 2
    assert two_way["n"].sum() == 9  # one row per (pair, genre)
    distribution = S.prediction_distribution(frame, genre)
    assert sorted(distribution.loc[distribution["segment"] == "Crime", "prediction"]) == [3.0, 3.5, 3.5]
    tables = S.segment_tables(frame, [genre, region], "regression", boot=None, min_rows=1)
    assert list(tables) == ["item.category", "user.region"] and tables["item.category"]["n"].sum() == 9
    assert tables["user.region"]["n"].sum() == 6
    weakest = S.weakest_segments(frame, [region, genre], "regression", boot=None, min_rows=1, top=20)
    by_cut = weakest.set_index(["column", "segment"])["value"]
    segment = S.segment_table(frame, genre, "regression", boot=None).set_index("segment")["rmse"]
    assert by_cut.loc[("item.category", "Crime")] == pytest.approx(segment["Crime"])
    compared = compare_models(frame.assign(prediction_b=frame["y"]), "regression", [genre], boot=None)
    crime = compared.loc[(compared["column"] == "item.category") & (compared["segment"] == "Crime") & (compared["metric"] == "rmse")]
    assert int(crime["n"].iloc[0]) == 3 and float(crime["a"].iloc[0]) == pytest.approx(segment["Crime"])


def test_the_other_segment_says_which_values_it_holds() -> None:
    """A browser audit: "other" (12 rows, AUC 1.0000) on Online Retail's countries, and nothing said which countries."""
    frame = pd.DataFrame({"user.country": ["UK"] * 40 + ["France"] * 31 + ["Japan"] * 7 + ["Channel Islands"] * 5 + [None] * 2})
    note = S.other_note(frame, S.SegmentSpec("user.country"))
    assert note == '"other" holds 2 values with fewer than 30 rows each or beyond the 20 most common (rows in brackets): Japan (7), Channel Islands (5).'
    table = S.labelled(frame, S.SegmentSpec("user.country"))
    assert (table["segment"] == "other").sum() == 12
    assert S.other_note(frame, S.SegmentSpec("user.country", min_count=5)) is None
    assert S.other_note(frame, S.SegmentSpec("user.country", max_levels=1)).startswith('"other" holds 3 values')


def test_weakest_segments_name_a_set_of_pairs_once() -> None:
    """Users with no history are history length 0, tenure "no history" and new users alike: the same pairs took three of
    the fifteen places."""
    tables = {"history_bucket": pd.DataFrame({"segment": ["0", "1"], "n": [50, 60], "rmse": [1.3, 1.1]}),
              "tenure": pd.DataFrame({"segment": ["no history", "1 year or more"], "n": [50, 70], "rmse": [1.3, 1.0]}),
              "new_vs_returning": pd.DataFrame({"segment": ["new"], "n": [50], "rmse": [1.3]}),
              "user.region": pd.DataFrame({"segment": ["North"], "n": [49], "rmse": [1.3]})}  # fmt: skip
    ranked = S.rank_weakest(tables, 1.0, "rmse", min_rows=30)
    assert list(zip(ranked["column"], ranked["segment"], strict=True)) == [
        ("history_bucket", "0"), ("user.region", "North"), ("history_bucket", "1"), ("tenure", "1 year or more")]
    assert ranked["same_pairs_as"].iloc[0] == (f"{S.DERIVED_SEGMENTS['tenure']} = no history; "
                                               f"{S.DERIVED_SEGMENTS['new_vs_returning']} = new")  # fmt: skip
    assert (ranked["same_pairs_as"].iloc[1:] == "").all()  # another n: other pairs, whatever the value
    assert "the same pairs as" in S.weakest_display(ranked).columns
    assert S.same_pairs_lines(ranked) == [f"{S.DERIVED_SEGMENTS['history_bucket']} = 0 is the same pairs as "
                                          f"{ranked['same_pairs_as'].iloc[0]}."]  # fmt: skip


def test_a_binary_segment_needs_enough_positives_and_negatives_to_be_trusted() -> None:
    """131 rows with 3 purchases: enough rows, but an AUC or calibration from 3 positives is noise (audit, session 24)."""
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(3), np.zeros(128), np.ones(60), np.zeros(71), np.ones(140), np.zeros(9)]
    frame = pd.DataFrame({"user.region": ["few buyers"] * 131 + ["balanced"] * 131 + ["few non-buyers"] * 149,
                          "y": y, "prediction": rng.uniform(0.05, 0.95, len(y))})  # fmt: skip
    table = S.segment_table(frame, S.SegmentSpec("user.region", min_count=1), "binary", Bootstrap(resamples=20), min_rows=30)
    assert table.set_index("segment")["trusted"].to_dict() == {"balanced": True, "few buyers": False, "few non-buyers": False}
    notes = S.trust_notes(table.set_index("segment").loc[["few buyers", "balanced"]].reset_index(), 30)
    assert notes[0].startswith(f"fewer than {S.MIN_CLASS_ROWS} positives or negatives") and notes[1] == ""
    assert S.trust_notes(table, 200).tolist() == ["too few rows to trust"] * 3  # rows first
    weakest = S.rank_weakest({"user.region": table}, 0.5, "auc", min_rows=30)
    assert weakest["segment"].tolist() == ["balanced"]  # only trusted segments are ranked
    assert S.trust_rule(30, "binary") == "fewer than 30 rows or fewer than 10 positives or negatives"
    assert S.trust_rule(30, "regression") == "fewer than 30 rows"
