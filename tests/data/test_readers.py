"""File-level rules: formats, gzip, size limit, encodings, binary files, delimiters, ragged rows, Parquet schema."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from uvp_data_testkit import assert_ok, events_csv, load_events, one_issue, rules_of

from uvp_core.data import load_path, load_uploads
from uvp_core.data.readers import Source, read_table, resolve_max_bytes

ROW = "u1,i1,1600000000,4"
EVENTS_HEADER_TEXT = "user_id,item_id,timestamp,rating,review_text"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delimiter: str) -> None:
    header = delimiter.join(["user_id", "item_id", "timestamp", "rating", "review_text"])
    row = delimiter.join(["007", "i1", "1600000000", "4.5", '"a, b; c| d"'])
    result = load_events(row, header=header)
    assert_ok(result)
    events = result.dataset.events
    assert list(events.columns) == ["user_id", "item_id", "timestamp", "rating", "review_text"]
    assert events.loc[0, "user_id"] == "007"
    assert events.loc[0, "review_text"] == "a, b; c| d"


def test_forced_delimiter_that_gives_one_column_is_an_error_naming_the_right_one() -> None:
    result = load_uploads(
        {"events.csv": b"user_id;item_id;timestamp;rating\n1;2;1600000000;4\n"}, delimiter=","
    )
    issue = one_issue(result, "wrong_delimiter")
    assert result.dataset is None
    assert issue.file == "events.csv" and issue.severity == "error"
    assert "';' gives 4 columns" in issue.message
    assert issue.example == "user_id;item_id;timestamp;rating"


def test_forced_delimiter_that_works_is_used() -> None:
    result = load_uploads(
        {"events.csv": b"user_id;item_id;timestamp;rating\n1;2,5;1600000000;4\n"}, delimiter=";"
    )
    assert_ok(result)
    assert result.dataset.events.loc[0, "item_id"] == "2,5"


def test_unsupported_delimiter_header_in_one_column_is_an_error() -> None:
    result = load_uploads({"events.csv": b"user_id item_id timestamp rating\n1 2 1600000000 4\n"})
    issue = one_issue(result, "wrong_delimiter")
    assert issue.file == "events.csv"
    assert issue.example == "user_id item_id timestamp rating"
    assert rules_of(result) == {"wrong_delimiter"}


def test_gzip_by_suffix_and_by_magic_bytes() -> None:
    data = gzip.compress(events_csv(ROW))
    for name in ("events.csv.gz", "events.csv"):
        result = load_uploads({name: data})
        assert_ok(result)
        assert len(result.dataset.events) == 1


def test_corrupt_gzip_is_a_parse_error() -> None:
    data = gzip.compress(events_csv(*[ROW] * 1000))
    result = load_uploads({"events.csv.gz": data[: len(data) // 2]})
    issue = one_issue(result, "parse_error")
    assert issue.file == "events.csv.gz" and "truncated" in issue.message


@pytest.mark.parametrize("keep", [2, 10, 30])
def test_gzip_cut_before_any_data_comes_out_is_truncated_not_empty(keep: int) -> None:
    data = gzip.compress(events_csv(*[f"u{i},i{i * 7 % 13},{1600000000 + i},{i % 5 + 1}" for i in range(1000)]))
    assert zlib.decompressobj(wbits=31).decompress(data[:keep]) == b""  # the cut leaves nothing to read
    result = load_uploads({"events.csv.gz": data[:keep]})
    issue = one_issue(result, "parse_error")
    assert issue.file == "events.csv.gz" and "truncated" in issue.message
    assert rules_of(result) == {"parse_error"}


def test_parquet_and_jsonl_files() -> None:
    table = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "item_id": ["0001", "0002"],
            "timestamp": pa.array(
                [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-02")], pa.timestamp("us")
            ),
            "rating": [4.0, 5.0],
        }
    )
    jsonl = b'{"user_id": "u1", "item_id": 7, "timestamp": "2020-01-01T00:00:00Z", "rating": 3}\n\n'
    for files in (
        {"events.parquet": parquet_bytes(table)},
        {"events.jsonl": jsonl},
        {"events.csv": parquet_bytes(table)},
    ):
        result = load_uploads(files)
        assert_ok(result)
        events = result.dataset.events
        assert str(events["timestamp"].dtype) == "datetime64[ms, UTC]"
        assert str(events["user_id"].dtype) == "str" and str(events["item_id"].dtype) == "str"
    assert load_uploads({"events.parquet": parquet_bytes(table)}).dataset.events["item_id"].tolist() == [
        "0001",
        "0002",
    ]
    assert load_uploads({"events.jsonl": jsonl}).dataset.events.loc[0, "item_id"] == "7"


def test_json_array_and_mixed_types_fall_back_to_the_slow_reader() -> None:
    array = b'[{"user_id": 1, "item_id": "a", "timestamp": 1600000000, "rating": 4}]'
    mixed = b'{"user_id": 1, "item_id": "a", "timestamp": 1600000000, "rating": 4}\n{"user_id": "x7", "item_id": 5, "timestamp": 1600000001, "rating": 5}\n'
    assert load_uploads({"events.json": array}).dataset.events["user_id"].tolist() == ["1"]
    result = load_uploads({"events.jsonl": mixed})
    assert_ok(result)
    assert result.dataset.events["user_id"].tolist() == ["1", "x7"]
    assert result.dataset.events["item_id"].tolist() == ["a", "5"]


def test_malformed_json_lines_are_reported_with_rows() -> None:
    good = '{"user_id": "u", "item_id": "i", "timestamp": 1600000000, "rating": 4}'
    text = "\n".join([good, "{not json", good, "", good, "[1, 2]"]) + "\n"
    result = load_uploads({"events.jsonl": text.encode()})
    issue = one_issue(result, "parse_error")
    assert issue.rows == (2, 5) and issue.n_rows == 2
    assert issue.example == "{not json"
    assert result.dataset is None


# --- empty, binary, encodings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "0 bytes"),
        (b"user_id,item_id,timestamp,rating\n", "header but no data rows"),
        (b"\n \n", "empty"),
        (gzip.compress(b""), "empty"),
    ],
)
def test_empty_files(data: bytes, fragment: str) -> None:
    result = load_uploads({"events.csv.gz" if data[:2] == b"\x1f\x8b" else "events.csv": data})
    issue = one_issue(result, "empty_file")
    assert fragment in issue.message
    assert result.dataset is None


def test_binary_garbage_named_csv_is_an_error() -> None:
    garbage = bytes((i * 73 + 11) % 256 for i in range(5000))
    result = load_uploads({"events.csv": garbage})
    assert one_issue(result, "binary_file").file == "events.csv"
    assert rules_of(result) == {"binary_file"}


def test_zip_or_excel_named_csv_is_an_error() -> None:
    result = load_uploads({"events.csv": b"PK\x03\x04" + b"\x00" * 100})
    assert "ZIP" in one_issue(result, "binary_file").message


def test_text_named_parquet_is_an_error() -> None:
    result = load_uploads({"events.parquet": events_csv(ROW)})
    assert one_issue(result, "parse_error").file == "events.parquet"


def test_cp1252_is_an_error_naming_the_encoding_and_the_row() -> None:
    french = '"Très bon café, déjà goûté"'
    text = "user_id,item_id,timestamp,rating,review_text\n" + "".join(
        f"u{i},i{i},1600000000,4,{french if i == 3 else 'plain'}\n" for i in range(1, 6)
    )
    data = text.encode("cp1252")
    result = load_uploads({"events.csv": data})
    issue = one_issue(result, "non_utf8_encoding")
    assert result.dataset is None
    assert issue.rows == (3,) and issue.file == "events.csv"
    assert "in data row 3 (line 4 of the file, counting the header)" in issue.message  # not "row(s) 3 ... line 4"
    assert "cp1252" in issue.message and "UTF-8" in issue.message and "encoding=" in issue.message
    assert "choose cp1252 under Encoding on the Data page" in issue.message  # the page offers the choice too
    assert issue.example == 'u3,i3,1600000000,4,"Très bon café, déjà goûté"'
    # with the encoding given explicitly, the same bytes load and the text is intact
    fixed = load_uploads({"events.csv": data}, encoding="cp1252")
    assert_ok(fixed)
    assert fixed.dataset.events["review_text"].tolist()[2] == "Très bon café, déjà goûté"


def test_utf8_with_bom_is_accepted() -> None:
    result = load_uploads({"events.csv": b"\xef\xbb\xbf" + events_csv(ROW)})
    assert_ok(result)
    assert list(result.dataset.events.columns) == ["user_id", "item_id", "timestamp", "rating"]


@pytest.mark.parametrize(
    ("codec", "name"), [("utf-16", "UTF-16-LE"), ("utf-16-le", "UTF-16-LE"), ("utf-16-be", "UTF-16-BE")]
)
def test_utf16_is_an_error(codec: str, name: str) -> None:
    result = load_uploads({"events.csv": events_csv(ROW).decode().encode(codec)})
    issue = one_issue(result, "non_utf8_encoding")
    assert name in issue.message
    assert f"choose {name.lower()} under Encoding on the Data page" in issue.message
    assert rules_of(result) == {"non_utf8_encoding"}


def test_explicit_encoding_that_does_not_fit_is_an_error() -> None:
    data = "user_id,item_id,timestamp,rating\nü,i,1600000000,4\n".encode()
    result = load_uploads({"events.csv": data}, encoding="ascii")
    issue = one_issue(result, "encoding_error")
    assert issue.rows == (1,)
    assert "in data row 1 (line 2 of the file, counting the header)" in issue.message


# --- ragged rows ------------------------------------------------------------------------------


def test_ragged_rows_are_reported_with_row_numbers_and_later_rows_keep_their_numbers() -> None:
    result = load_events(
        "u1,i1,1600000000,4",
        "u2,i2",  # row 2: too few
        "u3,i3,1600000000,4,extra",  # row 3: too many
        '"u4","i4, quoted",1600000000,4',
        "u5,i5,not-a-time,4",  # row 5
    )
    ragged = one_issue(result, "ragged_rows")
    assert (ragged.rows, ragged.n_rows, ragged.example) == ((2, 3), 2, "u2,i2")
    assert "header (4)" in ragged.message
    assert one_issue(result, "unparseable_timestamp").rows == (5,)
    assert result.dataset is None


def test_ragged_row_numbers_count_records_with_quoted_newlines() -> None:
    result = load_events(
        'u1,i1,1600000000,4,"two\nlines"', "u2,i2,1600000000,4,ok", "u3,i3", header=EVENTS_HEADER_TEXT
    )
    assert one_issue(result, "ragged_rows").rows == (3,)


def test_unterminated_quote_is_reported_and_nothing_is_stored() -> None:
    """A quote left open in a row joins the following lines into it: that row is reported, with its number."""
    result = load_events("u1,i1,1600000000,4", 'u2,"i2,1600000001,5', "u3,i3,1600000002,3")
    issue = one_issue(result, "unclosed_quote")
    assert (issue.file, issue.column, issue.rows) == ("events.csv", "item_id", (2,))
    assert rules_of(result) == {"unclosed_quote"}
    assert result.dataset is None


QUOTED_EVENTS = (
    "u1,i1,2024-01-01T00:00:00Z,4,nice",
    'u1,i2,2024-01-02T00:00:00Z,3,"unclosed quote here',
    "u2,i1,2024-01-03T00:00:00Z,5,good",
    "u2,i3,2024-01-04T00:00:00Z,2,bad",
    "u3,i2,2024-01-05T00:00:00Z,1,meh",
)
QUOTED_ITEMS = b"item_id,title\ni1,One\ni2,Two\ni3,Three\n"


def test_unclosed_quote_in_the_last_column_is_refused_naming_file_column_and_row(tmp_path: Path) -> None:
    """The fast reader takes the rest of the file into the open value and sees nothing wrong; the load must refuse."""
    files = {"events.csv": events_csv(*QUOTED_EVENTS, header=EVENTS_HEADER_TEXT), "items.csv": QUOTED_ITEMS}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    for result in (load_uploads(files), load_path(tmp_path)):
        issue = one_issue(result, "unclosed_quote")
        assert (issue.file, issue.column, issue.rows) == ("events.csv", "review_text", (2,))
        assert "Row 2 opens a quote" in issue.message and "swallowing 3 line(s)" in issue.message
        assert issue.example == 'u1,i2,2024-01-02T00:00:00Z,3,"unclosed quote here'
        assert rules_of(result) == {"unclosed_quote"} and result.dataset is None


def test_unclosed_quote_in_items_is_reported_in_items_not_as_unknown_items() -> None:
    events = events_csv("u1,i1,1600000000,4", "u1,i2,1600000001,3", "u2,i3,1600000002,5")
    items = b'item_id,title\ni1,One\ni2,"Two\ni3,Three\n'
    result = load_uploads({"events.csv": events, "items.csv": items})
    issue = one_issue(result, "unclosed_quote")
    assert (issue.file, issue.column, issue.rows) == ("items.csv", "title", (2,))
    assert rules_of(result) == {"unclosed_quote"} and result.dataset is None


@pytest.mark.parametrize("end", ["\n", ""])
def test_unclosed_quote_on_the_last_line_is_refused(end: str) -> None:
    data = (EVENTS_HEADER_TEXT + '\nu1,i1,1600000000,4,ok\nu2,i2,1600000001,5,"no end' + end).encode()
    result = load_uploads({"events.csv": data})
    issue = one_issue(result, "unclosed_quote")
    assert issue.rows == (2,) and "swallowing 0 line(s)" in issue.message


def test_unclosed_quote_and_other_ragged_rows_are_both_reported() -> None:
    result = load_events("u1,i1,1600000000,4", "u2,i2", 'u3,"i3,1600000002,3', "u4,i4,1600000003,2")
    assert one_issue(result, "ragged_rows").rows == (2,)
    assert one_issue(result, "unclosed_quote").rows == (3,)
    assert result.dataset is None


@pytest.mark.parametrize("end", ["\n", "", "\r\n"])
def test_closed_multi_line_quoted_text_imports_even_as_the_last_value(end: str) -> None:
    rows = ['u1,i1,1600000000,4,"first\nsecond, with ""quotes"""', 'u2,i2,1600000001,5,"one\ntwo\nthree"']
    data = (EVENTS_HEADER_TEXT + "\n" + "\n".join(rows) + end).encode()
    result = load_uploads({"events.csv": data})
    assert_ok(result)
    events = result.dataset.events
    assert list(events["review_text"]) == ['first\nsecond, with "quotes"', "one\ntwo\nthree"]


def test_a_10_mb_cell_is_an_error_naming_file_column_and_row() -> None:
    items = b"item_id,title\ni1,ok\ni2," + b"x" * 10_000_000 + b"\n"
    result = load_uploads({"events.csv": events_csv("u1,i1,1600000000,4", "u2,i2,1600000001,5"), "items.csv": items})
    issue = one_issue(result, "cell_too_long")
    assert (issue.file, issue.column, issue.rows) == ("items.csv", "title", (2,))
    assert "10,000,000" in issue.message and "UVP_MAX_CELL_CHARS" in issue.message
    assert result.dataset is None


def test_cell_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVP_MAX_CELL_CHARS", "12")  # the timestamps have 10
    result = load_events("u1,i1,1600000000,4", "a-user-id-of-31-characters-long,i2,1600000001,5")
    assert one_issue(result, "cell_too_long").rows == (2,)
    monkeypatch.setenv("UVP_MAX_CELL_CHARS", "many")
    with pytest.raises(ValueError, match="UVP_MAX_CELL_CHARS='many'"):
        load_events("u1,i1,1600000000,4")


def test_duplicate_header_names_are_an_error() -> None:
    result = load_events("u1,i1,1600000000,4,5", header="user_id,item_id,timestamp,rating,rating")
    issue = one_issue(result, "duplicate_column")
    assert issue.column == "rating" and issue.file == "events.csv"


# --- size limit -------------------------------------------------------------------------------


def test_file_over_the_limit_is_an_error() -> None:
    data = events_csv(*[ROW] * 200)
    result = load_uploads({"events.csv": data}, max_file_mb=len(data) / 2 / 1024 / 1024)
    issue = one_issue(result, "file_too_large")
    assert "limit" in issue.message and "UVP_MAX_FILE_MB" in issue.message


def test_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVP_MAX_FILE_MB", "0.001")
    assert resolve_max_bytes() == 1048
    assert resolve_max_bytes(2) == 2 * 1024 * 1024  # the argument wins
    result = load_uploads({"events.csv": events_csv(*[ROW] * 200)})
    assert one_issue(result, "file_too_large").file == "events.csv"
    for bad in ("lots", "inf", "1e400", "-1"):  # inf used to escape as an OverflowError with a traceback
        monkeypatch.setenv("UVP_MAX_FILE_MB", bad)
        with pytest.raises(ValueError, match="UVP_MAX_FILE_MB"):
            resolve_max_bytes()
    monkeypatch.delenv("UVP_MAX_FILE_MB")
    monkeypatch.setenv("UVP_MAX_CELL_CHARS", "0")  # every non-empty cell used to fail as "longer than 0 characters"
    with pytest.raises(ValueError, match="UVP_MAX_CELL_CHARS='0' must be a positive"):
        load_uploads({"events.csv": events_csv(ROW)})


def _gzip_bomb(total_mb: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    parts = [compressor.compress(block) for _ in range(total_mb)]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_gzip_bomb_is_stopped_early_while_streaming(tmp_path) -> None:
    bomb = _gzip_bomb(200)  # 200 MB of zeros in ~200 KB
    assert len(bomb) < 1_000_000
    path = tmp_path / "events.csv.gz"
    path.write_bytes(bomb)
    tracemalloc.start()
    try:
        outcome = read_table(Source("events.csv.gz", path=path), max_bytes=4 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.table is None
    assert [i.rule for i in outcome.issues] == ["file_too_large"]
    assert "decompresses to more than the 4 MB limit" in outcome.issues[0].message
    assert peak < 32 * 1024 * 1024  # never held anything near the 200 MB


def test_gzip_within_the_limit_is_read_from_disk(tmp_path) -> None:
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(events_csv(*[ROW] * 50)))
    result = load_path(path)
    assert_ok(result)
    assert result.dataset.name == "events"


# --- Parquet schema ---------------------------------------------------------------------------


def test_parquet_nested_role_column_is_an_error_and_nested_extra_is_kept_as_json() -> None:
    table = pa.table(
        {
            "user_id": ["u1", "u2"],
            "item_id": pa.array([["a"], ["b", "c"]], pa.list_(pa.string())),
            "timestamp": [1600000000, 1600000001],
            "rating": [4.0, 5.0],
            "meta": pa.array([{"k": 1}, {"k": 2}], pa.struct([("k", pa.int64())])),
            "sku": ["s1", "s2"],
        }
    )
    result = load_uploads({"events.parquet": parquet_bytes(table)})
    issue = one_issue(result, "unsupported_column_type")
    assert (issue.file, issue.column) == ("events.parquet", "item_id")
    assert "list<" in issue.message
    assert result.dataset is None
    ok = load_uploads({"events.parquet": parquet_bytes(table)}, mapping={"item_id": "sku"})
    assert_ok(ok)
    assert ok.dataset.events["meta"].tolist() == ['{"k": 1}', '{"k": 2}']
    assert ok.dataset.events["item_id_source"].tolist() == ['["a"]', '["b", "c"]']
    assert one_issue(ok, "renamed_column").column == "item_id"


def test_parquet_extension_typed_role_column_is_an_error() -> None:
    uuid = pa.array([b"\x00" * 16, b"\x01" * 16], pa.binary(16))
    table = pa.table(
        {
            "user_id": pa.ExtensionArray.from_storage(pa.uuid(), uuid),
            "item_id": ["a", "b"],
            "timestamp": [1600000000, 1600000001],
            "rating": [4.0, 5.0],
        }
    )
    issue = one_issue(load_uploads({"events.parquet": parquet_bytes(table)}), "unsupported_column_type")
    assert issue.column == "user_id"


def test_parquet_float_ids_become_integer_text() -> None:
    table = pa.table(
        {
            "CustomerID": [17850.0, 13047.0],
            "sku": ["A1", "A2"],
            "time": [1600000000, 1600000001],
            "label": [1, 0],
        }
    )
    result = load_uploads({"events.parquet": parquet_bytes(table)})
    assert_ok(result)
    assert result.dataset.events["user_id"].tolist() == ["17850", "13047"]
    assert result.dataset.events["label"].dtype == "int8"
