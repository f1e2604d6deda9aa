"""The workspace's model registry: save, import and describe models; tables for the Model page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from uvp_core.atomic import staged_dir
from uvp_core.data.contract import EVENT_TYPE_ORDER, Dataset
from uvp_core.workspace import ModelRecord, Workspace, utc_now


def target_choices(dataset: Dataset) -> list[str]:
    """Targets this dataset supports: rating, label, then its event types in funnel order (label last when it is 1 on
    every row and event types name the same thing, as in a transaction log)."""
    from uvp_core.model.examples import named_positives

    events = dataset.events
    choices = [role for role in ("rating", "label") if role in events.columns and events[role].notna().any()]
    if "event_type" in events.columns:
        present = set(events["event_type"].dropna().unique())
        order = [t for t in reversed(EVENT_TYPE_ORDER) if t in present]
        choices += order + sorted(present - set(order))
    if "label" in choices and named_positives(events):
        choices = [c for c in choices if c != "label"] + ["label"]
    return choices


def default_encoder_text() -> str:
    """The default encoder folder as text (the bundled, hash-checked all-MiniLM-L6-v2)."""
    from uvp_core.model import default_encoder_dir

    return str(default_encoder_dir())


def save_to_registry(ws: Workspace, model: Any, *, name: str, dataset_id: str | None) -> str:
    """Save a trained model into the workspace (atomically) and register it; return its id."""
    model_id = ws.new_model_id()
    model.save(ws.model_dir(model_id))
    return _register(ws, model, model_id, name=name, dataset_id=dataset_id)


def _register(ws: Workspace, model: Any, model_id: str, *, name: str, dataset_id: str | None) -> str:
    """Add a catalogue row for a model folder already in place."""
    config = model.config
    ws.register_model(
        ModelRecord(
            id=model_id, name=name, dataset_id=dataset_id, target=str(model.target), mode=str(config.mode),
            created_at=utc_now(), metrics=dict(model.metrics_),
            meta={"config": asdict(config), "task": model.task, "data_fingerprint": model.data_fingerprint_},
        )
    )
    return model_id


def _registered_copy(ws: Workspace, folder: Path) -> str | None:
    """The id of a registered model whose files are exactly this folder's (by the sha256s in uvp_model.json), if any."""
    from uvp_core.model import ModelLoadError
    from uvp_core.model.persistence import read_meta

    def files(path: Path) -> dict | None:
        try:
            return read_meta(path).get("files")
        except ModelLoadError:
            return None

    wanted = files(folder)
    return next((m.id for m in ws.list_models() if wanted and files(ws.model_dir(m.id)) == wanted), None)


def import_model_folder(ws: Workspace, folder: Path) -> str:
    """Check a model folder (all load checks), copy it into the workspace and register it.

    The folder the analyst names is the only root: its path may not contain '..' segments, and every
    file it uses must resolve inside it (no links out); the copy is checked again before it is published.
    """
    from uvp_core.model import ModelLoadError, load_model
    from uvp_core.model.persistence import check_model_folder

    folder = Path(str(folder).strip().strip("'\"")).expanduser()  # a pasted path may come quoted, or with ~
    if ".." in folder.parts:
        raise ValueError(
            f"{folder} was refused: a model folder path may not contain '..' segments; give the folder's full path."
        )
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is a file, not a model folder" if folder.exists() else f"{folder} does not exist")
    try:
        model = load_model(folder)
    except ModelLoadError as exc:
        raise ValueError(f"{folder} was refused: {exc}") from exc
    same = _registered_copy(ws, folder)
    if same is not None:
        return same
    model_id = ws.new_model_id()
    with staged_dir(ws.model_dir(model_id)) as stage:
        shutil.copytree(folder, stage, dirs_exist_ok=True, symlinks=False)
        os.utime(stage)  # copytree copies the source's old mtime; a fresh one marks an in-flight import
        try:
            check_model_folder(stage)  # the copy is what gets registered: it must pass too
        except ModelLoadError as exc:
            raise ValueError(f"{folder} was refused: it changed while it was copied: {exc}") from exc
    dataset = ws.find_dataset(model.data_fingerprint_)
    return _register(ws, model, model_id, name=folder.name, dataset_id=dataset.id if dataset else None)


def model_card_text(ws: Workspace, model_id: str) -> str:
    """The model card (README.md) of a registered model, or a note when it is missing."""
    card = ws.model_dir(model_id) / "README.md"
    return card.read_text(encoding="utf-8") if card.exists() else "(this model folder has no model card)"


def model_card_markdown(ws: Workspace, model_id: str) -> str | None:
    """The model card rebuilt from the folder's uvp_model.json, names escaped (None when that cannot be read)."""
    from uvp_core.model import ModelLoadError
    from uvp_core.model.card import model_card
    from uvp_core.model.persistence import read_meta

    try:
        card = model_card(read_meta(ws.model_dir(model_id)))
    except (ModelLoadError, KeyError, TypeError, ValueError, AttributeError):  # an older or foreign description
        return None
    return "\n".join("###" + line if line.startswith("#") else line for line in card.splitlines())  # headings fit a panel


def versus_baseline(record: ModelRecord) -> tuple[float, str] | None:
    """A registered model's validation metric against its baseline's: (how far ahead, negative when behind; a sentence)."""
    from uvp_core.model.card import versus_baseline as compare

    return compare(record.metrics)


def model_label(record: ModelRecord, dated: bool = True) -> str:
    """How a registry model is named in pickers: 'name · target · [created ·] id'."""
    return " · ".join([record.name, record.target, *([record.created_at] if dated else []), record.id])


def other_data_note(record: ModelRecord, dataset_id: str, dataset_names: Mapping[str, str]) -> str:
    """' · trained on another dataset (name)' for a model trained on other data than dataset_id ('' when it is not),
    whose users and items may all be new to it."""
    if record.dataset_id == dataset_id:
        return ""
    name = dataset_names.get(record.dataset_id or "")
    return f" · trained on another dataset ({name})" if name else " · trained on data not in this workspace"


def comparison_label(record: ModelRecord, dataset_id: str, dataset_names: Mapping[str, str]) -> str:
    """'name · created · id' of a model in a comparison on dataset_id's evaluation set, and other_data_note."""
    return f"{record.name} · {record.created_at} · {record.id}{other_data_note(record, dataset_id, dataset_names)}"


def comparison_choices(models: list[ModelRecord], model: ModelRecord, dataset_id: str, dataset_names: Mapping[str, str]) -> dict[str, str]:
    """Models `model` can be compared with on dataset_id's evaluation set (same target, not itself) -> comparison_label;
    those trained on that dataset first."""
    others = [m for m in models if m.id != model.id and m.target == model.target]
    others.sort(key=lambda m: m.dataset_id != dataset_id)  # stable: newest first within each group
    return {m.id: comparison_label(m, dataset_id, dataset_names) for m in others}


def models_frame(models: list[ModelRecord]) -> pd.DataFrame:
    """The registry as a table: one row per model, its validation metrics (val_*) first, then the other figures."""
    rows = []
    for m in models:
        metrics = {k: v for k, v in m.metrics.items() if isinstance(v, int | float | str)}
        row = {"name": m.name, "target": m.target, "mode": m.mode}
        row.update({k: v for k, v in metrics.items() if k.startswith("val_")})
        row.update({"created": m.created_at, "id": m.id})
        row.update({k: v for k, v in metrics.items() if not k.startswith("val_")})
        rows.append(row)
    return pd.DataFrame(rows)


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Training runs as a table: run, name, status, target, mode, seed, max epochs, epochs run, dataset, created, finished, model, note."""
    return pd.DataFrame(
        [
            {
                "run": r["id"], "name": r["params"].get("name", ""), "status": r["status"],
                "target": r["params"].get("target", ""), "mode": r["params"].get("mode", "frozen"),
                "seed": r["params"].get("seed", 0), "max epochs": run_epochs(r["params"]),  # runs of one dataset differ here
                "epochs run": len((r.get("progress") or {}).get("history") or []),  # early stopping ends most runs before the maximum
                "dataset": r["params"].get("dataset_id", ""), "created": r["created_at"], "finished": r.get("finished_at") or "",
                "model": (r.get("result") or {}).get("model_id", ""), "note": (r.get("result") or {}).get("note", ""),
            }
            for r in runs
        ]
    )


def validation_metric_name(target: str) -> str:
    """What a run's early-stopping metric is (training.val_metric): RMSE for ratings, log loss for binary targets."""
    return "validation RMSE" if target == "rating" else "validation log loss"


def training_loss_name(target: str) -> str:
    """What a run's training loss measures (training.py): MSE of standardised ratings, or log loss for binary targets."""
    return "training loss (MSE of standardised ratings)" if target == "rating" else "training loss (log loss)"


def loss_in_metric_units(target: str) -> bool:
    """Whether a run's training loss and validation metric share units (log loss, binary targets; ratings: MSE of
    standardised labels against RMSE in stars), so its curves can share one axis."""
    return target != "rating"


AFTER_EPOCHS = ("catalogue", "calibrating", "refitting", "done", "saving")  # phases after the last epoch: the bar stays full (it fell to 0)
NARRATED = ("preparing", "catalogue", "calibrating", "refitting", "done", "saving")  # phases whose message says what they do


def progress_fraction(progress: dict[str, Any], max_epochs: int | None) -> float:
    """How far a run is, 0..1: the phase's step share, or epochs done of the maximum when training."""
    if progress.get("phase") in AFTER_EPOCHS:
        return 1.0
    total = progress.get("total_steps") or 0
    step = progress.get("step") or 0
    within = min(1.0, step / total) if total else 0.0
    if progress.get("phase") == "training" and progress.get("epoch") and max_epochs:
        return min(1.0, (progress["epoch"] - 1 + within) / max_epochs)
    return within


def run_epochs(params: dict[str, Any]) -> int:
    """The most epochs a queued run can take: its `epochs`, or TrainConfig's `finetune_epochs` in finetune mode."""
    from uvp_core.model import TrainConfig

    fields = {k: v for k, v in params.items() if k in ("mode", "epochs", "finetune_epochs")}
    return TrainConfig(**fields).n_epochs


STOPPED_STATUSES = ("cancelled", "interrupted", "failed")  # runs jobs.resume queues again; their last report is where they stopped


def can_cancel(progress: dict[str, Any]) -> bool:
    """Whether cancelling a running run still stops it: not after its last epoch (the trained model is then kept)."""
    return progress.get("phase") not in AFTER_EPOCHS


def progress_text(progress: dict[str, Any], status: str = "") -> str:
    """One line describing a run's last progress report (for a stopped run: where it stopped, with no time left)."""
    stopped = status in STOPPED_STATUSES
    if not progress:
        return f"{status} before the worker reported" if stopped else "waiting for the worker…"
    if progress.get("phase") == "estimate" and progress.get("message") and not stopped:
        return str(progress["message"])  # "Fine-tuning will take about 42.5 minutes"
    parts = [f"{status} during {progress.get('phase', '')}" if stopped else str(progress.get("phase", ""))]
    if progress.get("epoch"):
        parts.append(f"epoch {progress['epoch']}")
    if progress.get("total_steps"):
        parts.append(f"step {progress.get('step', 0)}/{progress['total_steps']}")
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4f}")
    if progress.get("val_metric") is not None:
        parts.append(f"validation {progress['val_metric']:.4f}")
    if progress.get("eta_seconds") is not None and not stopped:
        encoding = progress.get("phase") in ("encoding", "catalogue")  # model.config.ENCODING_PHASES (not imported: torch)
        parts.append(f"about {progress['eta_seconds']:.0f}s of encoding left" if encoding else f"about {progress['eta_seconds']:.0f}s left")
    if progress.get("phase") in NARRATED and progress.get("message"):
        parts.append(str(progress["message"]))
    return " · ".join(parts)
