"""Segments page: accuracy by any user or item attribute, two-way views, weakest segments, cohorts, two models."""

from __future__ import annotations

import streamlit as st

from uvp_core import diagnostic_figures as figures
from uvp_core import model_registry
from uvp_core.diagnostics import cohorts, compare, metrics, report, segments
from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.set_page_config(page_title="UVP · Segments", layout="wide")
st.title("Segments")

ws = state.workspace()
choice, page = state.evaluation_or_stop(ws)

frame, task = page.frame, page.task
boot = metrics.Bootstrap()
error_metric = metrics.ERROR_METRIC[task]
metric_choices = list(metrics.metric_names(task))
st.text(f"{len(frame):,} evaluation pairs · target {page.model.target} ({task})")


# --- overall -----------------------------------------------------------------------------------------
st.header("Overall")
overall = state.memo(choice, "overall", (), lambda: report.overall_table(frame, task, boot))
cols = st.columns(len(metric_choices))
for col, tile in zip(cols, report.overall_tiles(overall, metric_choices), strict=True):
    col.metric(tile["metric"], f"{tile['value']:.4f}", delta=None if tile["delta"] is None else f"{tile['delta']:+.4f} vs bias baseline",
               delta_color=tile["color"], help="value model; the table below has 95% intervals and the bias baseline")  # fmt: skip
widgets.table(overall)
widgets.csv_download(overall, "overall.csv", "dl-overall")
if task == "binary":
    calibration = state.memo(choice, "calibration", (), lambda: report.calibration_table(frame))
    st.plotly_chart(figures.reliability_curve(calibration), key="reliability")

# --- one segment -------------------------------------------------------------------------------------
st.header("By segment")
columns = segments.segment_columns(frame)
state.restore_segment(columns)
left, right = st.columns(2)
column = left.selectbox("Segment by", columns, format_func=segments.segment_name, key=state.setting(state.SEGMENT_COLUMN))
state.keep_segment_in_url(column)
metric = right.selectbox("Metric", metric_choices, key=state.setting("uvp.seg_metric"))
kind = segments.segment_kind(frame[column])
bins: int | tuple[float, ...] = 4
period = None
if kind == "numeric":
    a, b = st.columns(2)
    bins = int(a.number_input("Quantile bins", 1, 20, key=state.setting("uvp.seg_bins")))
    edges_text = b.text_input("…or bin edges (comma-separated numbers)", key=state.setting("uvp.seg_edges"))
    if edges_text.strip():
        try:
            bins = tuple(float(x) for x in edges_text.split(",") if x.strip())
        except ValueError:
            st.error("Bin edges must be numbers separated by commas.")
elif kind == "date":
    periods = ("M", "Q", "Y")  # opens on the column's default period (months up to two years of span), per column
    period = st.selectbox("Period", periods, index=periods.index(segments.default_period(frame[column])),
                          format_func={"M": "month", "Q": "quarter", "Y": "year"}.get, key=f"uvp.seg_period.{column}")  # fmt: skip
min_rows = int(st.number_input("Minimum rows to trust a segment", 1, 10_000, key=state.setting("uvp.seg_min_rows")))
spec = segments.SegmentSpec(column, bins=bins, period=period, min_count=min_rows)
table = state.memo(choice, "segment", (spec, min_rows), lambda: segments.segment_table(frame, spec, task, boot, min_rows=min_rows))
st.plotly_chart(figures.metric_by_segment(table, metric, title=f"{metric} by segment, with 95% intervals",
                                          x_title=segments.segment_name(column)), key="segment-chart")  # fmt: skip
if min_rows > 1 or task == "binary":
    st.caption(f"Faded bars: segments with {segments.trust_rule(min_rows, task)}, too few to trust; their intervals are wide.")
if (overlap := segments.overlap_note(frame, column)):
    st.caption(overlap)
if (other := segments.other_note(frame, spec)):
    st.caption(state.plain_markdown(other))
widgets.table(table)
if task == "binary":
    st.caption(report.ECE_NOISE_NOTE)
widgets.csv_download(table, "segments.csv", "dl-segments")

# --- two-way view and distributions -------------------------------------------------------------------
st.header("Two-way view")
left, right = st.columns(2)
other_columns = [c for c in columns if c != column] or columns
second = left.selectbox("Against", other_columns, format_func=segments.segment_name, key=state.setting("uvp.seg_second"))
value = right.selectbox("Value", (error_metric, "mean_prediction", "mean_label", *[m for m in metric_choices if m != error_metric]),
                        key=state.setting("uvp.seg_value"))  # fmt: skip
second_spec = segments.SegmentSpec(second, min_count=min_rows)
two_way = state.memo(choice, "two-way", (spec, second_spec, value), lambda: segments.two_way_table(frame, spec, second_spec, task, value))
st.plotly_chart(figures.two_way_heatmap(two_way, value, x_title=segments.segment_name(second),
                                         y_title=segments.segment_name(column), min_rows=min_rows), key="two-way")  # fmt: skip
if (thin := int((two_way["n"] < min_rows).sum())):
    st.caption(f"{thin:,} of {len(two_way):,} cells have fewer than {min_rows} rows (the minimum to trust a segment, above) and are "
               "left blank; the table below still lists them.")  # fmt: skip
if (overlap := segments.overlap_note(frame, second)) and second != column:
    st.caption(overlap)
with st.expander("Two-way table"):
    widgets.table(two_way)
    widgets.csv_download(two_way, "two_way.csv", "dl-two-way")
shape = st.radio("Distribution of predicted values", ("box", "violin"), horizontal=True, key=state.setting("uvp.seg_shape"))
distribution = state.memo(choice, "distribution", (spec,), lambda: segments.prediction_distribution(frame, spec))
st.plotly_chart(figures.prediction_distribution(distribution, shape, x_title=segments.segment_name(column)), key="distribution")

# --- weakest segments -----------------------------------------------------------------------------------
st.header("Weakest segments")
specs = report.default_specs(frame, min_rows)
weakest = state.memo(choice, "weakest", (min_rows,), lambda: segments.weakest_segments(frame, specs, task, boot, min_rows=min_rows))
st.text(f"Largest {weakest['metric'].iloc[0] if len(weakest) else error_metric} relative to overall, among segments with at least {min_rows} rows; "
        "clearly worse (solid bars): the whole 95% interval is worse than overall; pale bars may be noise.")  # fmt: skip
if len(weakest):
    st.plotly_chart(figures.weakest_segments(weakest), key="weakest")
widgets.table(segments.weakest_display(weakest))
for line in segments.same_pairs_lines(weakest):  # in full: a table cell cuts the long derived-segment names off
    st.text(line)
widgets.csv_download(weakest, "weakest_segments.csv", "dl-weakest")

# --- cohorts ------------------------------------------------------------------------------------------------
st.header("Cohorts")
store = cohorts.CohortStore(ws.root)
filterable = [c for c in frame.columns if c not in ("y", "prediction", "baseline", "error")]
with st.form("cohort", enter_to_submit=False):  # Enter in a value box must not save a half-filled cohort
    st.write("Combine up to three filters (AND). Lists for `in` are comma-separated.")
    conditions = []
    for row in range(3):
        a, b, c = st.columns([2, 1, 2])
        col_name = a.selectbox(f"Column {row + 1}", ["—", *filterable], key=f"uvp.cohort_col{row}")
        op = b.selectbox(f"Operator {row + 1}", cohorts.OPERATORS, key=f"uvp.cohort_op{row}")
        text = c.text_input(f"Value {row + 1}", key=f"uvp.cohort_value{row}")
        if col_name != "—":
            conditions.append((col_name, op, text))
    cohort_name = st.text_input("Cohort name", key="uvp.cohort_name")
    replace_saved = st.checkbox("Replace a saved cohort of the same name", key="uvp.cohort_replace")
    saved = st.form_submit_button("Save cohort")
dataset_names = {d.id: d.name for d in ws.list_datasets()}
if saved:
    try:
        cohort = cohorts.Cohort(cohort_name.strip(), tuple(cohorts.CohortFilter(c, o, v) for c, o, v in conditions))
        matched = int(cohorts.cohort_mask(frame, cohort).sum())
        store.save(cohort, dataset=dataset_names.get(choice.dataset_id, ""), replace=replace_saved)
        st.session_state[state.COHORT_CHOSEN] = cohort.name  # the picker below opens on the new cohort
        if matched:
            st.success(f"Cohort saved; it matches {matched:,} evaluation pairs.")
        else:
            st.warning("Cohort saved, but it matches no pair of this evaluation set. Values match exactly (case included); "
                       "common values here:")  # fmt: skip
            st.text("\n".join(f"{c}: {', '.join(cohorts.common_values(frame, c))}" for c, _, _ in conditions))
    except (ValueError, KeyError) as exc:
        st.error("The cohort was not saved:")
        st.text(str(exc))
saved_cohorts = {c.name: c for c in store.list()}
if saved_cohorts:
    chosen = st.selectbox("Compare a cohort to the rest", list(saved_cohorts), key=state.COHORT_CHOSEN)
    cohort = saved_cohorts[chosen]
    st.text(f"Filters: {cohort.describe()}; saved{store.origin(chosen) or ' earlier'}")
    unusable = cohorts.missing_columns_note(frame, cohort)
    try:
        inside = None if unusable else cohorts.cohort_mask(frame, cohort)
        if inside is None:
            st.info(state.plain_markdown(unusable))
        elif not inside.any():
            st.info("This cohort matches no pair of this evaluation set, so there is nothing to compare.")
        elif inside.all():
            st.info("This cohort matches every pair of this evaluation set, so there is no rest to compare it with.")
        else:
            if small := cohorts.small_cohort_note(int(inside.sum()), min_rows):
                st.warning(small)
            difference = state.memo(choice, "cohort", (cohort,), lambda: cohorts.cohort_vs_rest(frame, cohort, task, boot))
            st.plotly_chart(figures.differences(difference, label="metric", title="Cohort − rest, with 95% intervals"), key="cohort-diff")
            widgets.table(difference)
            if task == "binary":
                st.caption(report.ECE_NOISE_NOTE)
            widgets.csv_download(difference, "cohort_vs_rest.csv", "dl-cohort")
    except (ValueError, KeyError, TypeError) as exc:
        st.error("This cohort cannot be compared on this evaluation set:")
        st.text(str(exc))
    confirmed = st.checkbox("Yes, delete this cohort for everyone using this workspace", key=state.cohort_delete_key(chosen))
    if st.button("Delete this cohort", key="uvp.cohort_delete", disabled=not confirmed):
        store.delete(chosen)
        st.session_state.pop(state.cohort_delete_key(chosen), None)  # saved again later, it asks again
        st.rerun()
else:
    st.info("No saved cohorts yet.")

# --- two models -----------------------------------------------------------------------------------------------
st.header("Compare two models")
record_a = ws.get_model_record(choice.model_id)
labels = model_registry.comparison_choices(ws.list_models(), record_a, choice.dataset_id, dataset_names)
if not labels:
    st.info("Another registered model with the same target is needed for a comparison.")
else:
    other_id = st.selectbox("Second model (B)", list(labels), format_func=labels.get, key="uvp.compare_model")
    shown_for = (other_id, choice.model_id, choice.dataset_id, choice.test_hash)  # another evaluation set waits for a click:
    if st.button("Compare", key="uvp.compare_run") or st.session_state.get(state.COMPARE_SHOWN) == shown_for:  # 33 s on 100k
        st.session_state[state.COMPARE_SHOWN] = shown_for
        try:
            paired = state.comparison(choice, other_id)
            if paired.evalset.note != page.evalset.note:
                st.text(f"Both models are scored on one set — {paired.evalset.note}")
            comparison = state.memo(choice, "compare", (other_id, spec), lambda: compare.compare_models(paired.frame, task, [spec], boot))
            st.text(f"A = {model_registry.comparison_label(record_a, choice.dataset_id, dataset_names)}; B = {labels[other_id]}. "
                    "Differences are A − B with paired "
                    f"bootstrap 95% intervals; {compare.difference_meaning(task)}.")  # fmt: skip
            shown = comparison.loc[comparison["metric"] == metric].assign(label=lambda t: t["column"].map(segments.segment_name) + " = " + t["segment"])
            st.plotly_chart(figures.differences(shown, label="label", title=f"Model A − model B: {metric}, with 95% intervals",
                                                x_title=f"{metric} difference (A − B)"), key="compare-diff")  # fmt: skip
            widgets.table(comparison.assign(column=comparison["column"].map(segments.segment_name)))  # as the chart names them
            widgets.csv_download(comparison, "model_comparison.csv", "dl-compare")
        except (ValueError, KeyError) as exc:
            st.error("The two models cannot be compared:")
            st.text(str(exc))
