"""Helpers shared by the data-layer tests (imported by name; not a test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvp_core.data import LoadResult, load_uploads
from uvp_core.data.contract import ValidationIssue

# The real datasets live beside the repository: ../shared/data (read-only, never copied in).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

EVENTS_HEADER = "user_id,item_id,timestamp,rating"


def shared_dataset(name: str) -> Path:
    """The folder of one real dataset, or skip the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name} not available at {path}")
    return path


def events_csv(*rows: str, header: str = EVENTS_HEADER) -> bytes:
    """A small events CSV as UTF-8 bytes."""
    return ("\n".join((header, *rows)) + "\n").encode("utf-8")


def load_events(*rows: str, header: str = EVENTS_HEADER, **kwargs: object) -> LoadResult:
    """Load one events.csv upload built from rows."""
    return load_uploads({"events.csv": events_csv(*rows, header=header)}, **kwargs)  # type: ignore[arg-type]


def issues_of(result: LoadResult, rule: str) -> list[ValidationIssue]:
    """All issues with that rule id."""
    return [i for i in result.report.issues if i.rule == rule]


def one_issue(result: LoadResult, rule: str) -> ValidationIssue:
    """The single issue with that rule id (fails when there are none or several)."""
    found = issues_of(result, rule)
    assert len(found) == 1, (rule, result.report.format_text())
    return found[0]


def rules_of(result: LoadResult) -> set[str]:
    """The set of rule ids in the report."""
    return {i.rule for i in result.report.issues}


def assert_ok(result: LoadResult) -> None:
    """The load produced a dataset with no errors."""
    assert result.dataset is not None, result.report.format_text()
    assert result.report.ok
