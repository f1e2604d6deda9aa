"""Text from the data is drawn literally in every plotly figure (plotly reads <b>, <a href> and entities as markup)."""

from __future__ import annotations

import inspect

import pandas as pd
import plotly.graph_objects as go
import pytest

from uvp_core import diagnostic_figures, figures
from uvp_core.explain import figures as explain_figures
from uvp_core.plot_text import literal_figure, plotly_literal

HOSTILE = "<b>Bold</b> <a href='http://example.com'>link</a> AT&T"
ESCAPED = "&lt;b&gt;Bold&lt;/b&gt; &lt;a href='http://example.com'&gt;link&lt;/a&gt; AT&amp;T"


def test_plotly_literal_escapes_markup_but_keeps_line_breaks() -> None:
    assert plotly_literal(HOSTILE) == ESCAPED
    assert plotly_literal("a<br>b &lt;") == "a<br>b &amp;lt;"  # an entity in the data is shown as typed


def test_literal_figure_escapes_data_text_and_keeps_templates() -> None:
    fig = go.Figure(go.Bar(x=[1.0, 2.0], y=[HOSTILE, "plain"], orientation="h", name=HOSTILE, customdata=[HOSTILE, "x"],
                           hovertemplate="%{y}<br>%{customdata}<extra></extra>"))  # fmt: skip
    fig.update_layout(title=HOSTILE, yaxis={"type": "category", "categoryarray": [HOSTILE, "plain"]})
    out = literal_figure(fig)
    bar = out.data[0]
    assert list(bar.y) == [ESCAPED, "plain"] and list(bar.customdata) == [ESCAPED, "x"] and bar.name == ESCAPED
    assert list(bar.x) == [1.0, 2.0]
    assert out.layout.title.text == ESCAPED and list(out.layout.yaxis.categoryarray) == [ESCAPED, "plain"]
    assert bar.hovertemplate == "%{y}<br>%{customdata}<extra></extra>"


BUILDERS = [
    (module.__name__, name, function)
    for module in (figures, explain_figures, diagnostic_figures)
    for name, function in inspect.getmembers(module, inspect.isfunction)
    if function.__module__ == module.__name__ and not name.startswith("_") and "go.Figure" in str(inspect.signature(function).return_annotation)
]


@pytest.mark.parametrize(("module", "name", "builder"), BUILDERS, ids=[f"{m}.{n}" for m, n, _ in BUILDERS])
def test_every_figure_builder_draws_text_literally(module: str, name: str, builder) -> None:
    assert getattr(builder, "__wrapped__", None) is not None, f"{module}.{name} lacks @literal_text"


def test_segment_chart_shows_a_hostile_segment_name_as_text() -> None:
    table = pd.DataFrame({"segment": [HOSTILE, "other"], "n": [10, 20], "rmse": [0.9, 1.0]})
    fig = diagnostic_figures.metric_by_segment(table, "rmse", x_title=HOSTILE)
    assert list(fig.data[0].x) == [ESCAPED, "other"] and fig.layout.xaxis.title.text == ESCAPED
    assert len(BUILDERS) >= 20
