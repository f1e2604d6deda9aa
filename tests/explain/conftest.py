"""Tiny trained models for the explanation tests (the tiny BERT goes through the real encoder code)."""

from __future__ import annotations

import pytest
import torch

from uvp_core.model import TrainConfig, train

FAST = TrainConfig(epochs=4, batch_size=64, patience=10)


@pytest.fixture(scope="session", autouse=True)
def single_thread():
    """One torch thread: the models are tiny and the machine is shared."""
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
