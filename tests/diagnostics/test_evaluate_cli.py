"""`python -m uvp_core evaluate` end to end on the sample data, its numbers recomputed here with numpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from uvp_core.data import load_path
from uvp_core.data.contract import Dataset
from uvp_core.diagnostics import evaluation_set
from uvp_core.model import TrainConfig, load_model, train

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_data"


@pytest.mark.slow
def test_evaluate_round_trip_on_the_sample(tmp_path: Path, tiny_bert_dir: Path) -> None:
    sample = load_path(SAMPLE).raise_for_errors()
    cutoff = evaluation_set.holdout(sample, "rating").cutoff
    before = sample.events.loc[sample.events["timestamp"] < cutoff].reset_index(drop=True)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = train(Dataset(events=before, items=sample.items, users=sample.users), TrainConfig(target="rating", epochs=2),
                      encoder_dir=tiny_bert_dir)  # fmt: skip
    finally:
        torch.set_num_threads(previous)
    model_dir = model.save(tmp_path / "model")

    held = sample.events.loc[(sample.events["timestamp"] >= cutoff) & sample.events["rating"].notna()]
    test_csv = tmp_path / "test.csv"
    held.assign(timestamp=held["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))[["user_id", "item_id", "timestamp", "rating"]].to_csv(
        test_csv, index=False
    )
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    child = subprocess.run(
        [sys.executable, "-m", "uvp_core", "evaluate", "--model", str(model_dir), "--data", str(SAMPLE), "--test", str(test_csv),
         "--out", str(out), "--html", str(page), "--candidates", "sampled", "--negatives", "20", "--ranking-users", "40",
         "--bootstrap", "100"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    summary = json.loads(child.stdout.strip().splitlines()[-1])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {"overall", "segments", "cold_start", "long_tail", "ranking"} <= set(report)

    pairs = pd.read_csv(test_csv, dtype={"user_id": str, "item_id": str})
    pairs["timestamp"] = pd.to_datetime(pairs["timestamp"], utc=True).astype("datetime64[ms, UTC]")
    prediction = load_model(model_dir).predict(sample, pairs[["user_id", "item_id", "timestamp"]])
    y = pairs["rating"].to_numpy(dtype=float)
    overall = next(row for row in report["overall"] if row["model"] == "value model")
    assert overall["n"] == len(pairs) == summary["pairs"]
    assert overall["rmse"] == pytest.approx(np.sqrt(np.mean((prediction - y) ** 2)), rel=1e-5)
    assert overall["rmse_low"] < overall["rmse"] < overall["rmse_high"]
    region = pairs["user_id"].map(sample.users.set_index("user_id")["region"]).to_numpy()
    west = next(row for row in report["segments"]["user.region"] if row["segment"] == "West")
    assert west["n"] == (region == "West").sum()
    assert west["mae"] == pytest.approx(np.mean(np.abs(prediction - y)[region == "West"]), rel=1e-5)
    users = {row["history_bucket"]: row for row in report["cold_start"]["users"] if row["model"] == "value model"}
    assert sum(row["n"] for row in users.values()) == len(pairs)
    assert report["ranking"]["candidates"]["mode"] == "sampled" and report["ranking"]["users"] <= 40
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Plotly.newPlot(" in html
