"""Plotly figure builders for the diagnostics: each takes a diagnostics table and returns a figure.

As in uvp_core.figures, values from the data (segment levels, item ids, titles, column names) reach
plotly only as data — axis values, hover fields — never inside templates written here; every builder is
wrapped in plot_text.literal_text, so plotly draws that text literally instead of reading its markup.
Intervals are drawn as error bars; counts are in the hover.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from uvp_core.diagnostics.segments import segment_name, segment_order, trust_notes
from uvp_core.figures import LAYOUT, LEGEND_BELOW, log_ticks
from uvp_core.plot_text import literal_text

MODEL_COLOURS = {"value model": "#1f77b4", "bias baseline": "#ff7f0e"}
BUCKET_COLOURS = {"head": "#d62728", "torso": "#9467bd", "tail": "#2ca02c"}


def _wrap(title: str, width: int = 36) -> str:
    """A long axis title on several lines (plotly's <br>), so a vertical one fits the figure's height."""
    return "<br>".join(textwrap.wrap(title, width)) or title


def _hover_columns(*columns) -> np.ndarray:
    """customdata rows from columns of mixed types (numbers stay numbers, so hover formats like :, apply)."""
    out = np.empty((len(columns[0]), len(columns)), dtype=object)
    for j, column in enumerate(columns):
        out[:, j] = list(column)
    return out


def _errors(table: pd.DataFrame, metric: str) -> dict:
    """Asymmetric error bars from metric_low / metric_high (none when missing)."""
    low, high = f"{metric}_low", f"{metric}_high"
    if low not in table.columns:
        return {}
    return {
        "type": "data", "symmetric": False,
        "array": (table[high] - table[metric]).to_numpy(dtype=float),
        "arrayminus": (table[metric] - table[low]).to_numpy(dtype=float),
    }  # fmt: skip


_TOO_SMALL = {False: " · too few rows to trust", True: " · too few rows, positives or negatives to trust"}  # binary tables have AUC


@literal_text
def metric_by_segment(table: pd.DataFrame, metric: str, *, segment: str = "segment", title: str = "Metric by segment",
                      x_title: str = "segment") -> go.Figure:  # fmt: skip
    """Bars of one metric per segment (and per model when there is a `model` column), with 95% intervals;
    segments too small to trust (a `trusted` column that is False) are drawn faded."""
    fig = go.Figure()
    groups = table.groupby("model", sort=False) if "model" in table.columns else [("value model", table)]
    for name, part in groups:
        trusted = part["trusted"].to_numpy(dtype=bool) if "trusted" in part.columns else np.ones(len(part), bool)
        fig.add_trace(go.Bar(
            x=part[segment].astype(str), y=part[metric], name=str(name), error_y=_errors(part, metric),
            customdata=_hover_columns(part["n"], np.where(trusted, "", _TOO_SMALL["auc" in part.columns])),
            hovertemplate="%{x}<br>%{y:.4g}<br>n = %{customdata[0]:,}%{customdata[1]}<extra></extra>",
            marker={"color": MODEL_COLOURS.get(str(name)), "opacity": np.where(trusted, 1.0, 0.3)},
        ))  # fmt: skip
    if metric == "ece" and "ece_noise" in table.columns:  # ECE is biased upward on small segments: show chance's share
        noise = table.drop_duplicates(segment)
        fig.add_trace(go.Scatter(
            x=noise[segment].astype(str), y=noise["ece_noise"], name="ECE of a calibrated model (chance alone)", mode="markers",
            marker={"symbol": "line-ew-open", "size": 28, "color": "black", "line": {"width": 2}},
            hovertemplate="%{x}<br>a perfectly calibrated model: %{y:.4f} from chance alone<extra></extra>",
        ))  # fmt: skip
    fig.update_layout(**LAYOUT, title=title, barmode="group", yaxis_title=metric, legend=LEGEND_BELOW)
    fig.update_xaxes(type="category", title=x_title)
    return fig


@literal_text
def cold_start_curve(table: pd.DataFrame, metric: str, *, bucket: str, title: str, x_title: str = "bucket",
                     min_rows: int = 30) -> go.Figure:  # fmt: skip
    """One line per model of a metric against history-length or item-count buckets, with intervals; counts under the
    buckets; buckets too small to trust (segments.trust_notes: fewer than `min_rows` rows; binary: too few positives or
    negatives) drawn as hollow markers."""
    fig = go.Figure()
    for name, part in table.groupby("model", sort=False):
        notes = trust_notes(part, min_rows)
        few = notes != ""
        fig.add_trace(go.Scatter(
            x=part[bucket].astype(str), y=part[metric], name=str(name), mode="lines+markers", error_y=_errors(part, metric),
            customdata=_hover_columns(part["n"], np.where(few, np.char.add(" · ", notes.astype(str)), "")),
            hovertemplate="bucket %{x}<br>%{y:.4g}<br>n = %{customdata[0]:,}%{customdata[1]}<extra></extra>",
            line={"color": MODEL_COLOURS.get(str(name))},
            marker={"symbol": np.where(few, "circle-open", "circle"), "size": np.where(few, 10, 7)},
        ))  # fmt: skip
    fig.update_layout(**LAYOUT, title=title, yaxis_title=metric, legend=LEGEND_BELOW)
    counts = table.drop_duplicates(bucket)
    labels = counts[bucket].astype(str).tolist()
    fig.update_xaxes(type="category", title=x_title, tickmode="array", tickvals=labels,
                     ticktext=[f"{label}<br>n={int(n):,}" for label, n in zip(labels, counts["n"], strict=True)])  # fmt: skip
    return fig


@literal_text
def reliability_curve(table: pd.DataFrame) -> go.Figure:
    """Observed rate against mean predicted probability per bin, with the diagonal."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line={"dash": "dash", "color": "grey"}))
    fig.add_trace(go.Scatter(
        x=table["mean_predicted"], y=table["observed_rate"], mode="lines+markers", name="value model",
        customdata=np.column_stack([table["n"]]), hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>n = %{customdata[0]:,}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(**LAYOUT, title="Reliability curve", xaxis_title="mean predicted probability", yaxis_title="observed rate",
                      legend=LEGEND_BELOW)  # fmt: skip
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1])
    return fig


@literal_text
def two_way_heatmap(table: pd.DataFrame, value_name: str, *, x_title: str = "column segment", y_title: str = "row segment",
                    min_rows: int = 0) -> go.Figure:  # fmt: skip
    """Segment × segment heatmap of a value (from segments.two_way_table), counts in the hover; cells with fewer than
    min_rows rows are left blank (one rating in a cell set the colour scale's top)."""
    values = table.pivot(index="row_segment", columns="column_segment", values="value")
    counts = table.pivot(index="row_segment", columns="column_segment", values="n").reindex_like(values)
    rows, cols = segment_order(table["row_segment"]), segment_order(table["column_segment"])
    values, counts = values.reindex(index=rows, columns=cols), counts.reindex(index=rows, columns=cols)
    z = values.to_numpy(dtype=float, copy=True)  # (a pivot of a cached table can be read-only)
    z[counts.fillna(0).to_numpy(dtype=float) < min_rows] = np.nan
    fig = go.Figure(go.Heatmap(
        z=z, x=cols, y=rows, customdata=counts.fillna(0).to_numpy(dtype=float),
        colorscale="Reds", colorbar={"title": value_name},
        hovertemplate="%{y} × %{x}<br>%{z:.4g}<br>n = %{customdata:,}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(**{**LAYOUT, "height": 420}, title="Two-way view")
    fig.update_xaxes(type="category", title=x_title, automargin=True)
    fig.update_yaxes(type="category", title=_wrap(y_title), automargin=True)  # room for long segment names and the title
    return fig


@literal_text
def prediction_distribution(table: pd.DataFrame, kind: str = "box", x_title: str = "segment") -> go.Figure:
    """Box or violin plot of predicted values per segment (from segments.prediction_distribution)."""
    segments = table["segment"]
    order = segment_order(segments) if isinstance(segments.dtype, pd.CategoricalDtype) else sorted(set(segments.astype(str)))
    data = table.assign(segment=segments.astype(str))
    if kind == "violin":
        fig = px.violin(data, x="segment", y="prediction", box=True, points=False, category_orders={"segment": order})
    else:
        fig = px.box(data, x="segment", y="prediction", points=False, category_orders={"segment": order})
    fig.update_layout(**LAYOUT, title="Predicted value per segment")
    fig.update_xaxes(type="category", title=x_title)
    return fig


@literal_text
def weakest_segments(table: pd.DataFrame) -> go.Figure:
    """Horizontal bars of the weakest segments' error relative to overall (1 = as good as overall); segments whose
    whole interval is worse than overall (`clearly_worse`) solid, the others (maybe noise) pale."""
    labels = (table["column"].astype(str).map(segment_name) + " = " + table["segment"].astype(str)).to_numpy()  # as the pickers name them
    clear = table["clearly_worse"].fillna(False).to_numpy(dtype=bool) if "clearly_worse" in table.columns else np.ones(len(table), bool)
    fig = go.Figure(go.Bar(
        y=labels, x=table["relative"], orientation="h",
        marker={"color": np.where(clear, "#d62728", "#f4b6b6")},
        customdata=_hover_columns(table["n"], table["value"], np.where(clear, "clearly worse than overall", "interval includes overall")),
        hovertemplate="%{y}<br>relative %{x:.3f}<br>value %{customdata[1]:.4g}<br>n = %{customdata[0]:,}<br>%{customdata[2]}<extra></extra>",
    ))  # fmt: skip
    fig.add_vline(x=1.0, line_dash="dash", line_color="grey")
    values = table["relative"].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite):  # zoom on the interesting range around 1
        low, high = min(1.0, finite.min()), max(1.0, finite.max())
        pad = max(0.05, 0.1 * (high - low))
        fig.update_xaxes(range=[max(0.0, low - pad), high + pad])
    fig.update_layout(**{**LAYOUT, "height": max(320, 24 * len(table) + 80)}, title="Weakest segments (error relative to overall)",
                      xaxis_title="relative error (1 = overall)")  # fmt: skip
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    return fig


@literal_text
def differences(table: pd.DataFrame, *, label: str = "segment", title: str = "Differences with 95% intervals",
                x_title: str = "difference") -> go.Figure:  # fmt: skip
    """A forest plot of differences (difference, difference_low, difference_high) by a label column."""
    labels = table[label].astype(str).to_numpy()
    fig = go.Figure(go.Scatter(
        x=table["difference"], y=labels, mode="markers", error_x=_errors(table, "difference"),
        hovertemplate="%{y}<br>difference %{x:.4g}<extra></extra>",
    ))  # fmt: skip
    fig.add_vline(x=0.0, line_dash="dash", line_color="grey")
    fig.update_layout(**{**LAYOUT, "height": max(320, 26 * len(table) + 80)}, title=title, xaxis_title=x_title)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _interaction_ticks(interactions: pd.Series) -> dict:
    """A log axis for training interaction counts: items with none are drawn at 0.5 and that tick is labelled 0."""
    if not len(interactions):
        return {"type": "log"}
    zeros = bool((interactions <= 0).any())
    low = 0.5 if zeros else float(interactions.min())
    return log_ticks(low, max(float(interactions.max()), 1.0), zero_at=0.5 if zeros else None)


@literal_text
def popularity_curve(table: pd.DataFrame) -> go.Figure:
    """Interactions per item by rank (log scale), coloured by head / torso / tail, cumulative share on a second axis."""
    fig = go.Figure()
    for bucket, part in table.groupby("bucket", observed=True, sort=False):
        fig.add_trace(go.Scatter(
            x=part["rank"], y=np.maximum(part["interactions"], 0.5), name=str(bucket), mode="markers",
            marker={"color": BUCKET_COLOURS.get(str(bucket)), "size": 5},
            customdata=np.column_stack([part["item_id"].astype(str), part["interactions"]]),
            hovertemplate="rank %{x}<br>item %{customdata[0]}<br>%{customdata[1]} interactions<extra></extra>",
        ))  # fmt: skip
    fig.add_trace(go.Scatter(x=table["rank"], y=table["cumulative_share"], name="cumulative share", mode="lines", yaxis="y2",
                             hovertemplate="top %{x} items: %{y:.1%} of interactions<extra></extra>"))  # fmt: skip
    fig.update_layout(
        **LAYOUT, title="Popularity curve: head, torso and tail", xaxis_title="item rank",
        yaxis={"title": "training interactions", **_interaction_ticks(table["interactions"])},
        yaxis2={"title": "cumulative share", "overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1],
                "tickvals": [0, 0.25, 0.5, 0.75, 1], "showgrid": False},  # round shares, not the log axis's grid
        legend=LEGEND_BELOW,
    )  # fmt: skip
    return fig


@literal_text
def exposure_shares(table: pd.DataFrame) -> go.Figure:
    """Share of top-K exposure per popularity bucket next to its share of interactions and of items."""
    names = {"item_share": "share of items", "interaction_share": "share of training interactions",
             "exposure_share": "share of top-K recommendations"}  # fmt: skip
    long = table.melt(id_vars="bucket", value_vars=list(names), var_name="share", value_name="value")
    long["share"] = long["share"].map(names)
    fig = px.bar(long, x="bucket", y="value", color="share", barmode="group")
    fig.update_layout(**LAYOUT, title="Exposure in top-K lists vs interactions", yaxis_tickformat=".0%", yaxis_title="share",
                      legend={**LEGEND_BELOW, "title": None})  # fmt: skip
    fig.update_xaxes(type="category", title="popularity bucket")
    return fig


@literal_text
def popularity_bias(per_user: pd.DataFrame) -> go.Figure:
    """Per user: mean popularity recommended against mean popularity consumed (log-log), with the diagonal."""
    data = per_user.dropna(subset=["consumed_popularity"])
    data = data.loc[(data["consumed_popularity"] > 0) & (data["recommended_popularity"] > 0)]
    fig = go.Figure()
    if len(data):
        top = float(max(data["consumed_popularity"].max(), data["recommended_popularity"].max()))
        low = float(min(data["consumed_popularity"].min(), data["recommended_popularity"].min()))
        fig.add_trace(go.Scatter(x=[low, top], y=[low, top], mode="lines", name="equal", line={"dash": "dash", "color": "grey"}))
    fig.add_trace(go.Scatter(
        x=data["consumed_popularity"], y=data["recommended_popularity"], mode="markers", name="users",
        customdata=np.column_stack([data["user_id"].astype(str)]) if len(data) else None,
        hovertemplate="user %{customdata[0]}<br>consumed %{x:.1f}<br>recommended %{y:.1f}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(**LAYOUT, title="Popularity bias per user", xaxis_title="mean popularity consumed (training interactions)",
                      yaxis_title="mean popularity recommended (training interactions)", legend=LEGEND_BELOW)  # fmt: skip
    ticks = log_ticks(low, top) if len(data) else {"type": "log"}  # the same ticks on both axes
    fig.update_xaxes(**ticks)
    fig.update_yaxes(**ticks)
    return fig


@literal_text
def ranking_metrics(table: pd.DataFrame) -> go.Figure:
    """Top-K metrics (metric, value, low, high) as bars with intervals."""
    fig = go.Figure(go.Bar(
        x=table["metric"], y=table["value"],
        error_y={"type": "data", "symmetric": False, "array": (table["high"] - table["value"]).to_numpy(dtype=float),
                 "arrayminus": (table["value"] - table["low"]).to_numpy(dtype=float)},
        customdata=np.column_stack([table["n"]]), hovertemplate="%{x}: %{y:.4f}<br>users = %{customdata[0]:,}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(**LAYOUT, title="Top-K ranking metrics", yaxis_range=[0, 1])
    return fig
