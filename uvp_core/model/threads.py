"""CPU threads: a governor for encoding, and a fixed count for training.

On a shared 2-core machine, torch with 2 intra-op threads while another process keeps one core busy
runs 5-10x slower than with 1 thread (each parallel op waits for the descheduled thread). For encoding,
whose results do not depend on the thread count (checked for the oneDNN bf16 kernels), the governor
measures how much CPU the rest of the machine used since its last check and sets torch's thread count
to the cores left free. Training results do depend on the thread count (parallel reductions sum in a
different order), so training runs with a fixed count (`fixed_threads`) to stay reproducible.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is a pinned requirement
    psutil = None


PROBE_SECONDS = 0.03  # how long a governed block first measures the machine before choosing threads
PROBE_REUSE_SECONDS = 0.5  # a probe this recent decides for the next block too (a token explanation encodes ~50 times
#                            a second; probing each time doubled its encoding time)
_last_probe: list[tuple[float, int]] = []  # [(monotonic time, thread count)] of the latest probe, in any thread


def _cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ThreadGovernor:
    """Sets torch's CPU thread count from the load of other processes; call `adjust()` now and then."""

    def __init__(self, limit: int | None = None, min_interval: float = 0.5):
        self.limit = max(1, min(limit or torch.get_num_threads(), _cores()))  # never more than torch's setting
        self.min_interval = min_interval
        self.original = torch.get_num_threads()
        self._process = psutil.Process() if psutil is not None else None
        self._last = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float] | None:
        """(wall, machine busy CPU seconds, this process's CPU seconds)."""
        if self._process is None:
            return None
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        mine = self._process.cpu_times()
        return time.monotonic(), busy, mine.user + mine.system

    def others_busy(self) -> float | None:
        """Cores used by other processes since the last check (None when unknown or too soon)."""
        now = self._snapshot()
        if now is None or self._last is None or now[0] - self._last[0] < self.min_interval:
            return None
        wall, busy, mine = (a - b for a, b in zip(now, self._last, strict=True))
        self._last = now
        return max(0.0, (busy - mine) / wall)

    def adjust(self) -> int:
        """Set and return the thread count: the cores not busy with other processes (at least 1)."""
        others = self.others_busy()
        if others is not None:
            torch.set_num_threads(max(1, min(self.limit, _cores() - round(others))))
        return torch.get_num_threads()

    def probe(self, seconds: float = PROBE_SECONDS) -> int:
        """Measure the other processes' CPU use over a short wait and set the thread count from it (or take the count
        of a probe less than PROBE_REUSE_SECONDS old: the machine's load does not change that fast)."""
        if self._process is None:
            return torch.get_num_threads()
        if _last_probe and time.monotonic() - _last_probe[-1][0] < PROBE_REUSE_SECONDS:
            torch.set_num_threads(max(1, min(self.limit, _last_probe[-1][1])))
            return torch.get_num_threads()
        time.sleep(seconds)
        interval, self.min_interval = self.min_interval, 0.0
        try:
            count = self.adjust()
            _last_probe[:] = [(time.monotonic(), count)]
            return count
        finally:
            self.min_interval = interval

    def restore(self) -> None:
        """Back to the thread count found at creation."""
        torch.set_num_threads(self.original)


@contextlib.contextmanager
def governed_threads(limit: int | None = None, device: torch.device | None = None, probe: bool = False) -> Iterator[ThreadGovernor | None]:
    """A governor for a block on CPU; limit None/0 = torch's current setting, -1 = no governor (None yielded).
    probe: first measure the machine for PROBE_SECONDS (worth it before long work such as encoding, not
    before a few milliseconds of scoring)."""
    if (device is not None and device.type != "cpu") or limit == -1:
        yield None
        return
    governor = ThreadGovernor(limit=limit)
    if probe:
        governor.probe()  # start from what the other processes use now (the 1-minute load average lags)
    try:
        yield governor
    finally:
        governor.restore()


@contextlib.contextmanager
def fixed_threads(count: int) -> Iterator[None]:
    """Run a block with exactly `count` torch threads (count < 1: leave the setting alone)."""
    previous = torch.get_num_threads()
    if count >= 1:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
