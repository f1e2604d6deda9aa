"""The workspace: an embedded, crash-safe, multi-process-safe store for datasets, models and runs.

Layout under the workspace root (default ./workspace, or $UVP_WORKSPACE):

    catalog.sqlite          SQLite catalogue in WAL mode: datasets, models, runs (metadata only)
    datasets/<id>/          one folder per dataset: events.parquet [items.parquet] [users.parquet] meta.json
    models/<id>/            one folder per saved model (written by the model layer)
    runs/<id>/              per-run files: checkpoints, logs

Tables are Parquet (columnar, typed, read fast by pandas/pyarrow and queried in place by DuckDB);
metadata is SQLite (transactions, concurrent readers with one writer at a time, no server).
A folder is published by one rename after all its files are fsynced, and its catalogue row is
written afterwards in a transaction: a process killed at any point leaves the previous state.
Folders without a catalogue row (a writer killed between rename and commit) and staging
leftovers are removed when a workspace is opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uvp_core.atomic import atomic_write_text, clean_staging, staged_dir
from uvp_core.data.contract import TABLES, Dataset, ValidationIssue

DEFAULT_ROOT = Path("workspace")
SCHEMA_VERSION = 1
ORPHAN_AGE_S = 60  # an unregistered folder older than this is no in-flight write: leftovers are removed
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source_format TEXT NOT NULL,
    created_at TEXT NOT NULL,
    n_events INTEGER NOT NULL,
    n_users INTEGER NOT NULL,
    n_items INTEGER NOT NULL,
    tables TEXT NOT NULL,
    label_roles TEXT NOT NULL,
    warnings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    dataset_id TEXT,
    target TEXT NOT NULL,
    mode TEXT NOT NULL,
    created_at TEXT NOT NULL,
    metrics TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    progress TEXT NOT NULL,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat_at TEXT,
    worker_pid INTEGER,
    error TEXT,
    result TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def utc_now() -> str:
    """The current time as an ISO 8601 UTC string (second resolution)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_root() -> Path:
    """The workspace folder: $UVP_WORKSPACE when set, else ./workspace."""
    return Path(os.environ.get("UVP_WORKSPACE") or DEFAULT_ROOT)


@dataclass(frozen=True)
class DatasetRecord:
    """A stored dataset's catalogue entry."""

    id: str
    fingerprint: str
    name: str
    source_format: str
    created_at: str
    n_events: int
    n_users: int
    n_items: int
    tables: tuple[str, ...]
    label_roles: tuple[str, ...]
    warnings: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ModelRecord:
    """A registered model's catalogue entry; its folder is `Workspace.model_dir(id)`."""

    id: str
    name: str
    dataset_id: str | None
    target: str
    mode: str
    created_at: str
    metrics: dict[str, Any]
    meta: dict[str, Any]


class Workspace:
    """One workspace folder; cheap to construct, safe to use from several processes at once."""

    def __init__(self, root: str | Path | None = None, *, clean: bool = True):
        self.root = Path(root) if root is not None else default_root()
        for folder in ("datasets", "models", "runs"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._init_catalogue()
        if clean:
            self.clean_leftovers()

    # --- catalogue plumbing -------------------------------------------------------------------

    @property
    def catalogue_path(self) -> Path:
        """The SQLite catalogue file."""
        return self.root / "catalog.sqlite"

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; the block is one transaction (committed on success)."""
        conn = sqlite3.connect(self.catalogue_path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _init_catalogue(self) -> None:
        """Create the catalogue (WAL mode) and its tables if missing."""
        for attempt in range(50):
            try:
                conn = sqlite3.connect(self.catalogue_path, timeout=30.0)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(_SCHEMA)
                    conn.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                    conn.commit()
                finally:
                    conn.close()
                return
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def clean_leftovers(self) -> list[Path]:
        """Remove staging leftovers and folders that no catalogue row owns; return what went."""
        removed: list[Path] = []
        for folder in ("datasets", "models"):
            removed += clean_staging(self.root / folder)
        with self.connect() as conn:
            known = {
                folder: {row["id"] for row in conn.execute(f"SELECT id FROM {folder}")}  # noqa: S608
                for folder in ("datasets", "models")
            }
        for folder, ids in known.items():
            for entry in (self.root / folder).iterdir():
                kept = entry.name in ids or entry.name.startswith(".")
                if kept or entry.is_symlink() or not entry.is_dir():
                    continue
                if time.time() - entry.stat().st_mtime > ORPHAN_AGE_S:  # older than any in-flight commit
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        return removed

    def _entry(self, folder: str, kind: str, entry_id: str) -> Path:
        """`root/folder/entry_id`, refusing ids that are not one plain name (no '/', '..', leading '.')."""
        if not isinstance(entry_id, str) or not _ID_PATTERN.fullmatch(entry_id):
            raise ValueError(
                f"{entry_id!r} is not a valid {kind} id: ids are one plain name (letters, digits, '.', '_', '-', "
                f"not starting with '.'), so that {self.root / folder} is the only place they can point to."
            )
        return self.root / folder / entry_id

    # --- datasets -----------------------------------------------------------------------------

    def dataset_dir(self, dataset_id: str) -> Path:
        """The folder holding one dataset's Parquet tables."""
        return self._entry("datasets", "dataset", dataset_id)

    def save_dataset(self, dataset: Dataset) -> DatasetRecord:
        """Store a validated dataset once (by content fingerprint) and return its record."""
        fingerprint = dataset.fingerprint()
        existing = self.find_dataset(fingerprint)
        if existing is not None:
            return existing
        dataset_id = fingerprint[:16]
        tables = dataset.tables()
        with staged_dir(self.dataset_dir(dataset_id)) as stage:
            for table, frame in tables.items():
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), stage / f"{table}.parquet")
            meta = {"fingerprint": fingerprint, "name": dataset.name, "source_format": dataset.source_format}
            atomic_write_text(stage / "meta.json", json.dumps(meta, indent=2))
        events = dataset.events
        record = DatasetRecord(
            id=dataset_id,
            fingerprint=fingerprint,
            name=dataset.name,
            source_format=dataset.source_format,
            created_at=utc_now(),
            n_events=len(events),
            n_users=int(events["user_id"].nunique()),
            n_items=int(events["item_id"].nunique()),
            tables=tuple(tables),
            label_roles=dataset.label_roles,
            warnings=tuple(_issue_dict(w) for w in dataset.warnings),
        )
        with self.connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO datasets VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.fingerprint,
                    record.name,
                    record.source_format,
                    record.created_at,
                    record.n_events,
                    record.n_users,
                    record.n_items,
                    json.dumps(record.tables),
                    json.dumps(record.label_roles),
                    json.dumps(record.warnings),
                ),
            )
        return self.get_dataset_record(dataset_id)

    def find_dataset(self, fingerprint: str) -> DatasetRecord | None:
        """The record of the dataset with this fingerprint, if stored."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM datasets WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return _dataset_record(row) if row else None

    def get_dataset_record(self, dataset_id: str) -> DatasetRecord:
        """One dataset's record; KeyError names the id when unknown."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise KeyError(f"No dataset with id {dataset_id!r} in workspace {self.root}")
        return _dataset_record(row)

    def list_datasets(self) -> list[DatasetRecord]:
        """All stored datasets, newest first."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM datasets ORDER BY created_at DESC, name").fetchall()
        return [_dataset_record(r) for r in rows]

    def load_dataset(self, dataset_id: str) -> Dataset:
        """Read a stored dataset back into its canonical form."""
        record = self.get_dataset_record(dataset_id)
        folder = self.dataset_dir(dataset_id)
        frames = {t: pq.read_table(folder / f"{t}.parquet").to_pandas() for t in TABLES if t in record.tables}
        return Dataset(
            events=frames["events"],
            items=frames.get("items"),
            users=frames.get("users"),
            name=record.name,
            source_format=record.source_format,
            warnings=tuple(ValidationIssue(**{**w, "rows": tuple(w["rows"])}) for w in record.warnings),
        )

    def table_path(self, dataset_id: str, table: str) -> Path:
        """The Parquet file of one table (for DuckDB queries in place)."""
        return self.dataset_dir(dataset_id) / f"{table}.parquet"

    def delete_dataset(self, dataset_id: str) -> None:
        """Remove a dataset's catalogue row, then its folder."""
        with self.connect() as conn:
            conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        shutil.rmtree(self.dataset_dir(dataset_id), ignore_errors=True)

    # --- models -------------------------------------------------------------------------------

    def model_dir(self, model_id: str) -> Path:
        """The folder of one registered model; refused when it is a symbolic link (it must live in the workspace)."""
        path = self._entry("models", "model", model_id)
        if path.is_symlink():
            raise ValueError(
                f"Model folder {path} is a symbolic link to {path.resolve()}; registered model folders must be real "
                f"folders inside {self.root / 'models'}, so UVP does not follow it. Import the model folder instead."
            )
        return path

    def new_model_id(self) -> str:
        """A fresh, sortable model id."""
        return datetime.now(UTC).strftime("m%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]

    def register_model(self, record: ModelRecord) -> ModelRecord:
        """Add (or replace) a model's catalogue row; its folder must already be published."""
        folder = self.model_dir(record.id)  # refuses ids that leave models/ and symbolic links
        if not folder.is_dir():
            raise FileNotFoundError(f"Model folder {folder} does not exist")
        with self.connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.name,
                    record.dataset_id,
                    record.target,
                    record.mode,
                    record.created_at,
                    json.dumps(record.metrics),
                    json.dumps(record.meta),
                ),
            )
        return record

    def list_models(self) -> list[ModelRecord]:
        """All registered models, newest first."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM models ORDER BY created_at DESC, id DESC").fetchall()
        return [_model_record(r) for r in rows]

    def get_model_record(self, model_id: str) -> ModelRecord:
        """One model's record; KeyError names the id when unknown."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        if row is None:
            raise KeyError(f"No model with id {model_id!r} in workspace {self.root}")
        return _model_record(row)

    def delete_model(self, model_id: str) -> None:
        """Remove a model's catalogue row, then its folder (a symbolic link is removed, never followed)."""
        path = self._entry("models", "model", model_id)
        with self.connect() as conn:
            conn.execute("DELETE FROM models WHERE id = ?", (model_id,))
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)

    # --- runs (background jobs) ---------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """The folder for one run's checkpoints and logs."""
        folder = self._entry("runs", "run", run_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def create_run(self, kind: str, params: dict[str, Any], owner: str = "") -> str:
        """Queue a run and return its id."""
        run_id = datetime.now(UTC).strftime("r%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO runs(id, kind, status, params, progress, owner, created_at) VALUES (?,?,?,?,?,?,?)",
                (run_id, kind, "queued", json.dumps(params), "{}", owner, utc_now()),
            )
        return run_id

    def claim_next_run(self, worker_pid: int) -> dict[str, Any] | None:
        """Atomically take the oldest queued run for this worker; None when the queue is empty."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM runs WHERE status = 'queued' ORDER BY rowid LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            now = utc_now()
            conn.execute(
                "UPDATE runs SET status='running', started_at=?, heartbeat_at=?, worker_pid=? WHERE id=?",
                (now, now, worker_pid, row["id"]),
            )
        return self.get_run(row["id"])

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set some of a run's fields (status, progress, error, result...); dicts are stored as JSON."""
        allowed = {"status", "progress", "error", "result", "finished_at", "heartbeat_at", "worker_pid", "started_at", "owner"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"Unknown run fields: {sorted(unknown)}")
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.connect() as conn:
            conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*values, run_id))  # noqa: S608

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run as a dict with params/progress/result decoded."""
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"No run with id {run_id!r} in workspace {self.root}")
        return _run_dict(row)

    def list_runs(self, kind: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, optionally of one kind and one status."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM runs WHERE (? IS NULL OR kind = ?) AND (? IS NULL OR status = ?) ORDER BY rowid DESC",
                (kind, kind, status, status),
            ).fetchall()
        return [_run_dict(r) for r in rows]


def _issue_dict(issue: ValidationIssue) -> dict[str, Any]:
    """A validation issue as JSON-ready dict."""
    return {
        "severity": issue.severity,
        "file": issue.file,
        "column": issue.column,
        "rule": issue.rule,
        "message": issue.message,
        "rows": list(issue.rows),
        "n_rows": issue.n_rows,
        "example": issue.example,
    }


def _dataset_record(row: sqlite3.Row) -> DatasetRecord:
    """Decode a datasets row."""
    return DatasetRecord(
        id=row["id"],
        fingerprint=row["fingerprint"],
        name=row["name"],
        source_format=row["source_format"],
        created_at=row["created_at"],
        n_events=row["n_events"],
        n_users=row["n_users"],
        n_items=row["n_items"],
        tables=tuple(json.loads(row["tables"])),
        label_roles=tuple(json.loads(row["label_roles"])),
        warnings=tuple(json.loads(row["warnings"])),
    )


def _model_record(row: sqlite3.Row) -> ModelRecord:
    """Decode a models row."""
    return ModelRecord(
        id=row["id"],
        name=row["name"],
        dataset_id=row["dataset_id"],
        target=row["target"],
        mode=row["mode"],
        created_at=row["created_at"],
        metrics=json.loads(row["metrics"]),
        meta=json.loads(row["meta"]),
    )


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    """Decode a runs row."""
    out = dict(row)
    for key in ("params", "progress", "result"):
        out[key] = json.loads(out[key]) if out.get(key) else {}
    return out


def records_frame(records: list[DatasetRecord] | list[ModelRecord]) -> pd.DataFrame:
    """Catalogue records as a table for display."""
    return pd.DataFrame([r.__dict__ for r in records])
