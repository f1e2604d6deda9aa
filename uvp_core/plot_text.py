"""Text in plotly figures drawn literally: plotly reads pseudo-HTML (<b>, <i>, <a href>, entities) in every
text it draws (axis labels, hover values, legend names, titles), so text from the data is escaped first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

TEMPLATE_KEYS = frozenset({"hovertemplate", "texttemplate"})  # written in code, markup intended; the values they insert are escaped


def plotly_literal(text: str) -> str:
    """Text that plotly draws as written: &, < and > as entities (only a <br> line break stays markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("&lt;br&gt;", "<br>")


def _literal(value: Any) -> Any:
    """A string, or a list/array of strings, escaped (anything else as it is)."""
    if isinstance(value, str):
        return plotly_literal(value)
    if isinstance(value, list | tuple) and any(isinstance(v, str) for v in value):
        return [plotly_literal(v) if isinstance(v, str) else v for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return np.array([plotly_literal(v) if isinstance(v, str) else v for v in value.ravel().tolist()], dtype=object).reshape(value.shape)
    return value


def _changes(node: Any, path: tuple) -> list[tuple[tuple, Any]]:
    """(property path, escaped value) of every text in a figure part's dict that escaping changes."""
    if isinstance(node, dict):
        return [change for key, value in node.items() if key not in TEMPLATE_KEYS for change in _changes(value, (*path, key))]
    if isinstance(node, list | tuple) and node and all(isinstance(v, dict) for v in node):  # annotations, shapes, ...
        return [change for i, value in enumerate(node) for change in _changes(value, (*path, i))]
    escaped = _literal(node)
    same = escaped is node or (isinstance(node, np.ndarray) and np.array_equal(escaped, node)) or (not isinstance(node, np.ndarray) and escaped == node)
    return [] if same else [(path, escaped)]


def literal_figure(fig: go.Figure) -> go.Figure:
    """The figure, changed in place, with all its text drawn literally (plotly_literal), templates aside."""
    for trace in fig.data:
        for path, value in _changes(trace.to_plotly_json(), ()):
            trace[path] = value
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)  # plotly's own theme
    for path, value in _changes(layout, ()):
        fig.layout[path] = value
    return fig


def literal_text(builder: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """Decorator for figure builders: the figure they return, with all text drawn literally."""

    @functools.wraps(builder)
    def wrapper(*args: Any, **kwargs: Any) -> go.Figure:
        return literal_figure(builder(*args, **kwargs))

    return wrapper
