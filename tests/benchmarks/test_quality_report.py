"""The quality report says which splits a dataset's timing covers."""

from __future__ import annotations

from benchmarks.quality import _splits_run


def test_timing_line_names_the_splits_it_covers() -> None:
    assert _splits_run({"benchmark_splits": ["random", "time", "new_users", "new_items"]}) == "all splits"
    assert _splits_run({"benchmark_splits": ["new_users"]}) == "split new_users"
    assert _splits_run({"benchmark_splits": ["random", "time"]}) == "splits random, time"
    assert _splits_run({}) == "the splits run"  # results written before the splits were recorded
