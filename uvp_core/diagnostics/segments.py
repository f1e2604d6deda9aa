"""Segments: group the evaluation frame by any user or item attribute or a derived segment.

- Categorical attributes as they are; levels with fewer than `min_count` rows (or beyond the
  `max_levels` most frequent) are folded into "other"; missing values are "missing".
- Numeric attributes are binned by quantiles (`bins` = a count) or by explicit edges (`bins` = edges);
  bins are [low, high) except the last, which is closed.
- Dates are grouped by period: month, quarter or year (chosen from the span when not given).
- Derived segments (computed in `frame.evaluation_frame`) are ordered categories already.
- A categorical attribute that lists several values in a row, joined by '|' (MovieLens genres
  "Crime|Thriller"), is cut by single value: the row counts in each value it lists, so such segments
  overlap and their counts add up to more than the rows (`labelled`, `overlap_note`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uvp_core.data.contract import LIST_SEPARATOR, listed_values
from uvp_core.diagnostics.metrics import (
    DEFAULT_BOOTSTRAP,
    ERROR_METRIC,
    HIGHER_IS_BETTER,
    MEAN_METRICS,
    Bootstrap,
    group_metrics,
    group_metrics_many,
    mean_metric_by_groupings,
)

DERIVED_SEGMENTS: dict[str, str] = {
    "history_bucket": "history length (user events before the prediction time)",
    "tenure": "tenure (time since the user's first event)",
    "activity": "activity (user events in the 30 days before)",
    "item_count_bucket": "item training count (the item's events before the training cutoff)",
    "popularity_bucket": "item popularity bucket (head / torso / tail)",
    "new_vs_returning": "new vs returning user",
}
WEAKEST_HEADERS = {"column": "segment by", "relative": "relative to overall", "clearly_worse": "clearly worse",
                   "same_pairs_as": "the same pairs as"}  # display names
TEXT_COLUMNS = frozenset({"title", "description", "review_text", "name"})
MAX_TEXT_LENGTH = 40  # text attributes longer than this on average are free text, not segments
NUMERIC_AS_CATEGORY = 10  # numeric attributes with at most this many distinct values are treated as categories
MISSING, OTHER = "missing", "other"
VALUE_COLUMNS = frozenset({"mean_prediction", "mean_label"})


@dataclass(frozen=True)
class SegmentSpec:
    """How to cut one column of the evaluation frame into segments."""

    column: str  # e.g. "user.region", "item.price", "user.signup_date", "history_bucket"
    bins: int | tuple[float, ...] = 4  # numeric: number of quantile bins, or explicit bin edges
    period: str | None = None  # dates: "M", "Q" or "Y" (None: chosen from the span)
    min_count: int = 30  # categorical: levels with fewer rows are folded into "other"
    max_levels: int = 20  # categorical: at most this many levels besides "other" and "missing"

    def __post_init__(self) -> None:
        if isinstance(self.bins, int) and self.bins < 1:
            raise ValueError("bins must be at least 1")
        if self.period not in (None, "M", "Q", "Y"):
            raise ValueError("period must be 'M', 'Q', 'Y' or None")


def segment_name(column: str) -> str:
    """A segment column as the pickers name it: a derived segment in words, an attribute (user.region) as it is."""
    return DERIVED_SEGMENTS.get(column, column)


def segment_kind(series: pd.Series) -> str:
    """'derived' (ordered categories), 'date', 'numeric' or 'categorical'."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "derived"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "date"
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return "numeric" if series.nunique(dropna=True) > NUMERIC_AS_CATEGORY else "categorical"
    return "categorical"


def segment_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that make sensible segments: derived segments, then user and item attributes (free text left out)."""
    out = [c for c in DERIVED_SEGMENTS if c in frame.columns]
    for column in frame.columns:
        if not column.startswith(("user.", "item.")):
            continue
        series = frame[column]
        if column.split(".", 1)[1] in TEXT_COLUMNS:
            continue
        if (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object) and series.notna().any():
            if series.dropna().astype(str).str.len().mean() > MAX_TEXT_LENGTH:
                continue
        out.append(column)
    return out


def categorical_segment(series: pd.Series, min_count: int = 30, max_levels: int = 20) -> pd.Categorical:
    """Levels as they are, rare ones folded into 'other', missing as 'missing'; ordered by frequency (then name)."""
    codes, uniques = pd.factorize(series.astype("string"))
    labels = np.asarray(uniques.astype(str), dtype=object)
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    ranked = np.lexsort((labels.astype(str), -counts)) if len(labels) else np.zeros(0, np.int64)
    keep = [i for i in ranked if counts[i] >= min_count][:max_levels]
    lookup = np.full(len(labels) + 1, len(keep), np.int64)  # default: "other"; the extra last slot is for missing
    lookup[keep] = np.arange(len(keep))
    folded = (counts > 0).sum() > len(keep)
    missing = bool((codes < 0).any())
    lookup[-1] = len(keep) + int(folded)
    categories = [str(labels[i]) for i in keep] + ([OTHER] if folded else []) + ([MISSING] if missing else [])
    return pd.Categorical.from_codes(lookup[codes], categories=categories, ordered=True)


def other_note(frame: pd.DataFrame, spec: SegmentSpec, shown: int = 10) -> str | None:
    """Which values the "other" segment of a categorical column holds, with their rows (None when it holds none)."""
    series = frame[spec.column]
    if segment_kind(series) != "categorical":
        return None
    values = split_values(series)[1] if lists_values(series) else series
    cut = categorical_segment(values, spec.min_count, spec.max_levels)  # the segments themselves: no second ranking rule
    counts = values[np.asarray(cut == OTHER)].astype("string").value_counts()
    folded = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    if not folded:
        return None
    listed = ", ".join(f"{value} ({n:,})" for value, n in folded[:shown]) + (f" and {len(folded) - shown:,} more" if len(folded) > shown else "")
    return (f'"{OTHER}" holds {len(folded):,} value{"s" if len(folded) > 1 else ""} with fewer than {spec.min_count:,} rows each '
            f"or beyond the {spec.max_levels} most common (rows in brackets): {listed}.")


def _number(value: float) -> str:
    """A compact number for bin labels."""
    return f"{value:.4g}"


def numeric_segment(series: pd.Series, bins: int | Sequence[float] = 4) -> pd.Categorical:
    """Quantile bins (a count) or bins at explicit edges; [low, high) with the last bin closed; 'missing' for NaN."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    present = values[~np.isnan(values)]
    if isinstance(bins, int | np.integer):
        if not len(present):
            edges = np.array([0.0, 0.0])
        else:
            edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, int(bins) + 1)))
    else:
        edges = np.unique(np.asarray(sorted(bins), dtype=np.float64))
        if len(present):
            edges = np.unique(np.concatenate([[min(edges[0], present.min())], edges, [max(edges[-1], present.max())]]))
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    k = len(edges) - 1
    labels = [f"[{_number(edges[i])}, {_number(edges[i + 1])})" for i in range(k - 1)] + [f"[{_number(edges[-2])}, {_number(edges[-1])}]"]
    codes = np.clip(np.searchsorted(edges[1:-1], values, side="right"), 0, k - 1)
    missing = np.isnan(values)
    if missing.any():
        labels = [*labels, MISSING]
        codes = np.where(missing, k, codes)
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def default_period(series: pd.Series) -> str:
    """Month up to 2 years of span, quarter up to 6 years, else year."""
    present = series.dropna()
    if not len(present):
        return "M"
    days = (present.max() - present.min()).days
    return "M" if days <= 731 else "Q" if days <= 6 * 366 else "Y"


def date_segment(series: pd.Series, period: str | None = None) -> pd.Categorical:
    """Dates grouped by period ('2024-06', '2024Q3', '2024'), in time order; 'missing' for none."""
    period = period or default_period(series)
    year = series.dt.year.to_numpy(dtype=np.float64, na_value=np.nan)
    if period == "M":
        step = series.dt.month.to_numpy(dtype=np.float64, na_value=np.nan)
        key, label = year * 12 + step - 1, lambda k: f"{int(k) // 12:04d}-{int(k) % 12 + 1:02d}"
    elif period == "Q":
        step = series.dt.quarter.to_numpy(dtype=np.float64, na_value=np.nan)
        key, label = year * 4 + step - 1, lambda k: f"{int(k) // 4}Q{int(k) % 4 + 1}"
    else:
        key, label = year, lambda k: f"{int(k)}"
    missing = np.isnan(key)
    distinct = np.unique(key[~missing])
    codes = np.where(missing, len(distinct), np.searchsorted(distinct, np.where(missing, 0, key)))
    categories = [label(k) for k in distinct] + ([MISSING] if missing.any() else [])
    return pd.Categorical.from_codes(codes, categories=categories, ordered=True)


def lists_values(series: pd.Series) -> bool:
    """Whether a categorical column lists several values in some row, joined by LIST_SEPARATOR ("Crime|Thriller")."""
    if segment_kind(series) != "categorical" or pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return False
    distinct = pd.Series(pd.unique(series.dropna()), dtype=object).astype(str)  # the distinct values only: quick on 1M rows
    return bool(distinct.str.contains(LIST_SEPARATOR, regex=False).any())


def split_values(series: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(row positions, values): a row once per value it lists ("Crime|Thriller": Crime, Thriller), missing once as NA."""
    codes, uniques = pd.factorize(series.astype("string"))
    lists = [listed_values(u) or [pd.NA] for u in uniques.astype(str)] + [[pd.NA]]  # the last: missing (code -1)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(-1, len(uniques) + 1))  # rows of code c: order[bounds[c+1]:bounds[c+2]]
    rows, values = [], []
    for code in range(-1, len(uniques)):
        at = order[bounds[code + 1] : bounds[code + 2]]
        if len(at):
            listed = lists[code]
            rows.append(np.repeat(at, len(listed)))
            values.append(np.tile(np.asarray(listed, dtype=object), len(at)))
    if not rows:
        return np.zeros(0, np.int64), pd.Series([], dtype="string")
    return np.concatenate(rows), pd.Series(np.concatenate(values), dtype="string")


def labelled(frame: pd.DataFrame, spec: SegmentSpec, name: str = "segment") -> pd.DataFrame:
    """The frame with each row's segment in column `name`; a row that lists several values (lists_values) is there once
    per value, so its segments overlap."""
    if spec.column not in frame.columns:
        raise KeyError(f"The evaluation frame has no column {spec.column!r}")
    if not lists_values(frame[spec.column]):
        return frame.assign(**{name: segment_labels(frame, spec)})
    rows, values = split_values(frame[spec.column])
    out = frame.iloc[rows].copy()
    out[name] = categorical_segment(values, spec.min_count, spec.max_levels)
    return out


def overlap_note(frame: pd.DataFrame, column: str) -> str | None:
    """A sentence saying that a column's segments overlap (it lists several values in some rows), else None."""
    if column not in frame.columns or not lists_values(frame[column]):
        return None
    several = frame[column].astype("string").str.contains(LIST_SEPARATOR, regex=False).fillna(False)
    return (f"{segment_name(column)} lists several values in {int(several.sum()):,} of {len(frame):,} rows (joined by "
            f"'{LIST_SEPARATOR}'): such a row counts in each value it lists, so these segments overlap and their counts "
            "add up to more than the rows.")  # fmt: skip


def overlap_notes(frame: pd.DataFrame, specs: Sequence[SegmentSpec]) -> dict[str, str]:
    """overlap_note of each spec's column that has one, by column (for the reports' meta)."""
    return {spec.column: note for spec in specs if (note := overlap_note(frame, spec.column))}


def segment_labels(frame: pd.DataFrame, spec: SegmentSpec) -> pd.Series:
    """The segment of each row of the frame, as an ordered categorical series named 'segment' (a column that lists
    several values in a row is cut as it is here: see `labelled` for single values)."""
    if spec.column not in frame.columns:
        raise KeyError(f"The evaluation frame has no column {spec.column!r}")
    series = frame[spec.column]
    kind = segment_kind(series)
    if kind == "derived":
        values = series.array if series.isna().sum() == 0 else series.cat.add_categories([MISSING]).fillna(MISSING).array
    elif kind == "date":
        values = date_segment(series, spec.period)
    elif kind == "numeric":
        values = numeric_segment(series, spec.bins)
    else:
        values = categorical_segment(series, spec.min_count, spec.max_levels)
    return pd.Series(values, index=frame.index, name="segment")


MIN_CLASS_ROWS = 10  # binary targets: a segment's AUC and calibration are trusted only with this many positives and negatives


def trust_notes(table: pd.DataFrame, min_rows: int) -> np.ndarray:
    """Per row of a metrics table, why it is too small to trust ("" when it is not): fewer than min_rows rows, or (a
    binary table, with AUC) fewer than MIN_CLASS_ROWS positives or negatives, which AUC and calibration both need."""
    n = table["n"].to_numpy(dtype=float)
    notes = np.where(n < min_rows, "too few rows to trust", "")
    if "auc" in table.columns and "mean_label" in table.columns:
        positives = np.rint(n * table["mean_label"].to_numpy(dtype=float))
        few = np.minimum(positives, n - positives) < MIN_CLASS_ROWS
        notes = np.where((notes == "") & few, f"fewer than {MIN_CLASS_ROWS} positives or negatives: too few to trust", notes)
    return notes


def trust_rule(min_rows: int, task: str) -> str:
    """trust_notes' rule in words, for a caption: "fewer than N rows" (binary: "… or fewer than 10 positives or negatives")."""
    return f"fewer than {min_rows} rows" + (f" or fewer than {MIN_CLASS_ROWS} positives or negatives" if task == "binary" else "")


def _finish_segment_table(table: pd.DataFrame, min_rows: int) -> pd.DataFrame:
    """A group_metrics table by 'segment' with the trusted flag and segments as text."""
    table.insert(2, "trusted", trust_notes(table, min_rows) == "")
    table["segment"] = table["segment"].astype(str)
    return table


def segment_table(frame: pd.DataFrame, spec: SegmentSpec, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP, *, min_rows: int = 30) -> pd.DataFrame:
    """Metrics per segment with intervals: segment, n, trusted (trust_notes), mean values, metrics."""
    table = group_metrics(labelled(frame, spec), "segment", task, boot=boot)
    return _finish_segment_table(table, min_rows)


def segment_tables(
    frame: pd.DataFrame, specs: Sequence[SegmentSpec], task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP, *, min_rows: int = 30
) -> dict[str, pd.DataFrame]:
    """segment_table for every spec (by column): all in one bootstrap pass, but columns listing several values each on their own."""
    single = [spec for spec in specs if not lists_values(frame[spec.column])]
    cut = frame.assign(**{f"__segment_{i}": segment_labels(frame, spec) for i, spec in enumerate(single)})
    tables = group_metrics_many(cut, [(f"__segment_{i}", "prediction") for i in range(len(single))], task, boot=boot) if single else []
    out = {spec.column: _finish_segment_table(table.rename(columns={f"__segment_{i}": "segment"}), min_rows)
           for i, (spec, table) in enumerate(zip(single, tables, strict=True))}  # fmt: skip
    return {spec.column: out.get(spec.column) if spec in single else segment_table(frame, spec, task, boot, min_rows=min_rows) for spec in specs}


def two_way_table(frame: pd.DataFrame, rows: SegmentSpec, columns: SegmentSpec, task: str, value: str | None = None) -> pd.DataFrame:
    """Segment × segment point values: row_segment, column_segment (text, in segment order), n, value (error metric or a mean)."""
    value = value or ERROR_METRIC[task]
    cut = labelled(labelled(frame, rows, "row_segment"), columns, "column_segment")
    table = group_metrics(cut, ["row_segment", "column_segment"], task, boot=None)
    out = table[["row_segment", "column_segment", "n"]].copy()
    out["value"] = table[value]
    out["row_segment"] = _as_text_in_order(out["row_segment"])
    out["column_segment"] = _as_text_in_order(out["column_segment"])
    return out


def segment_order(labels: pd.Series) -> list[str]:
    """The segment labels present, as text, in their categories' order when they have one (bins, tenure bands), else
    as first seen."""
    present = set(labels.astype(str))
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return list(dict.fromkeys(str(c) for c in labels.cat.categories if str(c) in present))
    return list(dict.fromkeys(labels.astype(str)))


def _as_text_in_order(labels: pd.Series) -> pd.Series:
    """Segment labels as text, still in the segments' own order (a categorical of the labels present)."""
    text = labels.astype(str)
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        return text
    return text.astype(pd.CategoricalDtype(segment_order(labels), ordered=True))


def prediction_distribution(frame: pd.DataFrame, spec: SegmentSpec, max_rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """segment, prediction, y for at most `max_rows` rows (a seeded sample), for box/violin plots."""
    cut = labelled(frame[list(dict.fromkeys([spec.column, "prediction", "y"]))], spec)[["segment", "prediction", "y"]]
    if len(cut) > max_rows:
        cut = cut.sample(max_rows, random_state=seed)
    return cut.reset_index(drop=True)


WEAKEST_COLUMNS = ["column", "segment", "n", "value", "low", "high", "overall", "relative", "clearly_worse", "metric", "same_pairs_as"]


def rank_weakest(tables: Mapping[str, pd.DataFrame], overall: float, metric: str, *, min_rows: int = 30, top: int = 15) -> pd.DataFrame:
    """The `top` segments of per-column segment tables with the worst metric relative to overall (trusted ones only: trust_notes)."""
    parts = []
    for column, table in tables.items():
        chosen = table.loc[trust_notes(table, min_rows) == ""]
        part = pd.DataFrame({"column": column, "segment": chosen["segment"].astype(str).to_numpy(), "n": chosen["n"].to_numpy(),
                             "value": chosen[metric].to_numpy(dtype=float)})  # fmt: skip
        part["low"] = chosen[f"{metric}_low"].to_numpy(dtype=float) if f"{metric}_low" in chosen.columns else np.nan
        part["high"] = chosen[f"{metric}_high"].to_numpy(dtype=float) if f"{metric}_high" in chosen.columns else np.nan
        parts.append(part)
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=WEAKEST_COLUMNS)
    ranked = pd.concat(parts, ignore_index=True)
    ranked["overall"] = overall
    ranked["relative"] = ranked["value"] / overall if overall else np.nan
    ranked["metric"] = metric
    # the whole 95% interval on the worse side of overall: not a noisy small segment that happens to rank high
    ranked["clearly_worse"] = ranked["high"] < overall if metric in HIGHER_IS_BETTER else ranked["low"] > overall
    ranked = ranked.sort_values("relative", ascending=metric in HIGHER_IS_BETTER, kind="stable", na_position="last")
    return _merge_same_pairs(ranked).head(top)[WEAKEST_COLUMNS].reset_index(drop=True)


def _merge_same_pairs(ranked: pd.DataFrame) -> pd.DataFrame:
    """One row per set of pairs: segments of other columns with the same n and metric value are the same pairs (users
    with no history are also tenure "no history" and activity 0), named in the first one's same_pairs_as."""
    key = list(zip(ranked["n"], ranked["value"].round(12), strict=True))
    first = ~pd.Series(key, index=ranked.index).duplicated().to_numpy()
    names = (ranked["column"].astype(str).map(segment_name) + " = " + ranked["segment"].astype(str)).to_numpy()
    also: dict[tuple, list[str]] = {}
    for k, name, keep in zip(key, names, first, strict=True):
        if not keep:
            also.setdefault(k, []).append(name)
    out = ranked.loc[first].copy()
    out["same_pairs_as"] = ["; ".join(also.get(k, [])) for k, keep in zip(key, first, strict=True) if keep]
    return out


def same_pairs_lines(table: pd.DataFrame) -> list[str]:
    """'<segment> is the same pairs as <others>' for each weakest-segments row that stands for several segments."""
    if "same_pairs_as" not in table.columns:
        return []
    rows = table.loc[table["same_pairs_as"].astype(str) != ""]
    return [f"{segment_name(str(r.column))} = {r.segment} is the same pairs as {r.same_pairs_as}." for r in rows.itertuples()]


def weakest_display(table: pd.DataFrame) -> pd.DataFrame:
    """A weakest_segments table for display: segment columns and headers named in words, as the pickers name them."""
    return table.assign(column=table["column"].astype(str).map(segment_name)).rename(columns=WEAKEST_HEADERS)


def weakest_segments(
    frame: pd.DataFrame,
    specs: Sequence[SegmentSpec],
    task: str,
    boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
    *,
    min_rows: int = 30,
    top: int = 15,
    metric: str | None = None,
) -> pd.DataFrame:
    """Segments with the worst error relative to overall (trusted ones only: trust_notes), with 95% intervals.

    Columns: column, segment, n, value, low, high, overall, relative (value / overall), clearly_worse (the whole
    interval on the worse side of overall), metric. Every
    column's segments are computed in one bootstrap pass (the error metrics are means of per-row values).
    """
    metric = metric or ERROR_METRIC[task]
    if metric not in MEAN_METRICS:
        tables = {spec.column: segment_table(frame, spec, task, boot) for spec in specs}
        overall = float(group_metrics(frame, None, task, boot=None, metrics=[metric])[metric].iloc[0])
        return rank_weakest(tables, overall, metric, min_rows=min_rows, top=top)
    y, p = frame["y"].to_numpy(np.float64), frame["prediction"].to_numpy(np.float64)
    overall = mean_metric_by_groupings(y, p, [(np.zeros(len(frame), np.int64), 1)], metric, None)[0]["value"].iloc[0]
    single = [spec for spec in specs if not lists_values(frame[spec.column])]
    cuts = [(single, y, p, [pd.Categorical(segment_labels(frame, spec)) for spec in single])]  # one bootstrap pass
    for spec in specs:  # a column listing several values: its own pass, over a row per value
        if spec not in single:
            cut = labelled(frame, spec)
            cuts.append(([spec], cut["y"].to_numpy(np.float64), cut["prediction"].to_numpy(np.float64), [pd.Categorical(cut["segment"])]))
    tables = {}
    for cut_specs, cut_y, cut_p, labels in cuts:
        groupings = [(np.asarray(lab.codes, np.int64), len(lab.categories)) for lab in labels]
        results = mean_metric_by_groupings(cut_y, cut_p, groupings, metric, boot) if groupings else []
        for spec, lab, table in zip(cut_specs, labels, results, strict=True):
            table = table.rename(columns={"value": metric, "low": f"{metric}_low", "high": f"{metric}_high"})
            tables[spec.column] = table.assign(segment=[str(c) for c in lab.categories])
    tables = {spec.column: tables[spec.column] for spec in specs}  # in the order of the specs
    return rank_weakest(tables, float(overall), metric, min_rows=min_rows, top=top)
