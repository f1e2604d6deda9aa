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
    assert "unparseable_timestamp" in broken.stdout and "events.csv" in broken.stdout  # the report is the output, even a failing one
    assert "INVALID" in broken.stderr
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
    assert "has a header and no pairs" in empty.stderr  # a CLI audit: "Wrote 0 predictions" and nothing else


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
        refused = cli("explain", "--model", str(tmp_path / "no-model"), "--data", str(SAMPLE), "--user", "U00042", "--item", "000001",
                      "--out", str(tmp_path / "e.json"), option, value)  # fmt: skip
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_more_refusals_before_any_work(tmp_path: Path) -> None:
    """A second CLI audit: these were found only after minutes of work (or never), or gave a raw OS message."""
    no_model = str(tmp_path / "no-model")
    late = cli("explain", "--model", no_model, "--data", str(SAMPLE), "--user", "U00042", "--item", "000001",
               "--out", str(tmp_path / "e.json"), "--time", "2100-01-01")  # fmt: skip
    assert late.returncode == 2 and "outside 1990-01-01 to a day from now" in late.stderr, late.stderr
    folder = cli("explain", "--model", no_model, "--data", str(SAMPLE), "--user", "U00042", "--item", "000001", "--out", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    (tmp_path / "t.csv").write_text("user_id,item_id,rating\nU00042,000001,4\n")
    both = cli("evaluate", "--model", no_model, "--data", str(SAMPLE), "--test", str(tmp_path / "t.csv"), "--holdout", "0.2",
               "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr
    share = cli("evaluate", "--model", no_model, "--data", str(SAMPLE), "--holdout", "10", "--out", str(tmp_path / "r.json"))
    assert share.returncode == 2 and "--holdout must be a share between 0 and 1" in share.stderr  # before the data loads
    html = cli("evaluate", "--model", no_model, "--data", str(SAMPLE), "--out", str(tmp_path / "r.json"), "--html", str(tmp_path))
    assert html.returncode == 2 and "--html" in html.stderr and not (tmp_path / "r.json").exists()
    encoding = cli("validate", "--data", str(SAMPLE), "--encoding", "no-such-codec")
    assert encoding.returncode == 2 and encoding.stderr.count("no-such-codec") == 1
    missing = cli("predict", "--model", no_model, "--data", str(SAMPLE), "--pairs", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.csv"))
    assert missing.returncode == 1 and "nope.csv: no such file" in missing.stderr and "Errno" not in missing.stderr
    segment = cli("compare", "--model", no_model, "--model", no_model, "--data", str(SAMPLE), "--segment", "user.planet",
                  "--out", str(tmp_path / "c.json"))  # fmt: skip
    assert segment.returncode == 1 and "no-model does not exist" in segment.stderr  # the model folders first (in seconds)


def test_epochs_apply_to_the_chosen_mode(monkeypatch, tmp_path: Path) -> None:
    """--epochs 1 --mode finetune ran 3 epochs: finetune has its own epoch count, which --epochs did not set."""
    import uvp_core.model
    from uvp_core import cli as C

    seen = {}

    def fake_train(dataset, config, **kwargs):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(uvp_core.model, "train", fake_train)
    for mode in ("finetune", "frozen"):
        with pytest.raises(RuntimeError, match="stop here"):
            C.main(["train", "--data", str(SAMPLE), "--out", str(tmp_path / "m"), "--mode", mode, "--epochs", "1"])
        assert seen["config"].n_epochs == 1, mode


@pytest.mark.slow
def test_an_interrupted_train_resumes_from_its_checkpoint(monkeypatch, tmp_path: Path, tiny_bert_dir: Path, capsys) -> None:
    """The README promised checkpoints and resume; `train` had neither (a killed run started over)."""
    from uvp_core import cli as C
    from uvp_core.model import load_model

    args = ["train", "--data", str(SAMPLE), "--target", "rating", "--encoder", str(tiny_bert_dir), "--epochs", "3", "--seed", "1"]
    C.main([*args, "--out", str(tmp_path / "whole")])

    class CtrlCInEpoch2(C.ConsoleProgress):
        def __call__(self, progress) -> None:
            if progress.epoch == 2:
                raise KeyboardInterrupt
            super().__call__(progress)

    monkeypatch.setattr(C, "ConsoleProgress", CtrlCInEpoch2)
    out = tmp_path / "resumed"
    assert C.main([*args, "--out", str(out)]) == 130
    checkpoint = Path(f"{out}.checkpoint")
    assert (checkpoint / "checkpoint.json").is_file() and not out.exists()
    assert "run the same command again" in capsys.readouterr().err
    epochs: list[int] = []

    class Recording(CtrlCInEpoch2.__mro__[1]):  # the plain progress, noting the epochs trained
        def __call__(self, progress) -> None:
            if progress.phase == "training" and progress.epoch:
                epochs.append(progress.epoch)
            super().__call__(progress)

    monkeypatch.setattr(C, "ConsoleProgress", Recording)
    assert C.main([*args, "--out", str(out)]) == 0
    assert epochs and min(epochs) == 2  # epoch 1 came from the checkpoint
    assert "holds a checkpoint of an earlier run" in capsys.readouterr().err
    assert not checkpoint.exists()  # removed once the model is saved
    pairs = pd.read_csv(SAMPLE / "events.csv.gz", dtype=str).iloc[:200][["user_id", "item_id"]]
    from uvp_core.data import load_path

    dataset = load_path(SAMPLE).dataset
    assert (load_model(out).predict(dataset, pairs) == load_model(tmp_path / "whole").predict(dataset, pairs)).all()


def test_data_that_cannot_train_exits_1_naming_the_data(tmp_path: Path, tiny_bert_dir: Path, capsys) -> None:
    """A third CLI audit: these data problems exited 2 (usage) without naming the data."""
    from uvp_core import cli as C

    one_row = tmp_path / "one-row"
    one_row.mkdir()
    (one_row / "events.csv").write_text("user_id,item_id,timestamp,rating\nu1,i1,2024-01-01T00:00:00Z,4\n")
    views = tmp_path / "views"
    views.mkdir()
    (views / "events.csv").write_text("user_id,item_id,timestamp,event_type\nu1,i1,2024-01-01,view\nu1,i2,2024-01-02,view\n"
                                      "u2,i1,2024-01-03,view\n")  # fmt: skip
    for data, target, message in ((one_row, "auto", "Need at least 2 training examples"), (views, "auto", "No target found"),
                                  (views, "rating", "needs a rating column")):  # fmt: skip
        code = C.main(["train", "--data", str(data), "--target", target, "--out", str(tmp_path / "m"), "--encoder", str(tiny_bert_dir)])
        err = capsys.readouterr().err
        assert code == 1 and message in err and str(data) in err, (target, err)


def test_output_paths_under_a_file_are_refused_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """train --out out/m1/README.md/sub trained fully, then failed with [Errno 17]; predict/explain scored everything first."""
    import uvp_core.model
    from uvp_core import cli as C

    monkeypatch.setattr(uvp_core.model, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    (tmp_path / "file.md").write_text("a file")
    under = tmp_path / "file.md" / "sub"
    code = C.main(["train", "--data", str(SAMPLE), "--out", str(under), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "file.md is a file, not a folder" in err and "Errno" not in err and len(err.strip().splitlines()) == 1
    code = C.main(["train", "--data", str(SAMPLE), "--out", str(tmp_path / "m"), "--checkpoint", str(under / "ck")])
    assert code == 2 and "--checkpoint" in capsys.readouterr().err
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user_id,item_id\nU00042,000001\n")
    out = str(under / "out.json")
    for argv in (["predict", "--pairs", str(pairs)], ["explain", "--user", "U00042", "--item", "000001"]):
        code = C.main([*argv, "--model", str(tmp_path / "no-model"), "--data", str(SAMPLE), "--out", out])
        err = capsys.readouterr().err
        assert code == 2 and "is a file, not a folder" in err, (argv, err)


def test_an_empty_model_path_says_no_model_folder_was_given(tmp_path: Path, capsys) -> None:
    """--model "" meant the current folder and was refused for a symbolic link found there."""
    from uvp_core import cli as C
    from uvp_core.model import ModelLoadError, load_model

    with pytest.raises(SystemExit) as info:
        C.main(["predict", "--model", "", "--data", str(SAMPLE), "--pairs", "p.csv", "--out", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "no model folder given" in err and "symbolic link" not in err
    with pytest.raises(ModelLoadError, match="No model folder given"):
        load_model("")


def test_outputs_that_would_overwrite_an_input_are_refused_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    """A CLI audit: predict --out into the model folder broke the model for good; --out on the data's users.csv replaced
    it; --checkpoint equal to --out trained for minutes and then failed on every rerun; an unknown --encoding gave a
    traceback in predict."""
    import shutil

    import uvp_core.model
    from uvp_core import cli as C

    monkeypatch.setattr(uvp_core.model, "train", lambda *a, **k: pytest.fail("trained before checking the paths"))
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    users_before = (data / "users.csv").read_bytes()
    model = tmp_path / "model"
    model.mkdir()
    (model / "README.md").write_text("a model card")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user_id,item_id\nU00042,000001\n")
    common = ["--model", str(model), "--data", str(data)]
    for argv, out, named in ((["predict", "--pairs", str(pairs)], model / "README.md", "a file of --model"),
                             (["predict", "--pairs", str(pairs)], data / "users.csv", "a file of --data"),
                             (["predict", "--pairs", str(pairs)], pairs, "--pairs"),
                             (["explain", "--pairs", str(pairs)], model / "new.json", "write into --model")):  # fmt: skip
        code = C.main([*argv, *common, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and f"would {'' if 'write' in named else 'overwrite '}{named}" in err, (argv, out, err)
    assert (data / "users.csv").read_bytes() == users_before and (model / "README.md").read_text() == "a model card"
    code = C.main(["evaluate", *common, "--out", str(tmp_path / "r.html"), "--html", str(tmp_path / "r.html")])
    assert code == 2 and "name the same file" in capsys.readouterr().err
    for checkpoint in (tmp_path / "m", tmp_path / "m" / "ck"):
        code = C.main(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--checkpoint", str(checkpoint)])
        assert code == 2 and "must be separate folders" in capsys.readouterr().err
    code = C.main(["predict", "--pairs", str(pairs), *common, "--out", str(tmp_path / "o.csv"), "--encoding", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and "--encoding 'nope'" in err and "Traceback" not in err


def test_ids_on_the_command_line_are_read_as_ids_in_files_are() -> None:
    """recommend --user " U01802" or --item 037711.0 named a stranger; files trim spaces and drop a whole number's .0."""
    from uvp_core import cli as C

    assert C._id_option(" U01802 ", "--user") == "U01802" and C._id_option("037711.0", "--item") == "037711"
    assert C._id_option("007", "--item") == "007" and C._id_option(None, "--item") is None  # leading zeros kept
    with pytest.raises(ValueError, match="--user is empty"):
        C._id_option("  ", "--user")


def test_recommend_for_a_user_who_has_seen_every_item_keeps_its_columns(rating_model, rating_dataset) -> None:
    import dataclasses

    events = rating_dataset.events
    items = pd.Index(events["item_id"].unique())
    if rating_dataset.items is not None:
        items = items.union(rating_dataset.items["item_id"])
    extra = pd.DataFrame({"user_id": "u001", "item_id": items, "timestamp": events["timestamp"].max(), "rating": 3.0})
    seen_all = dataclasses.replace(rating_dataset, events=pd.concat([events, extra.astype(events.dtypes.to_dict())], ignore_index=True))
    top = rating_model.recommend(seen_all, "u001", k=5)
    assert top.empty and list(top.columns) == list(rating_model.recommend(rating_dataset, "u002", k=5).columns)


def test_an_ambiguous_slash_date_is_refused_as_time_and_in_pairs(tmp_path: Path) -> None:
    """An audit: explain --time 1/2/2025 silently used the latest time, and predict --pairs with 1/2/2025 scored the
    pair with the whole history (exit 0, no message)."""
    from uvp_core.cli import _prediction_time

    no_model = str(tmp_path / "no-model")
    when = cli("explain", "--model", no_model, "--data", str(SAMPLE), "--user", "U00042", "--item", "000001",
               "--out", str(tmp_path / "e.json"), "--time", "1/2/2025")  # fmt: skip
    assert when.returncode == 2 and "could be month/day or day/month" in when.stderr and "ISO 8601" in when.stderr, when.stderr
    assert _prediction_time("13/1/2025") == pd.Timestamp("2025-01-13", tz="UTC")  # a part above 12 tells the order
    (tmp_path / "p.csv").write_text("user_id,item_id,timestamp\nU00042,000001,1/2/2025\n")
    pairs = cli("predict", "--model", no_model, "--data", str(SAMPLE), "--pairs", str(tmp_path / "p.csv"),
                "--out", str(tmp_path / "o.csv"))  # fmt: skip
    assert pairs.returncode == 1 and "could be month/day or day/month" in pairs.stderr and "row(s) 1" in pairs.stderr, pairs.stderr
