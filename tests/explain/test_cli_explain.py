"""`python -m uvp_core explain` writes a prediction, a base value and contributions that add up."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from uvp_core.cli import main
from uvp_core.data import load_path


def test_explain_command_writes_additive_json(tmp_path: Path, rating_model, rating_dataset) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rating_dataset.events.to_csv(data / "events.csv", index=False)
    rating_dataset.items.to_csv(data / "items.csv", index=False)
    rating_dataset.users.to_csv(data / "users.csv", index=False)
    model_dir = rating_model.save(tmp_path / "model")
    out = tmp_path / "explain.json"
    code = main(["explain", "--model", str(model_dir), "--data", str(data), "--user", "u001", "--item", "i005",
                 "--out", str(out), "--permutations", "2"])  # fmt: skip
    assert code == 0
    record = json.loads(out.read_text())
    assert {"prediction", "base_value", "contributions"} <= set(record)
    assert {"feature", "group", "value"} <= set(record["contributions"][0])
    total = record["base_value"] + sum(c["value"] for c in record["contributions"])
    assert abs(total - record["prediction"]) < 1e-4
    dataset = load_path(data).dataset
    expected = rating_model.predict(dataset, pd.DataFrame({"user_id": ["u001"], "item_id": ["i005"]}))[0]
    assert abs(record["prediction"] - expected) < 1e-6
    assert record["background"] == "mode"
    population = tmp_path / "population.json"
    code = main(["explain", "--model", str(model_dir), "--data", str(data), "--user", "u001", "--item", "i005",
                 "--out", str(population), "--permutations", "2", "--background", "population"])  # fmt: skip
    assert code == 0
    sampled = json.loads(population.read_text())
    assert sampled["background"] == "population" and sampled["prediction"] == record["prediction"]
    assert abs(sampled["base_value"] + sum(c["value"] for c in sampled["contributions"]) - sampled["prediction"]) < 1e-4
    assert sampled["base_value"] != record["base_value"]  # averaged over sampled users' attributes
    assert record["item_fields"] == "mode"
    left_out = tmp_path / "left_out.json"
    code = main(["explain", "--model", str(model_dir), "--data", str(data), "--user", "u001", "--item", "i005",
                 "--out", str(left_out), "--permutations", "2", "--item-fields", "absent"])  # fmt: skip
    fields = json.loads(left_out.read_text())
    assert code == 0 and fields["item_fields"] == "absent" and fields["prediction"] == record["prediction"]
    assert abs(fields["base_value"] + sum(c["value"] for c in fields["contributions"]) - fields["prediction"]) < 1e-4
    assert fields["base_value"] != record["base_value"]  # every item field masked to nothing

    per_event = tmp_path / "events.json"
    code = main(["explain", "--model", str(model_dir), "--data", str(data), "--user", "u001", "--item", "i005",
                 "--out", str(per_event), "--permutations", "2", "--history", "event"])  # fmt: skip
    events = json.loads(per_event.read_text())
    assert code == 0 and events["prediction"] == record["prediction"]
    history = [sum(c["group"] == "history" for c in r["contributions"]) for r in (record, events)]
    assert history[0] < history[1]  # one feature per item read, or one per event
    assert abs(events["base_value"] + sum(c["value"] for c in events["contributions"]) - events["prediction"]) < 1e-4

    many = tmp_path / "pairs.csv"  # one process for many pairs: a call each paid imports, loading and shap's compile
    many.write_text("user_id,item_id,timestamp\nu001,i005,\nu002,i003,\nNEWUSER,i001,\nu001,i005,2020-01-05T00:00:00Z\n")
    batch = tmp_path / "batch.json"
    code = main(["explain", "--model", str(model_dir), "--data", str(data), "--pairs", str(many), "--out", str(batch), "--permutations", "2"])
    assert code == 0
    records = json.loads(batch.read_text())["explanations"]
    assert [(r["user_id"], r["item_id"]) for r in records] == [("u001", "i005"), ("u002", "i003"), ("NEWUSER", "i001"), ("u001", "i005")]
    # a browser audit: one pair at two times gave two records told apart by nothing; each now says when it predicts
    assert records[0]["time"] == record["time"] and records[3]["time"] == "2020-01-05T00:00:00+00:00"
    assert records[0]["prediction"] == record["prediction"] and records[0]["contributions"] == record["contributions"]
    for r in records:
        assert abs(r["base_value"] + sum(c["value"] for c in r["contributions"]) - r["prediction"]) < 1e-4
    assert main(["explain", "--model", str(model_dir), "--data", str(data), "--user", "u001", "--out", str(batch)]) == 2  # no item
