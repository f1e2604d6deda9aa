"""Role detection by synonyms, `--map` parsing and explicit mappings (including the unknown-mapping rule)."""

from __future__ import annotations

import pytest
from uvp_data_testkit import assert_ok, events_csv, load_events, one_issue, rules_of

from uvp_core.data import detect_mapping, load_uploads, parse_map_args


@pytest.mark.parametrize(
    "column", ["movieId", "asin", "StockCode", "product_id", "sku", "ITEM_ID", "Item Id"]
)
def test_item_id_synonyms(column: str) -> None:
    assert detect_mapping("events", ["x", column])["item_id"] == column
    assert detect_mapping("items", [column, "title"])["item_id"] == column


@pytest.mark.parametrize(
    "column", ["userId", "reviewerID", "CustomerID", "customer_id", "Customer ID", "USER_ID"]
)
def test_user_id_synonyms(column: str) -> None:
    assert detect_mapping("events", [column])["user_id"] == column
    assert detect_mapping("users", [column, "age"]) == {"user_id": column}


@pytest.mark.parametrize(
    ("column", "role"),
    [
        ("overall", "rating"),
        ("stars", "rating"),
        ("score", "rating"),
        ("unixReviewTime", "timestamp"),
        ("InvoiceDate", "timestamp"),
        ("time", "timestamp"),
        ("date", "timestamp"),
        ("event_time", "timestamp"),
        ("reviewText", "review_text"),
        ("Event Type", "event_type"),
        ("Quantity", "quantity"),
        ("revenue", "revenue"),
        ("label", "label"),
    ],
)
def test_event_role_synonyms(column: str, role: str) -> None:
    assert detect_mapping("events", [column]) == {role: column}


def test_item_text_synonyms() -> None:
    assert detect_mapping("items", ["StockCode", "Description", "UnitPrice"]) == {
        "item_id": "StockCode",
        "title": "Description",
        "price": "UnitPrice",
    }
    assert detect_mapping("items", ["id", "name", "genres"]) == {"title": "name", "category": "genres"}
    assert detect_mapping("items", ["item_id", "title", "description"]) == {
        "item_id": "item_id",
        "title": "title",
        "description": "description",
    }


def test_exact_canonical_name_wins_over_synonyms_and_columns_are_used_once() -> None:
    assert detect_mapping("events", ["movieId", "item_id", "score", "rating"]) == {
        "item_id": "item_id",
        "rating": "rating",
    }
    assert detect_mapping("events", ["unixReviewTime", "reviewTime"]) == {"timestamp": "unixReviewTime"}


def test_unknown_table_is_a_programmer_error() -> None:
    with pytest.raises(ValueError, match="unknown table 'ratings'"):
        detect_mapping("ratings", ["a"])


def test_parse_map_args() -> None:
    assert parse_map_args(["item_id=movieId", "items.title=name", " rating = my score "]) == {
        "item_id": "movieId",
        "items.title": "name",
        "rating": "my score",
    }
    assert parse_map_args([]) == {}
    assert parse_map_args(["title=a=b"]) == {"title": "a=b"}


@pytest.mark.parametrize("bad", ["item_id", "=movieId", "item_id=", "a.b.c=x", "items.=x", "item id=x"])
def test_parse_map_args_rejects_bad_syntax_naming_the_text(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_map_args(["rating=score", bad])
    assert repr(bad) in str(info.value)


def test_parse_map_args_rejects_conflicting_repeats() -> None:
    with pytest.raises(ValueError, match="already mapped"):
        parse_map_args(["rating=a", "rating=b"])


# --- explicit mappings in a load ---------------------------------------------------------------


def test_explicit_mapping_overrides_detection_and_is_reported() -> None:
    result = load_events("u1,i1,1600000000,3,5", header="who,what,when,rating,my_score", mapping={
        "user_id": "who", "item_id": "what", "timestamp": "when", "rating": "my_score",
    })  # fmt: skip
    assert_ok(result)
    assert result.mapping == {
        "events": {"user_id": "who", "item_id": "what", "timestamp": "when", "rating": "my_score"}
    }
    events = result.dataset.events
    assert events.loc[0, "rating"] == 5.0
    assert events.loc[0, "rating_source"] == "3"  # the unused 'rating' column is kept, renamed
    warning = one_issue(result, "renamed_column")
    assert (warning.severity, warning.column) == ("warning", "rating")


def test_bare_id_role_applies_to_events_and_items_table_role_to_one_table() -> None:
    files = {
        "events.csv": events_csv("u1,m1,1600000000,4", header="user_id,movie,timestamp,rating"),
        "items.csv": b"movie,name,headline\nm1,Alien,Space horror\n",
    }
    result = load_uploads(files, mapping={"item_id": "movie", "items.title": "headline"})
    assert_ok(result)
    assert result.mapping["items"] == {"item_id": "movie", "title": "headline"}
    assert result.mapping["events"]["item_id"] == "movie"
    assert result.dataset.items.loc[0, "title"] == "Space horror"
    assert result.dataset.items.loc[0, "name"] == "Alien"


def test_mapping_column_match_falls_back_to_case_insensitive() -> None:
    result = load_events(
        "u1,i1,1600000000,4", header="user_id,item_id,timestamp,Points", mapping={"rating": "points"}
    )
    assert_ok(result)
    assert result.mapping["events"]["rating"] == "Points"


def test_unknown_role_is_an_error_naming_role_and_column() -> None:
    result = load_events("u1,i1,1600000000,4", mapping={"stars": "rating"})
    issue = one_issue(result, "unknown_mapping_role")
    assert issue.column == "rating"
    assert "'stars'" in issue.message and "stars=rating" in issue.message
    assert result.dataset is None


def test_role_of_another_table_and_unknown_table_are_errors() -> None:
    result = load_events("u1,i1,1600000000,4", mapping={"events.title": "rating", "products.title": "rating"})
    issues = [i for i in result.report.issues if i.rule == "unknown_mapping_role"]
    assert len(issues) == 2
    assert "'title' is not a role of events" in issues[0].message
    assert "'products' is not a table" in issues[1].message


def test_missing_column_is_an_error_naming_both() -> None:
    result = load_events("u1,i1,1600000000,4", mapping={"rating": "score"})
    issue = one_issue(result, "unknown_mapping_column")
    assert (issue.file, issue.column) == ("events.csv", "score")
    assert "rating=score" in issue.message and "'score' is not in events.csv" in issue.message
    assert "user_id, item_id, timestamp, rating" in issue.message


def test_mapping_for_an_absent_table_is_an_error() -> None:
    result = load_events("u1,i1,1600000000,4", mapping={"items.title": "name"})
    issue = one_issue(result, "unknown_mapping_column")
    assert "no items table" in issue.message


def test_all_mapping_problems_are_reported_at_once() -> None:
    result = load_events("u1,i1,1600000000,4", mapping={"stars": "x", "rating": "nope", "timestamp": "never"})
    assert rules_of(result) == {"unknown_mapping_role", "unknown_mapping_column"}
    assert len(result.report.errors) == 3
