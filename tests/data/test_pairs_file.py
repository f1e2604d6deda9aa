"""Pairs and test CSV files (predict, explain --pairs, evaluate --test, the Segments upload) read like data files."""

from __future__ import annotations

from pathlib import Path

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
