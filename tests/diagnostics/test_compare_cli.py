"""`python -m uvp_core compare`: two models on the same held-out pairs, differences recomputed here with numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from uvp_core.data import load_path
from uvp_core.model import TrainConfig, load_model, train

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m uvp_core ARGS` in a child process."""
    return subprocess.run([sys.executable, "-m", "uvp_core", *args], cwd=REPO, capture_output=True, text=True)


@pytest.mark.slow
def test_compare_two_models_on_their_held_out_events(tmp_path: Path, tiny_bert_dir: Path) -> None:
    sample = load_path(SAMPLE).raise_for_errors()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dirs = [
            train(sample, TrainConfig(target="rating", epochs=2, batch_size=256, seed=seed), encoder_dir=tiny_bert_dir).save(tmp_path / f"m{seed}")
            for seed in (0, 1)
        ]  # fmt: skip
    finally:
        torch.set_num_threads(previous)
    out = tmp_path / "compare.json"
    child = cli("compare", "--model", str(dirs[0]), "--model", str(dirs[1]), "--data", str(SAMPLE), "--out", str(out),
                "--segment", "user.region", "--bootstrap", "100")  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert "evaluation set: held-out: events from" in child.stderr
    planet = cli("compare", "--model", str(dirs[0]), "--model", str(dirs[1]), "--data", str(SAMPLE), "--out", str(tmp_path / "c.json"),
                 "--segment", "user.planet")  # fmt: skip
    assert planet.returncode == 2 and "user.planet" in planet.stderr and "user.region" in planet.stderr  # before any scoring
    record = json.loads(out.read_text(encoding="utf-8"))
    summary = json.loads(child.stdout.strip().splitlines()[-1])

    # The held-out events, found here by hand: the latest 10% of rated events (the models' validation split).
    model_a, model_b = load_model(dirs[0]), load_model(dirs[1])
    rated = sample.events.loc[sample.events["rating"].notna()]
    cutoff = np.sort(rated["timestamp"].to_numpy())[int(len(rated) * 0.9)]
    held = rated.loc[rated["timestamp"] >= cutoff, ["user_id", "item_id", "timestamp", "rating"]].reset_index(
        drop=True
    )
    assert (
        len(held)
        == model_a.metrics_["n_validation"]
        == record["meta"]["evaluation_set"]["pairs"]
        == summary["pairs"]
    )
    y = held["rating"].to_numpy(dtype=float)
    # scored as validated: the biases before their refit on all ratings, which read these events
    pred_a, pred_b = model_a.as_validated().predict(sample, held), model_b.as_validated().predict(sample, held)

    def rmse(p: np.ndarray, mask: np.ndarray) -> float:
        return float(np.sqrt(np.mean((p[mask] - y[mask]) ** 2)))

    everyone = np.ones(len(y), bool)
    overall = {row["metric"]: row for row in record["overall"]}
    assert set(overall) == {"rmse", "mae", "bias"} and overall["rmse"]["n"] == len(y)
    assert overall["rmse"]["a"] == pytest.approx(rmse(pred_a, everyone), rel=1e-6)
    assert overall["rmse"]["a"] == pytest.approx(model_a.metrics_["val_rmse"], rel=1e-5)
    refit = rmse(model_a.predict(sample, held), everyone)  # the final model saw these events in its bias refit
    assert refit < overall["rmse"]["a"] and "before their refit" in record["meta"]["evaluation_set"]["note"]
    assert overall["rmse"]["difference"] == pytest.approx(
        rmse(pred_a, everyone) - rmse(pred_b, everyone), rel=1e-6, abs=1e-9
    )
    assert overall["mae"]["difference"] == pytest.approx(
        np.mean(np.abs(pred_a - y)) - np.mean(np.abs(pred_b - y)), rel=1e-6, abs=1e-9
    )
    for row in overall.values():
        assert row["difference_low"] <= row["difference"] <= row["difference_high"]

    assert list(record["segments"]) == ["user.region"]  # --segment narrows the per-segment part
    region = held["user_id"].map(sample.users.set_index("user_id")["region"]).to_numpy()
    rows = [row for row in record["segments"]["user.region"] if row["metric"] == "rmse"]
    assert sum(row["n"] for row in rows) == len(y)
    west = next(row for row in rows if row["segment"] == "West")
    mask = region == "West"
    assert west["n"] == mask.sum()
    assert west["difference"] == pytest.approx(rmse(pred_a, mask) - rmse(pred_b, mask), rel=1e-6, abs=1e-9)
    assert record["meta"]["difference"].startswith("model A − model B")
    assert record["meta"]["overlapping_segments"] == {}  # the sample lists one category per item


def test_compare_usage_errors(tmp_path: Path) -> None:
    once = cli(
        "compare", "--model", str(tmp_path / "a"), "--data", str(SAMPLE), "--out", str(tmp_path / "c.json")
    )
    assert once.returncode == 2 and "--model exactly twice" in once.stderr
    missing = cli("compare", "--model", str(tmp_path / "a"), "--model", str(tmp_path / "b"), "--data", str(SAMPLE),
                  "--out", str(tmp_path / "c.json"))  # fmt: skip
    assert missing.returncode == 1 and "error:" in missing.stderr
    assert not (tmp_path / "c.json").exists()
