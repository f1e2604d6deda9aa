"""Benchmark: a saved model's first scoring in a new process, with and without its saved text embeddings.

A new process (the app after a restart, the page that first scores a model the worker has just trained, a
CLI command) loads a model folder and scores pairs. Before session 17 it encoded every item and profile
text again; a model folder now carries its training texts' embeddings (`embeddings.safetensors`). This
script trains a model on MovieLens latest-small (or takes `--model`), then runs two fresh child processes
on the same saved folder: one uses the saved embeddings, one ignores them (as a model saved without them).
Each loads the model and predicts every rating of the data once; both report load time, first-predict
time and how many texts they encoded, and the script checks that the two prediction vectors are equal.

    python benchmarks/first_score.py [--data ../shared/data/movielens-latest-small] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import stamp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "movielens-latest-small"

CHILD = """
import json, sys, time
import numpy as np
from uvp_core.data import load_path
from uvp_core.model import load_model
from uvp_core.model.encoder import TextEncoder

model_dir, data, use, out = sys.argv[1], sys.argv[2], sys.argv[3] == "use", sys.argv[4]
if not use:
    TextEncoder.remember = lambda self, stored: 0  # as a model folder without saved embeddings
encoded = []
original = TextEncoder._encode_canonical
TextEncoder._encode_canonical = lambda self, texts, progress=None: encoded.extend(texts) or original(self, texts, progress)
dataset = load_path(data).dataset
start = time.perf_counter()
model = load_model(model_dir)
loaded = time.perf_counter() - start
pairs = dataset.events[["user_id", "item_id", "timestamp"]]
start = time.perf_counter()
predictions = model.predict(dataset, pairs)
predicted = time.perf_counter() - start
np.save(out, predictions)
print(json.dumps({"load_s": loaded, "first_predict_s": predicted, "pairs": len(pairs), "texts_encoded": len(encoded),
                  "stored": len(model.stored_embeddings_ or [])}))
"""


def child(model_dir: Path, data: Path, use: bool, out: Path) -> dict:
    """One fresh process's figures (the last line it prints)."""
    result = subprocess.run([sys.executable, "-c", CHILD, str(model_dir), str(data), "use" if use else "ignore", str(out)],
                            cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    """Train (or take) a model, time both children, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, help="a saved model folder trained on --data (default: train one, ~1 min)")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data} is missing: this benchmark reads MovieLens latest-small from ../shared/data.")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            model_dir = tmp / "model"
            subprocess.run([sys.executable, "-m", "uvp_core", "train", "--data", str(args.data), "--out", str(model_dir)],
                           cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        rows = {use: child(model_dir, args.data, use, tmp / f"{use}.npy") for use in (True, False)}
        same = np.array_equal(np.load(tmp / "True.npy"), np.load(tmp / "False.npy"))
    print(stamp())
    print(f"model: {model_dir if args.model else 'trained by this run'}; data: {args.data.name}; "
          f"{rows[True]['stored']:,} texts' embeddings saved with the model; predictions equal: {same}")  # fmt: skip
    print("| new process | load s | first predict s | pairs | texts encoded |")
    print("|---|---:|---:|---:|---:|")
    for use, label in ((True, "uses the saved embeddings"), (False, "ignores them (encodes again)")):
        r = rows[use]
        print(f"| {label} | {r['load_s']:.2f} | {r['first_predict_s']:.2f} | {r['pairs']:,} | {r['texts_encoded']:,} |")
    if not same:
        sys.exit("the two processes predicted differently")


if __name__ == "__main__":
    main()
