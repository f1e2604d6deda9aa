"""The encoding thread governor starts from what other processes use now, not the lagging load average."""

from __future__ import annotations

import pytest
import torch

from uvp_core.model import threads


@pytest.mark.parametrize(("others", "expected"), [(0.0, 2), (0.9, 1), (1.8, 1)])
def test_probe_sets_threads_from_other_processes_cpu(monkeypatch, others, expected):
    monkeypatch.setattr(threads, "_cores", lambda: 2)
    snapshots = iter([(0.0, 0.0, 0.0), (1.0, others + 0.5, 0.5)])  # (wall, machine busy, this process) seconds
    monkeypatch.setattr(threads.ThreadGovernor, "_snapshot", lambda self: next(snapshots))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    monkeypatch.setattr(threads, "_last_probe", [])  # no earlier probe to reuse
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        governor = threads.ThreadGovernor(limit=2)
        assert governor.probe() == expected == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_governed_block_restores_the_thread_count():
    before = torch.get_num_threads()
    with threads.governed_threads() as governor:
        assert governor is not None and 1 <= torch.get_num_threads() <= max(1, before)
    assert torch.get_num_threads() == before


def test_a_recent_probe_decides_without_waiting_again(monkeypatch):
    """A token explanation encodes ~50 small batches a second; each waited 30 ms to probe the machine."""
    monkeypatch.setattr(threads, "_cores", lambda: 2)
    monkeypatch.setattr(threads, "_last_probe", [])
    clock = [100.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(threads.time, "sleep", sleep)
    monkeypatch.setattr(threads.ThreadGovernor, "_snapshot", lambda self: (clock[0], clock[0], 0.0))  # others: one core
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert threads.ThreadGovernor(limit=2).probe() == 1 and len(sleeps) == 1
        torch.set_num_threads(2)
        clock[0] += 0.3  # 0.3 s later: the same decision, no wait
        assert threads.ThreadGovernor(limit=2).probe() == 1 and len(sleeps) == 1
        clock[0] += 0.5  # older than PROBE_REUSE_SECONDS: measured again
        threads.ThreadGovernor(limit=2).probe()
        assert len(sleeps) == 2
    finally:
        torch.set_num_threads(before)
