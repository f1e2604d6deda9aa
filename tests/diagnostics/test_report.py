"""The whole report on the synthetic datasets with a stand-in scorer: JSON shape, numbers, HTML escaping, comparison."""

from __future__ import annotations

import html
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.offline
import pytest
from sklearn.metrics import roc_auc_score

from uvp_core.diagnostics import compare, evaluation_set, ranking, report, scoring
from uvp_core.diagnostics.html_report import render_html
from uvp_core.diagnostics.metrics import Bootstrap
from uvp_core.diagnostics.segments import SegmentSpec

XSS = "<script>alert(1)</script>"
FAST = report.EvalConfig(boot=Bootstrap(resamples=50), candidates=ranking.CandidateConfig(mode="sampled", negatives=10, max_users=20))


class StandInScorer:
    """A deterministic 'model': a score from the item number and the user number."""

    def __init__(self, target: str, task: str, shift: float = 0.0):
        self.target, self.task, self.shift = target, task, shift

    def predict(self, dataset, pairs: pd.DataFrame) -> np.ndarray:
        item = pairs["item_id"].str[1:].astype(int).to_numpy()
        user = pairs["user_id"].str[1:].astype(int).to_numpy()
        if self.task == "regression":
            return 2.5 + (item % 5) * 0.4 + (user % 3) * 0.1 + self.shift
        return 1 / (1 + np.exp(-((item % 4 == user % 4) * 2.0 - 1.0 + self.shift)))


@pytest.fixture(scope="module")
def rating_run(rating_dataset):
    """The report of the stand-in rating scorer on a holdout of the synthetic ratings (a title with markup)."""
    popular = rating_dataset.events["item_id"].value_counts().index[0]
    items = rating_dataset.items.assign(title=np.where(rating_dataset.items["item_id"] == popular, XSS, rating_dataset.items["title"]))
    users = rating_dataset.users.assign(region=rating_dataset.users["region"].replace("South", "<img src=x onerror=alert(2)>"))
    dataset = replace(rating_dataset, items=items, users=users)
    evalset = evaluation_set.holdout(dataset, "rating")
    model = StandInScorer("rating", "regression")
    return dataset, evalset, scoring.run_evaluation(model, dataset, evalset, FAST, name="stand-in")


def test_json_report_shape_and_numbers(rating_run) -> None:
    dataset, evalset, evaluation = rating_run
    data = json.loads(json.dumps(evaluation.report.to_dict(), allow_nan=False))
    assert {"overall", "segments", "cold_start", "long_tail", "ranking"} <= set(data)
    y = evalset.pairs["y"].to_numpy()
    p = StandInScorer("rating", "regression").predict(dataset, evalset.pairs)
    overall = {row["model"]: row for row in data["overall"]}
    assert overall["value model"]["n"] == len(y)
    assert overall["value model"]["rmse"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)))
    assert overall["value model"]["bias"] == pytest.approx(np.mean(p - y))
    assert overall["value model"]["rmse_low"] <= overall["value model"]["rmse"] <= overall["value model"]["rmse_high"]
    assert "bias baseline" in overall
    region = evalset.pairs["user_id"].map(dataset.users.set_index("user_id")["region"])
    north = {row["segment"]: row for row in data["segments"]["user.region"]}["North"]
    mask = (region == "North").to_numpy()
    assert north["n"] == mask.sum() and north["mae"] == pytest.approx(np.mean(np.abs(p - y)[mask]))
    for section in (data["segments"]["user.region"], data["cold_start"]["users"], data["cold_start"]["items"],
                    data["cold_start"]["new_entities"], data["long_tail"]["buckets"], data["ranking"]["metrics"]):  # fmt: skip
        assert all("n" in row for row in section)
    assert sum(r["n"] for r in data["cold_start"]["users"] if r["model"] == "value model") == len(y)
    assert data["ranking"]["candidates"]["mode"] == "sampled" and data["ranking"]["candidates"]["negatives"] == 10
    assert {r["metric"] for r in data["ranking"]["metrics"]} == {"hr@10", "ndcg@10", "recall@10", "mrr"}
    assert data["meta"]["evaluation_set"]["note"].startswith("time holdout: the latest 10% of 'rating' label events, from ")
    assert set(data["ranking"]["beyond_accuracy"]) >= {"coverage", "gini_exposure", "average_popularity", "novelty", "personalisation"}
    assert {r["bucket"] for r in data["long_tail"]["exposure"]} == {"head", "torso", "tail"}
    assert data["meta"]["bootstrap"]["resamples"] == 50 and data["meta"]["model"]["name"] == "stand-in"
    assert data["weakest_segments"] and all(r["n"] >= 30 for r in data["weakest_segments"])


def test_html_report_is_self_contained_and_escapes_data(rating_run) -> None:
    _, _, evaluation = rating_run
    page = render_html(evaluation.report)
    assert XSS not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the title, escaped in the most-popular-items table
    # a segment level inside figure JSON: drawn literally by plotly (&lt;), then JSON-escaped (\u0026)
    assert "\\u0026lt;img src=x onerror=alert(2)\\u0026gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # and in the segment table
    marker = plotly.offline.get_plotlyjs()[:200]
    assert page.count(marker) == 1 and page.count("Plotly.newPlot(") >= 5
    assert "<script src=" not in page  # nothing loaded from elsewhere
    assert html.escape(evaluation.report.meta["evaluation_set"]["note"]) in page  # which events were scored, in words


def test_binary_report_has_calibration_and_exact_auc(binary_dataset) -> None:
    evalset = evaluation_set.holdout(binary_dataset, "purchase")
    model = StandInScorer("purchase", "binary")
    evaluation = scoring.run_evaluation(model, binary_dataset, evalset, FAST)
    frame = evaluation.frame
    row = evaluation.report.overall.iloc[0]
    assert row["auc"] == pytest.approx(roc_auc_score(frame["y"], frame["prediction"]))
    assert evaluation.report.calibration is not None and evaluation.report.calibration["n"].sum() == len(frame)
    assert evaluation.report.to_dict()["ranking"]["relevance"] == "label = 1"
    with pytest.raises(ValueError, match="purchase"):
        scoring.score_pairs(StandInScorer("click", "binary"), binary_dataset, evalset)


def test_compare_two_models_paired(rating_run, rating_dataset) -> None:
    dataset, evalset, evaluation = rating_run
    other = scoring.evaluation_frame(scoring.score_pairs(StandInScorer("rating", "regression", shift=0.5), dataset, evalset), dataset, evalset)
    paired = compare.paired_frame(evaluation.frame, other)
    table = compare.compare_models(paired, "regression", [SegmentSpec("user.region")], Bootstrap(resamples=50))
    bias = table.loc[(table["column"] == "overall") & (table["metric"] == "bias")].iloc[0]
    assert bias["difference"] == pytest.approx(-0.5)
    assert bias["difference_low"] == pytest.approx(-0.5, abs=1e-4) and bias["difference_high"] == pytest.approx(-0.5, abs=1e-4)
    assert set(table["column"]) == {"overall", "user.region"}
    with pytest.raises(ValueError):
        compare.paired_frame(evaluation.frame, other.iloc[:-1])


def test_overall_tiles_say_how_the_model_compares_with_the_baseline() -> None:
    """A walk-through: the AUC tile showed the model's 0.7416 alone while the bias baseline had 0.7545 in the table below."""
    import pandas as pd

    from uvp_core.diagnostics.report import overall_tiles

    overall = pd.DataFrame({"model": ["value model", "bias baseline"], "auc": [0.7416, 0.7545], "log_loss": [0.5, 0.6], "bias": [0.01, -0.02]})
    tiles = {t["metric"]: t for t in overall_tiles(overall, ["auc", "log_loss", "bias"])}
    assert tiles["auc"]["delta"] == pytest.approx(-0.0129) and tiles["auc"]["color"] == "normal"  # shown red: worse
    assert tiles["log_loss"]["delta"] == pytest.approx(-0.1) and tiles["log_loss"]["color"] == "inverse"  # lower is better: green
    assert tiles["bias"]["color"] == "off"
    alone = overall_tiles(overall.iloc[:1].drop(columns="model"), ["auc"])
    assert alone == [{"metric": "auc", "value": 0.7416, "delta": None, "color": "normal"}]


def test_report_names_the_columns_whose_segments_overlap(rating_dataset) -> None:
    """A column listing several values ("Kitchen|Gift") is cut by single value; the JSON and HTML reports say so."""
    items = rating_dataset.items.assign(category=np.where(np.arange(len(rating_dataset.items)) % 2 == 0,
                                                          rating_dataset.items["category"] + "|Gift", rating_dataset.items["category"]))  # fmt: skip
    dataset = replace(rating_dataset, items=items)
    evalset = evaluation_set.holdout(dataset, "rating")
    evaluation = scoring.run_evaluation(StandInScorer("rating", "regression"), dataset, evalset, FAST, name="stand-in")
    data = json.loads(json.dumps(evaluation.report.to_dict(), allow_nan=False))
    note = data["meta"]["overlapping_segments"]["item.category"]
    assert "lists several values in" in note and list(data["meta"]["overlapping_segments"]) == ["item.category"]
    gift = {row["segment"]: row for row in data["segments"]["item.category"]}["Gift"]
    assert gift["n"] == evaluation.frame["item.category"].str.contains("|Gift", regex=False).sum()
    assert html.escape(note) in render_html(evaluation.report)
