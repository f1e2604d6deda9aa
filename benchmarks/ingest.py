"""Benchmark: ingest a generated 1,000,000-event CSV end to end through the CLI.

Measures `python -m uvp_core ingest` in a fresh child process (read, validate, fingerprint, write
Parquet, catalogue) — wall time and the child's peak resident memory. Goal: < 30 s and < 2 GB.

    python benchmarks/ingest.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # uvp_core (benchmarks/common.py records the bf16 support)
from common import stamp  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def write_events_csv(path: Path, n_events: int, seed: int = 0) -> None:
    """A realistic events file: zero-padded ids, Unix-second timestamps, funnel types, sparse ratings."""
    rng = np.random.default_rng(seed)
    n_users, n_items = max(n_events // 50, 10), max(n_events // 200, 10)
    item_rank = np.minimum(rng.zipf(1.3, n_events), n_items) - 1
    event_type = rng.choice(["view", "click", "cart", "purchase"], n_events, p=[0.6, 0.25, 0.1, 0.05])
    rating = np.where(event_type == "purchase", rng.integers(1, 6, n_events).astype(str), "")
    frame = pd.DataFrame(
        {
            "user_id": np.char.add("U", np.char.zfill(rng.integers(0, n_users, n_events).astype(str), 7)),
            "item_id": np.char.zfill(item_rank.astype(str), 6),
            "timestamp": 1_600_000_000 + rng.integers(0, 3 * 10**7, n_events),
            "event_type": event_type,
            "rating": rating,
        }
    )
    frame.to_csv(path, index=False)


def main() -> None:
    """Generate the file, run the CLI ingest in a child, print the figures as a Markdown row."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "events.csv"
        write_events_csv(csv_path, args.events)
        size_mb = csv_path.stat().st_size / 2**20
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-m", "uvp_core", "ingest", "--data", str(csv_path), "--workspace", str(Path(tmp) / "ws")],
            cwd=REPO, capture_output=True, text=True,
        )
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if child.returncode != 0:
        sys.exit(f"ingest failed ({child.returncode}):\n{child.stdout}\n{child.stderr}")
    verdict = "met" if wall < 30 and peak_mb < 2048 else "MISSED"
    print(stamp())
    print("| events | CSV size | wall (s) | peak RSS (MB) | goal < 30 s, < 2 GB |")
    print("|---:|---:|---:|---:|---|")
    print(f"| {args.events:,} | {size_mb:.0f} MB | {wall:.1f} | {peak_mb:.0f} | {verdict} |")


if __name__ == "__main__":
    main()
