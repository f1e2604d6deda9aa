"""Server restart: a run queued by one app server lives on in the workspace; a brand-new server session reattaches.

"Restarting the server" here is what a new Streamlit process starts with: no session state and empty
st.cache_resource / st.cache_data (so the Workspace object and cached models are gone). The training
worker runs in its own process session, so it goes on; everything the new session shows comes from
the workspace catalogue.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from uvp_core import jobs
from uvp_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def fresh_server_session() -> AppTest:
    """A new app process's first page view: caches emptied, a new AppTest session of the Model page."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "pages/2_Model.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def runs_table_row(at: AppTest, run_id: str) -> dict:
    """The Model page's runs table row for one run."""
    table = next(d.value for d in at.dataframe if "run" in d.value.columns)
    rows = table[table["run"] == run_id]
    assert len(rows) == 1, f"run {run_id} is not in the runs table: {list(table['run'])}"
    return rows.iloc[0].to_dict()


def test_a_new_server_session_reattaches_to_a_run_started_before_the_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rating_dataset, tiny_bert_dir, train_params, wait_until
) -> None:
    root = tmp_path / "ws"
    monkeypatch.setenv("UVP_WORKSPACE", str(root))
    first_server = fresh_server_session()  # server 1 opens the workspace (and stores the sample)
    ws = Workspace(root)
    dataset_id = ws.save_dataset(rating_dataset).id
    epochs = 6  # small batches: long enough (over ten seconds) to be seen running after the restart
    params = train_params(
        dataset_id, tiny_bert_dir, epochs=epochs, patience=epochs, batch_size=4, name="before restart"
    )
    run_id = jobs.submit_training(
        ws, params, owner="server-1-session"
    )  # what the page's form does, plus batch size
    wait_until(
        lambda: ws.get_run(run_id)["progress"].get("phase") == "training",
        120,
        "the worker to start training",
    )
    del first_server  # server 1 goes away; its worker process does not

    second_server = fresh_server_session()
    assert ws.get_run(run_id)["status"] == "running", (
        "the run should still be running when the new session opens"
    )
    assert runs_table_row(second_server, run_id)["status"] == "running"
    assert any(t.value.startswith(f"Run {run_id} · before restart · running") for t in second_server.text)
    bars = [p for p in second_server.get("progress")]
    assert bars and "training" in bars[0].proto.text, "the live progress bar is shown for the reattached run"
    assert any(b.key == f"cancel-{run_id}" for b in second_server.button), "the new session can control the run"  # once confirmed:
    # to the new session, the run is another session's
    assert jobs.worker_alive(ws)

    run = wait_until(
        lambda: (r := ws.get_run(run_id))["status"] not in jobs.ACTIVE_STATUSES and r, 240, "the run"
    )
    assert run["status"] == "succeeded", run.get("error")
    model_id = run["result"]["model_id"]

    third_server = fresh_server_session()
    row = runs_table_row(third_server, run_id)
    assert row["status"] == "succeeded" and row["model"] == model_id
    registry = next(d.value for d in third_server.dataframe if "id" in d.value.columns)
    assert model_id in set(registry["id"])
    assert any("UVP value model: rating" in m.value for m in third_server.markdown)  # its card, read from the workspace
