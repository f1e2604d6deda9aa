"""Saving and loading model folders: round trips, and refusal of anything unsafe or damaged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file

from uvp_core.model import ModelLoadError, TrainConfig, clear_embedding_cache, load_model, train

pytestmark = pytest.mark.slow


def _pairs(dataset) -> pd.DataFrame:
    return dataset.events[["user_id", "item_id", "timestamp"]].tail(40).reset_index(drop=True)


@pytest.fixture()
def saved(rating_model, tmp_path):
    """The rating model saved to a fresh folder."""
    return rating_model.save(tmp_path / "model")


@pytest.fixture()
def encoded_texts(monkeypatch) -> list[str]:
    """Every text the encoder runs from now on (cache misses only)."""
    from uvp_core.model.encoder import TextEncoder

    seen: list[str] = []
    original = TextEncoder._encode_canonical

    def counting(self, texts, progress=None):
        seen.extend(texts)
        return original(self, texts, progress)

    monkeypatch.setattr(TextEncoder, "_encode_canonical", counting)
    return seen


def test_save_load_gives_identical_predictions_without_encoding_the_training_texts(
    rating_model, rating_dataset, saved, encoded_texts
):
    expected = rating_model.predict(rating_dataset, _pairs(rating_dataset))
    clear_embedding_cache()  # a new process: only the embeddings saved with the model are known
    loaded = load_model(saved)
    assert np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), expected)
    assert encoded_texts == []  # every text the pairs need was saved with the model
    assert loaded.target == "rating" and loaded.config == rating_model.config
    assert loaded.metrics_ == pytest.approx(rating_model.metrics_)


def test_re_encoding_the_texts_gives_identical_predictions(rating_model, rating_dataset, saved, encoded_texts, monkeypatch):
    from uvp_core.model.encoder import TextEncoder

    expected = rating_model.predict(rating_dataset, _pairs(rating_dataset))
    monkeypatch.setattr(TextEncoder, "remember", lambda self, stored: 0)  # as a model saved without its embeddings
    clear_embedding_cache()
    loaded = load_model(saved)
    assert np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), expected)
    assert encoded_texts  # encoded again, to the same numbers


def test_saved_embeddings_cover_the_catalogue_and_the_profiles(rating_model, rating_dataset, saved):
    from uvp_core.model.features import Context, _all_items

    stored = load_model(saved).stored_embeddings_
    keys = {k.tobytes() for k in stored.keys}
    items = rating_model.item_texts(rating_dataset, list(_all_items(rating_dataset)))
    context = Context(rating_dataset, rating_model.space_)  # not the model's cached one: other tests score other users in it
    context.profiles.rows(sorted(set(rating_dataset.events["user_id"]) | set(rating_dataset.users["user_id"])))
    profiles = list(context.profiles.texts)  # every user's (the table fills on first use: alone, this test saw none)
    assert set(rating_model.encoder_.cache_keys(items + profiles)) <= keys
    assert stored.cache_id == rating_model.encoder_.cache_id and stored.vectors.shape == (len(keys), rating_model.encoder_.dim)
    assert np.array_equal(stored.vectors, rating_model.encoder_.encode(_unique(items + profiles)).numpy()[_order(stored, rating_model, items + profiles)])
    meta = json.loads((saved / "uvp_model.json").read_text())
    assert meta["encoder"]["stored_embeddings"] == len(keys) and "embeddings.safetensors" in meta["files"]
    assert f"its {len(keys):,} training texts are saved with it" in (saved / "README.md").read_text()


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def _order(stored, model, texts: list[str]) -> list[int]:
    """Positions in _unique(texts) of the stored keys, in stored order."""
    position = {k: j for j, k in enumerate(model.encoder_.cache_keys(_unique(texts)))}
    return [position[k.tobytes()] for k in stored.keys]


def test_embeddings_of_another_encoder_are_not_used(rating_model, saved, encoded_texts):
    from uvp_core.model.encoder import StoredEmbeddings

    stored = load_model(saved).stored_embeddings_
    other = StoredEmbeddings("another encoder|float32|128", stored.keys, stored.vectors + 1.0)
    clear_embedding_cache()
    assert rating_model.encoder_.remember(other) == 0
    assert rating_model.encoder_.remember(stored) == len(stored)


def test_refuses_embeddings_of_the_wrong_width(saved):
    import hashlib

    from uvp_core.model.persistence import meta_checksum

    tensors = load_file(str(saved / "embeddings.safetensors"))
    tensors["vectors"] = tensors["vectors"][:, :3].contiguous()
    save_file(tensors, str(saved / "embeddings.safetensors"), metadata={"format": "uvp-value-model", "cache_id": "x"})
    meta = json.loads((saved / "uvp_model.json").read_text())
    meta["files"]["embeddings.safetensors"] = hashlib.sha256((saved / "embeddings.safetensors").read_bytes()).hexdigest()
    meta["meta_sha256"] = meta_checksum(meta)
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="embeddings.safetensors holds keys") as info:
        load_model(saved)
    assert "float32[n, " in str(info.value)


def test_model_saved_without_embeddings_loads(rating_model, rating_dataset, saved):

    from uvp_core.model.persistence import meta_checksum

    (saved / "embeddings.safetensors").unlink()  # as older UVP versions saved models, and as models trained on a GPU are saved
    meta = json.loads((saved / "uvp_model.json").read_text())
    del meta["files"]["embeddings.safetensors"], meta["encoder"]["stored_embeddings"]
    meta["meta_sha256"] = meta_checksum(meta)
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    clear_embedding_cache()
    loaded = load_model(saved)
    assert loaded.stored_embeddings_ is None
    expected = rating_model.predict(rating_dataset, _pairs(rating_dataset))
    assert np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), expected)


def test_model_folder_contents(saved):
    names = {p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file()}
    assert {"model.safetensors", "uvp_model.json", "vocab.json", "README.md", "embeddings.safetensors"} <= names
    assert any(n.startswith("tokenizer/") for n in names) and not any(n.startswith("encoder/") for n in names)
    meta = json.loads((saved / "uvp_model.json").read_text())
    assert meta["format_version"] == 2 and meta["templates"]["version"]
    assert meta["encoder"]["mode"] == "frozen" and len(meta["encoder"]["origin_sha256"]) == 64
    assert {"torch", "transformers", "uvp"} <= set(meta["libraries"])
    card = (saved / "README.md").read_text()
    assert card.startswith("# UVP value model: rating") and "## How to load" in card and "## Limits" in card
    assert meta["head"]["crosses"] is True and "Cross terms on those one-hot values" in card
    assert meta["head"]["match_funnel"] is True and "at the funnel steps before it" in card
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no staging folder left beside it


def test_saving_again_replaces_atomically_but_never_clobbers_other_folders(rating_model, saved, tmp_path):
    assert rating_model.save(saved) == saved
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        rating_model.save(other)
    assert (other / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["optimizer.pt", "training_args.bin", "extra/state.pkl", "pytorch_model.bin"])
def test_refuses_planted_pickle(saved, name):
    path = saved / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelLoadError, match="pickle") as info:
        load_model(saved)
    assert path.name in str(info.value)


def test_refuses_config_asking_for_remote_code(saved):
    (saved / "config.json").write_text(json.dumps({"model_type": "bert", "auto_map": {"AutoModel": "x.Y"}}))
    with pytest.raises(ModelLoadError, match="auto_map") as info:
        load_model(saved)
    assert "config.json" in str(info.value)


def test_refuses_truncated_safetensors(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated") as info:
        load_model(saved)
    assert "model.safetensors" in str(info.value)


def test_refuses_modified_weights(saved):
    tensors = load_file(str(saved / "model.safetensors"))
    tensors["global_bias"] = tensors["global_bias"] + 1.0
    save_file(tensors, str(saved / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="modified or corrupted"):
        load_model(saved)


def test_refuses_missing_file_and_unknown_version(saved):
    meta_path = saved / "uvp_model.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ModelLoadError, match="format version 99"):
        load_model(saved)
    meta_path.write_text(json.dumps(meta))
    (saved / "vocab.json").unlink()
    with pytest.raises(ModelLoadError, match="vocab.json"):
        load_model(saved)
    shutil.rmtree(saved)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(saved)


def test_refuses_changed_frozen_encoder(rating_dataset, tiny_bert_dir, tmp_path):
    encoder = tmp_path / "encoder-copy"
    shutil.copytree(tiny_bert_dir, encoder)
    model = train(rating_dataset, TrainConfig(epochs=1, batch_size=128), encoder_dir=encoder)
    folder = model.save(tmp_path / "model")
    weights = load_file(str(encoder / "model.safetensors"))
    first = next(iter(weights))
    weights[first] = weights[first] + 0.5
    save_file(weights, str(encoder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="sha256") as info:
        load_model(folder)
    assert "model.safetensors" in str(info.value)


def test_finetuned_model_round_trip_without_the_original_encoder(rating_dataset, tiny_bert_dir, tmp_path, encoded_texts):
    origin = tmp_path / "origin"
    shutil.copytree(tiny_bert_dir, origin)
    config = TrainConfig(mode="finetune", finetune_epochs=1, finetune_batch_size=32, max_samples=128)
    model = train(rating_dataset, config, encoder_dir=origin)
    folder = model.save(tmp_path / "tuned")
    shutil.rmtree(origin)  # a fine-tuned model folder is self-contained
    assert (folder / "encoder" / "model.safetensors").is_file() and (folder / "encoder" / "config.json").is_file()
    expected = model.predict(rating_dataset, _pairs(rating_dataset))
    clear_embedding_cache()
    encoded_texts.clear()
    loaded = load_model(folder)
    assert loaded.fine_tuned and np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), expected)
    assert encoded_texts == []  # the tuned encoder's embeddings were saved with it (trained on the CPU)
    assert not any(p.requires_grad for p in loaded.encoder_.model.parameters())


def _as_older_model(saved, drop_tensors: list[str], drop_head_keys: list[str]) -> dict:
    """Rewrite a saved folder as an older UVP wrote it: without these head tensors and meta head keys
    (checksums updated); returns the dropped meta values."""
    import hashlib

    tensors = load_file(str(saved / "model.safetensors"))
    for name in drop_tensors:
        del tensors[name]
    save_file(tensors, str(saved / "model.safetensors"))
    meta = json.loads((saved / "uvp_model.json").read_text())
    meta["files"]["model.safetensors"] = hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest()
    dropped = {key: meta["head"].pop(key) for key in drop_head_keys}
    meta.pop("meta_sha256")  # older UVPs wrote no checksum of uvp_model.json itself (format version 1)
    meta["format_version"] = 1
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    return dropped


def test_model_saved_before_the_fitted_fold_in_prior_loads_as_it_was_saved(rating_model, rating_dataset, saved):
    from uvp_core.model.network import FOLD_IN_PRIOR

    assert rating_model.head_.fold_in
    assert _as_older_model(saved, ["fold_prior"], ["ratings_via_fold_in"]) == {"ratings_via_fold_in": True}
    loaded = load_model(saved)
    assert float(loaded.head_.fold_prior) == FOLD_IN_PRIOR
    assert loaded.head_.ratings_via_fold_in is False  # older models' content part read the rating values
    assert len(loaded.predict(rating_dataset, _pairs(rating_dataset))) == 40


def test_model_saved_before_the_cross_terms_loads_without_them(rating_model, rating_dataset, saved):
    assert rating_model.head_.crosses
    dropped = _as_older_model(saved, ["cross", "attr_text", "kind_depth"], ["crosses", "match_funnel"])
    assert dropped == {"crosses": True, "match_funnel": True}
    loaded = load_model(saved)
    assert loaded.head_.crosses is False and not hasattr(loaded.head_, "cross")
    assert np.isfinite(loaded.predict(rating_dataset, _pairs(rating_dataset))).all()


def test_model_saved_before_funnel_matches_counts_each_event_at_its_kind(rating_model, rating_dataset, saved):
    """Models saved before match_funnel read "a history event of kind k on an item sharing the candidate's value" as such."""
    assert rating_model.head_.match_funnel and load_model(saved).head_.kind_depth.tolist() == rating_model.head_.kind_depth.tolist()
    assert _as_older_model(saved, ["kind_depth"], ["match_funnel"]) == {"match_funnel": True}
    loaded = load_model(saved)
    assert loaded.head_.match_funnel is False and not hasattr(loaded.head_, "kind_depth")
    assert np.isfinite(loaded.predict(rating_dataset, _pairs(rating_dataset))).all()


def test_model_saved_before_match_all_ratings_reads_an_unknown_users_rating_as_before(rating_model, rating_dataset, saved):
    """Models saved before it read an unknown user's rating as an event of unknown kind in their history matches."""
    assert rating_model.head_.match_all_ratings and load_model(saved).head_.match_all_ratings
    assert _as_older_model(saved, [], ["match_all_ratings"]) == {"match_all_ratings": True}
    loaded = load_model(saved)
    assert loaded.head_.match_all_ratings is False
    assert np.isfinite(loaded.predict(rating_dataset, _pairs(rating_dataset))).all()


def test_refuses_an_edited_model_description(saved, rating_dataset):
    """A CLI audit changed label_stats.mean by -1 in uvp_model.json: every prediction moved by -1, no complaint."""
    meta_path = saved / "uvp_model.json"
    meta = json.loads(meta_path.read_text())
    assert meta["meta_sha256"]
    edited = {**meta, "label_stats": {**meta["label_stats"], "mean": meta["label_stats"]["mean"] - 1.0}}
    meta_path.write_text(json.dumps(edited, indent=2))
    with pytest.raises(ModelLoadError, match="was changed after the model was saved"):
        load_model(saved)
    older = {k: v for k, v in meta.items() if k != "meta_sha256"}
    meta_path.write_text(json.dumps(older))  # a version 2 folder must carry its checksum
    with pytest.raises(ModelLoadError, match="has no meta_sha256"):
        load_model(saved)
    meta_path.write_text(json.dumps({**older, "format_version": 1}))  # saved before the checksum (format version 1)
    assert load_model(saved).predict(rating_dataset, _pairs(rating_dataset)).shape == (40,)


def test_refuses_a_half_written_model_folder(rating_model, tmp_path):
    """A save killed after uvp_model.json but before the model card and checksum leaves a staging folder that must not load."""
    from uvp_core.model.persistence import _write_folder

    half = tmp_path / "half"
    half.mkdir()
    _write_folder(rating_model, half)
    with pytest.raises(ModelLoadError, match="has no meta_sha256"):
        load_model(half)


def test_refuses_a_model_folder_without_its_card(saved):
    from uvp_core.model.persistence import meta_checksum

    meta = json.loads((saved / "uvp_model.json").read_text())
    del meta["files"]["README.md"]
    meta["meta_sha256"] = meta_checksum(meta)
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    (saved / "README.md").unlink()
    with pytest.raises(ModelLoadError, match="model card README.md"):
        load_model(saved)


def test_model_saved_before_the_bias_refit_loads_without_a_validated_state(rating_model, rating_dataset, saved):
    """Models saved before the refit have no validated.* tensors: they score held-out events as they are."""
    assert rating_model.validated_ and load_model(saved).validated_.keys() == rating_model.validated_.keys()
    _as_older_model(saved, [f"validated.{k}" for k in rating_model.validated_], [])
    loaded = load_model(saved)
    assert loaded.validated_ is None and loaded.as_validated() is loaded
    assert np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), rating_model.predict(rating_dataset, _pairs(rating_dataset)))


def test_refuses_validated_biases_that_do_not_fit_the_head(saved):
    import hashlib

    tensors = load_file(str(saved / "model.safetensors"))
    tensors["validated.item_bias.weight"] = tensors["validated.item_bias.weight"][:-1].contiguous()  # one item short
    save_file(tensors, str(saved / "model.safetensors"))
    meta = json.loads((saved / "uvp_model.json").read_text())
    meta["files"]["model.safetensors"] = hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest()
    meta.pop("meta_sha256")
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="validated"):
        load_model(saved)


def test_the_weights_are_readable_like_the_folders_other_files(saved):
    """A CLI audit: model.safetensors and embeddings.safetensors were 0600 (safetensors' own writer), the rest 0644,
    so another account sharing the workspace could read the card but not load the model."""
    import stat

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in saved.rglob("*") if p.is_file()}
    assert modes["model.safetensors"] == modes["vocab.json"] == modes["uvp_model.json"]
    assert modes.get("embeddings.safetensors", modes["vocab.json"]) == modes["vocab.json"]


def test_model_saved_before_the_top_band_slope_crosses_the_log_price_at_every_price(rating_model, rating_dataset, saved):
    """Models saved before it read a profile value x log price slope through every price, and keep doing so."""
    assert rating_model.head_.top_band_slope and load_model(saved).head_.top_band_slope  # the fixture's items have prices
    assert _as_older_model(saved, [], ["top_band_slope"]) == {"top_band_slope": True}
    loaded = load_model(saved)
    assert loaded.head_.top_band_slope is False
    assert np.isfinite(loaded.predict(rating_dataset, _pairs(rating_dataset))).all()


def test_model_with_embeddings_of_the_older_cache_id_loads_and_re_encodes(rating_model, rating_dataset, saved, encoded_texts):
    """Models saved before the cache id covered the tokenizer files carry embeddings keyed by the older id: re-encoded, not refused."""
    import hashlib

    from uvp_core.model.persistence import meta_checksum

    expected = rating_model.predict(rating_dataset, _pairs(rating_dataset))
    tensors = load_file(str(saved / "embeddings.safetensors"))
    older_id = rating_model.encoder_.cache_id.rsplit("|", 1)[0]  # weights|precision|max_tokens
    save_file(tensors, str(saved / "embeddings.safetensors"), metadata={"format": "uvp-value-model", "cache_id": older_id})
    meta = json.loads((saved / "uvp_model.json").read_text())
    meta["files"]["embeddings.safetensors"] = hashlib.sha256((saved / "embeddings.safetensors").read_bytes()).hexdigest()
    del meta["encoder"]["files_sha256"], meta["encoder"]["files_id"]
    meta["meta_sha256"] = meta_checksum(meta)
    (saved / "uvp_model.json").write_text(json.dumps(meta))
    clear_embedding_cache()
    loaded = load_model(saved)
    assert np.array_equal(loaded.predict(rating_dataset, _pairs(rating_dataset)), expected)
    assert encoded_texts  # the stale-keyed vectors were not used


def test_refuses_frozen_encoder_whose_tokenizer_changed(rating_dataset, tiny_bert_dir, tmp_path):
    encoder = tmp_path / "encoder-copy"
    shutil.copytree(tiny_bert_dir, encoder)
    folder = train(rating_dataset, TrainConfig(epochs=1, batch_size=128), encoder_dir=encoder).save(tmp_path / "model")
    assert json.loads((folder / "uvp_model.json").read_text())["encoder"]["is_default"] is False
    config = json.loads((encoder / "tokenizer_config.json").read_text())
    (encoder / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    with pytest.raises(ModelLoadError, match="tokenizer files or config.json"):
        load_model(folder)


def test_a_checkpoint_write_killed_before_its_json_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    import torch

    from uvp_core.model import persistence

    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    persistence.save_checkpoint(tmp_path, {"w": torch.ones(3)}, optimizer, {"epoch": 1})

    def killed(path, text):
        raise KeyboardInterrupt  # the process dies after the new tensors are in place, before checkpoint.json

    monkeypatch.setattr(persistence, "atomic_write_text", killed)
    with pytest.raises(KeyboardInterrupt):
        persistence.save_checkpoint(tmp_path, {"w": torch.zeros(3)}, optimizer, {"epoch": 2})
    tensors, _, meta = persistence.load_checkpoint(tmp_path)
    assert meta["epoch"] == 1 and torch.equal(tensors["w"], torch.ones(3))
    monkeypatch.undo()
    persistence.save_checkpoint(tmp_path, {"w": torch.zeros(3)}, optimizer, {"epoch": 2})
    assert persistence.load_checkpoint(tmp_path)[2]["epoch"] == 2
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    persistence.remove_checkpoint(tmp_path)
    assert not tmp_path.exists()


def test_an_older_mismatched_checkpoint_pair_starts_afresh(tmp_path, caplog):
    import torch

    from uvp_core.model import persistence

    save_file({"w": torch.ones(3)}, str(tmp_path / "checkpoint.safetensors"))  # an older UVP's fixed name, another epoch's tensors
    (tmp_path / "checkpoint.json").write_text(json.dumps({"format": "uvp-checkpoint-1", "tensors_sha256": "0" * 64, "epoch": 2}))
    with caplog.at_level("WARNING"):
        assert persistence.load_checkpoint(tmp_path) is None
    assert "checkpoint.safetensors is missing or does not match" in caplog.text and "starts afresh" in caplog.text


def test_a_save_removes_what_a_killed_save_of_the_same_folder_left(rating_model, tmp_path) -> None:
    """A CLI audit: a save killed mid-write left a hidden ~4 MB .staging-… folder beside --out, and later saves kept it."""
    import subprocess
    import sys

    from uvp_core.atomic import STAGING_PREFIX

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)  # a process that has exited: its staged files are leftovers
    leftover = tmp_path / f"{STAGING_PREFIX}{pid}-{'a' * 32}-model"
    old_copy = tmp_path / f"{STAGING_PREFIX}{pid}-{'b' * 32}-old-model"
    other = tmp_path / f"{STAGING_PREFIX}{pid}-{'c' * 32}-another-model"  # another folder's: not this save's to remove
    for folder in (leftover, old_copy, other):
        folder.mkdir()
        (folder / "head.safetensors").write_bytes(b"x" * 1000)
    rating_model.save(tmp_path / "model")
    assert not leftover.exists() and not old_copy.exists() and other.exists()
