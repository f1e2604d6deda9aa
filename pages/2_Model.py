"""Model page: train in a background worker (progress, curves, cancel, resume), load, and the registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from uvp_core import figures, jobs, model_registry
from uvp_core.model import TrainConfig
from uvp_ui import state

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

TRAIN_DEFAULTS = TrainConfig()

st.set_page_config(page_title="UVP · Model", layout="wide")
st.title("Model")

ws = state.workspace()
root = str(ws.root.resolve())
active = state.active_dataset_id()  # stores the bundled sample on first use, so list it after this
datasets = ws.list_datasets()
labels = {r.id: f"{r.name} · {r.n_events:,} events · {r.id}" for r in datasets}

# --- train -----------------------------------------------------------------------------------
st.header("Train a value model")
dataset_ids = list(labels)
dataset_id = st.selectbox(
    "Dataset", dataset_ids, index=dataset_ids.index(active) if active in dataset_ids else 0,
    format_func=labels.get, key="uvp.train_dataset",
)
record = ws.get_dataset_record(dataset_id)
targets = model_registry.target_choices(state.load_dataset(root, dataset_id))
state.target_for_dataset(dataset_id, targets)
with st.form("train"):
    left, right = st.columns(2)
    target = left.selectbox("Target", targets, key=state.TRAIN_TARGET, help="rating: regression on the value column; an event type or label: binary")
    mode = right.selectbox(
        "Mode", ("frozen", "finetune"), key=state.setting("uvp.train_mode"),
        help="frozen: the encoder is fixed and texts are encoded once (minutes on a CPU). "
        "finetune: the encoder trains too (for a GPU; on a CPU it is capped to a sample).",
    )
    encoder_dir = st.text_input("Encoder folder", value=model_registry.default_encoder_text(), key="uvp.train_encoder",
                                help="Any local Hugging Face BERT-family folder with safetensors weights.")
    a, b, c, d = st.columns(4)
    epochs = a.number_input("Max epochs", 1, 200, key=state.setting("uvp.train_epochs"))
    learning_rate = b.number_input("Learning rate", 1e-5, 1e-1, step=1e-5, format="%.1e", key=state.setting("uvp.train_lr"),
                                   help="2e-3 suits the frozen head; fine-tuning an encoder usually wants 1e-5 to 5e-5.")
    history_k = c.number_input("History events read", 1, 100, key=state.setting("uvp.train_history"))
    seed = d.number_input("Seed", 0, 2**31 - 1, key=state.setting("uvp.train_seed"))
    name = st.text_input("Model name", key=state.setting("uvp.train_name"), placeholder=f"{record.name} (the dataset's name when left empty)",
                         help="Pickers show it with the target and the model id.")
    st.caption(f"finetune on a CPU is capped to {TRAIN_DEFAULTS.max_samples:,} training examples and "
               f"{TRAIN_DEFAULTS.finetune_epochs} epochs (Max epochs applies to frozen); the run first times a few steps and "
               "shows its estimate in its status below, so you can cancel it before it goes on.")  # fmt: skip
    submitted = st.form_submit_button("Queue training", type="primary")
if submitted:
    name = name.strip() or record.name
    params = {
        "dataset_id": dataset_id, "name": name, "target": target, "mode": mode, "epochs": int(epochs),
        "lr": float(learning_rate), "history_k": int(history_k), "seed": int(seed),
        "encoder_dir": encoder_dir.strip() or None,
    }
    try:
        run_id = jobs.submit_training(ws, params, owner=state.session_owner())
        st.success(f"Queued run {run_id}. It starts when the worker is free; progress appears below.")
    except (ValueError, KeyError) as exc:
        st.error(state.plain_markdown(str(exc)))


RESUMABLE = model_registry.STOPPED_STATUSES  # runs jobs.resume queues again


def run_curves(run: dict):
    """A run's training and validation curves, on one axis where its loss and metric share units."""
    target = run["params"].get("target", "")
    return figures.training_curves(pd.DataFrame(run["progress"]["history"]), model_registry.validation_metric_name(target),
                                   same_units=model_registry.loss_in_metric_units(target),
                                   loss_name=model_registry.training_loss_name(target))  # fmt: skip


@st.fragment(run_every=2.0)  # the panel redraws itself while runs train; the rest of the page stays put
def runs_panel() -> None:
    """Live status of the training runs: progress, curves, cancel and resume."""
    jobs.mark_interrupted_runs(ws)
    runs = ws.list_runs("train")
    if not runs:
        st.info("No training runs yet.")
        return
    succeeded = {r["id"] for r in runs if r["status"] == "succeeded"}
    seen = st.session_state.setdefault(state.SEEN_SUCCEEDED_RUNS, succeeded)
    if succeeded - seen:  # a run just put a model in the registry: redraw the whole page
        st.session_state[state.SEEN_SUCCEEDED_RUNS] = succeeded
        for run in runs:
            model_id = (run.get("result") or {}).get("model_id")
            if run["id"] in succeeded - seen and model_id:
                state.preload_model(ws, model_id)  # loaded in the background while the analyst reads the results
                if run.get("owner") == state.session_owner():  # the analyst's own new model: every page uses it
                    state.use_trained_model(ws, model_id, run["params"].get("dataset_id"))
        state.forget_widgets(state.FINISHED_RUN)  # the curves picker opens on the newest finished run
        st.rerun()
    st.dataframe(model_registry.runs_frame(runs), hide_index=True)
    for run in runs[:5]:
        status = run["status"]
        if status not in (*jobs.ACTIVE_STATUSES, *RESUMABLE):  # a cancelled run stays in view: it can go on
            continue
        with st.container(border=True):
            progress = run["progress"]
            st.text(f"Run {run['id']} · {run['params'].get('name', '')} · {status}")
            st.progress(model_registry.progress_fraction(progress, model_registry.run_epochs(run["params"])), text=model_registry.progress_text(progress, status))
            if progress.get("history"):
                st.plotly_chart(run_curves(run), key=f"curve-{run['id']}")
            if run.get("error"):
                st.error(state.plain_markdown(run["error"]))
            if status in ("running", "cancelling") and not model_registry.can_cancel(progress):
                st.caption("Training has finished its epochs: the model is being finished and saved, and is kept even if cancelled now.")
            elif status in ("queued", "running"):
                if run.get("owner") == state.session_owner():
                    cancel = st.button("Cancel", key=f"cancel-{run['id']}")
                else:  # runs from several analysts share the queue: another's run is cancelled only when confirmed
                    st.caption("Started in another browser session: another analyst's run, or yours before a reload.")
                    with st.popover("Cancel…"):
                        st.write("Cancel a run that another browser session started? It can be resumed from its last checkpoint.")
                        cancel = st.button("Yes, cancel it", key=f"cancel-{run['id']}")
                if cancel:
                    jobs.request_cancel(ws, run["id"])
                    st.rerun(scope="fragment")
            elif status in RESUMABLE:  # from its last checkpoint
                if st.button("Resume", key=f"resume-{run['id']}"):
                    jobs.resume(ws, run["id"], owner=state.session_owner())  # after a restart its starter is gone
                    st.rerun(scope="fragment")


st.header("Training runs")
runs_panel()
finished = [r for r in ws.list_runs("train", status="succeeded") if r["progress"].get("history")]
if finished:
    with st.expander("Loss and validation curves of finished runs"):
        run_labels = {r["id"]: f"{r['id']} · {r['params'].get('name', '')} · finished {r.get('finished_at') or ''}" for r in finished}
        finished_id = st.selectbox("Run", list(run_labels), format_func=run_labels.get, key=state.FINISHED_RUN)
        finished_run = next(r for r in finished if r["id"] == finished_id)
        st.plotly_chart(run_curves(finished_run), key="finished-curve")

# --- registry ----------------------------------------------------------------------------------
st.header("Registry")
if state.MODEL_DELETED in st.session_state:
    st.success(state.plain_markdown(st.session_state.pop(state.MODEL_DELETED)))
models = ws.list_models()
if not models:
    st.info("No models yet: train one above or load a model folder below.")
else:
    st.dataframe(model_registry.models_frame(models), hide_index=True)
    model_labels = {m.id: model_registry.model_label(m) for m in models}
    model_ids = list(model_labels)
    state.set_registry_picker(ws, model_ids)
    chosen = st.selectbox("Model", model_ids, format_func=model_labels.get, key=state.REGISTRY_MODEL)
    use, delete = st.columns(2)
    if use.button("Use this model", type="primary"):
        state.use_model(chosen)
    # keyed by the model: after a delete the next model's popover starts closed (one left open took a second click
    # on the same spot as a request to delete the next model too)
    confirm = delete.popover("Delete this model…", key=f"uvp.delete_popover.{chosen}")
    confirm.warning(f"This removes {state.plain_markdown(model_labels[chosen])} and its folder from the workspace. "
                    "It cannot be undone.")  # fmt: skip
    if confirm.button("Delete permanently", key=f"uvp.delete_model.{chosen}"):
        ws.delete_model(chosen)
        if st.session_state.get(state.ACTIVE_MODEL) == chosen:
            del st.session_state[state.ACTIVE_MODEL]
        state.forget_widgets(state.REGISTRY_MODEL)
        st.session_state[state.MODEL_DELETED] = f"Deleted {model_labels[chosen]}."
        st.rerun()
    if st.session_state.get(state.ACTIVE_MODEL):
        fresh = st.session_state.pop(state.JUST_TRAINED, None) == st.session_state[state.ACTIVE_MODEL]
        st.success(("Your run has finished; its model is now the one every page uses: " if fresh else "Active model: ")
                   + state.plain_markdown(model_labels.get(st.session_state[state.ACTIVE_MODEL], "?")))  # fmt: skip
        if switched := st.session_state.pop(state.DATASET_SWITCHED, None):
            st.info(f"The pages now work on the dataset it was trained on, {state.plain_markdown(switched)} "
                    "(pick another on the Data page).")  # fmt: skip
    comparison = model_registry.versus_baseline(next(m for m in models if m.id == chosen))
    if comparison is not None and round(comparison[0], 4) < 0:
        st.warning(comparison[1])
    with st.expander("Model card", expanded=True):
        card = model_registry.model_card_markdown(ws, chosen)  # names from the data are escaped: shown literally
        if card is None:
            st.code(model_registry.model_card_text(ws, chosen), language="markdown", wrap_lines=True)
        else:
            st.markdown(card)

# --- load ------------------------------------------------------------------------------------
st.header("Load a saved model folder")
with st.form("load"):
    folder = st.text_input("Model folder", placeholder="/path/to/model", key="uvp.load_folder")
    loaded = st.form_submit_button("Check and add to the registry")
if loaded and folder.strip():
    try:
        known = {m.id for m in models}
        model_id = model_registry.import_model_folder(ws, Path(folder.strip()))
        state.use_model(model_id)
        st.session_state[state.MODEL_IMPORTED] = ("This folder is already in the registry as " if model_id in known else "Added as ") + model_id + "; it is now active."
        st.rerun()  # the registry above lists it
    except (ValueError, FileNotFoundError) as exc:
        st.error(state.plain_markdown(str(exc)))
if state.MODEL_IMPORTED in st.session_state:
    st.success(state.plain_markdown(st.session_state.pop(state.MODEL_IMPORTED)))
