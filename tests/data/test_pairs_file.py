"""Pairs and test CSV files (predict, explain --pairs, evaluate --test, the Segments upload) read like data files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from uvp_core.data.validate import PairsFileError, read_pairs_csv


def pairs(data: bytes) -> list[list[str]]:
    return read_pairs_csv(data, "p.csv", "user_id,item_id")[1].astype(str).values.tolist()


def test_synonym_headers_and_other_delimiters_read_as_in_a_data_file() -> None:
    """A CLI audit: userId,movieId, an Excel "sep=;" line and a tab-separated file worked for data but not for pairs."""
    assert pairs(b"userId,movieId\n1,0042\n") == [["1", "0042"]]
    assert pairs(b"sep=;\r\nuser_id;item_id\r\nu;i\r\n") == [["u", "i"]]
    assert pairs(b"customer\tproduct\nc\tp\n") == [["c", "p"]]
    assert pairs(b"user_id,item_id,userId\nu,i,other\n") == [["u", "i"]]  # the contract's own name wins over a synonym


def test_a_missing_file_is_named_without_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(PairsFileError, match=r"nope\.csv: no such file"):
        read_pairs_csv(tmp_path / "nope.csv", "nope.csv", "user_id,item_id")
    with pytest.raises(PairsFileError, match="is a folder"):
        read_pairs_csv(tmp_path, "here", "user_id,item_id")


def test_gzip_json_lines_and_parquet_pairs_read_as_data_files_do() -> None:
    """An audit: a .csv.gz pairs file was "not UTF-8 text (byte 0x8b on line 1)" and a JSON Lines one "had the header
    {"user_id":...}", though the README says pairs files are read like data files."""
    text = b"userId,movieId\nu1,0042\n"
    assert read_pairs_csv(gzip.compress(text), "p.csv.gz", "user_id,item_id")[1].values.tolist() == [["u1", "0042"]]
    lines = b'{"user_id": "u1", "item_id": "0042"}\n{"user_id": 17850, "item_id": 7}\n'
    assert pairs(lines) == [["u1", "0042"], ["17850", "7"]]
    sink = io.BytesIO()
    pq.write_table(pa.table({"user_id": ["u1"], "item_id": [5]}), sink)
    assert read_pairs_csv(sink.getvalue(), "p.parquet", "user_id,item_id")[1].values.tolist() == [["u1", "5"]]


def test_a_cut_gzip_or_a_bad_json_line_in_pairs_is_named_plainly() -> None:
    with pytest.raises(PairsFileError, match=r"p\.csv\.gz: The gzip file is truncated"):
        read_pairs_csv(gzip.compress(b"user_id,item_id\n" + b"u1,i1\n" * 100)[:30], "p.csv.gz", "user_id,item_id")
    with pytest.raises(PairsFileError, match=r"p\.jsonl: 1 line\(s\) are not JSON objects"):
        read_pairs_csv(b'{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2",\n', "p.jsonl", "user_id,item_id")


def test_ambiguous_slash_dates_in_pairs_are_refused_not_dropped() -> None:
    """An audit: a pairs timestamp 1/2/2025 became empty, so evaluate --test scored the pair with the user's whole
    history (leakage), exit 0 and no message; a column whose parts tell the order still reads."""
    with pytest.raises(PairsFileError, match=r"p\.csv: column timestamp .*month/day or day/month.* row\(s\) 1, 2.*ISO 8601"):
        read_pairs_csv(b"user_id,item_id,timestamp\nu1,i1,1/2/2025\nu2,i2,3/4/2025\n", "p.csv", "user_id,item_id")
    read = read_pairs_csv(b"user_id,item_id,timestamp\nu1,i1,13/01/2025\nu2,i2,1/2/2025\n", "p.csv", "user_id,item_id")[1]
    assert read["timestamp"].dt.strftime("%Y-%m-%d").tolist() == ["2025-01-13", "2025-02-01"]  # day/month, told by 13


@pytest.mark.parametrize("encoding", [None, "utf-8", "UTF8", "utf_8"])
def test_a_bom_is_stripped_under_any_spelling_of_utf8(encoding: str | None) -> None:
    """An audit: with --encoding utf-8 the BOM stuck to the first header name: "missing column(s) user_id"."""
    data = "user_id,item_id\nu1,café\n".encode("utf-8-sig")
    assert read_pairs_csv(data, "p.csv", "user_id,item_id", encoding)[1].values.tolist() == [["u1", "café"]]


def test_row_numbers_after_blank_lines_name_the_row_in_the_file() -> None:
    """An audit: blank lines were dropped before rows were counted, so an error after one named the wrong row."""
    data = b"user_id,item_id\nu1,i1\n\n\nu2,\nu3,i3,extra\n"
    with pytest.raises(PairsFileError) as refused:
        read_pairs_csv(data, "p.csv", "user_id,item_id")
    assert "row(s) 5 have a different number of fields" in str(refused.value)
    assert "blank lines included" in str(refused.value)
    with pytest.raises(PairsFileError, match=r"item_id is empty in row\(s\) 4\b"):
        read_pairs_csv(b"user_id,item_id\nu1,i1\n\n\nu2,\n", "p.csv", "user_id,item_id")
    assert pairs(b"user_id,item_id\n\nu1,i1\n\nu2,i2\n\n") == [["u1", "i1"], ["u2", "i2"]]  # blank lines are skipped
