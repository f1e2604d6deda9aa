"""AppTest tests of the Segments and Cold start & long tail pages on a workspace with two tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from uvp_core.diagnostics import cohorts, evaluation_set, segments
from uvp_core.model import TrainConfig, train
from uvp_core.model_registry import save_to_registry
from uvp_core.workspace import Workspace
from uvp_ui import state

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_models(rating_dataset, tiny_bert_dir):
    """Two tiny rating models (different seeds), trained once for the module on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [
            train(rating_dataset, TrainConfig(target="rating", epochs=2, batch_size=64, seed=seed), encoder_dir=tiny_bert_dir)
            for seed in (0, 1)
        ]
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rating_dataset, two_models) -> tuple[Workspace, str, list[str]]:
    """A fresh workspace holding the ratings dataset and both models: (workspace, dataset id, model ids)."""
    root = tmp_path / "ws"
    monkeypatch.setenv("UVP_WORKSPACE", str(root))
    ws = Workspace(root)
    dataset_id = ws.save_dataset(rating_dataset).id
    ids = [save_to_registry(ws, model, name=f"tiny {i}", dataset_id=dataset_id) for i, model in enumerate(two_models)]
    return ws, dataset_id, ids


def open_page(path: str, dataset_id: str, model_id: str) -> AppTest:
    """Run a page with the dataset and model active in the session."""
    at = AppTest.from_file(str(REPO / path), default_timeout=120)
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    at.session_state[state.ACTIVE_MODEL] = model_id
    return at.run()


def frames(at: AppTest) -> list:
    """Every dataframe on the page, as pandas."""
    return [df.value for df in at.dataframe]


def test_segments_page_overall_segments_cohort_and_two_models(workspace, rating_dataset, two_models) -> None:
    ws, dataset_id, ids = workspace
    at = open_page("pages/3_Segments.py", dataset_id, ids[1])
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EVAL_MODEL).value == ids[1]  # defaults to the active model

    evalset = evaluation_set.holdout(rating_dataset, "rating")
    overall = frames(at)[0]
    model_row = overall.loc[overall["model"] == "value model"].iloc[0]
    assert model_row["n"] == len(evalset.pairs)
    prediction = two_models[1].as_validated().predict(rating_dataset, evalset.pairs)  # held out: as validated
    assert model_row["rmse"] == pytest.approx(np.sqrt(np.mean((prediction - evalset.pairs["y"].to_numpy()) ** 2)), rel=1e-9)
    assert model_row["rmse_low"] <= model_row["rmse"] <= model_row["rmse_high"]

    at.selectbox(key="uvp.seg_column").set_value("user.region").run()
    assert not at.exception
    table = next(f for f in frames(at) if "segment" in f.columns and "trusted" in f.columns)
    assert set(table["segment"]) <= {"North", "South", "other"} and table["n"].sum() == len(evalset.pairs)

    at.selectbox(key="uvp.cohort_col0").set_value("user.region")
    at.selectbox(key="uvp.cohort_op0").set_value("==")
    at.text_input(key="uvp.cohort_value0").input("North")
    at.text_input(key="uvp.cohort_name").input("Northerners")
    next(b for b in at.button if b.label == "Save cohort").click().run()
    assert not at.exception
    assert any("Cohort saved" in s.value for s in at.success)
    assert [c.name for c in cohorts.CohortStore(ws.root).list()] == ["Northerners"]
    difference = next(f for f in frames(at) if "n_cohort" in f.columns)
    north = evalset.pairs["user_id"].map(rating_dataset.users.set_index("user_id")["region"]).eq("North").sum()
    assert difference["n_cohort"].iloc[0] == north

    at.text_input(key="uvp.cohort_value0").input("north")  # matching is exact: no pair, and the page says why
    at.text_input(key="uvp.cohort_name").input("lower-case north")
    next(b for b in at.button if b.label == "Save cohort").click().run()
    assert not at.exception
    assert any("matches no pair" in w.value for w in at.warning) and not any("Cohort saved" in x.value for x in at.success)
    assert not at.error and any("nothing to compare" in i.value for i in at.info)  # one consistent message, no error
    assert any(t.value.startswith("user.region: ") and "North" in t.value for t in at.text)
    assert at.selectbox(key="uvp.cohort_chosen").value == "lower-case north"  # the picker opens on the new cohort

    at.text_input(key="uvp.cohort_value0").input("South")  # another analyst's name: refused, theirs kept
    at.text_input(key="uvp.cohort_name").input("Northerners")
    next(b for b in at.button if b.label == "Save cohort").click().run()
    assert any("already saved" in t.value and "user.region == North" in t.value for t in at.text) and at.error
    assert cohorts.CohortStore(ws.root).get("Northerners").filters[0].value == "North"
    at.checkbox(key="uvp.cohort_replace").check()
    next(b for b in at.button if b.label == "Save cohort").click().run()
    assert cohorts.CohortStore(ws.root).get("Northerners").filters[0].value == "South" and not at.error
    assert any(t.value.startswith("Filters: user.region == South; saved (on dataset ") for t in at.text)
    delete = at.button(key="uvp.cohort_delete")
    assert delete.disabled  # deleting takes a tick first
    at.checkbox(key=state.cohort_delete_key("Northerners")).check().run()
    at.button(key="uvp.cohort_delete").click().run()
    assert [c.name for c in cohorts.CohortStore(ws.root).list()] == ["lower-case north"]
    assert at.button(key="uvp.cohort_delete").disabled  # the next cohort asks again

    at.selectbox(key="uvp.compare_model").set_value(ids[0])
    at.button(key="uvp.compare_run").click().run()
    assert not at.exception
    assert any(t.value.startswith("A = ") and t.value.count(" · ") >= 4 for t in at.text)  # both named name · created · id
    comparison = next(f for f in frames(at) if "difference" in f.columns and "column" in f.columns)
    overall_rmse = comparison.loc[(comparison["column"] == "overall") & (comparison["metric"] == "rmse")].iloc[0]
    other = two_models[0].as_validated().predict(rating_dataset, evalset.pairs)
    y = evalset.pairs["y"].to_numpy()
    expected = np.sqrt(np.mean((prediction - y) ** 2)) - np.sqrt(np.mean((other - y) ** 2))
    assert overall_rmse["difference"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert overall_rmse["difference_low"] <= overall_rmse["difference"] <= overall_rmse["difference_high"]
    at.selectbox(key="uvp.seg_column").set_value("history_bucket").run()  # the chart names segments as the picker does
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("compare-diff") or "Model A" in c.proto.spec)
    assert segments.DERIVED_SEGMENTS["history_bucket"] in chart.proto.spec and "history_bucket =" not in chart.proto.spec
    assert not any("<script>" in md.value for md in at.markdown)
    # another evaluation set waits for a click (a browser audit: 33 s of rescoring both models on 100k events, unasked)
    at.radio(key=state.EVAL_SOURCE).set_value(state.ALL_EVENTS).run()
    assert not at.exception and not any("difference" in f.columns and "column" in f.columns for f in frames(at))
    at.button(key="uvp.compare_run").click().run()
    assert any("difference" in f.columns and "column" in f.columns for f in frames(at))


def test_cold_start_page_curves_long_tail_and_top_k(workspace, rating_dataset) -> None:
    ws, dataset_id, ids = workspace
    at = open_page("pages/4_Cold_start_and_long_tail.py", dataset_id, ids[0])
    assert not at.exception, at.exception
    tables = frames(at)
    users = next(f for f in tables if "history_bucket" in f.columns)
    assert set(users["model"]) == {"value model", "bias baseline"}
    assert users.groupby("model")["n"].sum().eq(len(evaluation_set.holdout(rating_dataset, "rating").pairs)).all()
    groups = next(f for f in tables if "group" in f.columns)
    assert {"known users", "known items"} <= set(groups["group"]) and set(groups["model"]) == {"value model", "bias baseline"}
    assert any("has no ID row in the model" in c.value for c in at.caption)  # "new" here and on the model card differ
    ranks = next(f for f in tables if "metric" in f.columns and "hr@10" in set(f["metric"]))
    assert ranks["value"].between(0, 1).all()
    assert any("exposure_share" in f.columns for f in tables)
    beyond = next(f for f in tables if "metric" in f.columns and "catalogue_items" in set(f["metric"])).set_index("metric")["value"]
    assert beyond["catalogue_items"] == f"{rating_dataset.items['item_id'].nunique():,}"  # a count: not "40.0000"
    assert beyond["coverage"].count(".") == 1 and len(beyond["coverage"].split(".")[1]) == 4
    for element in at.dataframe:  # float columns read to 4 decimals, like the tiles (not 3.357142857142857)
        floats = [c for c in element.value.columns if pd.api.types.is_float_dtype(element.value[c])]
        config = json.loads(element.proto.columns or "{}")
        assert all(config.get(c, {}).get("type_config", {}).get("format", "").endswith(".4f") for c in floats), (floats, config)
    at.number_input(key="uvp.tail_head").set_value(0.3).run()
    assert not at.exception
    at.number_input(key="uvp.rank_k").set_value(5).run()
    assert not at.exception
    assert any("metric" in f.columns and "ndcg@5" in set(f["metric"]) for f in frames(at))


def test_upload_a_test_csv_and_refuse_a_bad_one(workspace, rating_dataset) -> None:
    ws, dataset_id, ids = workspace
    at = open_page("pages/3_Segments.py", dataset_id, ids[0])
    at.radio(key=state.EVAL_SOURCE).set_value(state.UPLOAD).run()
    assert not at.exception
    events = rating_dataset.events.tail(60)
    csv = events[["user_id", "item_id", "timestamp", "rating"]].assign(
        timestamp=events["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ).to_csv(index=False).encode()
    at.file_uploader(key=state.EVAL_UPLOAD).set_value([("test.csv", csv, "text/csv")]).run()
    assert not at.exception
    assert frames(at)[0]["n"].iloc[0] == 60
    notes = [i.value for i in at.info if i.value.startswith("Evaluation set")]  # Markdown-escaped text
    assert len(notes) == 1 and notes[0].startswith("Evaluation set — held\\-out\\: every row of test file test\\.csv is from "), notes
    at.file_uploader(key=state.EVAL_UPLOAD).set_value([("bad.csv", b"user_id,item_id\nu001,i001\n", "text/csv")]).run()
    assert not at.exception
    assert any("cannot be evaluated" in e.value for e in at.error)


def test_default_set_is_held_out_from_training_and_all_events_says_in_sample(workspace, rating_dataset, two_models) -> None:
    ws, dataset_id, ids = workspace
    at = open_page("pages/4_Cold_start_and_long_tail.py", dataset_id, ids[0])
    assert not at.exception, at.exception
    radio = at.radio(key=state.EVAL_SOURCE)
    assert radio.value == state.HOLDOUT and radio.format_func(state.HOLDOUT) == "Held out: the model's validation period"
    held = evaluation_set.model_holdout(two_models[0], rating_dataset)
    notes = [i.value for i in at.info if i.value.startswith("Evaluation set")]
    assert len(notes) == 1 and "held" in notes[0] and "not seen in training" in notes[0]
    users = next(f for f in frames(at) if "history_bucket" in f.columns)
    assert users.groupby("model")["n"].sum().eq(two_models[0].metrics_["n_validation"]).all()
    assert len(held.pairs) == two_models[0].metrics_["n_validation"]

    radio.set_value(state.ALL_EVENTS).run()
    assert not at.exception
    warned = [w.value for w in at.warning if w.value.startswith("Evaluation set")]
    assert len(warned) == 1 and "in\\-sample" in warned[0] and "optimistic" in warned[0]
    users = next(f for f in frames(at) if "history_bucket" in f.columns)
    assert users.groupby("model")["n"].sum().eq(rating_dataset.events["rating"].notna().sum()).all()


def test_segments_page_opens_a_date_column_on_its_default_period(workspace, rating_dataset, two_models) -> None:
    """Sign-up dates over five years open in quarters (months would make 60 segments); the choice is per column."""
    from dataclasses import replace

    import pandas as pd

    ws, _, ids = workspace
    users = rating_dataset.users.copy()
    users["signup_date"] = pd.date_range("2019-01-01", "2023-12-31", periods=len(users)).astype("datetime64[ms]")
    dataset_id = ws.save_dataset(replace(rating_dataset, users=users, name="ratings with sign-up dates")).id
    at = open_page("pages/3_Segments.py", dataset_id, ids[0])
    assert not at.exception, at.exception
    at.selectbox(key="uvp.seg_column").set_value("user.signup_date").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="uvp.seg_period.user.signup_date").value == "Q"
    table = next(f for f in frames(at) if "segment" in f.columns and "trusted" in f.columns)
    assert all(str(s)[4:5] == "Q" for s in table["segment"]) and 2 < len(table) <= 20
    at.selectbox(key="uvp.seg_period.user.signup_date").set_value("Y").run()
    table = next(f for f in frames(at) if "segment" in f.columns and "trusted" in f.columns)
    assert set(table["segment"].astype(str)) <= {str(y) for y in range(2019, 2024)}


def test_segments_page_cuts_a_column_listing_several_values_by_single_value(workspace, rating_dataset) -> None:
    """MovieLens lists genres as "Crime|Thriller": a walk-through found Segments cutting by every combination while
    What-if offered single categories. Each pair now counts in each category its item lists, and the page says so."""
    from dataclasses import replace

    ws, _, ids = workspace
    items = rating_dataset.items.copy()
    items["category"] = np.where(np.arange(len(items)) % 2 == 0, items["category"] + "|Gift", items["category"])
    dataset_id = ws.save_dataset(replace(rating_dataset, items=items, name="ratings with listed categories")).id
    at = open_page("pages/3_Segments.py", dataset_id, ids[0])
    assert not at.exception, at.exception
    at.selectbox(key="uvp.seg_column").set_value("item.category").run()
    assert not at.exception, at.exception
    table = next(f for f in frames(at) if "segment" in f.columns and "trusted" in f.columns)
    singles = set(items["category"].str.split("|").explode())
    assert "Gift" in set(table["segment"]) and set(table["segment"]) <= singles | {"other", "missing"}
    evalset = evaluation_set.holdout(rating_dataset, "rating")
    assert table["n"].sum() > len(evalset.pairs)  # a pair of a "…|Gift" item counts twice
    assert any("lists several values in" in c.value and "overlap" in c.value for c in at.caption)


def test_segments_page_keeps_segment_by_in_the_url_and_names_the_weakest_segments_in_words(workspace) -> None:
    """A walk-through found a reload resetting "Segment by" (the Explain page keeps its choices in the URL), and the
    weakest-segments view naming segments by their internal names ("history_bucket", "clearly_worse")."""
    ws, dataset_id, ids = workspace
    at = open_page("pages/3_Segments.py", dataset_id, ids[0])
    assert not at.exception, at.exception
    at.selectbox(key="uvp.seg_column").set_value("user.region").run()
    assert at.query_params.get("segment") == "user.region"  # written into the link
    weakest = next(f for f in frames(at) if "segment by" in f.columns)
    assert "clearly worse" in weakest.columns and "clearly_worse" not in weakest.columns
    from uvp_core.diagnostics.segments import DERIVED_SEGMENTS

    assert not set(weakest["segment by"]) & set(DERIVED_SEGMENTS) and set(weakest["segment by"]) & set(DERIVED_SEGMENTS.values())
    reloaded = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)  # a fresh session on the same link: a reload
    reloaded.query_params.update({"dataset": dataset_id, "model": ids[0], "segment": "user.region"})
    reloaded.run()
    reloaded.switch_page("pages/3_Segments.py").run()
    assert not reloaded.exception, reloaded.exception
    assert reloaded.selectbox(key="uvp.seg_column").value == "user.region"
    table = next(f for f in frames(reloaded) if "segment" in f.columns and "trusted" in f.columns)
    assert set(table["segment"]) <= {"North", "South", "other"}
    reloaded.selectbox(key="uvp.seg_metric").set_value("mae").run()  # a browser audit: these reset after a visit to Data
    reloaded.number_input(key="uvp.seg_min_rows").set_value(20).run()
    reloaded.switch_page("pages/1_Data.py").run()
    reloaded.switch_page("pages/3_Segments.py").run()
    assert not reloaded.exception, reloaded.exception
    assert reloaded.selectbox(key="uvp.seg_column").value == "user.region" and reloaded.query_params.get("segment") == "user.region"
    assert reloaded.selectbox(key="uvp.seg_metric").value == "mae" and reloaded.number_input(key="uvp.seg_min_rows").value == 20
    stale = AppTest.from_file(str(REPO / "pages/3_Segments.py"), default_timeout=120)
    stale.session_state[state.ACTIVE_DATASET] = dataset_id
    stale.session_state[state.ACTIVE_MODEL] = ids[0]
    stale.query_params.update({"segment": "user.no_such_column"})  # not a column of this evaluation: the default
    stale.run()
    assert not stale.exception and stale.selectbox(key="uvp.seg_column").value == "history_bucket"


def test_cold_start_page_names_buckets_whose_auc_is_undefined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binary_dataset,
                                                              purchase_model) -> None:  # fmt: skip
    """A walk-through found purchase-model buckets with one outcome only drawn without a marker and without a word."""
    from uvp_core.diagnostics import cold_start

    monkeypatch.setenv("UVP_WORKSPACE", str(tmp_path / "ws"))
    ws = Workspace(tmp_path / "ws")
    dataset_id = ws.save_dataset(binary_dataset).id
    model_id = save_to_registry(ws, purchase_model, name="tiny purchase", dataset_id=dataset_id)
    at = open_page("pages/4_Cold_start_and_long_tail.py", dataset_id, model_id)
    assert not at.exception, at.exception
    assert at.selectbox(key="uvp.cold_metric").value == "auc"
    users = next(f for f in frames(at) if "history_bucket" in f.columns)
    undefined = users.loc[users["auc"].isna() & (users["n"] > 0), "history_bucket"].astype(str).unique()
    assert len(undefined), "the tiny evaluation set should have a bucket with one outcome only"
    notes = [c.value.replace("\\", "") for c in at.caption if "AUC is undefined" in c.value]  # Markdown escapes dropped
    assert notes and notes[0] == cold_start.undefined_auc_note(users, "auc", "history_bucket")
    assert all(f"{b} (n=" in notes[0] for b in undefined)

