"""Layouts: folder/uploads of events/items/users, MovieLens 100k and latest, Amazon reviews, transaction logs."""

from __future__ import annotations

import gzip
import io
import json
from datetime import date

import pandas as pd
import pytest
from uvp_data_testkit import assert_ok, events_csv, issues_of, one_issue, rules_of, shared_dataset

from uvp_core.data import default_upload_name, load_path, load_uploads

# --- folder and uploads -----------------------------------------------------------------------


def _mixed_format_files() -> dict[str, bytes]:
    items = io.BytesIO()
    pd.DataFrame({"item_id": ["01", "02"], "title": ["Lamp", "Desk"], "price": [9.5, 120.0]}).to_parquet(
        items
    )
    users = b'{"user_id": "007", "region": "West"}\n{"user_id": "8", "region": "East"}\n'
    events = gzip.compress(events_csv("007,01,2021-03-04T05:06:07Z,5", "8,02,1614834367,3"))
    return {"events.csv.gz": events, "items.parquet": items.getvalue(), "users.jsonl": users}


def test_folder_of_mixed_formats(tmp_path) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    for name, data in _mixed_format_files().items():
        (folder / name).write_bytes(data)
    (folder / "README.md").write_text("notes")
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "folder"
    dataset = result.dataset
    assert (dataset.name, dataset.source_format) == ("shop", "folder")
    assert dataset.events["user_id"].tolist() == ["007", "8"]
    assert dataset.items["item_id"].tolist() == ["01", "02"]
    assert dataset.users["region"].tolist() == ["West", "East"]
    assert result.report.issues == ()


def test_uploads_decide_tables_by_file_name() -> None:
    result = load_uploads(_mixed_format_files())
    assert_ok(result)
    assert (result.layout, result.dataset.source_format) == ("upload", "upload")
    assert result.dataset.name.startswith("upload 20")  # several files: "upload" and the date
    assert set(result.mapping) == {"events", "items", "users"}


def test_default_upload_name_is_the_file_unless_it_only_names_a_table() -> None:
    """An upload of events.csv was named "events" by default; a name that only says the table now gives the date."""
    day = date(2024, 5, 1)
    assert default_upload_name(["spring shop.csv.gz"], day) == "spring shop"
    assert default_upload_name(["events.csv"], day) == "upload 2024-05-01"
    assert default_upload_name(["Ratings.parquet"], day) == "upload 2024-05-01"
    assert default_upload_name(["events.csv", "items.csv"], day) == "upload 2024-05-01"
    # a recognised export whose files name only their tables says which export it is
    assert default_upload_name(["ratings.csv", "movies.csv"], day, layout="movielens") == "MovieLens upload 2024-05-01"
    assert default_upload_name(["Ratings.parquet"], day, layout="movielens") == "MovieLens upload 2024-05-01"
    assert default_upload_name(["u.data", "u.item"], day, layout="movielens-100k") == "MovieLens 100k upload 2024-05-01"
    assert default_upload_name(["events.csv", "items.csv"], day, layout="folder") == "upload 2024-05-01"


def test_single_events_file_of_any_name(tmp_path) -> None:
    path = tmp_path / "my_clicks.tsv"
    path.write_bytes(b"user\titem\tevent_time\taction\nu1\ti1\t2021-01-01\tclick\n")
    result = load_path(path)
    assert_ok(result)
    assert (result.dataset.name, result.layout) == ("my_clicks", "folder")
    assert result.mapping["events"] == {
        "user_id": "user",
        "item_id": "item",
        "timestamp": "event_time",
        "event_type": "action",
    }
    upload = load_uploads({"export 2024.csv": b"user,item,date,stars\nu1,i1,2021-01-01,4\n"})
    assert_ok(upload)
    assert (upload.dataset.name, upload.layout) == ("export 2024", "upload")


def test_layout_problems() -> None:
    several = load_uploads(
        {"a.csv": events_csv("u1,i1,1600000000,4"), "b.csv": events_csv("u1,i1,1600000000,4")}
    )
    issue = one_issue(several, "ambiguous_file")
    assert "a.csv, b.csv" in issue.message and "events" in issue.message and several.dataset is None
    assert "no_events_file" not in rules_of(several)  # the ambiguity says it all
    no_events = load_uploads({"items.csv": b"item_id\ni1\n", "users.csv": b"user_id\nu1\n"})
    assert one_issue(no_events, "no_events_file").severity == "error"
    twice = load_uploads({"events.csv": events_csv("u1,i1,1600000000,4"), "events.parquet": b"PAR1"})
    assert "events.csv, events.parquet" in one_issue(twice, "duplicate_file").message


# --- tables recognised by their columns -----------------------------------------------------------

ITEMS_NEG = b"item_id,title,price\ni1,A,1.00\ni2,B,2.00\n"
EVENTS_MISSING = b"user_id,item_id,timestamp,rating\nu1,i1,2024-01-01T00:00:00Z,4\nu2,i2,2024-01-02T00:00:00Z,3\n"


def test_upload_files_not_named_for_a_table_are_recognised_by_their_columns() -> None:
    """items_neg_price.csv was dropped with a warning and the upload read "Valid"; events_missing_ids.csv beside items.csv
    gave "no events file". Both are now read as the table their columns make."""
    result = load_uploads({"events.csv": events_csv("u1,i1,1600000000,4"), "items_neg_price.csv": ITEMS_NEG})
    assert_ok(result)
    assert result.dataset.items["item_id"].tolist() == ["i1", "i2"] and result.report.issues == ()
    assert result.mapping["items"] == {"item_id": "item_id", "title": "title", "price": "price"}
    result = load_uploads({"events_missing_ids.csv": EVENTS_MISSING, "items.csv": ITEMS_NEG})
    assert_ok(result)
    assert result.dataset.events["item_id"].tolist() == ["i1", "i2"] and result.dataset.items is not None
    users = load_uploads({"my_log.csv": EVENTS_MISSING, "customers.csv": b"customer_id,tier\nu1,gold\nu2,blue\n"})
    assert_ok(users)
    assert users.dataset.users["tier"].tolist() == ["gold", "blue"] and users.dataset.items is None


def test_recognition_by_columns_follows_the_mapping() -> None:
    odd = b"who,thing,when,stars\nu1,p1,2024-01-01T00:00:00Z,4\n"
    catalogue = b"thing,name\np1,Lamp\n"
    plain = load_uploads({"log.csv": odd, "catalogue.csv": catalogue})
    assert rules_of(plain) >= {"unrecognised_file"} and plain.dataset is None
    mapped = load_uploads(
        {"log.csv": odd, "catalogue.csv": catalogue},
        mapping={"user_id": "who", "item_id": "thing", "timestamp": "when", "rating": "stars"},
    )
    assert_ok(mapped)
    assert mapped.dataset.items["title"].tolist() == ["Lamp"]


def test_an_uploaded_file_that_fits_no_table_is_refused_naming_it() -> None:
    files = {"events.csv": events_csv("u1,i1,1600000000,4"), "notes.csv": b"when,what\n2024-01-01,stock take\n"}
    result = load_uploads(files)
    issue = one_issue(result, "unrecognised_file")
    assert result.dataset is None and issue.severity == "error" and issue.file == "notes.csv"
    assert "when, what" in issue.message and "events.*, items.* or users.*" in issue.message
    assert "no user ID" in issue.message and "Nothing was stored" in issue.message


def test_an_uploaded_second_file_for_a_named_table_is_refused() -> None:
    files = {"events.csv": events_csv("u1,i1,1600000000,4"), "items.csv": ITEMS_NEG, "items_old.csv": ITEMS_NEG}
    result = load_uploads(files)
    issue = one_issue(result, "ambiguous_file")
    assert result.dataset is None and issue.file == "items_old.csv" and "items.csv is the items table" in issue.message


def test_unreadable_unnamed_upload_is_refused_with_its_read_error() -> None:
    files = {"events.csv": events_csv("u1,i1,1600000000,4"), "extra.csv": "item_id\ncafé\n".encode("cp1252")}
    result = load_uploads(files)
    assert one_issue(result, "non_utf8_encoding").file == "extra.csv" and result.dataset is None


def test_a_folder_keeps_reading_with_a_warning_for_a_file_that_fits_no_table(tmp_path) -> None:
    (tmp_path / "events.csv").write_bytes(events_csv("u1,i1,1600000000,4"))
    (tmp_path / "item_data.csv").write_bytes(b"item_id,title\ni1,Lamp\n")
    (tmp_path / "notes.csv").write_bytes(b"when,what\n2024-01-01,stock take\n")
    (tmp_path / "meta.json").write_text('{"name": "shop", "version": 2}')
    result = load_path(tmp_path)
    assert_ok(result)
    assert result.dataset.items["title"].tolist() == ["Lamp"]
    issue = one_issue(result, "unrecognised_file")
    assert (issue.file, issue.severity) == ("notes.csv", "warning") and "left out of the dataset" in issue.message


def test_uploaded_movielens_with_an_unknown_file_is_refused() -> None:
    ratings = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
    movies = b"movieId,title,genres\n1,Toy Story (1995),Animation\n"
    ok = load_uploads({"ratings.csv": ratings, "movies.csv": movies, "links.csv": b"movieId,imdbId\n1,1\n", "README.txt": b"MovieLens"})
    assert_ok(ok)
    assert ok.layout == "movielens" and ok.report.issues == ()
    assert ok.dataset.name.startswith("MovieLens upload 20")  # named for the export, not only "upload <date>"
    assert sorted(ok.skipped) == ["README.txt", "links.csv"]  # said, not refused (a browser audit: they vanished silently)
    extra = load_uploads({"ratings.csv": ratings, "movies.csv": movies, "my_items.csv": movies})
    assert one_issue(extra, "ignored_file").severity == "error" and extra.dataset is None
    named = load_uploads({"ratings.csv": ratings, "items.csv": movies})  # a table name: tables by name or columns
    assert_ok(named)
    assert named.layout == "upload" and named.dataset.items["category"].tolist() == ["Animation"]
    assert named.dataset.name.startswith("upload 20")


def test_missing_path_is_reported_not_raised(tmp_path) -> None:
    result = load_path(tmp_path / "nope")
    assert result.dataset is None and one_issue(result, "path_not_found").severity == "error"


def test_programmer_errors_raise() -> None:
    with pytest.raises(ValueError, match="single character"):
        load_uploads({"events.csv": b""}, delimiter=";;")
    with pytest.raises(TypeError):
        load_uploads({"events.csv": b""}, mapping=["rating=x"])  # type: ignore[arg-type]


# --- MovieLens 100k (fixture: ml-100k is not in shared data) -----------------------------------

U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|Misérables, Les (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Mis%E9rables|0|0|0|0|0|0|0|0|1|0|0|0|1|0|0|0|0|1|0\n"
    '3|"Bob" Roberts (1992)|01-Jan-1992||http://x|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n'
)


def _ml100k(folder) -> None:
    folder.mkdir()
    (folder / "u.data").write_bytes(
        b"196\t1\t3\t881250949\n186\t2\t3\t891717742\n22\t3\t1\t878887116\n196\t2\t5\t881250950\n"
    )
    (folder / "u.item").write_bytes(U_ITEM.encode("latin-1"))
    (folder / "u.user").write_bytes(
        b"196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n"
    )
    (folder / "u.info").write_bytes(b"943 users\n")
    (folder / "README").write_bytes(b"ml-100k")


def test_movielens_100k(tmp_path) -> None:
    folder = tmp_path / "ml-100k"
    _ml100k(folder)
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "movielens-100k" and result.report.issues == ()
    dataset = result.dataset
    assert (dataset.name, dataset.source_format) == ("ml-100k", "movielens-100k")
    assert dataset.events["timestamp"].iloc[0] == pd.Timestamp(878887116, unit="s", tz="UTC")
    assert dataset.events["rating"].tolist() == [1.0, 3.0, 5.0, 3.0]
    items = dataset.items.set_index("item_id")
    assert items.loc["1", "category"] == "Animation|Children's|Comedy"
    assert items.loc["2", "title"] == "Misérables, Les (1995)"  # latin-1 decoded, not mangled
    assert items.loc["2", "category"] == "Drama|Musical|War"
    assert items.loc["3", "title"] == '"Bob" Roberts (1992)'  # quotes kept: no CSV quoting in this layout
    assert items.loc["3", "category"] == "unknown"
    assert items.loc["1", "release_date"] == "01-Jan-1995"
    users = dataset.users.set_index("user_id")
    assert users.loc["186", "zip_code"] == "00000" and users.loc["22", "occupation"] == "writer"
    assert list(dataset.users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]


def test_movielens_100k_uploads_and_ragged_u_item(tmp_path) -> None:
    folder = tmp_path / "ml"
    _ml100k(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    files["u.item"] += b"4|Short row|01-Jan-1995\n"
    result = load_uploads(files)
    assert result.layout == "movielens-100k"
    issue = one_issue(result, "ragged_rows")
    assert (issue.file, issue.rows) == ("u.item", (4,))


# --- MovieLens latest ---------------------------------------------------------------------------


def test_movielens_latest_fixture_with_tags(tmp_path) -> None:
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,2.5,1445714994\n"
    )
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n3,"Grumpier Old Men, The (1995)",Comedy|Romance\n4,Heat (1995),(no genres listed)\n'
    )
    (folder / "tags.csv").write_text(
        "userId,movieId,tag,timestamp\n2,1,pixar,1445714994\n3,1,fun,1445714995\n4,1,pixar,1445714996\n2,3,old,1445714997\n"
    )
    (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n")
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "movielens" and rules_of(result) == {"undated_tags"} and result.skipped == ("links.csv",)
    undated = one_issue(result, "undated_tags")  # a browser audit: tags written in the held-out period were read silently
    assert (undated.file, undated.column, undated.severity) == ("tags.csv", "timestamp", "warning")
    assert undated.message.startswith("Its 4 tags (written 2015-10-24 to 2015-10-24) join each movie's text whatever their date")
    items = result.dataset.items.set_index("item_id")
    assert items.loc["1", "tags"] == "pixar|fun"
    assert items.loc["3", "title"] == "Grumpier Old Men, The (1995)"
    assert items.loc["3", "category"] == "Comedy|Romance"
    assert pd.isna(items.loc["4", "tags"])
    assert result.mapping["items"] == {"item_id": "movieId", "title": "title", "category": "genres"}


def test_movielens_latest_real() -> None:
    folder = shared_dataset("movielens-latest-small")
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "movielens" and rules_of(result) == {"undated_tags"}
    events, items = result.dataset.events, result.dataset.items
    assert len(events) == 100_836
    assert events["user_id"].nunique() == 610 and events["item_id"].nunique() == 9_724
    assert len(items) == 9_742 and items["tags"].notna().sum() == 1_572
    assert events["timestamp"].min() == pd.Timestamp("1996-03-29 18:36:55", tz="UTC")
    assert events["rating"].value_counts()[4.0] == 26_818
    assert items.set_index("item_id").loc["1", "category"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert result.dataset.users is None


# --- Amazon reviews -------------------------------------------------------------------------------


def _review(reviewer: str, asin: str, overall: float, when: int, text: str) -> dict:
    return {
        "reviewerID": reviewer, "asin": asin, "reviewerName": "n", "helpful": [0, 1], "reviewText": text,
        "overall": overall, "summary": "s", "unixReviewTime": when, "reviewTime": "02 28, 2014",
    }  # fmt: skip


def test_amazon_reviews_fixture() -> None:
    lines = [
        _review("A1", "0001", 5.0, 1393545600, "<b>great</b>"),
        _review("A2", "0001", 2.0, 1363392000, ""),
    ]
    data = gzip.compress("\n".join(json.dumps(r) for r in lines).encode())
    result = load_uploads({"reviews_Musical_Instruments_5.json.gz": data})
    assert_ok(result)
    assert result.layout == "amazon-reviews"
    dataset = result.dataset
    assert (dataset.name, dataset.source_format) == ("reviews_Musical_Instruments_5", "amazon-reviews")
    assert dataset.items is None and dataset.users is None
    events = dataset.events
    assert events["item_id"].tolist() == ["0001", "0001"]
    assert events["review_text"].tolist() == ["", "<b>great</b>"]
    assert events["summary"].tolist() == ["s", "s"] and events["helpful"].tolist() == ["[0, 1]", "[0, 1]"]
    assert result.mapping["events"] == {
        "user_id": "reviewerID", "item_id": "asin", "timestamp": "unixReviewTime", "rating": "overall", "review_text": "reviewText",
    }  # fmt: skip


def test_amazon_reviews_real() -> None:
    folder = shared_dataset("amazon-musical-instruments-5core-2014")
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "amazon-reviews" and result.report.issues == ()
    events = result.dataset.events
    assert len(events) == 10_261
    assert events["user_id"].nunique() == 1_429 and events["item_id"].nunique() == 900
    assert events["rating"].value_counts().sort_index().tolist() == [217, 250, 772, 2_084, 6_938]
    assert events["timestamp"].min() == pd.Timestamp("2004-09-18", tz="UTC")
    assert (events["review_text"] == "").sum() == 7
    assert events["reviewerName"].isna().sum() == 27


# --- transaction logs -------------------------------------------------------------------------

RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,85123A,WHITE HANGING HEART ,2,2010-12-02 09:00:00,2.95,13047.0,France
536367,85123A,WHITE HANGING HEART,1,2010-12-03 10:00:00,3.05,,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536368,22423,REGENCY CAKESTAND,0,2010-12-04 10:00:00,12.75,13047.0,France
536369,22424,FREE GIFT,1,2010-12-04 10:00:00,0,13047.0,France
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536370,85123A,WHITE HANGING HEART,3,2010-12-05 10:00:00,2.55,13047.0,France
"""


def test_transactions_fixture() -> None:
    result = load_uploads({"online_retail.csv": RETAIL.encode()})
    assert_ok(result)
    assert result.layout == "transactions"
    assert rules_of(result) == {
        "duplicate_rows",
        "dropped_missing_user",
        "dropped_cancellation",
        "dropped_non_positive",
        "duplicate_event",
    }
    missing = one_issue(result, "dropped_missing_user")
    assert missing.message == "1 row(s) (11.1%) have no CustomerID and were dropped."
    assert (missing.rows, missing.column, missing.severity) == ((4,), "CustomerID", "warning")
    assert one_issue(result, "dropped_cancellation").rows == (5,)
    assert one_issue(result, "dropped_non_positive").rows == (6, 7)
    assert one_issue(result, "duplicate_rows").rows == (8,)
    dataset = result.dataset
    events = dataset.events
    assert len(events) == 5
    assert set(events["user_id"]) == {"17850", "13047"}
    assert events["event_type"].unique().tolist() == ["purchase"] and events["label"].unique().tolist() == [1]
    assert events["revenue"].round(2).tolist() == [20.34, 20.34, 15.3, 5.9, 7.65]
    assert events["invoice"].tolist() == ["536365"] * 3 + ["536366", "536370"]
    items = dataset.items.set_index("item_id")
    assert items.loc["85123A", "title"] == "WHITE HANGING HEART"  # the most frequent description
    assert items.loc["85123A", "price"] == 2.55  # median unit price of the kept lines 2.55, 2.95, 2.55
    users = dataset.users.set_index("user_id")
    assert users.loc["13047", "country"] == "France"
    assert result.mapping["events"]["user_id"] == "CustomerID"
    assert result.mapping["items"] == {"item_id": "StockCode", "price": "UnitPrice", "title": "Description"}


def test_service_lines_of_a_transaction_log_are_dropped_and_named() -> None:
    """Postage, fees, discounts and manual adjustments are charges, not products: Online Retail's POSTAGE is on the
    invoices of 73% of the customers abroad, so it read as one of the most popular products."""
    extra = ("536371,POST,POSTAGE,1,2010-12-05 10:00:00,18.0,13047.0,France\n"
             "536371,23099,FRENCH CARRIAGE LANTERN,1,2010-12-05 10:00:00,4.95,13047.0,France\n"
             "536372,BANK CHARGES,Bank Charges,1,2010-12-06 10:00:00,15.0,17850.0,United Kingdom\n"
             "536372,M,Manual,1,2010-12-06 10:00:00,0.85,17850.0,United Kingdom\n")  # fmt: skip
    result = load_uploads({"online_retail.csv": (RETAIL + extra).encode()})
    assert_ok(result)
    issue = one_issue(result, "dropped_service_line")
    assert (issue.rows, issue.column, issue.severity) == ((10, 12, 13), "Description", "warning")
    assert issue.message.startswith("3 row(s) are service lines, not products, and were dropped: ")
    assert "POST 'POSTAGE' (1)" in issue.message and "BANK CHARGES 'Bank Charges' (1)" in issue.message
    items = set(result.dataset.items["item_id"])
    assert "23099" in items and not {"POST", "BANK CHARGES", "M"} & items  # a carriage clock or lantern is a product
    assert len(result.dataset.events) == 6


def test_many_kinds_of_service_line_are_named_five_and_counted() -> None:
    names = ["POSTAGE", "CARRIAGE", "Manual", "Discount", "AMAZON FEE", "Bank Charges", "PACKING CHARGE", "SAMPLES", "Adjust bad debt"]
    lines = "".join(f"5364{j:02d},S{j},{name},1,2010-12-0{1 + j % 5} 10:00:00,{j + 1}.0,13047.0,France\n" for j, name in enumerate(names))
    issue = one_issue(load_uploads({"online_retail.csv": (RETAIL + lines).encode()}), "dropped_service_line")
    assert issue.n_rows == 9 and issue.message.count("' (1)") == 5 and "; 4 more kinds." in issue.message


def test_service_lines_are_descriptions_of_service_words_only() -> None:
    from uvp_core.data.importers import service_lines

    names = pd.Series(["POSTAGE", "DOTCOM POSTAGE", "Next Day Carriage", "AMAZON FEE", "Adjust bad debt", "CRUK Commission",
                       "Discount", "PACKING CHARGE", "FRENCH CARRIAGE LANTERN", "COFFEE MUG", "Dotcomgiftshop Gift Voucher £20.00",
                       "next day", None, ""])  # fmt: skip
    assert service_lines(names).tolist() == [True] * 8 + [False] * 6  # a qualifier alone ("next day") is no service


def test_transactions_with_non_numeric_quantity_is_an_error() -> None:
    text = RETAIL.replace("536366,85123A,WHITE HANGING HEART ,2,", "536366,85123A,WHITE HANGING HEART ,two,")
    result = load_uploads({"retail.csv": text.encode()})
    issue = one_issue(result, "non_numeric_value")
    assert (issue.column, issue.rows, issue.example) == ("Quantity", (3,), "two")
    assert result.dataset is None


def test_transaction_log_problems_name_the_files_columns() -> None:
    """A browser audit: a bad InvoiceDate was reported in "column timestamp", a column the file does not have, and the
    duplicate-event warning listed user_id, item_id, timestamp, event_type."""
    text = RETAIL.replace("536370,85123A,WHITE HANGING HEART,3,2010-12-05 10:00:00", "536370,85123A,WHITE HANGING HEART,3,not-a-date")
    result = load_uploads({"retail.csv": text.encode()})
    issue = one_issue(result, "unparseable_timestamp")
    assert (issue.column, issue.rows, issue.example) == ("InvoiceDate", (9,), "not-a-date") and result.dataset is None
    duplicate = one_issue(load_uploads({"retail.csv": RETAIL.encode()}), "duplicate_event")
    assert duplicate.message.endswith("with the same CustomerID, StockCode, InvoiceDate (kept).")


def test_a_transaction_log_without_its_customer_column_says_so() -> None:
    """A browser audit: without CustomerID the file was read as an events table, and the errors asked for 'user_id'
    (synonyms userid, user, uid, reviewerid) and for a label column, which a transaction log never needs."""
    text = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != 6) for line in RETAIL.splitlines())
    result = load_uploads({"retail.csv": text.encode()})
    assert result.dataset is None and rules_of(result) == {"missing_required_column"}
    issue = one_issue(result, "missing_required_column")
    assert issue.column == "user_id" and issue.message.startswith("The transaction log needs a customer column (user_id)")
    assert "synonyms include customerid, customer" in issue.message


def test_transactions_real_uci_online_retail() -> None:
    folder = shared_dataset("uci-online-retail")
    result = load_path(folder)
    assert_ok(result)
    assert result.layout == "transactions"
    missing = one_issue(result, "dropped_missing_user")
    assert missing.message == "135,080 row(s) (24.9%) have no CustomerID and were dropped."
    assert one_issue(result, "duplicate_rows").n_rows == 5_268
    dataset = result.dataset
    service = one_issue(result, "dropped_service_line")  # POSTAGE, Manual, CARRIAGE, ...: charges, not products
    assert service.n_rows == 1_637 and "POST 'POSTAGE' (1,099); M 'Manual' (284); C2 'CARRIAGE' (133)" in service.message
    assert "PACKING CHARGE" in service.message and "more kinds" not in service.message  # seven kinds: all named
    assert len(dataset.events) == 397_884 - 1_637
    assert dataset.events["user_id"].nunique() == 4_334 and len(dataset.users) == 4_334  # 4 customers bought only postage
    assert dataset.events["item_id"].nunique() == 3_658 and len(dataset.items) == 3_658
    assert not {"POST", "M", "C2", "DOT", "BANK CHARGES"} & set(dataset.items["item_id"])
    assert dataset.users.set_index("user_id").loc["17850", "country"] == "United Kingdom"
    assert len(issues_of(result, "dropped_cancellation")) == 1


def test_transactions_with_unusual_names_are_recognised_through_the_mapping() -> None:
    text = "order,client,article,when,units,cost\n1,c1,a1,2011-01-01 10:00:00,2,1.5\n2,c2,a1,2011-01-02 10:00:00,1,2.5\n"
    plain = load_uploads({"log.csv": text.encode()})
    assert plain.layout == "upload" and "missing_required_column" in rules_of(plain)
    mapped = load_uploads(
        {"log.csv": text.encode()},
        mapping={
            "user_id": "client",
            "item_id": "article",
            "timestamp": "when",
            "quantity": "units",
            "price": "cost",
        },
    )
    assert_ok(mapped)
    assert mapped.layout == "transactions"
    assert mapped.dataset.events["revenue"].tolist() == [3.0, 2.5]
    assert mapped.dataset.events["order"].tolist() == ["1", "2"]  # unclaimed columns are kept
    assert mapped.dataset.items.loc[0, "price"] == 2.0


def test_folder_without_data_files_lists_what_it_found(tmp_path) -> None:
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / "README.md").write_text("x")
    issue = one_issue(load_path(tmp_path), "no_events_file")
    assert "book.xlsx" in issue.message and "README.md" in issue.message


def test_every_layout_has_a_name_an_analyst_can_read() -> None:
    """The Data page said "Detected layout: movielens" for any file called ratings.csv; it now says what it read."""
    import re
    from pathlib import Path

    from uvp_core.data import LAYOUT_NAMES, layout_name

    source = (Path(__file__).resolve().parents[2] / "uvp_core" / "data" / "importers.py").read_text()
    layouts = set(re.findall(r'layout(?:=| = )"([a-z0-9-]+)"', source)) | {"folder", "upload"}  # + the generic ones
    assert layouts >= {"movielens", "movielens-100k", "transactions", "amazon-reviews"}
    assert layouts <= set(LAYOUT_NAMES), layouts - set(LAYOUT_NAMES)
    assert layout_name("movielens").startswith("a ratings file")
