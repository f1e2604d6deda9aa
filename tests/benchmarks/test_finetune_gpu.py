"""The GPU finetune benchmark's code path, run tiny on the CPU (the real run needs a lent GPU)."""

from __future__ import annotations

import json

import pytest

from benchmarks import finetune_gpu


@pytest.mark.slow
def test_tiny_finetune_benchmark_reports_rates(tmp_path):
    out = tmp_path / "finetune.json"
    assert finetune_gpu.main(["--tiny", "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["timed_steps"] >= 1 and result["examples_per_second"] > 0
    assert result["texts_per_step"] >= 1 and result["texts_per_second"] > 0
    assert result["bare_encoder_sequences_per_second"] > 0


def test_synthetic_items_fill_128_tokens(tmp_path):
    from uvp_core.model import load_encoder

    folder = finetune_gpu.build_encoder(tmp_path / "enc", finetune_gpu.TINY)
    dataset = finetune_gpu.synthetic_dataset(n_users=20, n_items=30, n_events=200)
    encoder = load_encoder(folder, max_tokens=128)
    assert min(len(ids) for ids in encoder.tokenize(dataset.items["description"].tolist())) == 128
    assert dataset.events[["user_id", "item_id"]].duplicated().sum() == 0
