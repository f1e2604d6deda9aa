"""Workspace: dedup by fingerprint, round trip, crash safety (kill mid-save) and two writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uvp_core.data.contract import Dataset, ValidationIssue
from uvp_core.workspace import ModelRecord, Workspace

REPO = Path(__file__).resolve().parents[1]


def make_dataset(n_events: int = 200, seed: int = 0, name: str = "toy") -> Dataset:
    """A small canonical dataset with all three tables."""
    rng = np.random.default_rng(seed)
    users = [f"{i:05d}" for i in range(20)]
    items = [f"0{i:03d}" for i in range(15)]
    events = pd.DataFrame(
        {
            "user_id": rng.choice(users, n_events),
            "item_id": rng.choice(items, n_events),
            "timestamp": pd.to_datetime(
                1_600_000_000 + rng.integers(0, 10**7, n_events), unit="s", utc=True
            ).astype("datetime64[ms, UTC]"),
            "rating": rng.integers(1, 6, n_events).astype("float64"),
        }
    )
    return Dataset(
        events=events,
        items=pd.DataFrame({"item_id": items, "title": [f"<b>Item</b> {i}" for i in items]}),
        users=pd.DataFrame({"user_id": users, "region": ["north", "south"] * 10}),
        name=name,
        warnings=(ValidationIssue("warning", "events.csv", None, "duplicate_events", "2 duplicates", (3, 4), 2),),
    )


def test_save_load_round_trip_keeps_values_types_and_text(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    dataset = make_dataset()
    record = ws.save_dataset(dataset)
    loaded = ws.load_dataset(record.id)
    pd.testing.assert_frame_equal(loaded.events, dataset.events)
    pd.testing.assert_frame_equal(loaded.items, dataset.items)
    assert loaded.items["title"].iloc[0] == "<b>Item</b> 0000"
    assert loaded.users["user_id"].iloc[0] == "00000"  # leading zeros kept
    assert loaded.fingerprint() == dataset.fingerprint() == record.fingerprint
    assert loaded.warnings[0].rows == (3, 4)
    assert record.n_events == 200 and record.n_users == 20 and record.label_roles == ("rating",)


def test_same_dataset_twice_is_stored_once(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    first = ws.save_dataset(make_dataset())
    second = ws.save_dataset(make_dataset())
    other = ws.save_dataset(make_dataset(seed=1))
    assert first.id == second.id != other.id
    assert len(ws.list_datasets()) == 2
    assert sorted(p.name for p in (tmp_path / "ws" / "datasets").iterdir()) == sorted([first.id, other.id])


def test_delete_dataset_and_unknown_id(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    record = ws.save_dataset(make_dataset())
    ws.delete_dataset(record.id)
    assert ws.list_datasets() == []
    assert not ws.dataset_dir(record.id).exists()
    with pytest.raises(KeyError, match=record.id):
        ws.load_dataset(record.id)


def test_leftovers_are_cleaned_when_opened(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    dead_pid = 2**22 + 12345  # above the default pid_max: never a live process
    leftover = ws.root / "datasets" / f".staging-{dead_pid}-abc-deadbeef"
    leftover.mkdir()
    (leftover / "events.parquet").write_bytes(b"partial")
    orphan = ws.root / "datasets" / "0123456789abcdef"
    orphan.mkdir()
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    Workspace(ws.root)
    assert not leftover.exists() and not orphan.exists()


def test_models_registry_and_runs_queue(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    model_id = ws.new_model_id()
    ws.model_dir(model_id).mkdir(parents=True)
    ws.register_model(ModelRecord(model_id, "first", None, "rating", "frozen", "2026-01-01T00:00:00Z", {"rmse": 0.9}, {}))
    assert [m.metrics for m in ws.list_models()] == [{"rmse": 0.9}]
    ws.delete_model(model_id)
    assert ws.list_models() == [] and not ws.model_dir(model_id).exists()

    first = ws.create_run("train", {"epochs": 1})
    second = ws.create_run("train", {"epochs": 2})
    assert ws.claim_next_run(1)["id"] == first
    assert ws.claim_next_run(2)["id"] == second
    assert ws.claim_next_run(3) is None
    ws.update_run(first, status="succeeded", progress={"step": 5})
    assert ws.get_run(first)["progress"] == {"step": 5}
    assert [r["id"] for r in ws.list_runs("train", status="running")] == [second]
    assert [r["id"] for r in ws.list_runs(status="succeeded")] == [first] and ws.list_runs("explain", status="running") == []
    with pytest.raises(ValueError, match="Unknown run fields"):
        ws.update_run(first, nonsense=1)


SAVE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {repo!r})
    from test_workspace import make_dataset
    from uvp_core.workspace import Workspace
    ws = Workspace({root!r})
    print("ready", flush=True)
    for seed in range(100, 10_000):
        ws.save_dataset(make_dataset(n_events=300_000, seed=seed, name=f"big{{seed}}"))
    """
)


@pytest.mark.slow
def test_kill_during_save_leaves_previous_state_intact(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws = Workspace(root)
    before = ws.save_dataset(make_dataset(name="before"))
    script = SAVE_SCRIPT.format(tests=str(REPO / "tests"), repo=str(REPO), root=str(root))
    killed_mid_save = 0
    for delay in (0.0, 0.05, 0.2, 0.5):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(".staging-") for p in (root / "datasets").iterdir()):
            assert time.monotonic() < deadline, "the writer never started a save"
            time.sleep(0.005)
        time.sleep(delay)  # kill at different points of writing the staged files
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_mid_save += any(p.name.startswith(".staging-") for p in (root / "datasets").iterdir())
        reopened = Workspace(root)  # cleans staging leftovers of the dead writer
        staged = [p for p in (root / "datasets").iterdir() if p.name.startswith(".staging-")]
        assert staged == []
        for record in reopened.list_datasets():  # every catalogued dataset is complete and intact
            assert reopened.load_dataset(record.id).fingerprint() == record.fingerprint
        assert reopened.load_dataset(before.id).fingerprint() == before.fingerprint
    assert killed_mid_save >= 2, "the kills should land while a save was staging files"


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    sys.path.insert(0, {repo!r})
    from test_workspace import make_dataset
    from uvp_core.workspace import Workspace
    ws = Workspace({root!r})
    for i in range(25):
        run = ws.create_run("train", {{"writer": {writer}, "i": i}})
        ws.update_run(run, status="running", progress={{"step": i}})
        ws.save_dataset(make_dataset(n_events=500, seed={writer} * 1000 + i % 5))
        ws.list_datasets()
    """
)


@pytest.mark.slow
def test_two_processes_write_at_once_without_corruption(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace(root)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT.format(tests=str(REPO / "tests"), repo=str(REPO), root=str(root), writer=w)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    ws = Workspace(root)
    assert len(ws.list_runs()) == 50
    assert len(ws.list_datasets()) == 10  # 5 distinct datasets per writer, each stored once
    for record in ws.list_datasets():
        assert ws.load_dataset(record.id).fingerprint() == record.fingerprint
