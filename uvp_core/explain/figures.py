"""Plotly figures of explanations and what-if results: each takes results and returns a figure.

Data text (feature names, item fields) reaches plotly only as data (axis values, hover fields),
never inside templates; every builder is wrapped in plot_text.literal_text, so plotly draws it literally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import shap

from uvp_core.explain.features import GROUP_LABELS
from uvp_core.explain.tokens import SPECIAL_TOKENS
from uvp_core.model import PairInputs
from uvp_core.plot_text import literal_text
from uvp_core.text.templates import attribute_name

LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}}
GROUP_COLOURS = {"profile": "#4C78A8", "history": "#F58518", "item": "#54A24B", "collaborative": "#B279A2", "other": "#9D9D9D"}


def waterfall_table(exp: shap.Explanation, top: int = 10) -> pd.DataFrame:
    """The top contributions by |SHAP| (largest first) plus one row summing the rest."""
    values = np.asarray(exp.values, dtype=float)
    order = np.argsort(-np.abs(values), kind="stable")
    shown = order[:top]
    rows = [{"feature": str(exp.feature_names[i]), "group": str(exp.groups[i]), "value": str(exp.data[i]), "contribution": values[i]} for i in shown]
    rest = order[top:]
    if len(rest):
        rows.append({"feature": f"{len(rest)} other features", "group": "other", "value": "", "contribution": float(values[rest].sum())})
    return pd.DataFrame(rows, columns=["feature", "group", "value", "contribution"])


def waterfall_range(base: float, contributions: np.ndarray, pad: float = 0.15) -> tuple[float, float]:
    """The x range a waterfall zooms to: every running total from the base value to the prediction, padded."""
    totals = float(base) + np.concatenate([[0.0], np.cumsum(np.asarray(contributions, dtype=float))])
    lo, hi = float(totals.min()), float(totals.max())
    margin = max(hi - lo, 1e-3 * max(1.0, abs(hi))) * pad
    return lo - margin, hi + margin


def output_title(model) -> str:
    """What a model's predictions (and so its SHAP values) are measured in, for axis titles."""
    return f"predicted {model.target}" if model.task == "regression" else f"predicted probability of {model.target}"


def probability_note(model) -> str | None:
    """For a binary model, what its probabilities are relative to (the calibration's mix of negatives); None otherwise."""
    if model.task != "binary":
        return None
    metrics = getattr(model, "metrics_", {}) or {}
    if not metrics.get("n_sampled_negatives"):
        return None
    events = "" if metrics.get("n_event_negatives") == 0 else "the non-converting events and "
    return (f"Probabilities are calibrated to a mix of {events}one sampled item the user never interacted with per "
            f"{model.target} (the model card says how): compare them across users and items; they are not the chance "
            f"that any one item shown is a {model.target}.")


@literal_text
def waterfall(exp: shap.Explanation, top: int = 10, title: str = "Why this prediction", x_title: str = "model output") -> go.Figure:
    """Horizontal waterfall: base value, the top contributions (rest summed), the prediction; zoomed to the steps."""
    table = waterfall_table(exp, top).iloc[::-1]  # plotted bottom-up: the largest ends on top, next to the prediction
    labels = ["base value", *table["feature"], "prediction"]
    base, prediction = float(exp.base_values), float(exp.prediction)
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=[base, *table["contribution"], prediction],
            measure=["absolute", *["relative"] * len(table), "total"],
            text=[f"{base:.4f}", *[f"{c:+.4f}" for c in table["contribution"]], f"{prediction:.4f}"],
            textposition="outside",
            cliponaxis=False,
            customdata=["", *table["value"], ""],
            hovertemplate="%{y}<br>%{x:+.4f}<br>%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=140 + 28 * len(labels), **LAYOUT)
    fig.update_yaxes(type="category", autorange="reversed", categoryorder="array", categoryarray=labels)
    # Zoomed to the running totals (as shap's waterfall is): from 0, the base bar dwarfs every contribution.
    # The base and prediction bars then start off the left edge.
    fig.update_xaxes(range=waterfall_range(base, table["contribution"].to_numpy()), title=f"{x_title} (zoomed to the steps)")
    return fig


@literal_text
def history_timeline(exp: shap.Explanation, inputs: PairInputs, unit: str = "prediction") -> go.Figure:
    """The user's history the model reads, over time, coloured by contribution (an item at its latest event); `unit`:
    what the contributions are measured in (output_title)."""
    rows = []
    for f, v in zip(exp.features, exp.values, strict=True):
        if f.kind == "event":
            event = inputs.history[int(f.key)]
        elif f.kind == "item_events":
            event = max((e for e in inputs.history if e.item_id == f.key), key=lambda e: pd.Timestamp(e.timestamp))
        else:
            continue
        rows.append({"time": pd.Timestamp(event.timestamp), "event": f.name, "contribution": float(v), "item_id": event.item_id})
    table = pd.DataFrame(rows, columns=["time", "event", "contribution", "item_id"])
    bound = float(table["contribution"].abs().max()) if len(table) else 1.0
    fig = px.scatter(
        table, x="time", y="contribution", color="contribution", hover_data={"event": True, "item_id": True},
        color_continuous_scale="RdBu", range_color=(-bound or -1, bound or 1), title=f"History timeline: SHAP, in {unit}",
    )
    fig.update_yaxes(title="SHAP")  # short titles: the chart shares the page's width with another (a long one was cut off)
    fig.update_layout(coloraxis_colorbar={"title": {"text": "SHAP"}})
    fig.update_traces(marker={"size": 12, "line": {"width": 1, "color": "#333"}})
    fig.add_hline(y=0, line_dash="dot", line_color="#888")
    fig.update_layout(height=320, **LAYOUT)
    if len(table) and (table["time"].max() - table["time"].min()) < pd.Timedelta(hours=1):  # one moment: a day each side,
        middle = table["time"].min() + (table["time"].max() - table["time"].min()) / 2  # not an axis of milliseconds
        fig.update_xaxes(range=[middle - pd.Timedelta(days=1), middle + pd.Timedelta(days=1)])
    return fig


@literal_text
def item_fields(exp: shap.Explanation, unit: str = "prediction") -> go.Figure:
    """Contribution of each field of the candidate item, named as the waterfall names it, with its value in the hover;
    `unit`: what the contributions are measured in (output_title)."""
    rows = [(f"item {attribute_name(str(f.key))}", f.value, float(v)) for f, v in zip(exp.features, exp.values, strict=True) if f.group == "item"]
    table = pd.DataFrame(rows, columns=["field", "value", "contribution"])
    fig = go.Figure(go.Bar(x=table["contribution"], y=table["field"], orientation="h", customdata=table["value"],
                           marker_color=np.where(table["contribution"] >= 0, "#54A24B", "#E45756"),
                           hovertemplate="%{y} = %{customdata}<br>%{x:+.4f}<extra></extra>"))  # fmt: skip
    fig.update_layout(title="Candidate item fields", height=120 + 30 * max(1, len(table)), **LAYOUT)
    fig.update_xaxes(title=f"SHAP, in {unit}")
    fig.update_yaxes(type="category")
    return fig


@literal_text
def token_bars(table: pd.DataFrame, top: int = 20, unit: str = "tokens") -> go.Figure:
    """The `top` tokens (or words) by |contribution| (tokens.token_frame / word_frame), labelled by position, in text order."""
    shown = table.loc[table["contribution"].abs().nlargest(top).index].sort_values("position")
    labels = [f"#{p} {t.strip() or '(space)'}" for p, t in zip(shown["position"], shown["token"], strict=True)]
    fig = go.Figure(go.Bar(x=shown["contribution"], y=labels, orientation="h",
                           marker_color=np.where(shown["contribution"] >= 0, "#54A24B", "#E45756")))  # fmt: skip
    markers = int(shown["token"].isin(SPECIAL_TOKENS).sum())  # the text's [start]/[end]: not words, but credited too
    title = f"Top {len(shown) - markers} {unit}" + (f" and {'the start/end markers' if markers == 2 else 'a start/end marker'}" if markers else "")
    fig.update_layout(title=f"{title} by |contribution|", height=120 + 22 * max(1, len(shown)), **LAYOUT)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(title="contribution")
    return fig


@literal_text
def group_importance(table: pd.DataFrame) -> go.Figure:
    """Mean |SHAP| by feature group, one bar colour per segment (from shap_explain.group_importance)."""
    shown = table.assign(group=table["group"].map(GROUP_LABELS).fillna(table["group"]))
    fig = px.bar(shown, x="group", y="mean_abs_shap", color="segment", barmode="group", title="Mean |SHAP| by feature group")
    fig.update_layout(height=340, **LAYOUT)
    fig.update_yaxes(title="mean |SHAP|")
    return fig


@literal_text
def compare_items(table: pd.DataFrame, top: int = 12) -> go.Figure:
    """Which features favour which of two items (from compare_explanations): the top differences, the rest summed."""
    shown = table.head(top)
    rest = table.iloc[top:]
    labels = [*shown["feature"], *([f"{len(rest)} other features"] if len(rest) else [])]
    diffs = np.array([*shown["difference"], *([rest["difference"].sum()] if len(rest) else [])], dtype=float)
    favours = np.where(diffs >= 0, "favours the first item", "favours the second item")
    frame = pd.DataFrame({"feature": labels, "difference": diffs, "favours": favours})
    fig = px.bar(frame, x="difference", y="feature", color="favours", orientation="h",
                 color_discrete_map={"favours the first item": "#54A24B", "favours the second item": "#F58518"},
                 title="Which features favour which item")  # fmt: skip
    fig.update_layout(height=140 + 26 * len(frame), **LAYOUT)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels, autorange="reversed")
    fig.update_xaxes(title="contribution to the first item - to the second")
    return fig


@literal_text
def cohort_shift(frame: pd.DataFrame, x_title: str = "prediction") -> go.Figure:
    """Distribution of predictions before and after a cohort edit (from whatif.cohort_what_if), x axis in x_title's units."""
    long = pd.concat([
        pd.DataFrame({"prediction": frame["before"], "when": "before"}),
        pd.DataFrame({"prediction": frame["after"], "when": "after the edit"}),
    ])  # fmt: skip
    fig = px.histogram(long, x="prediction", color="when", barmode="overlay", opacity=0.6, nbins=40, title="Predictions for the cohort")
    for name, colour in (("before", "#636EFA"), ("after", "#EF553B")):
        fig.add_vline(x=float(frame[name].mean()), line_dash="dash", line_color=colour)
    fig.update_layout(height=340, xaxis_title=x_title, **LAYOUT)
    return fig


@literal_text
def cohort_deltas(frame: pd.DataFrame, low: float, high: float, x_title: str = "prediction") -> go.Figure:
    """Histogram of each user's change in prediction (after - before), with the mean shift and its interval."""
    fig = px.histogram(frame, x="delta", nbins=40, title="Change in prediction per user")
    fig.add_vrect(x0=low, x1=high, fillcolor="#EF553B", opacity=0.15, line_width=0)
    fig.add_vline(x=float(frame["delta"].mean()), line_dash="dash", line_color="#EF553B")
    fig.add_vline(x=0.0, line_color="#888")
    fig.update_layout(height=340, **LAYOUT)
    values = np.concatenate([frame["delta"].to_numpy(dtype=float), [0.0, low, high]])
    values = values[np.isfinite(values)]
    lo, hi = float(values.min()), float(values.max())
    pad = 0.08 * (hi - lo) or 1e-3  # the outermost bars and the zero line clear of the edges
    fig.update_xaxes(title=f"change in {x_title} (after − before)", range=[lo - pad, hi + pad])  # one title: this one wins
    fig.update_yaxes(title="users")
    return fig
