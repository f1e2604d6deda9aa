"""Spreadsheet-safe CSV: formula-like text is neutralised, numbers and ordinary text are untouched."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from uvp_core import export


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTabbed", "'\tTabbed"),
        ("\rReturn", "'\rReturn"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        ("", ""),
        (-3.5, -3.5),
        (None, None),
    ],
)
def test_neutralise(value, expected) -> None:
    assert export.neutralise(value) == expected


def test_csv_bytes_neutralise_text_cells_and_headers_but_keep_numbers() -> None:
    frame = pd.DataFrame({
        "segment": pd.Categorical(["=HYPERLINK(\"http://x\")", "North"]),
        "title": pd.array(["@evil", None], dtype="str"),
        "bias": [-0.25, 0.5],
        "n": np.array([3, 4]),
        "=header": ["x", "y"],
    })  # fmt: skip
    data = export.to_csv_bytes(frame)
    assert data.startswith("\ufeff".encode())  # BOM: spreadsheets detect UTF-8
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False)
    assert back.columns.tolist() == ["segment", "title", "bias", "n", "'=header"]
    assert back["segment"].tolist() == ["'=HYPERLINK(\"http://x\")", "North"]
    assert back["title"].tolist() == ["'@evil", ""]
    assert back["bias"].tolist() == [-0.25, 0.5] and back["n"].tolist() == [3, 4]
    assert frame["segment"].iloc[0].startswith("=")  # the input frame is not modified


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("explanation", "U00012", "070113"), "explanation_U00012_070113.json"),
        (("explanation", "../etc/passwd", "a b"), "explanation__etc_passwd_a_b.json"),  # no folder, no space
        (("x", "<script>"), "x__script_.json"),
        (("x", "..."), "x__.json"),  # nothing but dots: not a hidden or parent name
        (("x", "é" * 60), "x_" + "_" * 40 + ".json"),  # each part cut to 40 characters
    ],
)
def test_file_name_keeps_ids_readable_and_safe(parts, expected) -> None:
    assert export.file_name(*parts, suffix=".json") == expected
