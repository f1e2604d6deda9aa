"""Benchmark: encoder throughput at 128 tokens with the default MiniLM on this CPU (bf16 autocast).

Encodes N distinct texts that each fill the 128-token limit, from an empty cache, after the
encoder's once-per-process warm-up (reported separately), and reports texts/s. Goal (issue #3): at least 200 texts/s on 2 cores.

    python benchmarks/encoding.py [--texts 1024]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import stamp  # noqa: E402

from uvp_core.model import clear_embedding_cache, load_encoder  # noqa: E402

WORDS = ("blue ceramic mug handmade kitchen stoneware glaze dishwasher safe gift coffee tea "
         "large small matte finish everyday breakfast table set of two").split()


def long_text(i: int) -> str:
    """A distinct text of well over 128 word pieces."""
    return f"item {i}: " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(160))


def main() -> None:
    """Encode the texts once from a cold cache and print the throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=1024)
    args = parser.parse_args()
    encoder = load_encoder(max_tokens=128)
    texts = [long_text(i) for i in range(args.texts)]
    tokens = len(encoder.tokenizer(texts[0], truncation=True, max_length=128)["input_ids"])
    warm_s = encoder.warm_up()  # once per process: kernels, and the traced copy of each batch shape (encoder.py)
    clear_embedding_cache()
    start = time.perf_counter()
    encoder.encode(texts)
    seconds = time.perf_counter() - start
    rate = args.texts / seconds
    print(stamp())
    print(f"encoder: {encoder.cache_id.split('|')[1]}; warm-up (once per process) {warm_s:.1f} s")
    print("| texts | tokens per text | seconds | texts/s | goal ≥ 200 texts/s |")
    print("|---:|---:|---:|---:|---|")
    print(f"| {args.texts} | {tokens} | {seconds:.1f} | {rate:.0f} | {'met' if rate >= 200 else 'MISSED'} |")


if __name__ == "__main__":
    main()
