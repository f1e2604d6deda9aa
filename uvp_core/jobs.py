"""Background training: a queue of runs in the workspace catalogue and one worker process.

The app (or the CLI) queues a run and makes sure a worker is alive; the worker takes runs one at
a time (so several analysts' runs queue instead of competing for two cores), reports progress
into the catalogue, honours cancel requests, checkpoints, and registers the trained model.
A run whose worker died shows as `interrupted` and can be resumed from its last checkpoint.

Run statuses: queued → running → succeeded | failed | cancelled | interrupted; cancelling is a
request the worker turns into cancelled at the next step.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from uvp_core import model_registry
from uvp_core.atomic import atomic_write_text, pid_alive
from uvp_core.workspace import Workspace, utc_now

log = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running", "cancelling")
LATE_CANCEL_NOTE = "Cancel came after training had finished: the trained model was kept and saved to the registry."
PROGRESS_INTERVAL_S = 0.5
IDLE_EXIT_S = 20.0
WORKER_START_S = 120.0  # a spawned worker takes its lock well within this (imports, then the lock)
REPO_ROOT = Path(__file__).resolve().parents[1]


def submit_training(ws: Workspace, params: dict[str, Any], owner: str = "", *, start_worker: bool = True) -> str:
    """Queue a training run (params: dataset_id, name, and TrainConfig fields) and return its id."""
    if "dataset_id" not in params:
        raise ValueError("A training run needs a dataset_id")
    ws.get_dataset_record(params["dataset_id"])  # fail now, clearly, on an unknown dataset
    run_id = ws.create_run("train", params, owner)
    if start_worker:
        ensure_worker(ws)
    return run_id


def request_cancel(ws: Workspace, run_id: str) -> None:
    """Ask for a run to stop: a queued run is cancelled at once, a running one at its next step."""
    run = ws.get_run(run_id)
    if run["status"] == "queued":
        ws.update_run(run_id, status="cancelled", finished_at=utc_now())
    elif run["status"] == "running":
        ws.update_run(run_id, status="cancelling")


def resume(ws: Workspace, run_id: str, *, owner: str | None = None, start_worker: bool = True) -> None:
    """Queue an interrupted or failed run again; training resumes from its last checkpoint. owner: whoever resumes it
    owns it from then on (its model becomes theirs when it finishes; the session that started it may be gone)."""
    run = ws.get_run(run_id)
    if run["status"] not in model_registry.STOPPED_STATUSES:
        raise ValueError(f"Run {run_id} is {run['status']}; only interrupted, failed or cancelled runs resume")
    ws.update_run(run_id, status="queued", error=None, finished_at=None, **({"owner": owner} if owner is not None else {}))
    if start_worker:
        ensure_worker(ws)


def worker_lock_path(ws: Workspace) -> Path:
    """The file a live worker holds an exclusive lock on."""
    return ws.root / "runs" / "worker.lock"


@contextlib.contextmanager
def worker_lock(ws: Workspace) -> Iterator[bool]:
    """Try to become the workspace's one worker; yields whether the lock was taken."""
    path = worker_lock_path(ws)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def worker_alive(ws: Workspace) -> bool:
    """True when some process holds the worker lock."""
    with worker_lock(ws) as taken:
        return not taken


def ensure_worker(ws: Workspace) -> None:
    """Start a detached worker process for this workspace unless one is already running."""
    mark_interrupted_runs(ws, restart_queue=False)
    if not worker_alive(ws):
        _start_worker(ws)


def _starting_path(ws: Workspace) -> Path:
    """The file holding the pid of the last worker started (it takes the lock only after its imports)."""
    return ws.root / "runs" / "worker.starting"


def _start_worker(ws: Workspace) -> None:
    """Spawn `python -m uvp_core worker` detached, unless the last one spawned is still alive (starting up)."""
    starting = _starting_path(ws)
    with contextlib.suppress(OSError, ValueError):
        recent = time.time() - starting.stat().st_mtime < WORKER_START_S  # an old pid may have been reused
        if recent and pid_alive(int(starting.read_text())):
            return
    log_path = ws.root / "runs" / "worker.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvp_core", "worker", "--workspace", str(ws.root.resolve())],
            cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives a restart of the app server
        )
    atomic_write_text(_starting_path(ws), str(proc.pid))
    threading.Thread(target=proc.wait, name="uvp-worker-reaper", daemon=True).start()  # collect its exit: a finished
    # worker stayed a zombie of the app server, and a zombie's pid reads as alive (pid_alive)


def mark_interrupted_runs(ws: Workspace, *, restart_queue: bool = True) -> list[str]:
    """Runs marked running whose worker is gone become `interrupted` (resumable); return their ids.

    With restart_queue, runs still queued with no worker to take them (it was killed, or the machine
    restarted) get a new worker: the app calls this on every refresh of the Model page.
    """
    if worker_alive(ws):
        return []
    interrupted = []
    runs = ws.list_runs()
    for run in runs:
        if run["status"] in ("running", "cancelling") and not pid_alive(run.get("worker_pid")):
            ws.update_run(run["id"], status="interrupted", error="The training worker stopped unexpectedly.",
                          finished_at=utc_now())
            interrupted.append(run["id"])
    if restart_queue and any(run["status"] == "queued" for run in runs):
        _start_worker(ws)
    return interrupted


def run_worker(ws: Workspace, *, idle_exit_s: float = IDLE_EXIT_S) -> int:
    """Take queued runs one at a time until the queue stays empty for `idle_exit_s`; return runs done."""
    with worker_lock(ws) as taken:
        if not taken:
            log.info("another worker is running for %s", ws.root)
            return 0
        done, idle_since = 0, time.monotonic()
        while time.monotonic() - idle_since < idle_exit_s:
            run = ws.claim_next_run(os.getpid())
            if run is None:
                time.sleep(0.5)
                continue
            execute_training_run(ws, run)
            done += 1
            idle_since = time.monotonic()
        return done


def execute_training_run(ws: Workspace, run: dict[str, Any]) -> None:
    """Train one claimed run, reporting progress; record success, cancellation or failure."""
    from uvp_core.model import Progress, TrainConfig, TrainingCancelled, train  # heavy import, only in the worker
    from uvp_core.model.persistence import remove_checkpoint

    run_id, params = run["id"], dict(run["params"])
    last_write, last_phase = [0.0], [None]
    history: list[dict[str, Any]] = list(run["progress"].get("history", []))

    def report(progress: Any) -> None:
        entry = {k: v for k, v in asdict(progress).items() if v is not None}
        if entry.get("phase") == "training" and entry.get("val_metric") is not None:
            history.append({"epoch": entry.get("epoch"), "loss": entry.get("loss"), "val_metric": entry["val_metric"]})
        now = time.monotonic()
        new_phase = entry.get("phase") != last_phase[0]  # a phase change always gets through: the page showed the last
        # epoch's line for the ~30 s of calibration and refitting after it, whose reports fell within the interval
        if now - last_write[0] >= PROGRESS_INTERVAL_S or entry.get("val_metric") is not None or new_phase:
            last_write[0], last_phase[0] = now, entry.get("phase")
            ws.update_run(run_id, progress={**entry, "history": history}, heartbeat_at=utc_now())

    def should_stop() -> bool:
        return ws.get_run(run_id)["status"] == "cancelling"

    try:
        dataset = ws.load_dataset(params["dataset_id"])
        fields = {k: v for k, v in params.items() if k in TrainConfig.__dataclass_fields__}
        config = TrainConfig(**fields)
        model = train(
            dataset, config, encoder_dir=params.get("encoder_dir"), progress=report,
            should_stop=should_stop, checkpoint_dir=ws.run_dir(run_id) / "checkpoint",
        )
        report(Progress(phase="saving", message="Saving the model to the registry"))
        model_id = model_registry.save_to_registry(ws, model, name=params.get("name") or f"{params.get('target', 'model')} model",
                                    dataset_id=params["dataset_id"])
        result: dict[str, Any] = {"model_id": model_id}
        if should_stop():  # a cancel that came after the last epoch: the model was already trained, so it is kept
            result["note"] = LATE_CANCEL_NOTE
        ws.update_run(run_id, status="succeeded", finished_at=utc_now(), result=result)
        remove_checkpoint(ws.run_dir(run_id) / "checkpoint")  # the model is saved: nothing left to resume (2-4 MB a run)
    except TrainingCancelled:
        ws.update_run(run_id, status="cancelled", finished_at=utc_now())
    except Exception as exc:  # the run fails, the worker goes on with the next one
        log.exception("run %s failed", run_id)
        ws.update_run(run_id, status="failed", finished_at=utc_now(),
                      error=f"{type(exc).__name__}: {exc}", result={"traceback": traceback.format_exc()[-4000:]})
