"""Two analysts on one app server: sessions are separate, the workspace is shared, training runs queue.

The browser test opens two Chromium contexts (two Streamlit sessions) on one `streamlit run app.py`:
what analyst A uploads and validates, A's saved-dataset message and A's active dataset never appear in
B's session; once A saves, the dataset is a shared workspace item that B can list and open.
Screenshots go to test-artifacts/e2e/two-analysts-*.png.

The queue test checks at the jobs level that two submissions from two analysts never train at once:
the workspace's one worker runs the first while the second waits as queued, and a second worker
refuses to start. (tests/test_jobs.py::test_worker_runs_queue_in_order_and_registers_models checks the
order and that both runs then train for real.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uvp_core import jobs
from uvp_core.data.contract import Dataset
from uvp_core.workspace import Workspace, utc_now

UPLOAD_NAME = "analyst_a"
N_EVENTS = 60


def _write_upload(folder: Path) -> Path:
    """Analyst A's file: one small events CSV (its file name becomes the dataset name)."""
    lines = ["user_id,item_id,timestamp,rating"]
    lines += [f"a{i % 7},x{i % 5},{1_704_067_200 + i * 3_600},{1 + i % 5}" for i in range(N_EVENTS)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{UPLOAD_NAME}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.browser
@pytest.mark.slow
def test_two_analysts_separate_sessions_shared_workspace(app_server, analyst, tmp_path: Path) -> None:
    upload = _write_upload(tmp_path / "upload")
    a, b = analyst("analyst A"), analyst("analyst B")
    expect = a.expect
    for ui in (a, b):
        ui.page.goto(app_server)
        expect(ui.page.get_by_role("heading", name="Active dataset")).to_be_visible()
        ui.settle()

    def source(ui, label: str) -> None:
        ui.page.locator('[data-testid="stRadio"]').get_by_text(label, exact=True).click()
        ui.settle()

    # --- A uploads and validates, without saving ---------------------------------------------------------
    a.goto("Data")
    source(a, "Upload files")
    a.page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    expect(a.page.get_by_text(re.compile(r"^Valid, with 0 warning"))).to_be_visible()
    expect(a.page.get_by_role("heading", name="Validation report")).to_be_visible()
    expect(a.page.locator('[data-testid="stFileChip"]')).to_have_count(1)
    a.check("two-analysts-01-a-uploaded")

    # --- B's Data page: B's own session, nothing of A's upload -------------------------------------------
    b.goto("Data")
    expect(b.page.get_by_text(re.compile(r"^Summary · sample_data"))).to_be_visible()
    assert b.page.get_by_role("heading", name="Validation report").count() == 0
    assert b.page.get_by_text(UPLOAD_NAME).count() == 0, "B's page shows A's upload"
    source(b, "Upload files")
    expect(b.page.locator('[data-testid="stFileChip"]')).to_have_count(0)
    assert b.page.get_by_role("heading", name="Validation report").count() == 0
    assert b.page.get_by_text(re.compile(r"^Valid, with")).count() == 0
    source(b, "Stored dataset")
    before_save = b.options("Stored dataset")
    assert before_save and all("sample_data" in o for o in before_save), (
        before_save
    )  # A's upload is not stored
    b.check("two-analysts-02-b-data")

    # --- A saves: a shared workspace item ----------------------------------------------------------------
    a.page.get_by_role("button", name="Save to workspace").click()
    stored = a.page.get_by_text(re.compile(r"^Stored as dataset \w+"))
    expect(stored).to_be_visible()
    dataset_id = re.search(r"Stored as dataset (\w+)", stored.first.inner_text()).group(1)
    expect(a.page.get_by_text(re.compile(rf"^Summary · {UPLOAD_NAME}"))).to_be_visible()
    assert a.metric("Events") == str(N_EVENTS)
    a.check("two-analysts-03-a-saved")

    # --- B's active dataset is still B's own choice ------------------------------------------------------
    b.page.locator('[data-testid="stSidebarNav"] a').first.click()  # home
    expect(b.page.get_by_role("heading", name="Active dataset")).to_be_visible()
    b.settle()
    active = b.page.get_by_text(re.compile(r"  ·  id \w+  ·  stored ")).first.inner_text()
    assert active.startswith("sample_data") and dataset_id not in active, active
    b.check("two-analysts-04-b-home")

    # --- B: no trace of A's session on the upload tab; A's saved dataset is listed and opens -------------
    b.goto("Data")
    source(b, "Upload files")
    expect(b.page.locator('[data-testid="stFileChip"]')).to_have_count(0)
    assert b.page.get_by_text(re.compile(r"^Stored as dataset")).count() == 0, "B sees A's save message"
    source(b, "Stored dataset")
    options = b.options("Stored dataset")
    shared = [o for o in options if dataset_id in o]
    assert len(options) == 2 and len(shared) == 1 and shared[0].startswith(UPLOAD_NAME), options
    b.choose("Stored dataset", shared[0])
    expect(b.page.get_by_text(re.compile(rf"^Summary · {UPLOAD_NAME}"))).to_be_visible()
    assert b.metric("Events") == str(N_EVENTS)
    b.check("two-analysts-05-b-opens-shared")


def test_two_training_submissions_queue(tmp_path: Path, rating_dataset: Dataset, monkeypatch) -> None:
    """Two analysts submit at once: one run trains, the other waits as queued; a second worker refuses."""
    ws = Workspace(tmp_path / "ws")
    dataset_id = ws.save_dataset(rating_dataset).id
    params = {"dataset_id": dataset_id, "target": "rating", "epochs": 1, "name": "t"}
    first = jobs.submit_training(ws, params, owner="analyst-a", start_worker=False)
    second = jobs.submit_training(ws, {**params, "seed": 1}, owner="analyst-b", start_worker=False)
    assert {ws.get_run(first)["status"], ws.get_run(second)["status"]} == {"queued"}

    seen: list[tuple[str, dict[str, str], int]] = []

    def execute(ws_: Workspace, run: dict) -> None:  # stands in for training: the queue is under test
        statuses = {r["id"]: r["status"] for r in ws_.list_runs("train")}
        seen.append(
            (run["id"], statuses, jobs.run_worker(ws_, idle_exit_s=0.1))
        )  # a second worker, meanwhile
        ws_.update_run(run["id"], status="succeeded", finished_at=utc_now())

    monkeypatch.setattr(jobs, "execute_training_run", execute)
    assert jobs.run_worker(ws, idle_exit_s=0.1) == 2
    assert seen == [
        (first, {first: "running", second: "queued"}, 0),
        (second, {first: "succeeded", second: "running"}, 0),
    ]
    assert ws.get_run(first)["owner"] == "analyst-a" and ws.get_run(second)["owner"] == "analyst-b"
