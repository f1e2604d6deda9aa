"""Errors raised by the value model layer."""

from __future__ import annotations

from pathlib import Path


class ModelLoadError(ValueError):
    """A model or encoder folder was refused; the message names the offending file."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(message)


class TrainingDataError(ValueError):
    """The data cannot train a model (no target, too few examples); the message says why."""


class TrainingCancelled(RuntimeError):
    """Training stopped because `should_stop()` returned True; resume from `checkpoint_dir`."""

    def __init__(self, epoch: int, step: int, checkpoint_dir: Path | None):
        self.epoch = epoch
        self.step = step
        self.checkpoint_dir = checkpoint_dir
        where = f"; resume from {checkpoint_dir}" if checkpoint_dir else ""
        super().__init__(f"Training cancelled at epoch {epoch}, step {step}{where}.")
