"""Model folders may not reach outside themselves: '..' paths, absolute paths, escaping symlinks, workspace escapes.

The rule: the folder the analyst names (or the workspace's models/<id>) is the only root; every file a
model folder uses - listed in uvp_model.json or reached through a symbolic link - must resolve inside it.
(Pickles, auto_map, truncated or altered files are covered in test_persistence.py.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from uvp_core import model_registry
from uvp_core.model import ModelLoadError, load_model
from uvp_core.model.persistence import meta_checksum
from uvp_core.workspace import ModelRecord, Workspace

pytestmark = pytest.mark.slow


@pytest.fixture()
def saved(rating_model, tmp_path: Path) -> Path:
    """The rating model saved to a fresh folder (tmp/model)."""
    return rating_model.save(tmp_path / "model")


def _list_extra_file(folder: Path, name: str, content: bytes) -> None:
    """Record `name` with the sha256 of `content` in uvp_model.json, as a hostile author would (who also
    recomputes the file's own checksum, so it is the path rule that must refuse it)."""
    meta_path = folder / "uvp_model.json"
    meta = json.loads(meta_path.read_text())
    meta["files"][name] = hashlib.sha256(content).hexdigest()
    meta["meta_sha256"] = meta_checksum(meta)
    meta_path.write_text(json.dumps(meta))


def _models_on_disk(ws: Workspace) -> list[str]:
    return sorted(p.name for p in (ws.root / "models").iterdir())


# --- (a) '..' segments ------------------------------------------------------------------------------


def test_import_refuses_a_path_with_dotdot_segments(saved: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    sneaky = saved.parent / "ws" / ".." / saved.name  # resolves to the real model folder
    with pytest.raises(ValueError, match=r"'\.\.'") as info:
        model_registry.import_model_folder(ws, sneaky)
    assert str(sneaky) in str(info.value)
    assert ws.list_models() == [] and _models_on_disk(ws) == []


def test_listed_file_with_dotdot_is_refused(saved: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"  # beside the model folder, with a hash the author knows
    secret.write_bytes(b"not part of the model")
    _list_extra_file(saved, "../secret.txt", secret.read_bytes())
    with pytest.raises(ModelLoadError, match="inside the model folder") as info:
        load_model(saved)
    assert "../secret.txt" in str(info.value) and "uvp_model.json" in str(info.value)


# --- (b) absolute paths outside the folder ----------------------------------------------------------


def test_listed_absolute_path_is_refused(saved: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"outside")
    _list_extra_file(saved, str(secret), secret.read_bytes())
    with pytest.raises(ModelLoadError, match="inside the model folder") as info:
        load_model(saved)
    assert str(secret) in str(info.value)


# --- (c) symbolic links inside the folder that point outside it --------------------------------------


@pytest.mark.parametrize("link", ["model.safetensors", "vocab.json", "tokenizer/tokenizer.json"])
def test_file_symlinked_outside_the_folder_is_refused(saved: Path, tmp_path: Path, link: str) -> None:
    outside = tmp_path / "outside" / Path(link).name
    outside.parent.mkdir()
    shutil.copy2(saved / link, outside)  # identical bytes: the hash check alone would accept it
    (saved / link).unlink()
    (saved / link).symlink_to(outside)
    with pytest.raises(ModelLoadError, match="symbolic link") as info:
        load_model(saved)
    message = str(info.value)
    assert link in message and str(outside) in message and "outside the model folder" in message


def test_weights_symlinked_to_a_system_file_are_refused_by_the_link_rule(saved: Path) -> None:
    target = Path("/etc/passwd") if Path("/etc/passwd").is_file() else Path("/etc/hostname")
    (saved / "model.safetensors").unlink()
    (saved / "model.safetensors").symlink_to(target)
    with pytest.raises(ModelLoadError, match="symbolic link") as info:
        load_model(saved)
    assert str(target) in str(info.value)


def test_tokenizer_folder_symlinked_outside_is_refused(saved: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-tokenizer"
    shutil.copytree(saved / "tokenizer", outside)
    shutil.rmtree(saved / "tokenizer")
    (saved / "tokenizer").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ModelLoadError, match="symbolic link") as info:
        load_model(saved)
    assert "tokenizer" in str(info.value) and str(outside) in str(info.value)


def test_import_of_a_folder_with_an_escaping_link_copies_and_registers_nothing(
    saved: Path, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    outside = tmp_path / "vocab-copy.json"
    shutil.copy2(saved / "vocab.json", outside)
    (saved / "vocab.json").unlink()
    (saved / "vocab.json").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        model_registry.import_model_folder(ws, saved)
    assert ws.list_models() == [] and _models_on_disk(ws) == []


def test_a_link_that_stays_inside_the_folder_is_accepted(saved: Path) -> None:
    (saved / "notes").mkdir()
    (saved / "notes" / "card.md").symlink_to(saved / "README.md")
    assert load_model(saved).target == "rating"


# --- (d) model folders in the workspace must not escape it -------------------------------------------


def _record(model_id: str) -> ModelRecord:
    return ModelRecord(model_id, "linked", None, "rating", "frozen", "2026-01-01T00:00:00Z", {}, {})


def test_registering_a_symlinked_model_folder_that_escapes_the_workspace_is_refused(
    saved: Path, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    model_id = ws.new_model_id()
    (ws.root / "models" / model_id).symlink_to(saved, target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link") as info:
        ws.register_model(_record(model_id))
    assert model_id in str(info.value) and str(saved) in str(info.value)
    assert ws.list_models() == []


def test_a_registered_model_folder_later_replaced_by_a_link_is_not_loaded(
    saved: Path, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    model_id = model_registry.import_model_folder(ws, saved)
    shutil.rmtree(ws.root / "models" / model_id)
    (ws.root / "models" / model_id).symlink_to(saved, target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link"):
        ws.model_dir(model_id)
    ws.delete_model(model_id)  # removes the link and the row, never the folder it points to
    assert not os.path.lexists(ws.root / "models" / model_id)
    assert (saved / "uvp_model.json").is_file() and ws.list_models() == []


@pytest.mark.parametrize("bad_id", ["..", "../..", "a/../../b", "/etc", ".staging-1-x", ""])
def test_model_ids_that_would_leave_the_models_folder_are_refused(tmp_path: Path, bad_id: str) -> None:
    ws = Workspace(tmp_path / "ws")
    (ws.root / "keep.txt").write_text("keep")
    with pytest.raises(ValueError, match="model id"):
        ws.model_dir(bad_id)
    with pytest.raises(ValueError, match="model id"):
        ws.delete_model(bad_id)
    assert (ws.root / "keep.txt").read_text() == "keep" and ws.catalogue_path.is_file()


def test_a_symlink_loop_is_refused_with_a_clear_message(saved: Path) -> None:
    (saved / "loop").symlink_to(saved / "loop")
    with pytest.raises(ModelLoadError, match="cannot be followed") as info:
        load_model(saved)
    assert "loop" in str(info.value)
