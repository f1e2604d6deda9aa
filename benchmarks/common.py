"""Shared benchmark helpers: the machine record every result carries."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def machine_description() -> str:
    """CPU model, core count, memory and bf16 support of this machine, for the benchmark record."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM, {_bf16()}, Python {platform.python_version()}"


def _bf16() -> str:
    """Whether this CPU runs bf16 fast (the frozen encoder then encodes in bf16, else fp32): machines of one name differ."""
    import torch

    from uvp_core.model.encoder import autocast_dtype

    return "bf16 encoder" if autocast_dtype(torch.device("cpu")) is not None else "no fast bf16 (fp32 encoder)"


def stamp() -> str:
    """A one-line machine and date record for a benchmark's output."""
    return f"machine: {machine_description()} · date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
