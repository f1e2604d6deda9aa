"""Crashes: the training worker killed (SIGKILL) mid-epoch and mid-save leaves the registry intact and resumable.

The worker is the real one: `jobs.ensure_worker` starts `python -m uvp_core worker` as a detached process,
or a short script runs `jobs.run_worker` with one step paused so the kill lands inside a save.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from uvp_core import jobs, model_registry
from uvp_core.atomic import STAGING_PREFIX, pid_alive
from uvp_core.model import load_model
from uvp_core.workspace import Workspace

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def staged_entries(ws: Workspace) -> list[str]:
    """Staging leftovers in the workspace's models/ folder."""
    return [p.name for p in (ws.root / "models").iterdir() if p.name.startswith(STAGING_PREFIX)]


@pytest.fixture
def ws_with_model(ws_with_data, rating_model, rating_dataset):
    """The rating workspace with a model already registered: (ws, dataset id, model id, its file hashes)."""
    ws, dataset_id = ws_with_data
    model_id = model_registry.save_to_registry(ws, rating_model, name="before", dataset_id=dataset_id)
    return ws, dataset_id, model_id, folder_hashes(ws.model_dir(model_id))


def assert_previous_model_intact(
    ws: Workspace, model_id: str, hashes: dict, rating_model, rating_dataset
) -> None:
    """The registry lists exactly the earlier model, its files are unchanged and it loads and predicts the same."""
    assert [m.id for m in ws.list_models()] == [model_id]
    assert folder_hashes(ws.model_dir(model_id)) == hashes
    pairs = rating_dataset.events[["user_id", "item_id", "timestamp"]].tail(20).reset_index(drop=True)
    loaded = load_model(ws.model_dir(model_id))
    assert np.allclose(loaded.predict(rating_dataset, pairs), rating_model.predict(rating_dataset, pairs))


def reap(pid: int) -> None:
    """Collect a killed child of this process (the worker started by ensure_worker) so no zombie is left."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def test_a_dead_unreaped_child_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # wait for the exit but leave it unreaped
        assert Path(f"/proc/{child.pid}").exists(), "the child is still a zombie: its pid still exists"
        assert not pid_alive(child.pid), (
            "a zombie worker (killed, not yet reaped by the app) must count as dead"
        )
    finally:
        child.wait()


def test_worker_killed_mid_epoch_leaves_registry_intact_and_the_run_resumes(
    ws_with_model, tiny_bert_dir, train_params, wait_until, rating_model, rating_dataset, caplog
) -> None:
    ws, dataset_id, before_id, before_hashes = ws_with_model
    epochs = 6
    params = train_params(dataset_id, tiny_bert_dir, epochs=epochs, patience=epochs, batch_size=4)
    run_id = jobs.submit_training(ws, params)  # starts the real detached worker process
    checkpoint = ws.run_dir(run_id) / "checkpoint" / "checkpoint.json"

    def mid_epoch() -> dict | None:
        run = ws.get_run(run_id)
        progress = run["progress"]
        in_epoch = progress.get("phase") == "training" and (progress.get("epoch") or 0) >= 2
        started = in_epoch and 0 < progress["step"] < progress["total_steps"]
        return run if started and checkpoint.is_file() and run["status"] == "running" else None

    run = wait_until(mid_epoch, 120, "the worker to be inside its second epoch, with a checkpoint written")
    pid = run["worker_pid"]
    try:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not jobs.worker_alive(ws), 10, "the killed worker to release its lock")
        # the app's view: the killed worker may still be an unreaped child of this process (a zombie)
        assert jobs.mark_interrupted_runs(ws) == [run_id]
    finally:
        reap(pid)
    killed = ws.get_run(run_id)
    assert killed["status"] == "interrupted" and "stopped unexpectedly" in killed["error"]
    killed_epochs = [h["epoch"] for h in killed["progress"]["history"]]
    assert killed_epochs and max(killed_epochs) < epochs, "the kill landed before the run finished"
    assert_previous_model_intact(ws, before_id, before_hashes, rating_model, rating_dataset)

    jobs.resume(ws, run_id, start_worker=False)
    with caplog.at_level(logging.INFO, logger="uvp_core"):
        assert jobs.run_worker(ws, idle_exit_s=0.1) == 1
    done = ws.get_run(run_id)
    assert done["status"] == "succeeded", done.get("error")
    assert any("Resuming from" in r.getMessage() for r in caplog.records), "resume starts from the checkpoint"
    epochs_seen = [h["epoch"] for h in done["progress"]["history"]]
    assert epochs_seen == list(range(1, epochs + 1)), "no epoch is trained twice after the resume"
    new_id = done["result"]["model_id"]
    assert {m.id for m in ws.list_models()} == {before_id, new_id}
    assert load_model(ws.model_dir(new_id)).metrics_["epochs_run"] == epochs
    assert folder_hashes(ws.model_dir(before_id)) == before_hashes


PAUSED_WORKER = textwrap.dedent(
    """
    import sys, time
    from uvp_core import jobs
    from uvp_core.model import persistence
    from uvp_core.workspace import Workspace

    root, where = sys.argv[1], sys.argv[2]

    def pause(what):
        print("paused", what, flush=True)
        time.sleep(600)  # the test kills us here

    if where == "writing":  # files are being written into the staging folder
        write_folder = persistence._write_folder

        def slow_write(model, folder):
            write_folder(model, folder)
            pause(folder)

        persistence._write_folder = slow_write
    else:  # the folder is published under models/, its catalogue row not yet written
        Workspace.register_model = lambda self, record: pause(self.model_dir(record.id))
    jobs.run_worker(Workspace(root), idle_exit_s=30)
    """
)


@pytest.mark.parametrize("where", ["writing", "published"])
def test_worker_killed_mid_save_registers_nothing_and_staging_is_cleaned(
    ws_with_model, tiny_bert_dir, train_params, rating_model, rating_dataset, tmp_path, where
) -> None:
    ws, dataset_id, before_id, before_hashes = ws_with_model
    run_id = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", PAUSED_WORKER, str(ws.root), where],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
    try:
        line = proc.stdout.readline()  # blocks until the worker pauses inside the save (or dies)
        assert line.startswith("paused "), (
            f"the worker never reached the save:\n{log_path.read_text()[-3000:]}"
        )
        paused_in = Path(line.split(" ", 1)[1].strip())
        assert paused_in.is_dir() and paused_in.parent.resolve() == (ws.root / "models").resolve()
        assert (paused_in / "model.safetensors").is_file()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # nothing half-written is in the registry, even before any clean-up
    assert [m.id for m in ws.list_models()] == [before_id]
    if where == "writing":
        assert paused_in.name.startswith(STAGING_PREFIX) and staged_entries(ws) == [paused_in.name]
    else:
        assert not paused_in.name.startswith(".")  # published under its id, but no catalogue row

    reopened = Workspace(ws.root)  # what the app or the next worker does: clean the dead writer's leftovers
    assert staged_entries(reopened) == []
    if where == "published":  # an unregistered folder is left alone for a minute (an in-flight commit) ...
        assert paused_in.is_dir()
        old = paused_in.stat().st_mtime - 3600
        os.utime(paused_in, (old, old))
        Workspace(ws.root)  # ... and removed once it is older than that
    assert sorted(p.name for p in (ws.root / "models").iterdir()) == [before_id]
    assert_previous_model_intact(reopened, before_id, before_hashes, rating_model, rating_dataset)

    assert jobs.mark_interrupted_runs(reopened) == [run_id]
    jobs.resume(reopened, run_id, start_worker=False)
    assert jobs.run_worker(reopened, idle_exit_s=0.1) == 1
    done = reopened.get_run(run_id)
    assert done["status"] == "succeeded", done.get("error")
    assert load_model(reopened.model_dir(done["result"]["model_id"])).target == "rating"


def test_runs_queued_behind_a_killed_worker_get_a_new_worker_on_the_next_refresh(
    ws_with_data, tiny_bert_dir, train_params, wait_until
) -> None:
    ws, dataset_id = ws_with_data
    long_run = train_params(dataset_id, tiny_bert_dir, epochs=6, patience=6, batch_size=4, name="long")
    first = jobs.submit_training(ws, long_run)  # starts the worker
    second = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir, name="waiting"))
    run = wait_until(
        lambda: (r := ws.get_run(first))["progress"].get("phase") == "training" and r,
        120,
        "the first run to train",
    )
    try:
        os.kill(run["worker_pid"], signal.SIGKILL)
        wait_until(lambda: not jobs.worker_alive(ws), 10, "the killed worker to release its lock")
        assert ws.get_run(second)["status"] == "queued"
        assert jobs.mark_interrupted_runs(ws) == [first]  # what the Model page does on every refresh
    finally:
        reap(run["worker_pid"])
    done = wait_until(
        lambda: (r := ws.get_run(second))["status"] not in jobs.ACTIVE_STATUSES and r,
        120,
        "a new worker to take the queued run",
    )
    assert done["status"] == "succeeded", done.get("error")
    assert done["worker_pid"] != run["worker_pid"]
    assert ws.get_run(first)["status"] == "interrupted"
    assert [m.id for m in ws.list_models()] == [done["result"]["model_id"]]
