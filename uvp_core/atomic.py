"""Atomic file and folder writes: stage next to the target, fsync, then rename.

A process killed at any point leaves either the previous state or the new one, never a mix;
staged leftovers carry a recognisable prefix so `clean_staging` can remove them at start.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

STAGING_PREFIX = ".staging-"


def staging_name(name: str) -> str:
    """A staging name that records the writer's process id, so cleaners skip live writers."""
    return f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}-{name}"


def pid_alive(pid: int | None) -> bool:
    """True when a process with this id exists (on this machine)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """True when the process has exited but its parent has not reaped it yet (Linux /proc; else False).

    A killed worker stays a zombie child of the app server until the server reaps it; it holds no
    locks and will never write again, so it counts as dead.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _writer_alive(entry_name: str) -> bool:
    """True when the process that staged `entry_name` is still running."""
    try:
        pid = int(entry_name[len(STAGING_PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    return pid == os.getpid() or pid_alive(pid)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) to disk, where the OS allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically (temp file in the same folder, fsync, rename)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / staging_name(target.name)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(target: Path, text: str) -> None:
    """Write UTF-8 text to `target` atomically."""
    atomic_write_bytes(target, text.encode("utf-8"))


def fsync_tree(root: Path) -> None:
    """fsync every file and folder below `root` so a later rename publishes durable content."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with open(Path(folder) / name, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(folder))


@contextlib.contextmanager
def staged_dir(target: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success publish it as `target` with one rename.

    When `target` already exists: with replace=False the staged copy is discarded (the existing
    folder wins, which is right for content-addressed data); with replace=True the old folder is
    moved aside, the new one renamed in, and the old one removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / staging_name(target.name)
    stage.mkdir()
    try:
        yield stage
        fsync_tree(stage)
        if target.exists() and not replace:
            return
        if target.exists():
            old = target.parent / staging_name("old-" + target.name)
            os.replace(target, old)
            os.replace(stage, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(stage, target)
            except OSError:
                if not target.exists():  # a concurrent writer may have published it first
                    raise
        fsync_dir(target.parent)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def clean_staging(folder: Path, name: str | None = None) -> list[Path]:
    """Remove staged leftovers of dead writers directly inside `folder` (only those staged for `name`, when given);
    return what went."""
    removed: list[Path] = []
    if not Path(folder).is_dir():
        return removed
    for entry in Path(folder).iterdir():
        mine = name is None or re.fullmatch(rf"{re.escape(STAGING_PREFIX)}\d+-[0-9a-f]{{32}}-(old-)?{re.escape(name)}", entry.name)
        if mine and entry.name.startswith(STAGING_PREFIX) and not _writer_alive(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed.append(entry)
    return removed
