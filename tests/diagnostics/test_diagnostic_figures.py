"""What the diagnostics charts tell a reader: counts under cold-start buckets, named shares, axis titles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uvp_core import diagnostic_figures as figures


def test_cold_start_curve_shows_each_buckets_count_under_its_label() -> None:
    table = pd.DataFrame({
        "model": ["value model"] * 3 + ["bias baseline"] * 3,
        "history_bucket": ["0", "1", "2–3"] * 2,
        "n": [1, 12, 340] * 2,
        "rmse": [0.9, 1.0, 1.1, 0.8, 0.9, 1.0],
    })  # fmt: skip
    fig = figures.cold_start_curve(
        table, "rmse", bucket="history_bucket", title="Users", x_title="events before"
    )
    assert list(fig.layout.xaxis.ticktext) == ["0<br>n=1", "1<br>n=12", "2–3<br>n=340"]
    assert (
        list(fig.layout.xaxis.tickvals) == ["0", "1", "2–3"]
        and fig.layout.xaxis.title.text == "events before"
    )
    assert [trace.name for trace in fig.data] == ["value model", "bias baseline"]
    assert list(fig.data[0].marker.symbol) == ["circle-open", "circle-open", "circle"]  # n = 1 and 12 are too few


def test_exposure_chart_names_its_shares_in_words() -> None:
    table = pd.DataFrame({"bucket": ["head", "torso", "tail"], "item_share": [0.01, 0.2, 0.79],
                          "interaction_share": [0.2, 0.6, 0.2], "exposure_share": [0.5, 0.45, 0.05]})  # fmt: skip
    fig = figures.exposure_shares(table)
    assert {trace.name for trace in fig.data} == {
        "share of items",
        "share of training interactions",
        "share of top-K recommendations",
    }
    assert fig.layout.yaxis.title.text == "share"


def test_segments_too_small_to_trust_are_faded() -> None:
    table = pd.DataFrame({"segment": ["big", "small"], "n": [300, 4], "trusted": [True, False], "rmse": [0.9, 1.4]})
    bar = figures.metric_by_segment(table, "rmse").data[0]
    assert list(bar.marker.opacity) == [1.0, 0.3]
    assert [row[0] for row in bar.customdata] == [300, 4] and bar.customdata[1][1].endswith("too few rows to trust")


def test_weakest_segments_chart_marks_the_clearly_worse_ones() -> None:
    table = pd.DataFrame({"column": ["c", "c"], "segment": ["sure", "noisy"], "n": [400, 40], "value": [1.0, 1.2],
                          "relative": [1.1, 1.3], "clearly_worse": [True, False]})  # fmt: skip
    bar = figures.weakest_segments(table).data[0]
    assert list(bar.marker.color) == ["#d62728", "#f4b6b6"] and bar.customdata[1][2] == "interval includes overall"


def test_weakest_segments_chart_names_segments_as_the_pickers_do() -> None:
    table = pd.DataFrame({"column": ["popularity_bucket", "user.region"], "segment": ["torso", "North"], "n": [400, 40],
                          "value": [1.0, 1.2], "relative": [1.1, 1.3], "clearly_worse": [True, False]})  # fmt: skip
    fig = figures.weakest_segments(table)
    assert list(fig.data[0].y) == ["item popularity bucket (head / torso / tail) = torso", "user.region = North"]
    assert fig.layout.yaxis.automargin is True  # long names get the room they need


def test_two_way_heatmap_leaves_room_for_its_y_axis_title() -> None:
    """A walk-through found the y-axis title clipped (a 10 px left margin, and a title longer than the plot is high)."""
    table = pd.DataFrame({"row_segment": ["0", "11–20"], "column_segment": ["North", "South"], "value": [0.9, 1.1], "n": [40, 50]})
    fig = figures.two_way_heatmap(table, "rmse", x_title="user.region", y_title="history length (user events before the prediction time)")
    assert fig.layout.yaxis.automargin is True and fig.layout.xaxis.automargin is True
    assert fig.layout.yaxis.title.text == "history length (user events before<br>the prediction time)"


def test_two_way_heatmap_leaves_cells_under_the_minimum_rows_blank() -> None:
    """A scale audit: a cell with n = 1 (RMSE 3.44) set the top of the colour scale though 'minimum rows' was 30."""
    table = pd.DataFrame({"row_segment": ["a", "a", "b"], "column_segment": ["x", "y", "x"], "value": [0.9, 3.44, 1.1], "n": [40, 1, 30]})
    z = np.asarray(figures.two_way_heatmap(table, "rmse", min_rows=30).data[0].z, dtype=float)
    assert z[0, 0] == 0.9 and np.isnan(z[0, 1]) and z[1, 0] == 1.1  # b × y: no rows at all, blank too
    assert np.isnan(z[1, 1]) and not np.isnan(np.asarray(figures.two_way_heatmap(table, "rmse").data[0].z, dtype=float)[0, 1])


def test_log_axes_write_their_ticks_out_and_label_zero() -> None:
    """Two browser audits read the popularity axes' minor labels as "2 1 5" (5 meaning 0.5, where never-bought items
    are drawn) and saw a single "100" tick on the popularity-bias scatter."""
    table = pd.DataFrame({"rank": [1, 2, 3], "item_id": ["a", "b", "c"], "interactions": [300, 20, 0],
                          "bucket": ["head", "torso", "tail"], "cumulative_share": [0.9, 1.0, 1.0]})  # fmt: skip
    axis = figures.popularity_curve(table).layout.yaxis
    assert axis.type == "log" and list(axis.ticktext) == ["0", "1", "2", "5", "10", "20", "50", "100", "200"]
    assert axis.tickvals[0] == 0.5 and min(min(t.y) for t in figures.popularity_curve(table).data[:3]) == 0.5
    per_user = pd.DataFrame({"user_id": ["u1", "u2"], "consumed_popularity": [12.0, 40.0], "recommended_popularity": [15.0, 55.0]})
    fig = figures.popularity_bias(per_user)
    assert list(fig.layout.xaxis.ticktext) == list(fig.layout.yaxis.ticktext) == ["20", "50"]
