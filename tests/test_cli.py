"""The CLI as other tools call it: validate, ingest, train → predict → recommend on the sample data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run `python -m uvp_core ARGS` in a child process."""
    return subprocess.run([sys.executable, "-m", "uvp_core", *args], cwd=cwd, capture_output=True, text=True)


def test_validate_ok_and_errors_exit_codes(tmp_path: Path) -> None:
    ok = cli("validate", "--data", str(SAMPLE))
    assert ok.returncode == 0, ok.stderr
    assert "OK: layout folder" in ok.stdout
    bad = tmp_path / "events.csv"
    bad.write_text("user_id,item_id,timestamp,rating\nu1,i1,not-a-time,4\n")
    broken = cli("validate", "--data", str(bad))
    assert broken.returncode == 1
    assert "unparseable_timestamp" in broken.stderr and "events.csv" in broken.stderr
    usage = cli("validate", "--data", str(bad), "--map", "no-equals-sign")
    assert usage.returncode == 2 and "no-equals-sign" in usage.stderr


def test_ingest_prints_id_and_stores_once(tmp_path: Path) -> None:
    first = cli("ingest", "--data", str(SAMPLE), "--workspace", str(tmp_path / "ws"))
    second = cli("ingest", "--data", str(SAMPLE), "--workspace", str(tmp_path / "ws"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == second.stdout.strip() and len(first.stdout.strip()) == 16
    assert len(list((tmp_path / "ws" / "datasets").iterdir())) == 1


def test_ingest_with_map_and_refusal_stores_nothing(tmp_path: Path) -> None:
    data = tmp_path / "events.csv"
    data.write_text("who,what,when,stars\n007,A,2024-01-01T00:00:00Z,4\n008,B,2024-01-02T00:00:00Z,5\n")
    refused = cli("ingest", "--data", str(data), "--workspace", str(tmp_path / "ws"))
    assert refused.returncode == 1 and "missing_required_column" in refused.stderr
    assert not (tmp_path / "ws").exists()  # a refused dataset does not even create the workspace
    mapped = cli("ingest", "--data", str(data), "--workspace", str(tmp_path / "ws"),
                 "--map", "user_id=who", "--map", "item_id=what", "--map", "timestamp=when", "--map", "rating=stars")
    assert mapped.returncode == 0, mapped.stderr


@pytest.mark.slow
def test_train_predict_recommend_round_trip(tmp_path: Path, tiny_bert_dir: Path) -> None:
    model_dir = tmp_path / "model"
    trained = cli("train", "--data", str(SAMPLE), "--target", "rating", "--out", str(model_dir),
                  "--encoder", str(tiny_bert_dir), "--epochs", "2", "--seed", "3")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["target"] == "rating" and summary["task"] == "regression"
    assert (model_dir / "uvp_model.json").exists() and (model_dir / "README.md").exists()
    assert "epoch 1" in trained.stderr  # progress is reported

    events = pd.read_csv(SAMPLE / "events.csv.gz", dtype=str)
    known = events.iloc[[0, 10, 20]][["user_id", "item_id"]]
    pairs = pd.concat([known, pd.DataFrame({"user_id": ["NEW-USER", known["user_id"].iloc[0]],
                                            "item_id": [known["item_id"].iloc[1], "NEW-ITEM"]})])
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    out = tmp_path / "out.csv"
    predicted = cli("predict", "--model", str(model_dir), "--data", str(SAMPLE),
                    "--pairs", str(tmp_path / "pairs.csv"), "--out", str(out))
    assert predicted.returncode == 0, predicted.stderr
    scores = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(scores.columns) == ["user_id", "item_id", "prediction"]
    assert scores[["user_id", "item_id"]].to_numpy().tolist() == pairs.to_numpy().tolist()  # input order, zeros kept
    assert scores["prediction"].between(1, 5).all()  # cold users and items are scored too

    top = cli("recommend", "--model", str(model_dir), "--data", str(SAMPLE), "--user", known["user_id"].iloc[0], "--k", "5")
    assert top.returncode == 0, top.stderr
    listed = pd.read_csv(pd.io.common.StringIO(top.stdout), dtype={"item_id": str})
    assert len(listed) == 5 and listed["score"].is_monotonic_decreasing

    (tmp_path / "none.csv").write_text("user_id,item_id\n")  # a header and no pairs: an empty result, not a traceback
    empty = cli("predict", "--model", str(model_dir), "--data", str(SAMPLE), "--pairs", str(tmp_path / "none.csv"),
                "--out", str(tmp_path / "deeper" / "none-out.csv"))  # fmt: skip
    assert empty.returncode == 0, empty.stderr
    assert (tmp_path / "deeper" / "none-out.csv").read_text().strip() == "user_id,item_id,prediction"


def test_predict_refuses_a_pickle_model(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (tmp_path / "pairs.csv").write_text("user_id,item_id\nu,i\n")
    refused = cli("predict", "--model", str(folder), "--data", str(SAMPLE), "--pairs", str(tmp_path / "pairs.csv"),
                  "--out", str(tmp_path / "out.csv"))
    assert refused.returncode == 1 and "error:" in refused.stderr
    assert not (tmp_path / "out.csv").exists()


def test_bad_pairs_and_options_are_refused_before_any_work(tmp_path: Path) -> None:
    """Found by a CLI audit: a pairs row with one field too many shifted every column (exit 0, wrong ids); a folder
    as --out, --k 0 and a file as train --out were found only after the work (or never)."""
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("user_id,item_id\nU00042,003004,2025-01-01\nU02998,007395\n,\n")
    bad = cli("predict", "--model", str(tmp_path / "no-model"), "--data", str(SAMPLE), "--pairs", str(shifted),
              "--out", str(tmp_path / "out.csv"))  # fmt: skip
    assert bad.returncode == 1 and "row(s) 1 have a different number of fields than the header (2)" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "out.csv").exists()
    blank = tmp_path / "blank.csv"
    blank.write_text("user_id,item_id\nu1,\n,i2\n")  # every problem at once
    both = cli("predict", "--model", str(tmp_path / "no-model"), "--data", str(SAMPLE), "--pairs", str(blank), "--out", str(tmp_path / "o.csv"))
    assert both.returncode == 1 and "user_id is empty in row(s) 2" in both.stderr and "item_id is empty in row(s) 1" in both.stderr

    folder_out = cli("predict", "--model", str(tmp_path), "--data", str(SAMPLE), "--pairs", str(blank), "--out", str(tmp_path))
    assert folder_out.returncode == 2 and "is a folder" in folder_out.stderr
    zero_k = cli("recommend", "--model", str(tmp_path), "--data", str(SAMPLE), "--user", "U00042", "--k", "0")
    assert zero_k.returncode == 2 and "--k must be at least 1" in zero_k.stderr
    (tmp_path / "taken.txt").write_text("not a model")
    taken = cli("train", "--data", str(SAMPLE), "--out", str(tmp_path / "taken.txt"), "--epochs", "1")
    assert taken.returncode == 2 and "refusing to replace it" in taken.stderr and "epoch" not in taken.stderr
    for option, value, message in (("--permutations", "0", "--permutations must be at least 1"), ("--time", "garbage", "not an ISO 8601 time")):
        refused = cli("explain", "--model", str(tmp_path), "--data", str(SAMPLE), "--user", "U00042", "--item", "000001",
                      "--out", str(tmp_path / "e.json"), option, value)  # fmt: skip
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
