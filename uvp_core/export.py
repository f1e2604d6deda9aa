"""Spreadsheet-safe CSV exports: no cell can be read as a formula.

A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with a single
quote `'`, so Excel, LibreOffice and Google Sheets show it as text instead of evaluating it (CSV
injection). Numbers are written as numbers (a negative number is not text and stays as it is).
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text value prefixed with ' when it starts like a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell (and column name) neutralised; numeric columns untouched."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
            out[column] = series.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as spreadsheet-safe UTF-8 CSV (with a BOM so spreadsheets detect UTF-8), no index."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


def file_name(*parts: object, suffix: str) -> str:
    """A download's file name from parts such as a user and an item id: characters other than letters, digits, `-`, `.`
    and `_` become `_`, each part is cut to 40 characters, and the parts are joined with `_` (`explanation_U1_I9.json`)."""
    stems = [re.sub(r"[^A-Za-z0-9._-]", "_", str(p))[:40].strip(".") or "_" for p in parts]
    return "_".join(stems) + suffix
