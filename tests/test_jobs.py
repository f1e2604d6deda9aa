"""Background training jobs: queue, one worker, progress, cancel, interruption and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from uvp_core import jobs
from uvp_core.workspace import Workspace


def test_worker_runs_queue_in_order_and_registers_models(
    ws_with_data, tiny_bert_dir: Path, train_params
) -> None:
    ws, dataset_id = ws_with_data
    first = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    second = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir, seed=1), start_worker=False)
    assert jobs.run_worker(ws, idle_exit_s=0.1) == 2
    runs = {r["id"]: r for r in ws.list_runs()}
    assert runs[first]["status"] == runs[second]["status"] == "succeeded"
    assert runs[first]["started_at"] <= runs[second]["started_at"]
    assert len(runs[first]["progress"]["history"]) >= 1
    model_ids = {runs[first]["result"]["model_id"], runs[second]["result"]["model_id"]}
    assert {m.id for m in ws.list_models()} == model_ids
    assert not (ws.run_dir(first) / "checkpoint").exists()  # a browser audit: every finished run kept 2-4 MB of checkpoint
    assert all(ws.model_dir(m).is_dir() for m in model_ids)


def test_unknown_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="nope"):
        jobs.submit_training(Workspace(tmp_path / "ws"), {"dataset_id": "nope"}, start_worker=False)


def test_cancel_queued_and_running(ws_with_data, tiny_bert_dir: Path, train_params) -> None:
    ws, dataset_id = ws_with_data
    queued = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    jobs.request_cancel(ws, queued)
    assert ws.get_run(queued)["status"] == "cancelled"
    running = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    run = ws.claim_next_run(worker_pid=1)
    jobs.request_cancel(ws, running)
    assert ws.get_run(running)["status"] == "cancelling"
    jobs.execute_training_run(ws, run)
    assert ws.get_run(running)["status"] == "cancelled"
    assert ws.list_models() == []


def test_a_cancel_after_the_last_epoch_keeps_the_trained_model(ws_with_data, tiny_bert_dir: Path, train_params, monkeypatch) -> None:
    """A browser audit cancelled while the run was calibrating, after all its epochs: the finished model was thrown
    away and Resume redid the whole run. A cancel that comes once the epochs are done now keeps the model."""
    from uvp_core import model as model_package
    from uvp_core import model_registry

    ws, dataset_id = ws_with_data
    run_id = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    run = ws.claim_next_run(worker_pid=1)
    real_train = model_package.train

    def train_then_cancel(*args, **kwargs):
        trained = real_train(*args, **kwargs)
        jobs.request_cancel(ws, run_id)  # the analyst clicks Cancel while the run calibrates and saves
        return trained

    monkeypatch.setattr(model_package, "train", train_then_cancel)
    jobs.execute_training_run(ws, run)
    finished = ws.get_run(run_id)
    assert finished["status"] == "succeeded" and finished["result"]["note"] == jobs.LATE_CANCEL_NOTE
    assert [m.id for m in ws.list_models()] == [finished["result"]["model_id"]]
    assert model_registry.runs_frame([finished]).loc[0, "note"] == jobs.LATE_CANCEL_NOTE
    last = finished["progress"]
    assert not model_registry.can_cancel(last) and model_registry.can_cancel({"phase": "training"})


def test_dead_worker_marks_run_interrupted_and_resume_requeues(
    ws_with_data, tiny_bert_dir: Path, train_params
) -> None:
    ws, dataset_id = ws_with_data
    run_id = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    ws.claim_next_run(worker_pid=2**22 + 999)  # a pid that cannot be alive
    assert jobs.mark_interrupted_runs(ws) == [run_id]
    assert ws.get_run(run_id)["status"] == "interrupted"
    jobs.resume(ws, run_id, start_worker=False)
    assert ws.get_run(run_id)["status"] == "queued"
    assert jobs.run_worker(ws, idle_exit_s=0.1) == 1
    assert ws.get_run(run_id)["status"] == "succeeded"
    with pytest.raises(ValueError, match="succeeded"):
        jobs.resume(ws, run_id, start_worker=False)


def test_finetune_progress_counts_its_own_epochs_and_shows_the_estimate() -> None:
    """A finetune run's bar peaked at 10% (measured against the form's 30 frozen epochs, while it runs 3), and its
    "Fine-tuning will take about 42.5 minutes" message never reached the page."""
    from uvp_core import model_registry

    finetune = {"mode": "finetune", "epochs": 30}
    assert model_registry.run_epochs(finetune) == 3 and model_registry.run_epochs({"mode": "frozen", "epochs": 30}) == 30
    last_step = {"phase": "training", "epoch": 3, "step": 63, "total_steps": 63}
    assert model_registry.progress_fraction(last_step, model_registry.run_epochs(finetune)) == 1.0
    estimate = {"phase": "estimate", "eta_seconds": 2549.0, "message": "Fine-tuning will take about 42.5 minutes"}
    assert model_registry.progress_text(estimate) == "Fine-tuning will take about 42.5 minutes"


def test_encoding_the_rest_of_the_catalogue_after_the_epochs_keeps_the_bar_full() -> None:
    """A browser audit saw the bar fall back to "encoding · step 0/18" after the last epoch, for the catalogue's texts."""
    from uvp_core import model_registry

    report = {"phase": "catalogue", "step": 0, "total_steps": 18, "message": "Encoding the rest of the catalogue's texts"}
    assert model_registry.progress_fraction(report, 3) == 1.0
    assert model_registry.progress_text(report) == "catalogue · step 0/18 · Encoding the rest of the catalogue's texts"


def test_encoding_reports_an_estimate_of_its_time_left(monkeypatch) -> None:
    """A browser audit watched 80 s of "encoding · step 538/2019" with no time left shown (epochs showed one)."""
    from uvp_core import model_registry
    from uvp_core.model import training

    clock = iter([100.0, 110.0, 130.0])
    monkeypatch.setattr(training.time, "monotonic", lambda: next(clock))
    eta = training.PhaseEta()
    assert eta(0, 400) is None  # the clock starts
    assert eta(100, 400) == 30.0  # 10 s for 100 texts: 300 left
    assert eta(400, 400) == 0.0
    report = {"phase": "encoding", "step": 100, "total_steps": 400, "eta_seconds": 30.0, "message": "Encoding texts 100/400"}
    assert model_registry.progress_text(report) == "encoding · step 100/400 · about 30s of encoding left"


def test_runs_table_tells_runs_of_one_dataset_apart() -> None:
    """Two default runs with different seeds looked identical in the runs table (same name, no seed column)."""
    from uvp_core import model_registry

    runs = [{"id": f"r{seed}", "params": {"name": "sample_data", "seed": seed, "epochs": 30, "mode": "frozen"}, "status": "succeeded",
             "created_at": "2026-11-29T14:00:00Z"} for seed in (0, 9)]  # fmt: skip
    runs[0]["progress"] = {"history": [{"epoch": e, "loss": 0.5, "val_metric": 0.8} for e in range(1, 8)]}
    table = model_registry.runs_frame(runs)
    assert table["seed"].tolist() == [0, 9] and table["max epochs"].tolist() == [30, 30]
    assert table["epochs run"].tolist() == [7, 0]  # a walk-through read "30" for a run early stopping ended after 7


def test_a_stopped_run_says_where_it_stopped_without_time_left() -> None:
    """A cancelled run read "training · epoch 2 · step 38/53 · loss 0.2863 · about 60s left" under "cancelled"."""
    from uvp_core import model_registry

    last = {"phase": "training", "epoch": 2, "step": 38, "total_steps": 53, "loss": 0.2863, "eta_seconds": 60.0}
    assert model_registry.progress_text(last).endswith("about 60s left")
    stopped = model_registry.progress_text(last, "cancelled")
    assert stopped == "cancelled during training · epoch 2 · step 38/53 · loss 0.2863"
    assert model_registry.progress_text({}, "interrupted") == "interrupted before the worker reported"


def test_the_steps_after_the_epochs_say_what_they_do_with_a_full_bar() -> None:
    """A scale audit watched "training · epoch 14 · step 89/89 · validation 0.7940" for the last ~30 s (calibration,
    bias refit, fold-in prior, saving): the phase change was throttled away, and the bar would have fallen to 0."""
    from uvp_core import model_registry

    refit = {"phase": "refitting", "message": "Refitting the user and item biases on the training and validation ratings"}
    assert model_registry.progress_text(refit) == "refitting · Refitting the user and item biases on the training and validation ratings"
    assert model_registry.progress_fraction(refit, 30) == 1.0
    assert model_registry.progress_fraction({"phase": "saving", "message": "Saving"}, 30) == 1.0


def test_every_phase_change_reaches_the_run_record(ws_with_data, tiny_bert_dir: Path, train_params, monkeypatch) -> None:
    """Phase changes get through the worker's write throttle (PROGRESS_INTERVAL_S), and saving is reported."""
    ws, dataset_id = ws_with_data
    run_id = jobs.submit_training(ws, train_params(dataset_id, tiny_bert_dir), start_worker=False)
    written: list[str] = []
    update = ws.update_run

    def record(rid, **fields):
        if "progress" in fields:
            written.append(fields["progress"].get("phase"))
        return update(rid, **fields)

    monkeypatch.setattr(ws, "update_run", record)
    monkeypatch.setattr(jobs, "PROGRESS_INTERVAL_S", 3600.0)  # only phase changes and validation results get through
    jobs.execute_training_run(ws, ws.claim_next_run(worker_pid=1))
    assert ws.get_run(run_id)["status"] == "succeeded"
    phases = list(dict.fromkeys(written))
    assert phases[0] == "preparing" and {"validating", "calibrating", "refitting", "done"} <= set(phases)  # (encoding only when
    # a text is not cached yet in this process)
    assert phases[-1] == "saving"


def test_a_finished_worker_is_reaped_not_left_a_zombie(tmp_path: Path, monkeypatch) -> None:
    """A scale audit found the finished worker as `[python3.11] <defunct>` under the app server until it stopped."""
    import subprocess
    import sys
    import time

    real = subprocess.Popen
    started: list = []

    def quick(args, **kwargs):  # the worker's spawn, with a command that exits at once
        started.append(real([sys.executable, "-c", "pass"], **kwargs))
        return started[-1]

    monkeypatch.setattr(jobs.subprocess, "Popen", quick)
    ws = Workspace(tmp_path / "ws")
    jobs._start_worker(ws)
    pid = started[0].pid
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:  # a zombie keeps its /proc entry
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the exited worker is still a zombie of this process"
