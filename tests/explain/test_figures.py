"""Figure builders return plotly figures whose numbers add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from uvp_core.explain import ExplainConfig, explain_pair, figures, group_importance, whatif


def test_waterfall_top_and_rest_add_up(rating_model, rating_dataset):
    exp = explain_pair(rating_model, rating_dataset, "u001", "i005", config=ExplainConfig(permutations=2))
    table = figures.waterfall_table(exp, top=5)
    assert len(table) == 6 and table["feature"].iloc[-1].endswith("other features")
    assert abs(float(exp.base_values) + table["contribution"].sum() - exp.prediction) < 1e-4
    fig = figures.waterfall(exp, top=5)
    assert isinstance(fig, go.Figure) and len(fig.data[0].y) == 8
    timeline = figures.history_timeline(exp, rating_model.pair_inputs(rating_dataset, "u001", "i005"))
    assert len(timeline.data[0].x) == int((exp.groups == "history").sum())
    assert len(figures.item_fields(exp).data[0].y) == 4
    other = explain_pair(rating_model, rating_dataset, "u001", "i006", config=ExplainConfig(permutations=2))
    assert len(figures.compare_items(exp, other, ("i005", "i006")).data) == 2


def test_group_and_cohort_figures(rating_model, rating_dataset):
    pairs = pd.DataFrame({"user_id": ["u001", "u002"], "item_id": ["i001", "i002"]})
    table = group_importance(rating_model, rating_dataset, pairs, config=ExplainConfig(permutations=1))
    assert isinstance(figures.group_importance(table), go.Figure)
    result = whatif.cohort_what_if(rating_model, rating_dataset, pairs, whatif.DropLastEvents(1))
    fig = figures.cohort_shift(result.frame)
    assert len(fig.data) == 2 and np.isfinite(result.mean_shift)
