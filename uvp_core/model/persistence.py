"""Model folders and training checkpoints: safetensors for tensors, JSON for everything else, no pickle.

A model folder holds:
  model.safetensors   the value head's weights (and, where a rating model's biases were refitted after
                      early stopping, their values before: validated.*, see ValueModel.as_validated)
  vocab.json          the feature space: user/item ID vocabularies, item popularity, event kinds, columns
  tokenizer/          the encoder's tokenizer files
  encoder/            the fine-tuned encoder (save_pretrained, safetensors) - only for mode "finetune"
  embeddings.safetensors  the training texts' embeddings as the CPU encoder made them (cache keys and vectors),
                      put back into the encoder's cache on loading, so a new process does not encode them again
                      (optional: models trained on a GPU, or saved before, have none)
  uvp_model.json      format version, library versions, encoder origin + sha256, templates (version and
                      rules), target/task, data fingerprint, training config, metrics, calibration, and
                      the sha256 of every other file (so truncation or tampering is detected), and
                      meta_sha256, a checksum of its own content (an edit by hand is refused too; required from
                      format version 2, so a half-written folder is refused; version 1 folders may lack it)
  README.md           the model card (required from format version 2)
Writes are atomic: everything goes to a temporary folder beside the target, which is then renamed.
A training checkpoint is checkpoint-<sha256 prefix>.safetensors plus checkpoint.json naming it, written last
and atomically; a checkpoint whose tensors are missing or differ is ignored (training starts afresh).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from uvp_core.atomic import atomic_write_text, clean_staging, fsync_dir, fsync_tree, staging_name
from uvp_core.model.encoder import (
    CONFIGS_WITH_CODE,
    KEY_BYTES,
    PICKLE_SUFFIXES,
    StoredEmbeddings,
    TextEncoder,
    check_encoder_dir,
    default_encoder_dir,
    load_encoder,
    refuse_custom_code,
    weights_sha256,
)
from uvp_core.model.errors import ModelLoadError

log = logging.getLogger(__name__)

FORMAT = "uvp-value-model"
FORMAT_VERSION = 2  # 2: meta_sha256 and the model card are required (a folder without them is half-written or edited)
SUPPORTED_VERSIONS = (1, 2)
SEALED_SINCE = 2  # the first format version whose folders must carry meta_sha256 and README.md
META_FILE = "uvp_model.json"
HEAD_FILE = "model.safetensors"
VALIDATED_PREFIX = "validated."  # in HEAD_FILE: the biases before their refit (ValueModel.as_validated)
VOCAB_FILE = "vocab.json"
CARD_FILE = "README.md"
TOKENIZER_DIR = "tokenizer"
ENCODER_DIR = "encoder"
EMBEDDINGS_FILE = "embeddings.safetensors"
PICKLE_NAMES = ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth")
CHECKPOINT_TENSORS = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
CHECKPOINT_FORMAT = "uvp-checkpoint-1"
CHECKPOINT_PREFIX = "checkpoint-"  # + the first 16 hex digits of the tensors' sha256 + .safetensors


# --- small helpers ----------------------------------------------------------------------------


def _json_safe(value):
    """NaN/inf -> None and numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_text(data: dict) -> str:
    """Pretty strict JSON text."""
    return json.dumps(_json_safe(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _write_json(path: Path, data: dict) -> None:
    """Pretty strict JSON, UTF-8."""
    path.write_text(_json_text(data), encoding="utf-8")


META_CHECKSUM = "meta_sha256"  # uvp_model.json's checksum of its own content (version 1 models may have none)


def meta_checksum(meta: dict) -> str:
    """sha256 of uvp_model.json's content without its checksum field, as canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in meta.items() if k != META_CHECKSUM}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    """sha256 of a file (uncached: model files may be rewritten in place)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensors_for_file(state: dict) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies (safetensors refuses shared or strided tensors)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _library_versions() -> dict:
    """Versions of the libraries that shape a model."""
    import numpy
    import pandas
    import safetensors
    import transformers

    import uvp_core

    return {
        "uvp": uvp_core.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def refuse_unsafe_files(folder: Path) -> None:
    """Refuse pickles and custom code anywhere under a folder, naming the first offending file."""
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in PICKLE_SUFFIXES or path.name in PICKLE_NAMES:
            raise ModelLoadError(
                f"{path} is a pickle file; pickles can run arbitrary code when loaded, so UVP refuses folders "
                "that contain them. Remove the file (UVP models never need one).",
                path,
            )
        if path.suffix == ".py":
            raise ModelLoadError(f"{path} is Python code inside a model folder; UVP never runs shipped code.", path)
        if path.name in CONFIGS_WITH_CODE:
            refuse_custom_code(path)


def refuse_escaping_links(folder: Path) -> None:
    """Refuse symbolic links under a model folder that resolve outside it, naming the link and its target."""
    root = Path(folder).resolve()
    for current, dirs, files in os.walk(root):  # does not descend into linked folders; they are checked here
        for name in sorted(dirs + files):
            path = Path(current) / name
            if not path.is_symlink():
                continue
            try:
                target = path.resolve()
            except (OSError, RuntimeError) as exc:  # a link loop
                message = f"{path} is a symbolic link that cannot be followed: {exc}"
                raise ModelLoadError(message, path) from exc
            if not target.is_relative_to(root):
                raise ModelLoadError(
                    f"{path} is a symbolic link to {target}, outside the model folder {root}; a model folder must "
                    "be self-contained (every file it uses inside it), so UVP refuses links that leave it. "
                    "Copy the file into the folder instead of linking it.",
                    path,
                )


def listed_file(folder: Path, name: str) -> Path:
    """The path of a file listed in uvp_model.json, refused unless it is a relative path inside `folder`."""
    relative = PurePosixPath(name)
    root = Path(folder).resolve()
    path = root / relative
    try:
        inside = path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not name or relative.is_absolute() or ".." in relative.parts or "\\" in name or not inside:
        raise ModelLoadError(
            f"{root / META_FILE} lists the file {name!r}; files of a model must be relative paths inside the model "
            f"folder {root} (no '..' segments, no absolute paths, no links out of the folder).",
            root / META_FILE,
        )
    return path


def _refuse_empty(path: str | Path) -> None:
    """Refuse an empty path (Path('') would silently mean the current folder)."""
    if isinstance(path, str) and not path.strip():
        raise ModelLoadError("No model folder given (the path is empty).")


def check_model_folder(path: str | Path) -> dict:
    """Every file-level check of a model folder, without loading it; returns its uvp_model.json."""
    _refuse_empty(path)
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        what = "is a file, not a model folder" if folder.exists() else "does not exist"
        raise ModelLoadError(f"Model folder {folder} {what}.", folder)
    refuse_escaping_links(folder)
    refuse_unsafe_files(folder)
    meta = read_meta(folder)
    _check_files(folder, meta)
    return meta


# --- saving -----------------------------------------------------------------------------------


def check_save_target(path: str | Path) -> Path:
    """The resolved folder a model may be saved to; FileExistsError when something else is there (check before training)."""
    target = Path(path).expanduser().resolve()
    if target.exists() and not (target.is_dir() and ((target / META_FILE).is_file() or not any(target.iterdir()))):
        raise FileExistsError(f"{target} exists and is not a UVP model folder; refusing to replace it.")
    return target


def save_model(model, path: str | Path) -> Path:
    """Write `model` to folder `path` atomically (replacing an older UVP model folder there)."""
    from uvp_core.model.card import model_card

    target = check_save_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # staging names (atomic.STAGING_PREFIX + writer pid) let Workspace.clean_leftovers remove a killed writer's files
    tmp = target.parent / staging_name(target.name)
    tmp.mkdir()
    try:
        _write_folder(model, tmp)
        meta = json.loads((tmp / META_FILE).read_text(encoding="utf-8"))
        (tmp / CARD_FILE).write_text(model_card(meta), encoding="utf-8")
        meta["files"][CARD_FILE] = _sha256(tmp / CARD_FILE)
        meta[META_CHECKSUM] = meta_checksum(meta)  # an edit by hand (a label mean, the target) is refused on loading
        _write_json(tmp / META_FILE, meta)
        fsync_tree(tmp)  # durable content before the rename publishes it
        old = None
        if target.exists():
            old = target.parent / staging_name("old-" + target.name)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    clean_staging(target.parent, target.name)  # a killed earlier save of this folder left its staged copy (MBs) beside it
    return target


def _write_folder(model, folder: Path) -> None:
    """All files except the model card, with uvp_model.json listing their hashes."""
    from uvp_core.text.templates import TEMPLATE_RULES, TEMPLATE_VERSION

    tensors = {**model.head_.state_dict(), **{VALIDATED_PREFIX + k: v for k, v in (model.validated_ or {}).items()}}
    save_file(_tensors_for_file(tensors), str(folder / HEAD_FILE), metadata={"format": FORMAT})
    _write_json(folder / VOCAB_FILE, model.space_.to_json())
    model.encoder_.tokenizer.save_pretrained(str(folder / TOKENIZER_DIR))
    encoder_info = {
        "mode": model.config.mode,
        "origin": model.encoder_origin_["origin"],
        "origin_sha256": model.encoder_origin_["origin_sha256"],
        "is_default": bool(model.encoder_origin_.get("is_default")),
        "dim": model.encoder_.dim,
        "max_tokens": model.encoder_.max_tokens,
        "precision": model.encoder_.cache_id.split("|")[1],
    }
    if model.encoder_origin_.get("files_sha256"):  # models saved before it have none (their origin's files are not checked)
        encoder_info["files_sha256"] = model.encoder_origin_["files_sha256"]
    if model.encoder_.files_id:
        encoder_info["files_id"] = model.encoder_.files_id  # part of the stored embeddings' cache id
    if model.fine_tuned:
        model.encoder_.model.save_pretrained(str(folder / ENCODER_DIR))  # transformers 5: always safetensors
        encoder_info["weights_id"] = model.encoder_.weights_id
        encoder_info["sha256"] = weights_sha256(folder / ENCODER_DIR)
    stored = model.stored_embeddings_
    if stored is not None and len(stored):
        vectors = {"keys": torch.from_numpy(stored.keys), "vectors": torch.from_numpy(stored.vectors)}
        save_file(vectors, str(folder / EMBEDDINGS_FILE), metadata={"format": FORMAT, "cache_id": stored.cache_id})
        encoder_info["stored_embeddings"] = len(stored)
    mode = stat.S_IMODE((folder / VOCAB_FILE).stat().st_mode)  # safetensors writes 0600; the folder's other files follow the umask
    for weights in folder.rglob("*.safetensors"):
        weights.chmod(mode)
    files = {
        str(p.relative_to(folder)): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file() and p.name != META_FILE
    }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "libraries": _library_versions(),
        "target": model.target,
        "task": model.task,
        "encoder": encoder_info,
        "templates": {"version": TEMPLATE_VERSION, "rules": TEMPLATE_RULES},
        "features": {
            "vocabulary_file": VOCAB_FILE,
            "n_users": len(model.space_.user_ids),
            "n_items": len(model.space_.item_ids),
            "kinds": model.space_.kinds,
            "user_columns": model.space_.user_columns,
            "item_columns": model.space_.item_columns,
            "one_hot": {column: len(values) for column, values in {**model.space_.user_levels, **model.space_.item_levels}.items()},
            "item_words": list(model.space_.item_words),
            "price_bands": model.space_.price_bands,
            "late_kinds": list(model.late_kinds),
            "repeat_kinds": list(model.space_.repeat_kinds),
            "history_k": model.space_.template.history_k,
        },
        "head": {"hidden_dim": model.head_.hidden, "n_numeric": model.head_.user_tower[0].in_features - 3 * model.head_.hidden,
                 "fold_in": model.head_.fold_in, "crosses": model.head_.crosses, "match_funnel": model.head_.match_funnel,
                 "match_all_ratings": model.head_.match_all_ratings, "top_band_slope": model.head_.top_band_slope,
                 **({"fold_prior": float(model.head_.fold_prior), "ratings_via_fold_in": model.head_.ratings_via_fold_in,
                     "fold_all_events": model.head_.fold_all_events}
                    if model.head_.fold_in else {})},
        "data_fingerprint": model.data_fingerprint_,
        "data_name": model.meta_.get("data_name", ""),
        "events_fingerprint": model.meta_.get("events_fingerprint", ""),  # models saved before it: "" (unknown)
        "unread_event_columns": list(model.meta_.get("unread_event_columns", [])),  # for the card
        "config": model.config.to_dict(),
        "label_stats": model.label_stats_,
        "calibration": model.calibration_,
        "metrics": model.metrics_,
        "history": model.history_,
        "files": files,
    }
    _write_json(folder / META_FILE, meta)


# --- loading ----------------------------------------------------------------------------------


def read_embeddings(folder: Path, meta: dict, dim: int) -> StoredEmbeddings | None:
    """The saved training texts' embeddings (None when the model has none), checked for shape."""
    if EMBEDDINGS_FILE not in meta["files"]:
        return None
    path = folder / EMBEDDINGS_FILE
    with safe_open(str(path), framework="pt") as handle:
        cache_id = (handle.metadata() or {}).get("cache_id", "")
        keys, vectors = handle.get_tensor("keys").numpy(), handle.get_tensor("vectors").numpy()
    if keys.dtype != "uint8" or vectors.dtype != "float32" or keys.shape != (len(vectors), KEY_BYTES) or vectors.shape[1:] != (dim,):
        raise ValueError(f"{path} holds keys {keys.dtype}{list(keys.shape)} and vectors {vectors.dtype}{list(vectors.shape)}; "
                         f"expected uint8[n, {KEY_BYTES}] and float32[n, {dim}]")  # fmt: skip
    return StoredEmbeddings(cache_id, keys, vectors)


def read_meta(folder: Path) -> dict:
    """uvp_model.json, checked for format and version."""
    path = folder / META_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: {folder} is not a UVP model folder.", path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}", path) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a UVP model description (format {FORMAT!r} expected).", path)
    if meta.get("format_version") not in SUPPORTED_VERSIONS:
        raise ModelLoadError(
            f"{path} has format version {meta.get('format_version')!r}; this UVP reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}. Retrain the model or upgrade UVP.",
            path,
        )
    if META_CHECKSUM not in meta and meta["format_version"] >= SEALED_SINCE:
        raise ModelLoadError(f"{path} has no {META_CHECKSUM}: the model folder was not completely written (a save that "
                             "was interrupted) or the checksum was removed by hand. Save or train the model again.", path)  # fmt: skip
    if META_CHECKSUM in meta and meta[META_CHECKSUM] != meta_checksum(meta):
        raise ModelLoadError(f"{path} was changed after the model was saved (its {META_CHECKSUM} does not match its "
                             "content): the settings and statistics it holds can no longer be trusted. Use an "
                             "unchanged copy or retrain.", path)  # fmt: skip
    return meta


def check_safetensors(path: Path) -> None:
    """Refuse a safetensors file whose header is unreadable or whose data is shorter than the header says."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            header_len = int.from_bytes(handle.read(8), "little")
            if header_len <= 0 or 8 + header_len > size:
                raise ValueError("header length exceeds the file")
            header = json.loads(handle.read(header_len))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelLoadError(f"{path} is truncated or corrupt (not valid safetensors): {exc}", path) from exc
    if 8 + header_len + end != size:
        raise ModelLoadError(
            f"{path} is truncated or corrupt: {size} bytes, but its header describes {8 + header_len + end}.", path
        )


def _check_files(folder: Path, meta: dict) -> None:
    """Every listed file present with its recorded sha256; safetensors files parse."""
    files = meta.get("files")
    if not isinstance(files, dict) or HEAD_FILE not in files or VOCAB_FILE not in files:
        raise ModelLoadError(f"{folder / META_FILE} does not list the model files.", folder / META_FILE)
    if CARD_FILE not in files and meta["format_version"] >= SEALED_SINCE:
        raise ModelLoadError(f"{folder / META_FILE} does not list the model card {CARD_FILE}: the model folder was not "
                             "completely written. Save or train the model again.", folder / META_FILE)  # fmt: skip
    for name, expected in files.items():
        path = listed_file(folder, name)
        if not path.is_file():
            raise ModelLoadError(f"{path} is missing from the model folder.", path)
        if name.endswith(".safetensors"):
            check_safetensors(path)
        if _sha256(path) != expected:
            raise ModelLoadError(f"{path} was modified or corrupted (sha256 differs from {META_FILE}).", path)


def _load_encoder(folder: Path, meta: dict, encoder_dir: str | Path | None) -> TextEncoder:
    """The fine-tuned encoder in encoder/ (with tokenizer/), or the hash-checked frozen origin folder."""
    info = meta["encoder"]
    max_tokens = int(info["max_tokens"])
    if info["mode"] == "finetune":
        from transformers import AutoModel, AutoTokenizer

        encoder_path = check_encoder_dir(folder / ENCODER_DIR)
        options = {"local_files_only": True, "trust_remote_code": False}
        try:
            model = AutoModel.from_pretrained(encoder_path, use_safetensors=True, **options)
            tokenizer = AutoTokenizer.from_pretrained(folder / TOKENIZER_DIR, **options)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load the fine-tuned encoder in {encoder_path}: {exc}", encoder_path) from exc
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        tuned = TextEncoder(model, tokenizer, origin=str(encoder_path), weights_id="", max_tokens=max_tokens,
                            files_id=info.get("files_id", ""))  # tokenizer/ is hash-checked: the files it was trained with
        if tuned.refresh_weights_id() != info.get("weights_id"):
            raise ModelLoadError(f"{encoder_path} weights differ from those recorded in {META_FILE}.", encoder_path)
        return tuned
    if encoder_dir is not None:
        origin = Path(encoder_dir)
    elif Path(info["origin"]).is_dir():
        origin = Path(info["origin"])
    elif info.get("is_default"):
        origin = default_encoder_dir()
    else:
        raise ModelLoadError(
            f"The encoder this model was trained with ({info['origin']}) is not there any more; pass "
            "encoder_dir= pointing to a copy with the same weights.",
            info["origin"],
        )
    return load_encoder(origin, expected_sha256=info["origin_sha256"], max_tokens=max_tokens, device="cpu",
                        expected_files_sha256=info.get("files_sha256"))  # fmt: skip


def load_model(path: str | Path, *, encoder_dir: str | Path | None = None):
    """Load a model folder after checking it (no pickles, no custom code, hashes, format version)."""
    from uvp_core.model.config import TrainConfig
    from uvp_core.model.features import FeatureSpace
    from uvp_core.model.network import FOLD_IN_PRIOR, ValueHead
    from uvp_core.model.value_model import ValueModel

    _refuse_empty(path)
    folder = Path(path).expanduser().resolve()
    meta = check_model_folder(folder)
    try:
        space = FeatureSpace.from_json(json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8")))
        config = TrainConfig.from_dict(meta["config"])
        encoder = _load_encoder(folder, meta, encoder_dir)
        head = ValueHead(
            text_dim=encoder.dim,
            n_users=len(space.user_ids),
            n_items=len(space.item_ids),
            n_kinds=len(space.kinds),
            n_numeric=meta["head"]["n_numeric"],
            hidden=meta["head"]["hidden_dim"],
            id_dim=config.id_dim,
            dropout=config.dropout,
            fold_in=bool(meta["head"].get("fold_in", False)),  # models saved before fold-in have none
            ratings_via_fold_in=bool(meta["head"].get("ratings_via_fold_in", False)),  # nor this (content read rating values)
            item_extra=space.item_width,
            user_extra=space.user_width,
            crosses=bool(meta["head"].get("crosses", False)),  # models saved before the cross terms have none
            item_words=space.indicator_width,  # models saved before the word indicators (and price bands) have none
            match_funnel=bool(meta["head"].get("match_funnel", False)),  # models saved before count each event at its kind only
            match_all_ratings=bool(meta["head"].get("match_all_ratings", False)),  # before: an unknown user's rating, unknown kind
            fold_all_events=bool(meta["head"].get("fold_all_events", False)),  # before: the events read only
            top_band_slope=bool(meta["head"].get("top_band_slope", False)),  # before session 19: a slope through every price
        )
        state = load_file(str(folder / HEAD_FILE))
        validated = {k[len(VALIDATED_PREFIX) :]: state.pop(k) for k in [k for k in state if k.startswith(VALIDATED_PREFIX)]}
        if head.fold_in and "fold_prior" not in state:  # saved before the prior was fitted: the fixed default
            state["fold_prior"] = torch.full((1,), FOLD_IN_PRIOR)
        head.load_state_dict(state)
        own = head.state_dict()
        wrong = [k for k, v in validated.items() if k not in own or own[k].shape != v.shape]
        if wrong:
            raise ValueError(f"{VALIDATED_PREFIX}* tensors that the head does not have: {', '.join(sorted(wrong))}")
        stored = read_embeddings(folder, meta, encoder.dim)
    except ModelLoadError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{folder / META_FILE} or {folder / HEAD_FILE} does not match this UVP: {exc}", folder) from exc
    if stored is not None:
        encoder.remember(stored)  # a new process scores the training texts without encoding them again
    return ValueModel(
        config=config,
        target=meta["target"],
        task=meta["task"],
        space=space,
        head=head,
        encoder=encoder,
        label_stats=meta["label_stats"],
        calibration=meta["calibration"],
        metrics=meta["metrics"],
        history=meta.get("history", []),
        data_fingerprint=meta["data_fingerprint"],
        fine_tuned=meta["encoder"]["mode"] == "finetune",
        encoder_origin={k: meta["encoder"][k] for k in ("origin", "origin_sha256", "is_default", "files_sha256") if k in meta["encoder"]},
        meta=meta,
        validated=validated or None,
        stored_embeddings=stored,
    )


# --- training checkpoints -----------------------------------------------------------------------


def save_checkpoint(folder: Path, tensors: dict, optimizer_state: dict, meta: dict) -> None:
    """One checkpoint (replacing the previous): tensors + optimizer tensors in safetensors, the rest in JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = dict(tensors)
    optimizer_meta = {"param_groups": optimizer_state["param_groups"], "state": {}}
    for pid, values in optimizer_state["state"].items():
        optimizer_meta["state"][str(pid)] = {}
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{pid}.{name}"] = value
            else:
                optimizer_meta["state"][str(pid)][name] = value
    # The tensors file is named by its hash and checkpoint.json (written atomically, last) names it: a kill at any
    # point leaves the previous pair or the new one, never a json whose tensors are missing or different.
    tmp_tensors = folder / f".{CHECKPOINT_TENSORS}.tmp"
    save_file(_tensors_for_file(tensors), str(tmp_tensors))
    with tmp_tensors.open("rb") as handle:
        os.fsync(handle.fileno())
    sha = _sha256(tmp_tensors)
    name = f"{CHECKPOINT_PREFIX}{sha[:16]}.safetensors"
    os.replace(tmp_tensors, folder / name)
    fsync_dir(folder)
    record = {"format": CHECKPOINT_FORMAT, **meta, "optimizer": optimizer_meta, "tensors_file": name, "tensors_sha256": sha}
    atomic_write_text(folder / CHECKPOINT_META, _json_text(record))
    for old in _checkpoint_tensor_files(folder):
        if old.name != name:
            old.unlink(missing_ok=True)


def _checkpoint_tensor_files(folder: Path) -> list[Path]:
    """The tensors files of checkpoints in folder (this format's hash-named ones and the older fixed name)."""
    return sorted(folder.glob(f"{CHECKPOINT_PREFIX}*.safetensors")) + [p for p in [folder / CHECKPOINT_TENSORS] if p.is_file()]


def has_checkpoint(folder: Path) -> bool:
    """Whether folder holds a checkpoint (save_checkpoint's files)."""
    return (Path(folder) / CHECKPOINT_META).is_file()


def remove_checkpoint(folder: Path) -> None:
    """Delete save_checkpoint's files in folder, and the folder when that leaves it empty (nothing else is touched)."""
    folder = Path(folder)
    for name in (CHECKPOINT_META, CHECKPOINT_TENSORS, f".{CHECKPOINT_META}.tmp", f".{CHECKPOINT_TENSORS}.tmp"):
        (folder / name).unlink(missing_ok=True)
    for path in _checkpoint_tensor_files(folder) if folder.is_dir() else []:
        path.unlink(missing_ok=True)
    clean_staging(folder)  # a killed writer's staged checkpoint.json
    with contextlib.suppress(OSError):
        folder.rmdir()


def load_checkpoint(folder: Path) -> tuple[dict, dict, dict] | None:
    """(tensors, optimizer state, meta) of the checkpoint in folder, or None when there is none or its tensors don't match."""
    folder = Path(folder)
    meta_path = folder / CHECKPOINT_META
    if not meta_path.is_file():
        return None
    refuse_unsafe_files(folder)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{meta_path} is not readable JSON: {exc}", meta_path) from exc
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"{meta_path} is not a UVP checkpoint.", meta_path)
    name = meta.get("tensors_file", CHECKPOINT_TENSORS)  # checkpoints written before hash-named tensors use the fixed name
    tensor_path = folder / str(name)
    if (not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".safetensors")
            or not tensor_path.is_file() or _sha256(tensor_path) != meta.get("tensors_sha256")):  # fmt: skip
        log.warning("%s is missing or does not match %s (a run killed while writing it); training starts afresh.",
                    tensor_path, meta_path)  # fmt: skip
        return None
    tensors = load_file(str(tensor_path))
    optimizer_meta = meta.pop("optimizer")
    state: dict = {}
    for pid, values in optimizer_meta["state"].items():
        state[int(pid)] = dict(values)
    for key in [k for k in tensors if k.startswith("optimizer.")]:
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = tensors.pop(key)
    groups = optimizer_meta["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return tensors, {"state": state, "param_groups": groups}, meta
