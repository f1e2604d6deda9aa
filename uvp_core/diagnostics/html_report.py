"""The evaluation report as one self-contained HTML file: escaped tables and inlined plotly figures.

Every string that comes from data (ids, titles, segment levels, column names, file names) is written
through `html.escape` in tables and text; figures are embedded as JSON in which `<`, `>`, `&` and the
line separators are \\u-escaped, so no data value can close a script or open a tag. plotly.js is
inlined once, so the file opens offline.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.offline
import plotly.utils

from uvp_core import diagnostic_figures as figures
from uvp_core.diagnostics.metrics import ERROR_METRIC
from uvp_core.diagnostics.report import EvaluationReport

MAX_TABLE_ROWS = 200
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.85rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4}td.text{text-align:left}
h2{margin-top:2.5rem;border-bottom:1px solid #ccc}
.note{color:#555;font-size:.9rem}
"""


def escape_json(text: str) -> str:
    """JSON text made safe inside a <script> element."""
    for raw, escaped in _JSON_ESCAPES.items():
        text = text.replace(raw, escaped)
    return text


def _cell(value: Any) -> tuple[str, bool]:
    """A table cell's escaped text and whether it is text (left-aligned)."""
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), True
    if isinstance(value, float):
        return f"{value:.4g}", False
    if isinstance(value, int):
        return f"{value:,}", False
    return html.escape(str(value)), True


def table_html(frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> str:
    """An HTML table with every header and cell escaped (at most max_rows rows)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.head(max_rows).itertuples(index=False):
        cells = []
        for value in record:
            text, is_text = _cell(value.item() if hasattr(value, "item") else value)
            cells.append(f'<td class="text">{text}</td>' if is_text else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{len(frame) - max_rows:,} more rows not shown.</p>' if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def dict_table(values: dict[str, Any]) -> str:
    """A two-column table of a flat dict (nested values as text)."""
    return table_html(pd.DataFrame({"name": list(values), "value": [v if not isinstance(v, dict | list) else json.dumps(v, default=str) for v in values.values()]}))


class _Figures:
    """Numbered figure containers with their JSON, plotly.js written once before the first."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure) -> str:
        self.count += 1
        payload = escape_json(json.dumps(fig.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder))
        target = f"figure-{self.count}"
        return (
            f'<div id="{target}" style="height:{fig.layout.height or 360}px"></div>'
            f"<script>(function(){{var f={payload};Plotly.newPlot('{target}',f.data,f.layout,{{responsive:true}});}})();</script>"
        )


def _section(title: str, *parts: str) -> str:
    """A titled section (the title is fixed text, escaped anyway)."""
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def _note(text: str) -> str:
    """An escaped paragraph."""
    return f'<p class="note">{html.escape(text)}</p>'


def render_html(report: EvaluationReport) -> str:
    """The whole report as one HTML document (plotly.js inlined once)."""
    meta = report.meta
    task = meta["model"]["task"]
    metric = ERROR_METRIC[task]
    figure = _Figures()
    body = [
        "<h1>UVP evaluation report</h1>",
        _note(f"Model: {meta['model']['name']} · target {meta['model']['target']} ({task})"),
        _note(f"Evaluation set: {meta['evaluation_set']['source']} · {meta['evaluation_set']['pairs']:,} pairs · cutoff {meta['evaluation_set']['cutoff']}"),
        *([_note(meta["evaluation_set"]["note"])] if meta["evaluation_set"].get("note") else []),
        _note(f"Intervals: {meta['bootstrap']['level']:.0%} Poisson bootstrap, {meta['bootstrap']['resamples']} resamples, seed {meta['bootstrap']['seed']}"),
    ]
    body.append(_section("Overall", table_html(report.overall)))
    if report.calibration is not None and len(report.calibration):
        body.append(_section("Calibration", figure(figures.reliability_curve(report.calibration)), table_html(report.calibration)))
    weakest = report.weakest
    body.append(_section("Weakest segments", figure(figures.weakest_segments(weakest)) if len(weakest) else "", table_html(weakest)))
    segment_parts = []
    for column, table in report.segments.items():
        segment_parts.append(f"<h3>{html.escape(column)}</h3>")
        if (overlap := meta.get("overlapping_segments", {}).get(column)):
            segment_parts.append(_note(overlap))
        segment_parts.append(figure(figures.metric_by_segment(table, metric)))
        segment_parts.append(table_html(table))
    body.append(_section("Segments", *segment_parts))
    cold = report.cold_start
    body.append(_section(
        "Cold start",
        figure(figures.cold_start_curve(cold["users"], metric, bucket="history_bucket", title="Users: error by history length")),
        table_html(cold["users"]),
        figure(figures.cold_start_curve(cold["items"], metric, bucket="item_count_bucket", title="Items: error by training count")),
        table_html(cold["items"]),
        "<h3>New users and new items</h3>", table_html(cold["new_entities"]),
    ))  # fmt: skip
    tail = report.long_tail
    tail_parts = [_note(tail["cut_points"]["definition"]), figure(figures.popularity_curve(tail["curve"])),
                  table_html(tail["bucket_sizes"]), "<h3>Accuracy per bucket</h3>", table_html(tail["buckets"])]  # fmt: skip
    if "exposure" in tail:
        tail_parts += ["<h3>Exposure</h3>", figure(figures.exposure_shares(tail["exposure"])), table_html(tail["exposure"]),
                       "<h3>Popularity bias</h3>", dict_table(tail["popularity_bias"])]  # fmt: skip
    tail_parts += ["<h3>Most popular items</h3>", table_html(tail["head_items"])]
    body.append(_section("Long tail", *tail_parts))
    rank = report.ranking
    rank_parts = [dict_table({"k": rank["k"], "relevance": rank.get("relevance", ""), **(rank.get("candidates") or {})})]
    if isinstance(rank.get("metrics"), pd.DataFrame):
        rank_parts += [figure(figures.ranking_metrics(rank["metrics"])), table_html(rank["metrics"]),
                       "<h3>Beyond accuracy</h3>", _note(rank.get("lists", "")), dict_table(rank["beyond_accuracy"])]  # fmt: skip
    else:
        rank_parts.append(_note(rank.get("note", "")))
    body.append(_section("Top-K ranking", *rank_parts))
    script = plotly.offline.get_plotlyjs()
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>UVP evaluation report</title>"
        f"<style>{STYLE}</style><script>{script}</script></head><body>{''.join(body)}</body></html>"
    )
