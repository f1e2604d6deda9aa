"""Figure builders return plotly figures whose numbers add up."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from uvp_core.explain import (
    Background,
    ExplainConfig,
    compare_explanations,
    explain_inputs,
    explain_pair,
    figures,
    group_importance,
    whatif,
)


def test_waterfall_top_and_rest_add_up(rating_model, rating_dataset):
    exp = explain_pair(rating_model, rating_dataset, "u001", "i005", config=ExplainConfig(permutations=2))
    table = figures.waterfall_table(exp, top=5)
    assert len(table) == 6 and table["feature"].iloc[-1].endswith("other features")
    assert abs(float(exp.base_values) + table["contribution"].sum() - exp.prediction) < 1e-4
    fig = figures.waterfall(exp, top=5)
    assert isinstance(fig, go.Figure) and len(fig.data[0].y) == 8
    lo, hi = fig.layout.xaxis.range  # zoomed to the steps: every running total inside, with some margin
    totals = float(exp.base_values) + np.cumsum([0.0, *table["contribution"].iloc[::-1]])  # in the order the bars are drawn
    assert lo < totals.min() and totals.max() < hi and hi - lo < 2 * (totals.max() - totals.min()) + 1e-2
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    timeline = figures.history_timeline(exp, inputs, "predicted rating")
    assert timeline.layout.yaxis.title.text == "SHAP" and timeline.layout.title.text.endswith("SHAP, in predicted rating")
    assert figures.item_fields(exp, "predicted rating").layout.xaxis.title.text == "SHAP, in predicted rating"  # units named
    assert len(timeline.data[0].x) == sum(f.kind == "item_events" for f in exp.features) > 0  # an item at its latest event
    assert timeline.layout.xaxis.range is None  # spread over days: plotly's own range
    moment = pd.Timestamp("2024-03-01 12:07", tz="UTC")  # every event at one moment (one invoice of a purchase log)
    same = replace(inputs, history=[replace(e, timestamp=moment) for e in inputs.history], time=moment + pd.Timedelta(days=1))
    lo, hi = (pd.Timestamp(x) for x in figures.history_timeline(explain_inputs(rating_model, same, Background()), same).layout.xaxis.range)
    assert hi - lo == pd.Timedelta(days=2) and lo < moment < hi  # not an axis of milliseconds
    fields = figures.item_fields(exp).data[0].y
    assert len(fields) == 4
    # named as the waterfall names them ("item launch date", not the raw column "launch_date")
    assert list(fields) == [f.name.split(" = ")[0] for f in exp.features if f.kind == "item_field"] and "item price" in fields
    other = explain_pair(rating_model, rating_dataset, "u001", "i006", config=ExplainConfig(permutations=2))
    comparison = compare_explanations(exp, other)
    assert sum(len(t.y) for t in figures.compare_items(comparison, top=3).data) == 4  # 3 shown + the rest summed


def test_waterfall_range_covers_every_running_total():
    assert figures.waterfall_range(3.5, np.array([0.7, -0.2, 0.1])) == pytest.approx((3.5 - 0.105, 4.2 + 0.105))  # totals 3.5, 4.2, 4.0, 4.1
    assert figures.waterfall_range(-1.0, np.array([-0.5, 0.2])) == pytest.approx((-1.5 - 0.075, -1.0 + 0.075))
    lo, hi = figures.waterfall_range(2.0, np.zeros(3))  # nothing moves: still a visible range around the base
    assert lo < 2.0 < hi


def test_group_and_cohort_figures(rating_model, rating_dataset):
    pairs = pd.DataFrame({"user_id": ["u001", "u002"], "item_id": ["i001", "i002"]})
    table = group_importance(rating_model, rating_dataset, pairs, config=ExplainConfig(permutations=1))
    assert isinstance(figures.group_importance(table), go.Figure)
    result = whatif.cohort_what_if(rating_model, rating_dataset, pairs, whatif.DropLastEvents(1))
    fig = figures.cohort_shift(result.frame)
    assert len(fig.data) == 2 and np.isfinite(result.mean_shift)
    deltas = figures.cohort_deltas(result.frame, result.ci_low, result.ci_high, "predicted rating")
    assert deltas.layout.xaxis.title.text == "change in predicted rating (after − before)"  # the unit, not only "after - before"
    assert list(deltas.data[0].x) == list(result.frame["delta"])
    lo, hi = deltas.layout.xaxis.range  # every bar, the zero line and the interval inside, off the edges
    assert lo < min(0.0, result.frame["delta"].min(), result.ci_low) and hi > max(0.0, result.frame["delta"].max(), result.ci_high)
    assert deltas.layout.shapes[1].x0 == pytest.approx(result.mean_shift)  # the mean shift line (after the interval band)


def test_probability_note_says_what_a_binary_models_probabilities_are_relative_to(purchase_model, rating_model):
    """An audit read a purchase-log model's 0.95 as a 95% chance of purchase: the pages now say what the scale is."""
    from types import SimpleNamespace

    from uvp_core.explain.figures import probability_note

    assert probability_note(rating_model) is None
    funnel = probability_note(purchase_model)  # views and clicks are negatives too
    assert "the non-converting events and one sampled item the user never interacted with per purchase" in funnel
    log = SimpleNamespace(task="binary", target="purchase", metrics_={"n_sampled_negatives": 30, "n_event_negatives": 0})
    assert probability_note(log).startswith("Probabilities are calibrated to a mix of one sampled item")
    assert probability_note(SimpleNamespace(task="binary", target="label", metrics_={"n_sampled_negatives": 0})) is None
