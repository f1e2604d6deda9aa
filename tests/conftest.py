"""Shared fixtures: a tiny BERT folder (loads through AutoModel/AutoTokenizer) and small synthetic Datasets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from uvp_core.data.contract import Dataset
from uvp_core.model import TrainConfig, train

WORDS = (
    "item rated of category price band low lower upper middle high description age region north south "
    "east west membership tier premium basic member since kitchen garden toys books blue red green ceramic "
    "mug lamp chair story no profile information viewed clicked purchased added to cart days weeks before "
    "the a and with for handmade wooden metal small large"
).split()


def _vocab() -> list[str]:
    """Special tokens, words, single characters and their ## continuations: every text tokenizes."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    punct = list(".,;:()-<>/&!?'\"_|%$#@*+=[]{}…")
    return (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + WORDS
        + chars
        + punct
        + ["##" + c for c in chars]
    )


@pytest.fixture(scope="session")
def tiny_bert_factory(tmp_path_factory) -> Callable[..., Path]:
    """Make tiny BERT folders: make(name, auto_map=False, pickle_only=False) -> Path (cached per name)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("encoders")
    made: dict[str, Path] = {}

    def make(name: str = "tiny-bert", *, auto_map: bool = False, pickle_only: bool = False) -> Path:
        if name in made:
            return made[name]
        folder = root / name
        folder.mkdir()
        (folder / "vocab.txt").write_text("\n".join(_vocab()) + "\n", encoding="utf-8")
        tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"))
        config = BertConfig(
            vocab_size=len(_vocab()),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)  # transformers 5 always writes model.safetensors
        tokenizer.save_pretrained(folder)
        if auto_map:
            data = json.loads((folder / "config.json").read_text())
            data["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
            (folder / "config.json").write_text(json.dumps(data))
        if pickle_only:
            (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
        made[name] = folder
        return folder

    return make


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_bert_factory) -> Path:
    """The plain tiny BERT folder."""
    return tiny_bert_factory()


CATEGORIES = ("Kitchen", "Garden", "Toys", "Books")
COLOURS = ("Blue", "Red", "Green")
THINGS = ("Mug", "Lamp", "Chair", "Story")


def make_items(n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """An items table with title, category, price and description."""
    ids = [f"i{j:03d}" for j in range(n_items)]
    return pd.DataFrame(
        {
            "item_id": pd.array(ids, dtype="str"),
            "title": [f"{COLOURS[j % 3]} {THINGS[(j // 3) % 4]} {j}" for j in range(n_items)],
            "category": [CATEGORIES[j % 4] for j in range(n_items)],
            "price": rng.uniform(2, 80, n_items).round(2),
            "description": [f"handmade {THINGS[(j // 3) % 4].lower()} for the {CATEGORIES[j % 4].lower()}" for j in range(n_items)],
        }
    )


def make_users(n_users: int) -> pd.DataFrame:
    """A users table with two attributes."""
    return pd.DataFrame(
        {
            "user_id": pd.array([f"u{j:03d}" for j in range(n_users)], dtype="str"),
            "age_band": [("18-24", "25-34", "35-44")[j % 3] for j in range(n_users)],
            "region": [("North", "South")[j % 2] for j in range(n_users)],
        }
    )


def _timestamps(n: int, rng: np.random.Generator) -> pd.Series:
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 10**6
    ms = np.sort(rng.integers(0, 120 * 86_400_000, n)) + start
    return pd.Series(pd.to_datetime(ms, unit="ms", utc=True)).astype("datetime64[ms, UTC]")


@pytest.fixture(scope="session")
def rating_dataset() -> Dataset:
    """~900 ratings (1-5) of 30 items by 40 users with latent preferences, over 120 days."""
    rng = np.random.default_rng(0)
    n_users, n_items, n = 40, 30, 900
    user_taste = rng.normal(0, 1, (n_users, 2))
    item_traits = rng.normal(0, 1, (n_items, 2))
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    raw = 3.2 + (user_taste[u] * item_traits[i]).sum(1) * 0.8 + rng.normal(0, 0.4, n)
    events = pd.DataFrame(
        {
            "user_id": pd.array([f"u{x:03d}" for x in u], dtype="str"),
            "item_id": pd.array([f"i{x:03d}" for x in i], dtype="str"),
            "timestamp": _timestamps(n, rng),
            "rating": np.clip(np.round(raw), 1, 5).astype("float64"),
        }
    )
    return Dataset(events=events, items=make_items(n_items, rng), users=make_users(n_users), name="ratings")


@pytest.fixture(scope="session")
def binary_dataset() -> Dataset:
    """~900 view/click/purchase events; users prefer some categories."""
    rng = np.random.default_rng(1)
    n_users, n_items, n = 40, 30, 900
    likes = rng.integers(0, 4, n_users)
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    match = (i % 4) == likes[u]
    p_buy = np.where(match, 0.7, 0.1)
    kind = np.where(rng.random(n) < p_buy, "purchase", np.where(rng.random(n) < 0.5, "click", "view"))
    events = pd.DataFrame(
        {
            "user_id": pd.array([f"u{x:03d}" for x in u], dtype="str"),
            "item_id": pd.array([f"i{x:03d}" for x in i], dtype="str"),
            "timestamp": _timestamps(n, rng),
            "event_type": pd.array(kind, dtype="str"),
        }
    )
    return Dataset(events=events, items=make_items(n_items, rng), users=make_users(n_users), name="shop")


# --- tiny trained models, shared by the model, explanation and page tests ---------------------------

FAST = TrainConfig(epochs=4, batch_size=64, patience=10)


@pytest.fixture(scope="session", autouse=True)
def single_thread():
    """One torch thread: the test models are tiny, and on a busy 2-core machine 2 threads spin-wait (10x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def rating_model(rating_dataset, tiny_bert_dir):
    """A frozen-mode rating model on the synthetic ratings."""
    return train(rating_dataset, FAST, encoder_dir=tiny_bert_dir)


@pytest.fixture(scope="session")
def purchase_model(binary_dataset, tiny_bert_dir):
    """A frozen-mode purchase model on the synthetic shop events."""
    return train(binary_dataset, TrainConfig(epochs=4, batch_size=64, patience=10, target="purchase"), encoder_dir=tiny_bert_dir)


# --- workspaces and background runs, shared by the jobs, crash-recovery and Model page tests -------------


@pytest.fixture
def ws_with_data(tmp_path: Path, rating_dataset: Dataset):
    """A workspace (tmp/ws) holding the small synthetic rating dataset: (workspace, dataset id)."""
    from uvp_core.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    return ws, ws.save_dataset(rating_dataset).id


@pytest.fixture(scope="session")
def train_params() -> Callable[..., dict]:
    """params(dataset_id, encoder, **extra) -> training-run parameters for a short rating run (2 epochs)."""

    def params(dataset_id: str, encoder: Path, **extra) -> dict:
        base = dict(dataset_id=dataset_id, target="rating", epochs=2, encoder_dir=str(encoder), name="t")
        return {**base, **extra}

    return params


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., object]:
    """wait(check, timeout, what) -> the first truthy value of check(), polled every 0.05 s; fails naming `what`."""
    import time

    def wait(check: Callable[[], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")

    return wait
