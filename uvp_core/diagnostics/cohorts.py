"""Cohorts: named AND-combinations of filters on the evaluation frame, saved in the workspace.

A filter is `column op value` on any column of the evaluation frame (user.region == West,
history_length >= 5, item.price < 20, popularity_bucket in head,torso; item.category == Horror also matches
"Horror|Thriller", as Segments counts it). Cohorts are stored as one JSON
file each under `<workspace>/cohorts/`, written atomically; the file name is derived from the cohort
name (a slug plus a hash), never the name itself. The workspace's analysts share them: a file also records
the dataset a cohort was saved on and when, and a name taken by other filters is overwritten only when asked.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uvp_core.atomic import atomic_write_text
from uvp_core.diagnostics.metrics import DEFAULT_BOOTSTRAP, Bootstrap, split_difference
from uvp_core.diagnostics.segments import lists_values, split_values

OPERATORS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains")
MAX_NAME = 80


@dataclass(frozen=True)
class CohortFilter:
    """One condition: `column op value` (value is text; numbers and dates are parsed to the column's type)."""

    column: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"Unknown operator {self.op!r}; use one of {', '.join(OPERATORS)}")


@dataclass(frozen=True)
class Cohort:
    """A named cohort: rows matching every filter (AND)."""

    name: str
    filters: tuple[CohortFilter, ...]

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("A cohort needs a name.")
        if len(self.name) > MAX_NAME:
            raise ValueError(f"Cohort names are at most {MAX_NAME} characters.")
        if not self.filters:
            raise ValueError("A cohort needs at least one filter.")

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"name": self.name, "filters": [asdict(f) for f in self.filters]}

    @classmethod
    def from_dict(cls, data: dict) -> Cohort:
        """A cohort from its JSON form."""
        return cls(name=str(data["name"]), filters=tuple(CohortFilter(str(f["column"]), str(f["op"]), str(f["value"])) for f in data["filters"]))

    def describe(self) -> str:
        """The filters as one line of text."""
        return " AND ".join(f"{f.column} {f.op} {f.value}" for f in self.filters)


def _typed(series: pd.Series, text: str) -> object:
    """The filter value converted to the column's type (number, date, bool or text)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return text
    if pd.api.types.is_bool_dtype(series.dtype):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text!r} is not true/false")
        return lowered in ("true", "1", "yes")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamp = pd.Timestamp(text.strip())
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    if pd.api.types.is_numeric_dtype(series.dtype):
        try:
            return float(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a number") from exc
    return text


def _listed_match(series: pd.Series, wanted: set[str]) -> np.ndarray:
    """Rows whose value, or one of the values it lists ("Crime|Thriller"), is wanted (missing: no)."""
    hit = series.astype("string").isin(wanted).fillna(False).to_numpy(dtype=bool, copy=True)
    rows, values = split_values(series)
    hit[rows[values.isin(wanted).fillna(False).to_numpy(dtype=bool)]] = True
    return hit


def filter_mask(frame: pd.DataFrame, condition: CohortFilter) -> np.ndarray:
    """Rows matching one filter (missing values never match, except for != and not in). On a column that lists several
    values in a row ("Crime|Thriller"), ==, !=, in and not in test each listed value, as Segments cuts such a column."""
    if condition.column not in frame.columns:
        raise KeyError(f"No column {condition.column!r} to filter on")
    series = frame[condition.column]
    op = condition.op
    if op in ("==", "!=", "in", "not in") and lists_values(series):
        wanted = {part.strip() for part in condition.value.split(",")} if op.endswith("in") else {condition.value.strip()}
        hit = _listed_match(series, wanted - {""})
        return ~hit if op in ("!=", "not in") else hit
    if op in ("in", "not in"):
        wanted = [_typed(series, part.strip()) for part in condition.value.split(",") if part.strip()]
        values = series.astype(str) if isinstance(series.dtype, pd.CategoricalDtype) else series
        hit = values.isin(wanted).to_numpy(dtype=bool)
        return ~hit if op == "not in" else hit
    if op == "contains":
        return series.astype("string").str.contains(condition.value, case=False, regex=False).fillna(False).to_numpy(dtype=bool)
    ordered = pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_datetime64_any_dtype(series.dtype)
    if op in ("<", "<=", ">", ">=") and (not ordered or pd.api.types.is_bool_dtype(series.dtype)):
        raise ValueError(f"{op} compares numbers and dates, but {condition.column} holds text: "
                         "use ==, !=, in, not in or contains")  # text compared as text matched everything after "abc"
    value = _typed(series, condition.value)
    values = series.astype(str) if isinstance(series.dtype, pd.CategoricalDtype) else series
    if op == "==":
        out = values == value
    elif op == "!=":
        out = (values != value) | values.isna()
    elif op == "<":
        out = values < value
    elif op == "<=":
        out = values <= value
    elif op == ">":
        out = values > value
    else:
        out = values >= value
    return pd.Series(out).fillna(False).to_numpy(dtype=bool)


def cohort_mask(frame: pd.DataFrame, cohort: Cohort) -> np.ndarray:
    """Rows matching every filter of the cohort."""
    mask = np.ones(len(frame), dtype=bool)
    for condition in cohort.filters:
        mask &= filter_mask(frame, condition)
    return mask


def missing_columns_note(frame: pd.DataFrame, cohort: Cohort) -> str | None:
    """Why a saved cohort cannot filter this evaluation set (a column it names is not here; cohorts are shared by every
    dataset in the workspace), or None when every column is here."""
    missing = sorted({c.column for c in cohort.filters} - set(frame.columns))
    if not missing:
        return None
    return (f"This cohort filters on {', '.join(missing)}, which this evaluation set does not have: it was probably "
            "saved on another dataset (cohorts are shared by every dataset in the workspace).")  # fmt: skip


def small_cohort_note(n_rows: int, min_rows: int) -> str | None:
    """A caution when a cohort has fewer evaluation rows than the segments' trust threshold (None otherwise)."""
    if n_rows >= min_rows:
        return None
    return (f"This cohort has only {n_rows:,} evaluation rows, fewer than the {min_rows:,} needed to trust a segment: "
            "its metrics are noisy, so read the intervals before the differences.")  # fmt: skip


def common_values(frame: pd.DataFrame, column: str, n: int = 8) -> list[str]:
    """The `n` most common values of a column, as text (to suggest what a filter can match); single values of a column
    that lists several in a row, as ==, in and Segments read it."""
    if column not in frame.columns:
        return []
    values = frame[column].dropna()
    if lists_values(values):
        values = split_values(values)[1].dropna()
    return [str(v) for v in values.value_counts().head(n).index]


def cohort_vs_rest(frame: pd.DataFrame, cohort: Cohort, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Each metric in the cohort and in the rest, and the difference (cohort − rest) with its interval."""
    mask = cohort_mask(frame, cohort)
    if not mask.any():
        raise ValueError(f"No evaluation rows match the cohort {cohort.name!r}.")
    if mask.all():
        raise ValueError(f"Every evaluation row matches the cohort {cohort.name!r}: there is no rest to compare it with.")
    table = split_difference(frame, mask, task, boot=boot)
    return table.rename(columns={"inside": "cohort", "outside": "rest", "n_inside": "n_cohort", "n_outside": "n_rest"})


# --- the cohort store ---------------------------------------------------------------------------------


class CohortExists(ValueError):
    """Saving would overwrite another cohort of the same name."""


class CohortStore:
    """Named cohorts of one workspace: one JSON file per cohort under <root>/cohorts/."""

    def __init__(self, root: str | Path):
        self.folder = Path(root) / "cohorts"

    def path(self, name: str) -> Path:
        """The file of a cohort: a slug of its name plus a hash, so any name is a safe file name."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "cohort"
        return self.folder / f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:10]}.json"

    def save(self, cohort: Cohort, *, dataset: str = "", replace: bool = False) -> Path:
        """Write a cohort atomically, noting the dataset it was saved on; CohortExists where another cohort has its
        name, unless `replace` (the same filters again are simply saved)."""
        target = self.path(cohort.name)
        if not replace and target.exists():
            try:
                saved = self.get(cohort.name)
            except (ValueError, KeyError, TypeError):  # unreadable: not listed, so nothing shown is lost
                saved = None
            if saved is not None and saved != cohort:
                raise CohortExists(
                    f"A cohort named {cohort.name!r} is already saved{self.origin(cohort.name)}, with other filters: "
                    f"{saved.describe()}. Choose another name, or tick 'Replace' to overwrite it."
                )
        stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
        atomic_write_text(target, json.dumps({**cohort.to_dict(), "saved_on": dataset, "saved_at": stamp}, indent=2, ensure_ascii=False))
        return target

    def origin(self, name: str) -> str:
        """" (on dataset D, at T)" for a saved cohort, from what its file records ("" when it records nothing)."""
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        where = f"on dataset {data['saved_on']!r}" if data.get("saved_on") else ""
        when = f"at {data['saved_at']}" if data.get("saved_at") else ""
        return f" ({', '.join(p for p in (where, when) if p)})" if where or when else ""

    def list(self) -> list[Cohort]:
        """All saved cohorts, by name (unreadable files are skipped)."""
        if not self.folder.is_dir():
            return []
        out = []
        for file in self.folder.glob("*.json"):
            try:
                out.append(Cohort.from_dict(json.loads(file.read_text(encoding="utf-8"))))
            except (ValueError, KeyError, TypeError):
                continue
        return sorted(out, key=lambda c: c.name.lower())

    def get(self, name: str) -> Cohort:
        """One cohort by name; KeyError when it is not saved."""
        file = self.path(name)
        if not file.exists():
            raise KeyError(f"No cohort named {name!r}")
        return Cohort.from_dict(json.loads(file.read_text(encoding="utf-8")))

    def delete(self, name: str) -> None:
        """Remove a cohort (no error when it is not there)."""
        self.path(name).unlink(missing_ok=True)
