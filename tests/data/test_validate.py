"""Value rules and the canonical output: IDs, timestamps, labels, references, duplicates, verbatim text."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from uvp_data_testkit import EVENTS_HEADER, assert_ok, events_csv, issues_of, load_events, one_issue, rules_of

from uvp_core.data import load_path, load_uploads
from uvp_core.data.validate import to_id, to_timestamps

NOW = pd.Timestamp.now(tz="UTC")


# --- required columns and labels ----------------------------------------------------------------


def test_missing_required_columns_are_each_reported() -> None:
    result = load_events("a,b,4", header="who,item_id,rating")
    missing = issues_of(result, "missing_required_column")
    assert [(i.file, i.column) for i in missing] == [("events.csv", "user_id"), ("events.csv", "timestamp")]
    assert "who, item_id, rating" in missing[0].message
    assert result.dataset is None


def test_no_label_column() -> None:
    result = load_events("u1,i1,1600000000,x", header="user_id,item_id,timestamp,note")
    issue = one_issue(result, "no_label_column")
    assert (issue.file, issue.column, issue.severity) == ("events.csv", None, "error")
    assert rules_of(result) == {"no_label_column"}


def test_non_numeric_and_non_finite_ratings() -> None:
    result = load_events(
        "u1,i1,1600000000,4",
        "u2,i2,1600000000,four",
        "u3,i3,1600000000,NaN",
        "u4,i4,1600000000,inf",
        "u5,i5,1600000000,-Infinity",
        "u6,i6,1600000000,1e400",
    )
    non_numeric = one_issue(result, "non_numeric_label")
    assert (non_numeric.column, non_numeric.rows, non_numeric.example) == ("rating", (2,), "four")
    non_finite = one_issue(result, "non_finite_label")
    assert (non_finite.rows, non_finite.n_rows, non_finite.example) == ((3, 4, 5, 6), 4, "NaN")
    assert "missing_label" not in rules_of(result)  # bad values are reported once, not also as missing
    assert result.dataset is None


def test_binary_label_must_be_zero_or_one_and_filled() -> None:
    result = load_events(
        "u1,i1,1600000000,1", "u2,i2,1600000000,0", "u3,i3,1600000000,2", "u4,i4,1600000000,", "u5,i5,1600000000,yes",
        header="user_id,item_id,timestamp,label",
    )  # fmt: skip
    invalid = one_issue(result, "invalid_binary_label")
    assert (invalid.rows, invalid.example) == ((3,), "2")
    assert one_issue(result, "missing_label").rows == (4,)


def test_label_values_true_false_and_float_text_are_accepted() -> None:
    result = load_events(
        "u1,i1,1600000000,TRUE", "u2,i2,1600000000,false", "u3,i3,1600000000,1.0",
        header="user_id,item_id,timestamp,label",
    )  # fmt: skip
    assert_ok(result)
    assert result.dataset.events["label"].tolist() == [1, 0, 1]
    assert result.dataset.events["label"].dtype == np.int8


def test_empty_label_cells_are_allowed_only_when_another_label_covers_the_row() -> None:
    header = "user_id,item_id,timestamp,rating,event_type"
    ok = load_events("u1,i1,1600000000,,view", "u2,i2,1600000000,4,", header=header)
    assert_ok(ok)
    events = ok.dataset.events
    assert np.isnan(events.loc[0, "rating"]) and events.loc[0, "event_type"] == "view"
    assert pd.isna(events.loc[1, "event_type"])
    bad = load_events("u1,i1,1600000000,,view", "u2,i2,1600000000,,", "u3,i3,1600000000,, ", header=header)
    issue = one_issue(bad, "missing_label")
    assert (issue.column, issue.rows, issue.n_rows) == ("rating", (2, 3), 2)


def test_revenue_quantity_and_price_must_be_numeric() -> None:
    files = {
        "events.csv": events_csv("u1,i1,1600000000,4,12.5,2", "u2,i1,1600000000,4,abc,", header="user_id,item_id,timestamp,rating,revenue,quantity"),
        "items.csv": b"item_id,price\ni1,free\n",
    }  # fmt: skip
    result = load_uploads(files)
    issues = issues_of(result, "non_numeric_value")
    assert [(i.file, i.column, i.rows, i.example) for i in issues] == [
        ("events.csv", "revenue", (2,), "abc"),
        ("items.csv", "price", (1,), "free"),
    ]


def test_negative_price_and_revenue_are_errors_naming_file_column_and_rows() -> None:
    """items.csv with price -5.00 in row 3 and an event with revenue -20 were accepted silently."""
    files = {
        "events.csv": events_csv("u1,i1,1600000000,4,20", "u2,i2,1600000000,4,-20", "u2,i3,1600000000,4,0",
                                 header="user_id,item_id,timestamp,rating,revenue"),
        "items.csv": b"item_id,price\ni1,1.00\ni2,0\ni3,-5.00\n",
    }  # fmt: skip
    result = load_uploads(files)
    assert result.dataset is None
    found = [(i.severity, i.file, i.column, i.rows, i.example) for i in issues_of(result, "negative_value")]
    assert found == [("error", "events.csv", "revenue", (2,), "-20"), ("error", "items.csv", "price", (3,), "-5.00")]
    assert "price must be 0 or more" in one_issue(load_uploads({**files, "events.csv": events_csv("u1,i1,1600000000,4")}),
                                                  "negative_value").message  # fmt: skip


def test_a_table_with_many_unused_columns_gets_a_warning() -> None:
    wide = ",".join(f"x{i}" for i in range(60))
    result = load_events("u1,i1,1600000000,4," + ",".join("0" * 60), header=f"{EVENTS_HEADER},{wide}")
    assert_ok(result)
    issue = one_issue(result, "many_unused_columns")
    assert (issue.severity, issue.file, issue.column) == ("warning", "events.csv", None)
    assert issue.message.startswith("60 columns are not used")
    assert len(result.dataset.events.columns) == 64  # kept
    narrow = load_events("u1,i1,1600000000,4," + ",".join("0" * 50), header=EVENTS_HEADER + "," + ",".join(f"x{i}" for i in range(50)))
    assert "many_unused_columns" not in rules_of(narrow)


# --- IDs --------------------------------------------------------------------------------------


def test_ids_are_text_with_leading_zeros_kept() -> None:
    result = load_events("007,0042,1600000000,4", " 8 ,1e3,1600000000,4")
    assert_ok(result)
    events = result.dataset.events.sort_values("user_id")
    assert events["user_id"].tolist() == ["007", "8"]
    assert events["item_id"].tolist() == ["0042", "1e3"]


def test_a_float_formatted_id_loses_dot_zero_value_by_value_so_tables_agree() -> None:
    """The rule used to be decided per column: events.csv's `5.0` became `5`, while items.csv kept `5.0`
    because that column also held `A7`, so consistent files were refused as unknown items `5`."""
    assert to_id(pd.Series(["17850.0", "13047.0", None], dtype="str")).tolist()[:2] == ["17850", "13047"]
    assert to_id(pd.Series(["17850.0", "A12.0", "3", "007.0"], dtype="str")).tolist() == ["17850", "A12.0", "3", "007"]
    assert to_id(pd.Series(["1.5", "2.0"], dtype="str")).tolist() == ["1.5", "2"]
    assert to_id(pd.Series([1.0, 1.5, np.nan])).tolist()[:2] == ["1", "1.5"]  # JSON 1 next to 1.5 is read as 1.0
    assert to_id(pd.Series([9007199254740993], dtype="Int64")).tolist() == ["9007199254740993"]


def test_ids_too_large_for_floating_point_are_refused_not_merged(tmp_path) -> None:
    """JSON Lines user IDs 9007199254740993 and 9007199254740992 next to 2**64 were read as one float
    (9007199254740992.0): two users became one, and validation said nothing."""
    folder = tmp_path / "big"
    folder.mkdir()
    rows = [(9007199254740993, "a"), (9007199254740992, "b"), (18446744073709551616, "c")]
    (folder / "events.jsonl").write_text("".join(
        f'{{"user_id": {u}, "item_id": "{i}", "timestamp": 1700000000, "rating": 4}}\n' for u, i in rows))  # fmt: skip
    result = load_path(folder)
    assert result.dataset is None
    issue = next(i for i in result.report.errors if i.rule == "inexact_id")
    assert (issue.file, issue.column, issue.rows) == ("events.jsonl", "user_id", (1, 2, 3))


def test_missing_ids_are_errors_with_rows() -> None:
    result = load_events("u1,i1,1600000000,4", ",i2,1600000000,4", "u3,,1600000000,4", "  ,i4,1600000000,4")
    missing = issues_of(result, "missing_value")
    assert [(i.column, i.rows) for i in missing] == [("user_id", (2, 4)), ("item_id", (3,))]


def test_duplicate_ids_in_items_and_users() -> None:
    files = {
        "events.csv": events_csv("u1,i1,1600000000,4"),
        "items.csv": b"item_id,title\ni1,A\ni2,B\ni1,C\ni1,D\n",
        "users.csv": b"user_id,age\nu1,30\nu1,31\n",
    }
    result = load_uploads(files)
    items, users = issues_of(result, "duplicate_id")
    assert (items.file, items.column, items.rows, items.n_rows, items.example) == (
        "items.csv",
        "item_id",
        (3, 4),
        2,
        "i1",
    )
    assert (users.file, users.rows) == ("users.csv", (2,))


def test_events_referring_to_unknown_items_and_users() -> None:
    files = {
        "events.csv": events_csv(
            "u1,i1,1600000000,4", "u2,i9,1600000000,4", "u9,i8,1600000000,4", "u1,i9,1600000001,4"
        ),
        "items.csv": b"item_id\ni1\n",
        "users.csv": b"user_id\nu1\nu2\n",
    }
    result = load_uploads(files)
    items = one_issue(result, "unknown_item_id")
    assert (items.file, items.column, items.rows, items.n_rows, items.example) == (
        "events.csv",
        "item_id",
        (2, 3, 4),
        3,
        "i9",
    )
    assert "2 item ID(s) that are not in items.csv (e.g. i9, i8)" in items.message
    users = one_issue(result, "unknown_user_id")
    assert (users.rows, users.example) == ((3,), "u9")
    assert result.dataset is None


# --- timestamps -------------------------------------------------------------------------------


def test_seconds_milliseconds_and_iso_give_the_same_instant() -> None:
    expected = pd.Timestamp("2020-09-13T12:26:40Z")
    for values in (
        ["1600000000"],
        ["1600000000000"],
        ["1600000000000000"],  # microseconds (Spark, Kafka exports)
        ["1600000000000000000"],  # nanoseconds (pandas, Arrow)
        ["2020-09-13T12:26:40Z"],
        ["2020-09-13 14:26:40+02:00"],
        ["2020-09-13T12:26:40"],
    ):
        times = to_timestamps(pd.Series(values, dtype="str"), NOW)
        assert times.values.iloc[0] == expected, values
        assert str(times.values.dtype) == "datetime64[ms, UTC]"
    assert to_timestamps(pd.Series(["1600000000123"], dtype="str"), NOW).values.iloc[
        0
    ] == expected + pd.Timedelta(milliseconds=123)
    assert to_timestamps(pd.Series([1600000000.5]), NOW).values.iloc[0] == expected + pd.Timedelta(
        milliseconds=500
    )


def test_unparseable_timestamps() -> None:
    result = load_events(
        "u1,i1,2020-01-01,4", "u2,i2,01/02/2020,4", "u3,i3,yesterday,4", "u4,i4,2020-13-45,4"
    )
    issue = one_issue(result, "unparseable_timestamp")
    assert (issue.column, issue.rows, issue.n_rows, issue.example) == (
        "timestamp",
        (3, 4),
        2,
        "yesterday",
    )
    assert "ISO 8601" in issue.message
    ambiguous = one_issue(result, "ambiguous_date")  # 1 February or 2 January: nothing in the column tells
    assert (ambiguous.rows, ambiguous.example, ambiguous.severity) == ((2,), "01/02/2020", "error")


def test_slash_dates_are_read_in_the_order_the_column_tells() -> None:
    """A browser audit: "12/1/2010 8:26", as most copies of UCI Online Retail write dates, was refused on every row."""
    us = to_timestamps(pd.Series(["12/1/2010 8:26", "12/13/2010 17:05:09", "1/2/11", "2020-01-03T00:00:00Z"], dtype="str"), NOW)
    assert us.slash_order == "month/day" and not us.unparseable.any() and not us.ambiguous.any()
    assert list(us.values) == [pd.Timestamp(t, tz="UTC") for t in ("2010-12-01 08:26", "2010-12-13 17:05:09", "2011-01-02", "2020-01-03")]
    eu = to_timestamps(pd.Series(["13/01/2011", "01/12/2010 08:26"], dtype="str"), NOW)
    assert eu.slash_order == "day/month" and list(eu.values) == [pd.Timestamp("2011-01-13", tz="UTC"), pd.Timestamp("2010-12-01 08:26", tz="UTC")]
    both = to_timestamps(pd.Series(["13/01/2011", "01/13/2011"], dtype="str"), NOW)  # no order fits both
    assert both.unparseable.all() and both.slash_order == ""
    bad = to_timestamps(pd.Series(["12/31/2010", "2/30/2011"], dtype="str"), NOW)  # no 30 February
    assert list(bad.unparseable) == [False, True]
    result = load_events("u1,i1,12/13/2010 10:00,4", "u2,i2,12/1/2010 8:26,4")
    warning = one_issue(result, "slash_dates")
    assert warning.severity == "warning" and warning.n_rows == 2 and "read as month/day/year" in warning.message
    assert result.dataset.events["timestamp"].min() == pd.Timestamp("2010-12-01 08:26", tz="UTC")


def test_out_of_range_timestamps() -> None:
    soon = (NOW + pd.Timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (NOW + pd.Timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = load_events(
        f"u1,i1,{soon},4", "u2,i2,1989-12-31T23:59:59Z,4", f"u3,i3,{later},4", "u4,i4,1990-01-01,4"
    )
    issue = one_issue(result, "timestamp_out_of_range")
    assert (issue.rows, issue.example) == ((2, 3), "1989-12-31T23:59:59Z")


def test_epoch_unit_is_decided_per_column_by_magnitude() -> None:
    seconds = load_events("u1,i1,1600000000,4", "u2,i2,5,4")  # 5 s after 1970: out of range
    assert one_issue(seconds, "timestamp_out_of_range").rows == (2,)
    assert "Unix seconds" in one_issue(seconds, "timestamp_out_of_range").message
    millis = load_events("u1,i1,1600000000000,4", "u2,i2,1600000001000,4", "u3,i3,1600000000,4")
    issue = one_issue(millis, "timestamp_out_of_range")
    assert issue.rows == (3,) and "Unix milliseconds" in issue.message
    micros = load_events("u1,i1,1600000000000000,4", "u2,i2,1600000001000000,4", "u3,i3,1600000000000,4")
    issue = one_issue(micros, "timestamp_out_of_range")  # a millisecond value among microseconds: 1970
    assert issue.rows == (3,) and "Unix microseconds" in issue.message
    assert micros.dataset is None
    nanos = to_timestamps(pd.Series([1600000000123456789, 1600000001000000000]), NOW)
    assert nanos.unit == "ns" and nanos.values.iloc[0] == pd.Timestamp("2020-09-13T12:26:40.123Z")


def test_missing_timestamp_is_an_error() -> None:
    assert one_issue(load_events("u1,i1,,4", "u2,i2,1600000000,4"), "missing_value").rows == (1,)


# --- duplicates and warnings ------------------------------------------------------------------


def test_duplicate_events_are_a_warning_and_the_dataset_passes() -> None:
    header = "user_id,item_id,timestamp,event_type"
    result = load_events(
        "u1,i1,1600000000,view", "u1,i1,1600000000,click", "u1,i1,1600000000,VIEW", "u2,i1,1600000000,view", "u1,i1,1600000000,view",
        header=header,
    )  # fmt: skip
    assert_ok(result)
    warning = one_issue(result, "duplicate_event")
    assert (warning.severity, warning.rows, warning.n_rows) == ("warning", (3, 5), 2)
    assert result.dataset.warnings == (warning,)
    assert len(result.dataset.events) == 5


def test_every_problem_is_reported_at_once() -> None:
    files = {
        "events.csv": events_csv("u1,i1,bad,4", "u2,,1600000000,x", "u3,i3,1600000000,4,5"),
        "items.csv": b"item_id,price\ni1,1\ni1,cheap\n",
    }
    result = load_uploads(files)
    assert rules_of(result) == {
        "ragged_rows",
        "unparseable_timestamp",
        "missing_value",
        "non_numeric_label",
        "duplicate_id",
        "non_numeric_value",
    }


# --- canonical form ---------------------------------------------------------------------------


def test_canonical_dtypes_order_and_extras() -> None:
    header = "Region,event_type,userId,movieId,ts,rating,revenue,quantity,label,comment"
    result = load_events(
        "north,Purchase,u2,i1,1600000100,4,9.5,1,1,hi", "south,VIEW,u1,i2,1600000000,3,,,0,", "east,click,u1,i1,1600000000,,,,0,x",
        header=header,
    )  # fmt: skip
    assert_ok(result)
    events = result.dataset.events
    assert list(events.columns) == [
        "user_id", "item_id", "timestamp", "rating", "event_type", "label", "revenue", "quantity", "review_text", "Region",
    ]  # fmt: skip
    assert {c: str(t) for c, t in events.dtypes.items()} == {
        "user_id": "str", "item_id": "str", "timestamp": "datetime64[ms, UTC]", "rating": "float64", "event_type": "str",
        "label": "int8", "revenue": "float64", "quantity": "float64", "review_text": "str", "Region": "str",
    }  # fmt: skip
    # sorted by (timestamp, user_id, item_id), stable
    assert events[["user_id", "item_id"]].values.tolist() == [["u1", "i1"], ["u1", "i2"], ["u2", "i1"]]
    assert events["event_type"].tolist() == ["click", "view", "purchase"]
    assert events.index.tolist() == [0, 1, 2]
    assert result.dataset.source_format == "upload" and result.dataset.name.startswith("upload 20")  # not "events"


def test_items_and_users_canonical_form() -> None:
    files = {
        "events.csv": events_csv("u1,i1,1600000000,4"),
        "items.csv": b"sku,name,genres,price,brand\ni1,Lamp,Home|Light,12.50,Acme\n",
        "users.csv": b"customer_id,age,tier,signup\nu1,34,gold,2020-01-01\n",
    }
    result = load_uploads(files)
    assert_ok(result)
    items, users = result.dataset.items, result.dataset.users
    assert list(items.columns) == ["item_id", "title", "category", "price", "brand"]
    assert items["price"].dtype == np.float64 and items.loc[0, "category"] == "Home|Light"
    assert list(users.columns) == ["user_id", "age", "tier", "signup"]
    assert users.loc[0, "age"] == "34"  # extra columns are kept as read


HTML = '<script>alert(1)</script> <b>bold</b> &amp; "quotes"'


def test_html_and_script_text_is_stored_verbatim_and_survives_a_round_trip(tmp_path) -> None:
    quoted = '"' + HTML.replace('"', '""') + '"'
    files = {
        "events.csv": events_csv(
            f"u1,i1,1600000000,4,{quoted}", header="user_id,item_id,timestamp,rating,review_text"
        ),
        "items.csv": f"item_id,title,description\ni1,{quoted},  padded  \n".encode(),
    }
    first = load_uploads(files)
    assert_ok(first)
    assert first.dataset.events.loc[0, "review_text"] == HTML
    assert first.dataset.items.loc[0, "title"] == HTML
    assert first.dataset.items.loc[0, "description"] == "  padded  "
    # write the canonical tables out and load them again: nothing changes
    folder = tmp_path / "roundtrip"
    folder.mkdir()
    first.dataset.events.to_parquet(folder / "events.parquet")
    buffer = io.StringIO()
    first.dataset.items.to_csv(buffer, index=False)
    (folder / "items.csv").write_text(buffer.getvalue(), encoding="utf-8")
    from uvp_core.data import load_path

    second = load_path(folder)
    assert_ok(second)
    assert second.dataset.events.loc[0, "review_text"] == HTML
    assert second.dataset.items.loc[0, "title"] == HTML
    pd.testing.assert_frame_equal(second.dataset.events, first.dataset.events)


@pytest.mark.parametrize("rows", [1, 3])
def test_fingerprint_is_stable_across_loads(rows: int) -> None:
    data = [f"u{i},i{i},160000000{i},4" for i in range(rows)]
    assert load_events(*data).dataset.fingerprint() == load_events(*data).dataset.fingerprint()


# --- files the loader used to crash on or store wrongly (a hostile-input audit, session 8) -----------


def test_every_row_ragged_gets_a_report_not_a_crash() -> None:
    """A header one column short on every row: `validate` used to stop on "zero-size array to reduction"."""
    result = load_uploads({"events.csv": b"user_id,item_id,timestamp\nu0,i0,1700000000,1\nu1,i1,1700000060,2\n"})
    assert result.dataset is None
    assert one_issue(result, "ragged_rows").rows == (1, 2)


def test_a_transaction_log_with_nothing_left_is_refused() -> None:
    """Every row a cancellation: 0 events used to be stored as a valid dataset."""
    log = (b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
           b"C1,A,Mug,-1,2011-01-01 10:00,2.5,17850,UK\nC2,B,Cup,-2,2011-01-02 10:00,1.5,17851,UK\n")  # fmt: skip
    result = load_uploads({"retail.csv": log})
    assert result.dataset is None
    assert "dropped_cancellation" in rules_of(result)
    assert one_issue(result, "no_events").file == "retail.csv"


def test_excel_sep_line_names_the_delimiter() -> None:
    result = load_uploads({"events.csv": b"sep=;\r\nuser_id;item_id;timestamp;rating\r\nu0;i0;1700000000;4\r\nu1;i1;1700000060;2\r\n"})
    assert_ok(result)
    assert result.dataset.events["user_id"].tolist() == ["u0", "u1"]


def test_infinite_epoch_timestamps_are_out_of_range_not_1970() -> None:
    parsed = to_timestamps(pd.Series([1700000000.0, np.inf, -np.inf]))
    assert parsed.out_of_range.tolist() == [False, True, True]
    assert parsed.values.isna().tolist() == [False, True, True]


def test_ids_that_read_like_missing_values_are_kept_with_a_warning() -> None:
    """NULL, None, nan, N/A and - became five distinct users with no word said."""
    result = load_events("NULL,i1,1600000000,4", "N/A,i2,1600000000,4", "u1,-,1600000000,4", "u2,i1,1600000000,3")
    assert_ok(result)
    found = issues_of(result, "placeholder_id")
    assert {i.column: (i.severity, i.rows) for i in found} == {"item_id": ("warning", (3,)), "user_id": ("warning", (1, 2))}


def test_a_nul_character_is_reported_by_row_and_column_wherever_it_is() -> None:
    """Early in a file it refused the whole file as "binary" (no row named); after the first 64 KiB it was stored."""
    filler = "".join(f"u{n},i{n % 7},{1600000000 + n},4\n" for n in range(5000))  # past the 64 KiB sniff window
    for rows in (f"u0,i\x001,1600000000,4\n{filler}", f"{filler}u0,i\x001,1600000000,4\n"):
        result = load_uploads({"events.csv": (EVENTS_HEADER + "\n" + rows).encode()})
        issue = one_issue(result, "nul_character")
        assert result.dataset is None and issue.column == "item_id" and issue.example == "i␀1"
        assert issue.rows in ((1,), (5001,))


FIVE_STARS = [f"u{n},i{n % 9},{1600000000 + n},{1 + n % 5}" for n in range(200)]


@pytest.mark.parametrize("low, high", [("999", "-7"), ("-1", "0")])
def test_ratings_far_outside_the_rest_get_a_warning(low: str, high: str) -> None:
    """A 999 among 1-5 stars passed silently, and the model's rating scale stretched to it; an audit then found -1 and 0
    (the sentinels the warning itself names) passing silently while 300 and 99 were warned about."""
    result = load_events(*FIVE_STARS, f"u1,i1,1600009999,{low}", f"u2,i2,1600009999,{high}")
    assert_ok(result)
    issue = one_issue(result, "rating_outlier")
    assert (issue.severity, issue.column, issue.rows, issue.n_rows) == ("warning", "rating", (201, 202), 2)


def test_scales_that_start_at_0_or_half_a_star_get_no_outlier_warning() -> None:
    assert not issues_of(load_events(*FIVE_STARS), "rating_outlier")  # 1 and 5 stars are not outliers
    zero_to_five = [f"u{n},i{n % 9},{1600000000 + n},{n % 6}" for n in range(200)]  # 0 is a step of this scale
    assert not issues_of(load_events(*zero_to_five), "rating_outlier")
    half_stars = [f"u{n},i{n % 9},{1600000000 + n},{0.5 + n % 10 / 2}" for n in range(200)]
    assert not issues_of(load_events(*half_stars), "rating_outlier")  # 0.5 to 5 (MovieLens) has no sentinel
