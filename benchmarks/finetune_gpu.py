"""Benchmark: `finetune` training throughput with a MiniLM-sized encoder (the issue #3 GPU goal).

Goal (issue #3): on a lent H200, `finetune` at least 7,000 training samples/s at 128 tokens with
MiniLM (a bare encoder step measured about 10,500/s there). This script is prepared to run there as
one command, and runs here on the CPU in a tiny mode (`--tiny`) so that its code path is tested.

It needs no download and no model package: by default it builds an encoder with all-MiniLM-L6-v2's
shape (6 layers, hidden 384, 12 heads, intermediate 1,536, 30,522 word pieces) and random weights.
Throughput depends on the shape, not on the weight values. With `--encoder DIR` it reads a local
folder instead. It writes a synthetic dataset whose item texts fill 128 tokens, trains one
`finetune` epoch through `uvp_core.model.train`, and reports over the timed steps (after warm-up):

- examples/s: training examples (user, item, rating) per second;
- texts/s: encoder sequences per second (each step encodes its batch's distinct candidate, history
  and profile texts, so this is the number to set against the bare encoder step);
- a bare forward + backward encoder step on the same device and shape, for comparison.

    python benchmarks/finetune_gpu.py [--device cuda] [--batch 32] [--steps 60] [--json OUT]
    python benchmarks/finetune_gpu.py --tiny --device cpu     # the code path, in seconds, on a CPU

On the device tool (one prepared call): `PYTHONUNBUFFERED=1 python3 benchmarks/finetune_gpu.py
--json $OUT/finetune.json` (the device image has torch, transformers, pandas and safetensors).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `uvp_core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import stamp  # noqa: E402
from uvp_core.data.contract import Dataset  # noqa: E402
from uvp_core.model import TrainConfig, train  # noqa: E402
from uvp_core.model import training as training_module  # noqa: E402

MINILM = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 30522}
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 400}
WORDS = [f"w{j}" for j in range(300)]  # the synthetic texts' words (each one word piece)


def build_encoder(folder: Path, shape: dict) -> Path:
    """A BERT folder with the given shape, random weights (seed 0) and a word-piece vocabulary holding WORDS."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    filler = [f"[unused{j}]" for j in range(max(0, shape["vocab_size"] - len(special) - len(WORDS)))]
    (folder / "vocab.txt").write_text("\n".join(special + WORDS + filler) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    BertModel(BertConfig(max_position_embeddings=512, **shape)).save_pretrained(folder)
    BertTokenizerFast(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    return folder


def synthetic_dataset(n_users: int, n_items: int, n_events: int, seed: int = 0) -> Dataset:
    """Ratings of random (user, item) pairs; every item text is longer than 128 word pieces."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "item_id": pd.array([f"i{j:05d}" for j in range(n_items)], dtype="str"),
        "title": [f"item {j}" for j in range(n_items)],
        "description": [" ".join(rng.choice(WORDS, 160)) for _ in range(n_items)],
    })  # fmt: skip
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 10**6
    events = pd.DataFrame({
        "user_id": pd.array([f"u{j:05d}" for j in rng.integers(0, n_users, n_events)], dtype="str"),
        "item_id": pd.array(items["item_id"].to_numpy()[rng.integers(0, n_items, n_events)], dtype="str"),
        "timestamp": pd.to_datetime(np.sort(rng.integers(0, 300 * 86_400_000, n_events)) + start, unit="ms", utc=True).astype("datetime64[ms, UTC]"),
        "rating": rng.integers(1, 6, n_events).astype("float64"),
    }).drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)  # fmt: skip
    return Dataset(events=events, items=items, users=None, name="synthetic 128-token items")


class StepClock:
    """Progress callback: (step, time) of the training reports of the first epoch after `warm` steps
    (reports are rate-limited, so a rate is steps between two reports over the time between them)."""

    def __init__(self, warm: int):
        self.warm, self.marks = warm, []

    def __call__(self, progress) -> None:
        if progress.phase == "training" and progress.epoch == 1 and self.warm <= progress.step < progress.total_steps:
            self.marks.append((progress.step, time.perf_counter()))

    def measured(self) -> tuple[int, float]:
        """(steps, seconds) between the first and the last report kept."""
        if len(self.marks) < 2:
            return 0, float("nan")
        (s0, t0), (s1, t1) = self.marks[0], self.marks[-1]
        return s1 - s0, t1 - t0


def bare_step(folder: Path, device: torch.device, batch: int, steps: int) -> float:
    """Sequences/s of a bare encoder forward + backward (bf16 autocast on CUDA) at 128 tokens."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(5, 5 + len(WORDS), (batch, 128), device=device)
    mask = torch.ones_like(ids)
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for n in range(steps + 3):
        if n == 3:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        with cast:
            loss = model(input_ids=ids, attention_mask=mask).last_hidden_state.float().pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Build the encoder and data, time the finetune steps, print a table (and JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encoder", type=Path, default=None, help="a local BERT-family folder (default: MiniLM-shaped, random weights)")
    parser.add_argument("--batch", type=int, default=32, help="finetune_batch_size (training examples per step)")
    parser.add_argument("--steps", type=int, default=200, help="steps in the epoch after 5 warm-up steps (rate over the reports among them)")
    parser.add_argument("--history", type=int, default=20, help="history_k: history events per example")
    parser.add_argument("--tiny", action="store_true", help="a tiny encoder and few steps: the code path only")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    warm = 5
    steps = 30 if args.tiny else args.steps  # tiny: enough steps for two throttled (0.25 s) progress reports
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.encoder or build_encoder(Path(tmp) / "encoder", TINY if args.tiny else MINILM)
        n_events = (warm + steps + 2) * args.batch * 10 // 9 + 50  # one epoch covers the timed steps (10% validates)
        dataset = synthetic_dataset(n_users=max(50, n_events // 20), n_items=max(100, n_events // 10), n_events=n_events)
        per_call: list[int] = []  # texts encoded by each Tables call: the training steps first, then validation
        original = training_module.Tables._encode

        def counting(self, tokens, rows, extras):
            per_call.append(len(rows))
            return original(self, tokens, rows, extras)

        training_module.Tables._encode = counting
        clock = StepClock(warm)
        config = TrainConfig(mode="finetune", device=args.device, finetune_epochs=1, finetune_batch_size=args.batch,
                             max_samples=len(dataset.events), history_k=args.history, max_tokens=128, seed=0)  # fmt: skip
        try:
            started = time.perf_counter()
            train(dataset, config, encoder_dir=folder, progress=clock)
            total_s = time.perf_counter() - started
        finally:
            training_module.Tables._encode = original
        steps_run, seconds = clock.measured()
        all_steps = clock.marks[-1][0] + 1 if clock.marks else 1  # the epoch's steps (the last report is one short)
        texts_per_step = float(np.sum(per_call[: 2 * all_steps])) / all_steps  # item + profile texts (two calls a step)
        bare = bare_step(Path(folder), device, args.batch * 8, 3 if args.tiny else 20)
    result = {
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "encoder": "given folder" if args.encoder else ("tiny" if args.tiny else "MiniLM-shaped, random weights"),
        "batch": args.batch, "history_k": args.history, "timed_steps": steps_run, "seconds": seconds,
        "examples_per_second": args.batch * steps_run / seconds if steps_run else None,
        "texts_per_step": texts_per_step,
        "texts_per_second": texts_per_step * steps_run / seconds if steps_run else None,
        "bare_encoder_sequences_per_second": bare, "train_total_seconds": total_s,
    }  # fmt: skip
    print(stamp())
    print("| device | batch | timed steps | examples/s | texts/step | texts/s | bare encoder step, sequences/s | goal ≥ 7,000 samples/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    examples, per_s = result["examples_per_second"] or 0.0, result["texts_per_second"] or 0.0
    verdict = "met" if examples >= 7000 else ("met in texts/s only" if per_s >= 7000 else "MISSED")
    print(f"| {result['gpu'] or result['device']} | {args.batch} | {steps_run} | {examples:,.0f} | {texts_per_step:.0f} | {per_s:,.0f} | {bare:,.0f} | {verdict} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
