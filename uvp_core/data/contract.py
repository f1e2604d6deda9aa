"""The data contract: canonical tables, column roles, validation issues and the Dataset value.

Every importer and reader produces a `Dataset` in this canonical form; every later layer
(workspace, text templates, model, diagnostics, explanations) reads only this form.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

# --- tables and roles -------------------------------------------------------------------------

TABLES: tuple[str, ...] = ("events", "items", "users")

# Canonical column names ("roles") per table. Columns not listed are kept as extra attributes.
EVENT_ROLES: tuple[str, ...] = (
    "user_id",  # str, leading zeros kept
    "item_id",  # str
    "timestamp",  # datetime64[ms, UTC]
    "rating",  # float64, a numeric value/rating label (optional)
    "event_type",  # str, lower-case, e.g. view/click/cart/purchase (optional)
    "label",  # int8 0/1 outcome (optional)
    "revenue",  # float64 (optional)
    "quantity",  # float64 (optional)
    "review_text",  # str (optional)
)
ITEM_ROLES: tuple[str, ...] = ("item_id", "title", "description", "category", "price")
USER_ROLES: tuple[str, ...] = ("user_id",)

REQUIRED_ROLES: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "item_id", "timestamp"),
    "items": ("item_id",),
    "users": ("user_id",),
}
# At least one of these must be present in events.
LABEL_ROLES: tuple[str, ...] = ("rating", "event_type", "label")

# Event types in increasing order of intent; any other lower-case string is allowed too.
EVENT_TYPE_ORDER: tuple[str, ...] = ("view", "click", "cart", "purchase")

TIMESTAMP_DTYPE = "datetime64[ms, UTC]"
LIST_SEPARATOR = "|"  # an attribute listing several values joins them with it (MovieLens genres "Crime|Thriller", tags)


def listed_values(value: str) -> list[str]:
    """The values an attribute lists ("Crime|Thriller" -> ["Crime", "Thriller"]; blanks dropped)."""
    return [v.strip() for v in str(value).split(LIST_SEPARATOR) if v.strip()]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class ValidationIssue:
    """One problem found in the input, precise enough for an analyst to fix it."""

    severity: Severity
    file: str  # the file name as given (upload name or path relative to the dataset folder)
    column: str | None  # the source column name, or None for a file-level problem
    rule: str  # short machine-readable rule id, e.g. "missing_required_column"
    message: str  # one sentence for a person
    rows: tuple[int, ...] = ()  # 1-based data row numbers (header excluded), at most the first 10
    n_rows: int = 0  # how many rows break the rule in total
    example: str = ""  # one offending value, as text


@dataclass(frozen=True)
class ValidationReport:
    """All issues found in one validation pass; `ok` when there is no error."""

    issues: tuple[ValidationIssue, ...] = ()

    @property
    def errors(self) -> tuple[ValidationIssue, ...]:
        """The issues that block storing the dataset."""
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[ValidationIssue, ...]:
        """The issues that are reported but let the dataset pass."""
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when nothing blocks storing the dataset."""
        return not self.errors

    def to_frame(self) -> pd.DataFrame:
        """The report as a table: severity, file, column, rows, rule, example, message."""
        columns = ["severity", "file", "column", "rows", "n_rows", "rule", "example", "message"]
        records = [
            {
                "severity": i.severity,
                "file": i.file,
                "column": i.column or "",
                "rows": ", ".join(str(r) for r in i.rows),
                "n_rows": i.n_rows,
                "rule": i.rule,
                "example": i.example,
                "message": i.message,
            }
            for i in self.issues
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def format_text(self) -> str:
        """The report as plain text lines, for the CLI."""
        if not self.issues:
            return "No problems found."
        lines = []
        for i in self.issues:
            where = i.file + (f", column '{i.column}'" if i.column else "")
            if i.rows:
                more = f" (+{i.n_rows - len(i.rows)} more)" if i.n_rows > len(i.rows) else ""
                where += ", row(s) " + ", ".join(str(r) for r in i.rows) + more
            example = f" Example: {i.example!r}." if i.example else ""
            lines.append(f"{i.severity.upper()} [{i.rule}] {where}: {i.message}{example}")
        return "\n".join(lines)


class DataValidationError(ValueError):
    """Raised when a dataset fails validation; carries the full report."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.format_text())


@dataclass(frozen=True)
class Dataset:
    """A validated dataset in canonical form: events, plus optional items and users tables."""

    events: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = "dataset"
    source_format: str = "folder"  # folder | movielens-100k | movielens | amazon-reviews | transactions | upload
    warnings: tuple[ValidationIssue, ...] = field(default=(), compare=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        out = {"events": self.events}
        if self.items is not None:
            out["items"] = self.items
        if self.users is not None:
            out["users"] = self.users
        return out

    @property
    def label_roles(self) -> tuple[str, ...]:
        """Which label roles the events carry (rating, event_type, label)."""
        return tuple(r for r in LABEL_ROLES if r in self.events.columns)

    def fingerprint(self) -> str:
        """A content hash of the canonical tables (names, dtypes and values), stable across runs.

        Computed once per Dataset: a Dataset is immutable by contract (its tables are never edited in place;
        an edit makes a new Dataset, e.g. with dataclasses.replace). Scoring looks its prepared form up by
        this hash on every call (hashing Amazon's 10k reviews took 20 ms a call).
        """
        cached = self.__dict__.get("_fingerprint")
        if cached is None:
            cached = fingerprint_tables(self.tables())
            object.__setattr__(self, "_fingerprint", cached)  # a cache, not a field: replace() starts afresh
        return cached

    def events_fingerprint(self) -> str:
        """The fingerprint of the events table alone (a model trained on these events saw them, whatever the items
        and users tables say: a re-upload with one title fixed has another fingerprint() but the same events)."""
        cached = self.__dict__.get("_events_fingerprint")
        if cached is None:
            cached = fingerprint_tables({"events": self.events})
            object.__setattr__(self, "_events_fingerprint", cached)
        return cached


def fingerprint_tables(tables: dict[str, pd.DataFrame]) -> str:
    """sha256 over each table's name, column names, dtypes and row hashes, in table order."""
    digest = hashlib.sha256()
    for name in sorted(tables):
        frame = tables[name]
        digest.update(name.encode())
        for column in frame.columns:
            digest.update(f"{column}:{frame[column].dtype}".encode())
        row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(row_hashes.tobytes())
    return digest.hexdigest()
