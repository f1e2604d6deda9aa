"""Plotly figure builders: each takes a summary table and returns a figure, nothing else.

Data values reach plotly only as data (axis values, hover fields), never inside templates; plotly
still reads markup in those, so every builder is wrapped in plot_text.literal_text, which escapes it.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from uvp_core.plot_text import literal_text

LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 320}
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "yanchor": "top"}  # under the x axis title (anchored at its bottom it sat on the title)


def log_ticks(low: float, high: float, zero_at: float | None = None) -> dict:
    """A log axis's tickvals and ticktext: 1-2-5 steps written out in full (powers of ten only beyond three decades);
    zero_at: where 0 values are drawn (a log axis has no 0), labelled 0. Plotly's own minor labels read "2 1 5"."""
    low, high = max(float(low), 1e-9), max(float(high), float(low), 1e-9)
    decades = math.log10(high) - math.log10(low)
    values: list[float] = []
    for steps in ((1,) if decades > 3 else (1, 2, 5), tuple(range(1, 10))):  # too few ticks in a narrow range: every digit
        values = [s * 10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1) for s in steps
                  if low / 1.001 <= s * 10.0**e <= high * 1.001]  # fmt: skip
        if len(values) >= 2:
            break
    else:  # no two round values inside: the ends themselves
        values = sorted({float(f"{low:.3g}"), float(f"{high:.3g}")})
    if zero_at is not None:
        values = [zero_at, *(v for v in values if v > zero_at * 1.001)]
    text = ["0" if v == zero_at else f"{v:,.0f}" if v >= 1 and v == round(v) else f"{v:,.3g}" for v in values]
    return {"type": "log", "tickvals": values, "ticktext": text}


@literal_text
def events_over_time(table: pd.DataFrame) -> go.Figure:
    """Stacked event counts per period (from summary.events_over_time), the x axis named by the period's length."""
    fig = px.bar(table, x="period", y="events", color="series", title="Events over time")
    fig.update_layout(**LAYOUT, legend_title_text="", bargap=0.05)
    fig.update_xaxes(title=f"{period_name(table['period'])} (the first and the last can be partial)")
    return fig


def period_name(periods: pd.Series) -> str:
    """What one bar of events_over_time spans, from the gaps between period starts: day, week or month."""
    gaps = pd.Series(pd.to_datetime(periods).drop_duplicates().sort_values()).diff().dropna()
    days = gaps.min().days if len(gaps) else 1
    return "day" if days < 7 else "week" if days < 28 else "month"


@literal_text
def label_distribution(table: pd.DataFrame, role: str) -> go.Figure:
    """Bar chart of label values (from summary.label_distribution)."""
    fig = px.bar(
        table.assign(value=table["value"].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))),  # rating 4, not 4.0
        x="value",
        y="events",
        hover_data={"share": ":.1%"},
        title=f"Label distribution: {role}",
    )
    fig.update_layout(**LAYOUT)
    fig.update_xaxes(type="category", title=role)
    return fig


@literal_text
def popularity_curve(table: pd.DataFrame) -> go.Figure:
    """The long tail: events per item by rank, with the cumulative share on a second axis."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=table["rank"], y=table["events"], name="events per item", mode="lines",
            customdata=table[["item_id"]], hovertemplate="rank %{x}<br>item %{customdata[0]}<br>%{y} events",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=table["rank"], y=table["cumulative_share"], name="cumulative share", mode="lines",
            yaxis="y2", hovertemplate="top %{x} items: %{y:.1%} of events",
        )
    )
    fig.update_layout(
        **LAYOUT,
        title="Item popularity (long tail)",
        xaxis_title="item rank",
        yaxis={"title": "events", **log_ticks(table["events"].min(), table["events"].max())} if len(table) else {"title": "events", "type": "log"},
        yaxis2={"title": "cumulative share", "overlaying": "y", "side": "right", "tickformat": ".0%", "range": [0, 1],
                "tickvals": [0, 0.25, 0.5, 0.75, 1], "showgrid": False},  # round shares, not the log axis's grid
        legend=LEGEND_BELOW,
    )
    return fig


@literal_text
def history_lengths(table: pd.DataFrame) -> go.Figure:
    """Users per history-length bucket (from summary.history_length_distribution)."""
    fig = px.bar(table, x="history_length", y="users", hover_data={"share": ":.1%"}, title="User history length")
    fig.update_layout(**LAYOUT)
    fig.update_xaxes(type="category", title="events per user")
    return fig


@literal_text
def training_curves(history: pd.DataFrame, metric_name: str = "validation metric", *, same_units: bool = False,
                    loss_name: str = "training loss") -> go.Figure:  # fmt: skip
    """Training loss and validation metric per epoch (columns epoch, loss, val_metric); both lower is better. same_units:
    one y axis for both (log loss and log loss), else two. The best validation epoch, the one training keeps, is marked."""
    fig = go.Figure()
    if "loss" in history.columns:
        fig.add_trace(go.Scatter(x=history["epoch"], y=history["loss"], name="training loss", mode="lines+markers"))
    val_axis = "y" if same_units else "y2"
    fig.add_trace(go.Scatter(x=history["epoch"], y=history["val_metric"], name=metric_name, mode="lines+markers", yaxis=val_axis))
    scores = pd.to_numeric(history["val_metric"], errors="coerce")
    if scores.notna().any():
        best = scores.idxmin()
        fig.add_trace(go.Scatter(
            x=[history["epoch"].loc[best]], y=[scores.loc[best]], name="best epoch (kept)", mode="markers", yaxis=val_axis,
            marker={"symbol": "star", "size": 14, "color": "gold", "line": {"color": "black", "width": 1}},
            hovertemplate=f"epoch %{{x}}: best {metric_name} %{{y:.4f}}<extra></extra>",
        ))  # fmt: skip
    axes = ({"yaxis": {"title": f"loss and {metric_name} (lower is better)", "tickformat": ".4g"}} if same_units else
            {"yaxis": {"title": loss_name, "tickformat": ".4g"},  # 4 figures: the ticks read 0.82728, 0.82898
             "yaxis2": {"title": f"{metric_name} (lower is better)", "overlaying": "y", "side": "right", "tickformat": ".4g"}})  # fmt: skip
    fig.update_layout(**LAYOUT, title="Training curves", xaxis={"title": "epoch", "dtick": 1},  # whole epochs
                      legend=LEGEND_BELOW, **axes)  # fmt: skip
    if len(history) < 2:  # one point: autorange would centre it on an axis running below zero
        fig.update_layout(yaxis_rangemode="tozero", **({} if same_units else {"yaxis2_rangemode": "tozero"}))
    return fig
