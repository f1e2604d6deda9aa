"""Turn raw tables into canonical tables, collecting every problem as a ValidationIssue.

Conversions (all vectorised):
- IDs become `str`, surrounding spaces removed. Integer-typed IDs are written without a decimal
  point; a text column whose every value looks like `17850.0` (a float-formatted export) loses the
  `.0`. Nothing else is changed, so leading zeros stay.
- `timestamp` becomes datetime64[ms, UTC] from Unix seconds, milliseconds, microseconds or nanoseconds
  (decided per column by the median magnitude: above 1e11 milliseconds, 1e14 microseconds, 1e17
  nanoseconds) or ISO 8601 text (no offset means UTC). It must lie between 1990-01-01 and one day from now.
- `rating`, `revenue`, `quantity` and items `price` become float64; text that is not a number, and
  NaN/inf, are errors. `price` and `revenue` must be 0 or more (the contract has no refunds).
  `label` must be 0/1 (or true/false) in every row and becomes int8.
  `event_type` is stripped and lower-cased.
- Label coverage: every event needs at least one label value. `rating` and `event_type` may be empty
  in a row where another label column has a value; `label` is stored as int8 and so must be filled.
- Text columns and extra columns are stored exactly as read (no stripping, no escaping). Non-scalar
  Parquet/JSON columns are kept as JSON text when they are extras, and are an error in a role.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from uvp_core.data.contract import (
    EVENT_ROLES,
    ITEM_ROLES,
    LABEL_ROLES,
    REQUIRED_ROLES,
    TIMESTAMP_DTYPE,
    USER_ROLES,
    Dataset,
    ValidationIssue,
    ValidationReport,
)
from uvp_core.data.mapping import SYNONYMS, TableColumns, detect_roles, resolve_table, split_explicit
from uvp_core.data.readers import RawTable, Source, decompressed_bytes, read_table, resolve_max_bytes, sniff_format

log = logging.getLogger(__name__)

MIN_TIMESTAMP = pd.Timestamp("1990-01-01", tz="UTC")
EPOCH_UNITS = ((1e17, "ns", 1e-6), (1e14, "us", 1e-3), (1e11, "ms", 1.0), (-np.inf, "s", 1000.0))  # (median |value| above, unit, to ms)
EPOCH_UNIT_NAMES = {"s": "Unix seconds", "ms": "Unix milliseconds", "us": "Unix microseconds", "ns": "Unix nanoseconds"}
_NAN_TEXT = frozenset({"nan", "-nan", "+nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_TRUE_TEXT = frozenset({"true", "t", "yes"})
_FALSE_TEXT = frozenset({"false", "f", "no"})
_TEXT_ROLES = frozenset({"review_text", "title", "description", "category"})
_NUMBER_ROLES = frozenset({"revenue", "quantity", "price"})
_NON_NEGATIVE_ROLES = frozenset({"revenue", "price"})  # no refunds or credits in the contract
MAX_UNUSED_COLUMNS = 50  # more columns than this beyond the roles: a warning (kept, but likely a wide export)
_WHOLE_WITH_ZEROS = r"^([+-]?\d+)\.0+$"  # "17850.0": a whole-number ID written as a float
MAX_CELL_CHARS = 1_000_000  # longest text cell accepted (about 1 MB); env UVP_MAX_CELL_CHARS overrides
MAX_CELL_ENV = "UVP_MAX_CELL_CHARS"


@dataclass
class TablePlan:
    """One table to validate: its raw rows and, optionally, a fixed role -> column mapping."""

    raw: RawTable
    fixed: dict[str, str] | None = None  # role -> frame column; skips detection and explicit mapping
    display: dict[str, str] | None = None  # role -> source column to report (defaults to the mapping)


@dataclass
class Bundle:
    """What an importer hands to validation: the tables found, their layout and early issues."""

    layout: str
    name: str
    tables: dict[str, TablePlan] = field(default_factory=dict)
    issues: list[ValidationIssue] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)  # tables whose file could not be read
    mapping_checked: bool = False  # the importer already applied and checked the explicit mapping
    skipped: list[str] = field(default_factory=list)  # files present but not read by this layout (README.txt, links.csv)


# --- issue helpers ----------------------------------------------------------------------------


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    text = str(value)
    return text if len(text) <= 120 else text[:119] + "…"


def _rows_issue(
    rule: str,
    raw: RawTable,
    column: str | None,
    mask: np.ndarray,
    values: pd.Series | None,
    message: str,
    severity: str = "error",
) -> ValidationIssue | None:
    positions = np.flatnonzero(mask)
    if len(positions) == 0:
        return None
    example = _as_text(values.iloc[positions[0]]) if values is not None else ""
    return ValidationIssue(
        severity=severity,  # type: ignore[arg-type]
        file=raw.file,
        column=column,
        rule=rule,
        message=message.replace("{n}", f"{len(positions):,}"),
        rows=tuple(int(r) for r in raw.row_numbers[positions[:10]]),
        n_rows=int(len(positions)),
        example=example,
    )


class _Issues(list[ValidationIssue]):
    def add(self, issue: ValidationIssue | None) -> None:
        if issue is not None:
            self.append(issue)


# --- value conversions ------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _text_values(series: pd.Series) -> pd.Series:
    """Values as `str` dtype, unchanged when already text; missing stays missing."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.na_value is np.nan:
        return series
    if series.dtype == object:
        texts = [None if _is_missing(v) else str(v) for v in series]
        return pd.Series(texts, index=series.index, dtype="str")
    return series.astype("str")


PLACEHOLDER_IDS = frozenset({"null", "none", "nan", "n/a", "na", "-", "?", "undefined", "nil"})  # missing-value words
EXACT_ID_LIMIT = 2**53  # IDs stored as floating-point numbers are exact below this


def to_id(series: pd.Series) -> pd.Series:
    """IDs as `str` without surrounding spaces; empty -> missing; a whole number written `17850.0` loses `.0`
    (value by value, so the same ID reads the same in every table)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        out = _text_values(series)
    elif pd.api.types.is_integer_dtype(dtype):
        out = series.astype("Int64").astype("str")
    elif pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < EXACT_ID_LIMIT)
        ints = pd.Series(np.where(whole, values, 0).astype(np.int64), index=series.index).astype("str")
        out = _text_values(series).where(~whole, ints)
    else:
        out = _text_values(series).str.strip()
        out = out.where(out != "")
        out = out.str.replace(_WHOLE_WITH_ZEROS, r"\1", regex=True)
    return out


def inexact_ids(series: pd.Series) -> np.ndarray:
    """Rows whose ID is a floating-point number at or above 2**53: digits may already be lost (two IDs can merge)."""
    if not pd.api.types.is_float_dtype(series.dtype):
        return np.zeros(len(series), bool)
    values = series.to_numpy(dtype=float, na_value=np.nan)
    return np.isfinite(values) & (np.abs(values) >= EXACT_ID_LIMIT)


@dataclass
class Numbers:
    """Parsed numbers with masks of the cells that were missing, not numbers, or NaN/inf."""

    values: np.ndarray  # float64, NaN where missing or invalid
    missing: np.ndarray
    non_numeric: np.ndarray
    non_finite: np.ndarray


def to_numbers(series: pd.Series) -> Numbers:
    """Parse numbers: float64 values plus masks of missing, non-numeric and NaN/inf cells."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(values)
        return Numbers(values, missing, np.zeros(len(values), bool), np.isinf(values))
    text = _text_values(series).str.strip()
    missing = (text.isna() | (text == "")).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nan_text = text.str.lower().isin(_NAN_TEXT).to_numpy()
    non_finite = np.isinf(values) | nan_text
    non_numeric = np.isnan(values) & ~missing & ~nan_text
    values = np.where(non_finite, np.nan, values)
    return Numbers(values, missing, non_numeric, non_finite)


@dataclass
class _Times:
    values: pd.Series  # datetime64[ms, UTC], NaT where missing or invalid
    missing: np.ndarray
    unparseable: np.ndarray
    out_of_range: np.ndarray
    unit: str
    slash_order: str = ""  # "month/day" or "day/month": how D/M/Y-style dates were read ("" when there were none)
    ambiguous: np.ndarray | None = None  # slash dates whose order the column cannot tell (no part above 12)


AMBIGUOUS_WHY = "no date in the column has a part above 12 to tell"  # why a slash date is refused, as pairs files say
AMBIGUOUS_FIX = "write them as ISO 8601 (e.g. 2025-01-02)"
SLASH_DATE = r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"  # 12/1/2010 8:26, 13/01/2011


def _slash_dates(text: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    """Dates written 12/1/2010 8:26 (month first) or 13/01/2011 (day first), the order told by the column: a first
    part above 12 means day/month, a second part above 12 month/day. (times, ambiguous mask, order or "")."""
    parts = text.str.extract(SLASH_DATE)
    matched = parts[0].notna().to_numpy()
    empty = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ms, UTC]")
    if not matched.any():
        return empty, np.zeros(len(text), bool), ""
    first, second = pd.to_numeric(parts[0]), pd.to_numeric(parts[1])
    day_first, month_first = bool((first > 12).any()), bool((second > 12).any())
    if day_first == month_first:  # no part above 12 (either order fits), or both (no order fits)
        return empty, matched & (not day_first), ""
    month, day = (second, first) if day_first else (first, second)
    year = pd.to_numeric(parts[2])
    year = year.where(parts[2].str.len() == 4, np.where(year < 70, 2000 + year, 1900 + year))
    iso = (year.astype("Int64").astype(str) + "-" + month.astype("Int64").astype(str).str.zfill(2) + "-"
           + day.astype("Int64").astype(str).str.zfill(2) + "T" + parts[3].fillna("0").str.zfill(2) + ":"
           + parts[4].fillna("00") + ":" + parts[5].fillna("00"))  # fmt: skip
    times = pd.to_datetime(iso.where(matched), format="%Y-%m-%dT%H:%M:%S", utc=True, errors="coerce").dt.as_unit("ms")
    return times, np.zeros(len(text), bool), "day/month" if day_first else "month/day"


def _epoch(values: np.ndarray, max_ms: float) -> tuple[np.ndarray, np.ndarray, str]:
    """Epoch numbers -> int64 ms, with the out-of-range mask and the unit used."""
    finite = np.isfinite(values)
    median = float(np.median(np.abs(values[finite]))) if finite.any() else 0.0
    unit, scale = next((u, k) for above, u, k in EPOCH_UNITS if median > above)
    ms = values * scale
    min_ms = MIN_TIMESTAMP.value / 1e6
    out_of_range = ~np.isnan(values) & (~finite | (ms < min_ms) | (ms > max_ms))  # ±inf is out of range, not 1970
    ok = finite & ~out_of_range
    result = np.zeros(len(values), dtype=np.int64)
    result[ok] = np.round(ms[ok]).astype(np.int64)
    return result, out_of_range, unit


def _in_range(ts: pd.Series, max_ts: pd.Timestamp) -> tuple[pd.Series, np.ndarray]:
    out_of_range = (ts.notna() & ((ts < MIN_TIMESTAMP) | (ts > max_ts))).to_numpy()
    return ts.where(~out_of_range), out_of_range


def to_timestamps(series: pd.Series, now: pd.Timestamp | None = None) -> _Times:
    """Parse Unix s/ms/us/ns, ISO 8601 or slash dates into datetime64[ms, UTC], with masks of bad cells.

    Numbers are epoch values (their unit set by the column's median magnitude, EPOCH_UNITS); other
    text is read as ISO 8601, so a column may mix both; text that is not ISO may be a slash date (12/1/2010 8:26),
    month or day first as the column tells (_slash_dates). Naive datetimes are taken as UTC.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    max_ts = now + pd.Timedelta(days=1)
    n = len(series)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        ts = series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
        ts, out_of_range = _in_range(ts.dt.as_unit("ms"), max_ts)
        missing = ts.isna().to_numpy() & ~out_of_range
        return _Times(ts.astype(TIMESTAMP_DTYPE), missing, np.zeros(n, bool), out_of_range, "datetime")
    numbers = to_numbers(series)
    missing = numbers.missing
    numeric = ~np.isnan(numbers.values)
    ms, out_of_range, unit = _epoch(numbers.values, max_ts.value / 1e6)
    epoch = pd.Series(pd.to_datetime(ms, unit="ms", utc=True), index=series.index).dt.as_unit("ms")
    epoch = epoch.where(numeric & ~out_of_range)
    rest = ~missing & ~numeric
    if not rest.any():
        return _Times(epoch.astype(TIMESTAMP_DTYPE), missing, np.zeros(n, bool), out_of_range, unit)
    text = _text_values(series).str.strip().where(rest)
    iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce").dt.as_unit("ms")
    failed = rest & iso.isna().to_numpy()
    slash, ambiguous, order = _slash_dates(text[failed]) if failed.any() else (iso[:0], np.zeros(0, bool), "")
    read = slash.dropna()
    iso.loc[read.index] = read
    ambiguous, positions = np.zeros(n, bool), np.flatnonzero(failed)[ambiguous]  # back to the column's rows
    ambiguous[positions] = True
    unparseable = rest & iso.isna().to_numpy() & ~ambiguous
    iso, iso_out = _in_range(iso, max_ts)
    ts = epoch.where(numeric, iso)
    unit = "iso" if not numeric.any() else "mixed"
    return _Times(ts.astype(TIMESTAMP_DTYPE), missing, unparseable, out_of_range | iso_out, unit, order, ambiguous)


# --- table canonicalisation -------------------------------------------------------------------


def _check_scalar(raw: RawTable, mapping: Mapping[str, str], issues: _Issues) -> dict[str, str]:
    """Drop roles mapped to non-scalar (nested/extension) columns, with an error each."""
    usable = {}
    for role, column in mapping.items():
        if column in raw.nested:
            issues.append(
                ValidationIssue(
                    severity="error",
                    file=raw.file,
                    column=column,
                    rule="unsupported_column_type",
                    message=f"Column {column!r} has type {raw.nested[column]}, but role {role!r} needs plain "
                    "values (text or numbers); flatten it or map another column.",
                )
            )
        else:
            usable[role] = column
    return usable


def _missing_required(table: str, raw: RawTable, mapping: Mapping[str, str], issues: _Issues) -> bool:
    ok = True
    for role in REQUIRED_ROLES[table]:
        if role not in mapping:
            ok = False
            examples = ", ".join(SYNONYMS[table][role][:6])
            issues.append(
                ValidationIssue(
                    severity="error",
                    file=raw.file,
                    column=role,
                    rule="missing_required_column",
                    message=f"The {table} table needs the column {role!r}; none of the columns "
                    f"({', '.join(map(str, raw.frame.columns))}) matches it (synonyms include {examples}). "
                    f"Rename a column or map one with {role}=COLUMN.",
                )
            )
    return ok


def _ids(table: str, role: str, raw: RawTable, column: str, issues: _Issues) -> pd.Series:
    ids = to_id(raw.frame[column])
    issues.add(_rows_issue(
        "inexact_id", raw, column, inexact_ids(raw.frame[column]), raw.frame[column],
        f"{{n}} {role}(s) are numbers of 2^53 or more, which this file stores as floating point: their last digits may "
        f"be lost, and two IDs can become one. Write the IDs as text (in JSON: quoted).",
    ))  # fmt: skip
    issues.add(
        _rows_issue(
            "missing_value",
            raw,
            column,
            ids.isna().to_numpy(),
            None,
            f"{{n}} row(s) have no {role}; every {table} row needs one.",
        )
    )
    placeholder = ids.str.strip().str.lower().isin(PLACEHOLDER_IDS).fillna(False).to_numpy(dtype=bool)
    issues.add(_rows_issue(
        "placeholder_id", raw, column, placeholder, ids,
        f"{{n}} row(s) have a {role} that reads like a missing value (NULL, None, nan, N/A, -): kept as an ID "
        f"of its own, so all those rows belong to one {role.removesuffix('_id')}. Check how the file was exported.",
        severity="warning",
    ))  # fmt: skip
    return ids


def _extras(
    raw: RawTable, used: Mapping[str, str], roles: tuple[str, ...], issues: _Issues
) -> dict[str, pd.Series]:
    """Columns not used by any role, kept under their names (renamed when they clash with a role)."""
    taken = set(used.values())
    out: dict[str, pd.Series] = {}
    for column in raw.frame.columns:
        if column in taken:
            continue
        name = str(column)
        if name in roles or name in out:
            new = f"{name}_source"
            issues.append(
                ValidationIssue(
                    severity="warning",
                    file=raw.file,
                    column=name,
                    rule="renamed_column",
                    message=f"Column {name!r} is not used for role {name!r} (another column is), so it is "
                    f"kept as {new!r}.",
                )
            )
            name = new
        out[name] = raw.frame[column]
    if len(out) > MAX_UNUSED_COLUMNS:
        issues.append(
            ValidationIssue(
                severity="warning",
                file=raw.file,
                column=None,
                rule="many_unused_columns",
                message=f"{len(out):,} columns are not used by any role (more than {MAX_UNUSED_COLUMNS}); they are "
                "kept as extra attributes, which makes the stored dataset larger and slower to use. Drop the ones "
                "you do not need, or check the delimiter.",
            )
        )
    return out


def _numbers_issues(
    raw: RawTable, column: str, role: str, numbers: Numbers, label: bool, issues: _Issues
) -> None:
    values = raw.frame[column]
    what = "label" if label else "value"
    rule_nn = "non_numeric_label" if label else "non_numeric_value"
    rule_nf = "non_finite_label" if label else "non_numeric_value"
    issues.add(
        _rows_issue(
            rule_nn,
            raw,
            column,
            numbers.non_numeric,
            values,
            f"{{n}} row(s) have a {role} {what} that is not a number.",
        )
    )
    issues.add(
        _rows_issue(
            rule_nf,
            raw,
            column,
            numbers.non_finite,
            values,
            f"{{n}} row(s) have a {role} that is NaN or infinite; it must be a finite number.",
        )
    )
    if role in _NON_NEGATIVE_ROLES:
        with np.errstate(invalid="ignore"):
            negative = numbers.values < 0
        issues.add(
            _rows_issue(
                "negative_value",
                raw,
                column,
                negative,
                values,
                f"{{n}} row(s) have a {role} below 0; {role} must be 0 or more.",
            )
        )


def _binary_labels(raw: RawTable, column: str, issues: _Issues) -> pd.Series:
    series = raw.frame[column]
    numbers = to_numbers(series)
    values, missing = numbers.values, numbers.missing
    if not (pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype)):
        text = _text_values(series).str.strip().str.lower()
        words = np.select(
            [text.isin(_TRUE_TEXT).to_numpy(), text.isin(_FALSE_TEXT).to_numpy()], [1.0, 0.0], np.nan
        )
        values = np.where(np.isnan(values), words, values)
    valid = (values == 0) | (values == 1)
    issues.add(
        _rows_issue(
            "invalid_binary_label",
            raw,
            column,
            ~valid & ~missing,
            series,
            "{n} row(s) have a label that is not 0 or 1.",
        )
    )
    issues.add(
        _rows_issue(
            "missing_label",
            raw,
            column,
            missing,
            None,
            "{n} row(s) have an empty label; the 0/1 label column must be filled in every row.",
        )
    )
    return pd.Series(np.where(valid, values, 0).astype(np.int8), index=series.index)


def _timestamps(raw: RawTable, column: str, issues: _Issues, now: pd.Timestamp | None) -> pd.Series:
    times = to_timestamps(raw.frame[column], now)
    values = raw.frame[column]
    unit = f" (read as {EPOCH_UNIT_NAMES[times.unit]})" if times.unit in EPOCH_UNIT_NAMES else ""
    issues.add(
        _rows_issue("missing_value", raw, column, times.missing, None, "{n} row(s) have no timestamp.")
    )
    issues.add(
        _rows_issue(
            "unparseable_timestamp",
            raw,
            column,
            times.unparseable,
            values,
            "{n} row(s) have a timestamp that cannot be read; use Unix seconds (or milliseconds, microseconds, nanoseconds), "
            "ISO 8601 (e.g. 2024-05-01T13:45:00Z) or a month/day/year or day/month/year date (e.g. 12/1/2010 8:26).",
        )
    )
    if times.ambiguous is not None:
        issues.add(
            _rows_issue(
                "ambiguous_date",
                raw,
                column,
                times.ambiguous,
                values,
                "{n} row(s) have a date such as 03/04/2011 that could be month/day or day/month: no date in the column has "
                "a part above 12 to tell. Write the dates as ISO 8601 (2011-04-03 or 2011-03-04).",
            )
        )
    if times.slash_order:
        read = times.values.notna().to_numpy() & ~times.missing & _text_values(values).str.contains("/", regex=False).fillna(False).to_numpy()
        issues.add(
            _rows_issue(
                "slash_dates",
                raw,
                column,
                read,
                values,
                f"{{n}} date(s) were read as {times.slash_order}/year: in this column a "
                f"{'first' if times.slash_order == 'day/month' else 'second'} part above 12 can only be a day.",
                severity="warning",
            )
        )
    issues.add(
        _rows_issue(
            "timestamp_out_of_range",
            raw,
            column,
            times.out_of_range,
            values,
            "{n} row(s) have a timestamp before 1990-01-01 or more than a day in the future" + unit + ".",
        )
    )
    return times.values


def _rating_outliers(raw: RawTable, column: str, values: np.ndarray) -> ValidationIssue | None:
    """A warning for ratings far outside the rest (beyond 3 interquartile ranges, at least 3 units, of the middle
    half), or at or below 0 when fewer than 2% are (a 0 or -1 sentinel under a positive scale such as 1-5, which
    the reach above misses as scales stop at their low end): kept, but one 999 or -1 among 1-5 stars stretches the
    rating scale the model and charts use."""
    finite = values[np.isfinite(values)]
    if len(finite) < 4:
        return None
    low, high = np.quantile(finite, [0.25, 0.75])
    reach = 3 * max(high - low, 1.0)
    with np.errstate(invalid="ignore"):
        far = (values < low - reach) | (values > high + reach)
        if low > 0 and np.count_nonzero(finite <= 0) <= 0.02 * len(finite):
            far |= values <= 0
    return _rows_issue(
        "rating_outlier", raw, column, far, pd.Series(values, index=raw.frame.index),
        f"{{n}} rating(s) lie far outside the rest (the middle half is {low:g} to {high:g}): kept, but the rating "
        "scale then runs to them. Check for typos or a sentinel value such as 999 or -1.",
        severity="warning",
    )


def canonical_events(
    raw: RawTable, mapping: Mapping[str, str], issues: _Issues, now: pd.Timestamp | None = None
) -> pd.DataFrame | None:
    """The canonical events table in the raw row order, or None when required columns are missing."""
    mapping = _check_scalar(raw, mapping, issues)
    has_required = _missing_required("events", raw, mapping, issues)
    labels = [r for r in LABEL_ROLES if r in mapping]
    if not labels:
        issues.append(
            ValidationIssue(
                severity="error",
                file=raw.file,
                column=None,
                rule="no_label_column",
                message="The events table has no label column: add a numeric rating, an event_type "
                "(view, click, cart, purchase…) or a 0/1 label, or map one (e.g. rating=COLUMN).",
            )
        )
    if not has_required:
        return None
    out: dict[str, pd.Series] = {
        "user_id": _ids("events", "user_id", raw, mapping["user_id"], issues),
        "item_id": _ids("events", "item_id", raw, mapping["item_id"], issues),
        "timestamp": _timestamps(raw, mapping["timestamp"], issues, now),
    }
    n = len(raw.frame)
    covered = np.zeros(n, bool)
    invalid = np.zeros(n, bool)
    if "rating" in mapping:
        numbers = to_numbers(raw.frame[mapping["rating"]])
        _numbers_issues(raw, mapping["rating"], "rating", numbers, True, issues)
        issues.add(_rating_outliers(raw, mapping["rating"], numbers.values))
        out["rating"] = pd.Series(numbers.values, index=raw.frame.index)
        covered |= ~np.isnan(numbers.values)
        invalid |= numbers.non_numeric | numbers.non_finite
    if "event_type" in mapping:
        kinds = _text_values(raw.frame[mapping["event_type"]]).str.strip().str.lower()
        kinds = kinds.where(kinds != "")
        out["event_type"] = kinds
        covered |= kinds.notna().to_numpy()
    if "label" in mapping:
        out["label"] = _binary_labels(raw, mapping["label"], issues)
        covered |= True
    if labels:
        issues.add(
            _rows_issue(
                "missing_label",
                raw,
                mapping[labels[0]],
                ~covered & ~invalid,
                None,
                "{n} row(s) have no label value (" + (f"{mapping[labels[0]]} is empty" if len(labels) == 1 else
                ", ".join(mapping[r] for r in labels) + " are all empty") + ").",
            )
        )
    for role in ("revenue", "quantity"):
        if role in mapping:
            numbers = to_numbers(raw.frame[mapping[role]])
            _numbers_issues(raw, mapping[role], role, numbers, False, issues)
            out[role] = pd.Series(numbers.values, index=raw.frame.index)
    if "review_text" in mapping:
        out["review_text"] = _text_values(raw.frame[mapping["review_text"]])
    out = {role: out[role] for role in EVENT_ROLES if role in out}
    out.update(_extras(raw, mapping, EVENT_ROLES, issues))
    return pd.DataFrame(out, index=raw.frame.index)


def _duplicate_ids(raw: RawTable, column: str, ids: pd.Series, table: str, issues: _Issues) -> None:
    duplicated = (ids.duplicated(keep="first") & ids.notna()).to_numpy()
    issues.add(
        _rows_issue(
            "duplicate_id",
            raw,
            column,
            duplicated,
            ids,
            f"{{n}} row(s) repeat an ID already used by an earlier row; each {table} ID must appear once.",
        )
    )


def canonical_entities(
    table: str, raw: RawTable, mapping: Mapping[str, str], issues: _Issues
) -> pd.DataFrame | None:
    """The canonical items or users table, or None when its ID column is missing."""
    mapping = _check_scalar(raw, mapping, issues)
    if not _missing_required(table, raw, mapping, issues):
        return None
    id_role = "item_id" if table == "items" else "user_id"
    roles = ITEM_ROLES if table == "items" else USER_ROLES
    ids = _ids(table, id_role, raw, mapping[id_role], issues)
    _duplicate_ids(raw, mapping[id_role], ids, table, issues)
    out: dict[str, pd.Series] = {id_role: ids}
    for role in roles:
        if role in _TEXT_ROLES and role in mapping:
            out[role] = _text_values(raw.frame[mapping[role]])
        elif role in _NUMBER_ROLES and role in mapping:
            numbers = to_numbers(raw.frame[mapping[role]])
            _numbers_issues(raw, mapping[role], role, numbers, False, issues)
            out[role] = pd.Series(numbers.values, index=raw.frame.index)
    out.update(_extras(raw, mapping, roles, issues))
    return pd.DataFrame(out, index=raw.frame.index)


def _check_references(
    events: pd.DataFrame,
    raw: RawTable,
    column: str,
    role: str,
    known: pd.Series,
    table_file: str,
    issues: _Issues,
) -> None:
    ids = events[role]
    unknown = (ids.notna() & ~ids.isin(known.dropna())).to_numpy()
    distinct = ids[unknown].drop_duplicates()
    what = "item" if role == "item_id" else "user"
    shown = ", ".join(distinct.head(3).tolist()) + (", …" if len(distinct) > 3 else "")
    issues.add(
        _rows_issue(
            f"unknown_{role}",
            raw,
            column,
            unknown,
            ids,
            f"{{n}} event(s) refer to {len(distinct):,} {what} ID(s) that are not in {table_file} "
            f"(e.g. {shown}).",
        )
    )


def _duplicate_events(events: pd.DataFrame, raw: RawTable, issues: _Issues, shown: Mapping[str, str]) -> None:
    """A warning for events that repeat an earlier one (the same user, item, time and kind), naming the file's columns
    (shown: role -> source column; a role the file has no column for, such as a transaction log's kind, is left out)."""
    keys = [c for c in ("user_id", "item_id", "timestamp", "event_type") if c in events.columns]
    complete = events[keys[:3]].notna().all(axis=1).to_numpy()
    duplicated = events.duplicated(subset=keys, keep="first").to_numpy() & complete
    names = [shown[k] for k in keys if k in shown]
    issues.add(
        _rows_issue(
            "duplicate_event",
            raw,
            None,
            duplicated,
            None,
            "{n} event(s) repeat an earlier event with the same " + ", ".join(names) + " (kept).",
            severity="warning",
        )
    )


def _name_source_columns(issues: _Issues, start: int, used: Mapping[str, str], shown: Mapping[str, str]) -> None:
    """Issues from `start` on that name a column the importer built (a transaction log's "timestamp") name the file's
    column instead ("InvoiceDate"): used and shown map each role to the frame's column and the file's."""
    source = {used[role]: shown[role] for role in used if role in shown and shown[role] != used[role]}
    for i in range(start, len(issues)):
        if issues[i].column in source:
            issues[i] = replace(issues[i], column=source[issues[i].column])


def _sort_events(events: pd.DataFrame) -> pd.DataFrame:
    return events.sort_values(["timestamp", "user_id", "item_id"], kind="stable").reset_index(drop=True)


def _plan_mapping(
    bundle: Bundle, explicit: Mapping[str, str], issues: _Issues
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(role -> frame column, role -> source column to show) per table."""
    free = {t: p for t, p in bundle.tables.items() if p.fixed is None}
    columns = {t: TableColumns(p.raw.file, tuple(map(str, p.raw.frame.columns))) for t, p in free.items()}
    for t in bundle.unreadable:
        columns.setdefault(t, TableColumns("", ()))
    use_explicit = explicit and not bundle.mapping_checked
    per_table, mapping_issues = split_explicit(explicit, columns) if use_explicit else ({}, [])
    for issue in mapping_issues:
        unreadable_files = {columns[t].file for t in bundle.unreadable if t in columns}
        if issue.rule == "unknown_mapping_column" and (issue.file in unreadable_files or issue.file == ""):
            continue  # the file itself could not be read; that error is already reported
        issues.append(issue)
    used: dict[str, dict[str, str]] = {}
    shown: dict[str, dict[str, str]] = {}
    for table, plan in bundle.tables.items():
        if plan.fixed is not None:
            used[table] = dict(plan.fixed)
        else:
            used[table] = resolve_table(
                table, list(map(str, plan.raw.frame.columns)), per_table.get(table, {})
            )
        shown[table] = dict(plan.display) if plan.display is not None else dict(used[table])
    return used, shown


class PairsFileError(ValueError):
    """A pairs or test CSV that cannot be used; the message names the file, the columns and the rows."""


def _row_list(rows: Sequence[int]) -> str:
    """'1, 2, 3' (the first ten) plus how many more."""
    shown = ", ".join(str(r) for r in rows[:10])
    return shown + (f" and {len(rows) - 10:,} more" if len(rows) > 10 else "")


ROWS_COUNTED = "rows count from 1 after the header, blank lines included"  # how pairs-file messages number rows


def _pairs_table(source: str | Path | bytes, label: str, needs: str, encoding: str | None) -> tuple[pd.DataFrame, np.ndarray]:
    """(the CSV as a frame of text (empty cells ""), each frame row's row number in the file), refusing a file it
    cannot read as a table; blank lines are skipped but counted, so the numbers find the rows (ROWS_COUNTED).

    Like a data file: an Excel "sep=;" first line names the delimiter, else a header without commas may be
    split by ";", tab or "|"; synonym headers (userId, movieId, stars, ...) are read as the contract's names; gzip,
    JSON Lines and Parquet are read by the data readers."""
    file = Source(label, data=source) if isinstance(source, bytes) else Source(label, path=Path(source))
    try:
        raw = decompressed_bytes(file, resolve_max_bytes())
    except FileNotFoundError:
        raise PairsFileError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise PairsFileError(f"{label}: is a folder, not a CSV file") from None
    if not isinstance(raw, bytes):
        raise PairsFileError(f"{label}: {raw.message}")
    if raw and sniff_format(file, raw) != "csv":
        header, body = _pairs_records(file, label, encoding)
    else:
        header, body = _pairs_csv_records(raw, label, needs, encoding)
    detected = detect_roles("events", header)
    header = _pair_roles(header, detected)
    problems = []
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        problems.append(f"column(s) {', '.join(twice)} appear more than once in the header")
    numbers = np.array([n for n, r in enumerate(body, start=1) if r], dtype=np.int64)
    body = [r for r in body if r]
    ragged = [int(n) for n, r in zip(numbers, body, strict=True) if len(r) != len(header)]
    if ragged:
        problems.append(f"row(s) {_row_list(ragged)} have a different number of fields than the header ({len(header)}), "
                        "so the columns would shift; check the delimiter and quoting")  # fmt: skip
    if problems:
        counted = f"; {ROWS_COUNTED}" if ragged else ""
        raise PairsFileError(f"{label}: " + "; ".join(problems) + f" (needs {needs}{counted})")
    return pd.DataFrame(body, columns=header, dtype=str), numbers


def _pairs_csv_records(raw: bytes, label: str, needs: str, encoding: str | None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a delimited pairs file's bytes, a blank line after the header kept as an empty row so rows
    keep their place; PairsFileError when it is not text or not CSV."""
    try:
        text = raw.decode(_pairs_codec(encoding))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PairsFileError(f"{label}: not {encoding or 'UTF-8'} text (byte 0x{raw[exc.start]:02x} on line {line}); "
                             "save it as UTF-8, or pass --encoding") from None  # fmt: skip
    text, delimiter = _pairs_delimiter(text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise PairsFileError(f"{label}: not a readable CSV file ({exc})") from None
    start = next((n for n, r in enumerate(records) if r), None)  # blank lines above the header are not rows
    if start is None:
        raise PairsFileError(f"{label}: the file is empty (it needs a header line and rows: {needs})")
    return [c.strip() for c in records[start]], records[start + 1 :]


def _pairs_codec(encoding: str | None) -> str:
    """The codec to decode a pairs file with: UTF-8 in any spelling (or none given) drops a leading BOM, as data files do."""
    return "utf-8-sig" if encoding is None or codecs.lookup(encoding).name == "utf-8" else encoding


def _pairs_records(file: Source, label: str, encoding: str | None) -> tuple[list[str], list[list[str]]]:
    """(header, rows as text, "" when empty) of a JSON Lines or Parquet pairs file, read as a data file is."""
    outcome = read_table(file, max_bytes=resolve_max_bytes(), encoding=encoding)
    errors = [i.message for i in outcome.issues if i.severity == "error"]
    if errors or outcome.table is None:
        raise PairsFileError(f"{label}: " + "; ".join(errors or ["the file could not be read"]))
    frame = outcome.table.frame
    return [str(c) for c in frame.columns], frame.astype("string").fillna("").to_numpy(dtype=object).tolist()


PAIR_ROLES = ("user_id", "item_id", "timestamp", "rating", "label", "event_type")  # the columns a pairs or test file may hold


def _pairs_delimiter(text: str) -> tuple[str, str]:
    """(the text without an Excel "sep=X" first line, the delimiter): that X, else "," unless the header line has
    none and splits on ";", tab or "|"."""
    first, _, rest = text.partition("\n")
    if first.startswith("sep=") and len(first.rstrip("\r")) == 5:
        return rest, first[4]
    if "," in first:
        return text, ","
    return text, max((";", "\t", "|"), key=first.count) if any(c in first for c in ";\t|") else ","


def _pair_roles(header: list[str], detected: Mapping[str, str]) -> list[str]:
    """The header with synonym columns (userId, movieId, stars, ...) renamed to their role, where the role's own
    name is not a column already."""
    rename = {column: role for role, column in detected.items() if role in PAIR_ROLES and role not in header}
    return [rename.get(column, column) for column in header]


def read_pairs_csv(source: str | Path | bytes, label: str, needs: str, encoding: str | None = None,
                   numeric: Sequence[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(the CSV as text, its user_id, item_id[, timestamp] pairs) from a path or bytes; PairsFileError names the
    file (`label`), the columns and every bad row (ROWS_COUNTED); `needs` says what it should hold;
    `numeric` columns, where present, must hold numbers (an empty cell is allowed)."""
    frame, numbers = _pairs_table(source, label, needs, encoding)
    missing = [c for c in ("user_id", "item_id") if c not in frame.columns]
    if missing:
        raise PairsFileError(f"{label}: missing column(s) {', '.join(missing)} (needs {needs}; the header has "
                             f"{', '.join(frame.columns) or 'nothing'})")  # fmt: skip
    pairs = pd.DataFrame({"user_id": to_id(frame["user_id"]), "item_id": to_id(frame["item_id"])})
    problems = []
    for column in ("user_id", "item_id"):
        empty = numbers[pairs[column].isna().to_numpy()].tolist()
        if empty:
            problems.append(f"column {column} is empty in row(s) {_row_list(empty)}")
    if "timestamp" in frame.columns:
        times = to_timestamps(frame["timestamp"])
        bad = numbers[times.unparseable | times.out_of_range].tolist()
        if bad:
            problems.append(f"column timestamp has unreadable or out-of-range values (ISO 8601 or Unix seconds/ms/us/ns, "
                            f"1990 to tomorrow) in row(s) {_row_list(bad)}")  # fmt: skip
        if times.ambiguous is not None and times.ambiguous.any():
            problems.append(f"column timestamp has slash dates that could be month/day or day/month ({AMBIGUOUS_WHY}) in "
                            f"row(s) {_row_list(numbers[times.ambiguous].tolist())}; {AMBIGUOUS_FIX}")  # fmt: skip
        pairs["timestamp"] = times.values
    for column in (c for c in numeric if c in frame.columns):
        text = frame[column].astype("string").str.strip()
        bad = (text.fillna("").ne("") & pd.to_numeric(text, errors="coerce").isna()).to_numpy(dtype=bool)
        if bad.any():
            problems.append(f"column {column} is not a number in row(s) {_row_list(numbers[bad].tolist())}")
    if problems:
        raise PairsFileError(f"{label}: " + "; ".join(problems) + f" ({ROWS_COUNTED})")
    return frame, pairs


def max_cell_chars() -> int:
    """The longest text cell accepted: env UVP_MAX_CELL_CHARS, else MAX_CELL_CHARS."""
    env = os.environ.get(MAX_CELL_ENV, "").strip()
    try:
        limit = int(env) if env else MAX_CELL_CHARS
    except ValueError as exc:
        raise ValueError(f"{MAX_CELL_ENV}={env!r} is not a whole number of characters") from exc
    if limit < 1:
        raise ValueError(f"{MAX_CELL_ENV}={env!r} must be a positive number of characters")
    return limit


def _text_cells(raw: RawTable, limit: int, issues: _Issues) -> None:
    """Per text column, an error for cells longer than `limit` characters (nothing in the data needs them) and one
    for cells holding a NUL character (0x00: no title, description or ID holds one)."""
    for column in raw.frame.columns:
        values = raw.frame[column]
        if values.dtype.kind in "biufcmM" or not len(values):
            continue
        text = values.astype("string")
        lengths = text.str.len().to_numpy(dtype="float64", na_value=0.0)
        issues.add(_rows_issue(
            "cell_too_long", raw, str(column), lengths > limit, None,
            f"{{n}} cell(s) are longer than {limit:,} characters (the longest has {int(lengths.max()):,}): "
            f"a text that long is not a title, description or ID; check the quoting (an unclosed quote joins "
            f"the rest of the file into one cell) or raise {MAX_CELL_ENV}.",
        ))  # fmt: skip
        nul = text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
        if nul.any():
            issues.add(_rows_issue(
                "nul_character", raw, str(column), nul, text.str.replace("\x00", "␀", regex=False),
                "{n} cell(s) contain a NUL character (byte 0x00), which no title, description or ID should hold: "
                "remove it (it often comes from a damaged export or a binary field).",
            ))  # fmt: skip


def build_dataset(
    bundle: Bundle, explicit: Mapping[str, str] | None = None, *, now: pd.Timestamp | None = None
) -> tuple[Dataset | None, ValidationReport, dict[str, dict[str, str]]]:
    """Validate a bundle: (the canonical Dataset or None when any error, the full report, mapping used)."""
    issues = _Issues(bundle.issues)
    limit = max_cell_chars()
    for plan in bundle.tables.values():
        _text_cells(plan.raw, limit, issues)
    used, shown = _plan_mapping(bundle, explicit or {}, issues)
    tables: dict[str, pd.DataFrame | None] = {}
    plans = bundle.tables
    if "events" in plans:
        start = len(issues)
        tables["events"] = canonical_events(plans["events"].raw, used["events"], issues, now)
        _name_source_columns(issues, start, used["events"], shown["events"])
    for table in ("items", "users"):
        if table in plans:
            start = len(issues)
            tables[table] = canonical_entities(table, plans[table].raw, used[table], issues)
            _name_source_columns(issues, start, used[table], shown[table])
    events = tables.get("events")
    if events is not None:
        raw = plans["events"].raw
        start = len(issues)
        for table, role in (("items", "item_id"), ("users", "user_id")):
            other = tables.get(table)
            if other is not None:
                _check_references(
                    events, raw, used["events"][role], role, other[role], plans[table].raw.file, issues
                )
        _duplicate_events(events, raw, issues, shown["events"])
        _name_source_columns(issues, start, used["events"], shown["events"])
        if events.empty and not any(i.severity == "error" for i in issues):
            issues.add(ValidationIssue("error", raw.file, None, "no_events", "No events are left to store: every row "
                                       "was dropped (see the warnings above for why). Check the file or its column mapping."))  # fmt: skip
    report = ValidationReport(tuple(issues))
    if not report.ok or events is None:
        return None, report, shown
    dataset = Dataset(
        events=_sort_events(events),
        items=_reset(tables.get("items")),
        users=_reset(tables.get("users")),
        name=bundle.name,
        source_format=bundle.layout,
        warnings=report.warnings,
    )
    log.info(
        "dataset %s (%s): %d events, %s items, %s users, %d warning(s)",
        dataset.name,
        dataset.source_format,
        len(dataset.events),
        "no" if dataset.items is None else len(dataset.items),
        "no" if dataset.users is None else len(dataset.users),
        len(report.warnings),
    )
    return dataset, report, shown


def _reset(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    return None if frame is None else frame.reset_index(drop=True)
