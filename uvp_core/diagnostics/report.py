"""The evaluation report: one function from an evaluation frame (+ scored candidates) to every diagnostic.

`build_report` is the single code path: the CLI serialises its result (`to_dict` -> JSON, `render_html`
-> HTML) and the pages draw the same tables, computed by the same functions, view by view.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from uvp_core.diagnostics import cold_start, long_tail, ranking, segments
from uvp_core.diagnostics.evaluation_set import EvaluationSet
from uvp_core.diagnostics.frame import train_labels
from uvp_core.diagnostics.metrics import (
    DEFAULT_BOOTSTRAP,
    ERROR_METRIC,
    HIGHER_IS_BETTER,
    Bootstrap,
    group_metrics,
    metric_names,
    reliability_curve,
)

ECE_NOISE_NOTE = ("ece_noise: the ECE a perfectly calibrated model would show on the same rows and predictions, from chance "
                  "alone. ECE grows as a group shrinks (about 0.04 on 220 rows), so read a segment's ECE against its "
                  "ece_noise, not against a larger group's ECE.")
MODELS = {"value model": "prediction", "bias baseline": "baseline"}
REPORT_VERSION = 1
CURVE_POINTS = 400  # popularity-curve points kept in the JSON report
HEAD_ITEMS = 20  # most popular items listed in the long-tail section


@dataclass(frozen=True)
class EvalConfig:
    """Settings of an evaluation run; every field is recorded in the report."""

    k: int = 10  # list length for top-K metrics
    candidates: ranking.CandidateConfig = field(default_factory=ranking.CandidateConfig)
    relevance_threshold: float | None = None  # regression: relevant = rating ≥ this (None: the training mean)
    cuts: long_tail.TailCuts = field(default_factory=long_tail.TailCuts)
    boot: Bootstrap = field(default_factory=Bootstrap)
    min_rows: int = 30  # segments with fewer rows are not ranked as weakest (and flagged untrusted)
    baseline_reg: float = 5.0  # shrinkage of the bias baseline
    personalisation_users: int = 300  # users sampled for pairwise list overlap


DEFAULT_CONFIG = EvalConfig()


@dataclass(frozen=True)
class ModelInfo:
    """What the report says about the model."""

    name: str
    target: str
    task: str  # regression | binary
    id: str | None = None


@dataclass
class EvaluationReport:
    """Every diagnostic of one evaluation run, as tables (serialised by to_dict)."""

    meta: dict[str, Any]
    overall: pd.DataFrame
    calibration: pd.DataFrame | None
    segments: dict[str, pd.DataFrame]
    weakest: pd.DataFrame
    cold_start: dict[str, pd.DataFrame]
    long_tail: dict[str, Any]
    ranking: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: top-level meta, overall, calibration, segments, weakest, cold_start, long_tail, ranking."""
        return _jsonable({
            "meta": self.meta, "overall": self.overall, "calibration": self.calibration, "segments": self.segments,
            "weakest_segments": self.weakest, "cold_start": self.cold_start, "long_tail": self.long_tail,
            "ranking": self.ranking,
        })  # fmt: skip


def _jsonable(value: Any) -> Any:
    """Tables as lists of row dicts; numpy scalars as Python; nan/inf as None; timestamps as ISO text."""
    if isinstance(value, pd.DataFrame):
        return [_jsonable(row) for row in value.to_dict(orient="records")]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value if isinstance(value, str) else str(value)


def relevance_threshold(evalset: EvaluationSet, config: EvalConfig) -> float | None:
    """The rating at or above which a held-out item counts as relevant (None for binary targets)."""
    if evalset.task == "binary":
        return None
    if config.relevance_threshold is not None:
        return float(config.relevance_threshold)
    labels = train_labels(evalset)
    source = labels["y"] if len(labels) else evalset.pairs["y"]
    return float(source.mean())


def overall_table(frame: pd.DataFrame, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Overall metrics with intervals for the value model and the bias baseline."""
    models = {name: column for name, column in MODELS.items() if column in frame.columns}
    return group_metrics(frame, None, task, predictions=models, boot=boot)


def overall_tiles(overall: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    """Per metric of overall_table: the value model's value, its difference from the bias baseline (None without one)
    and how to colour it (Streamlit's delta_color: "normal" where higher is better, "inverse" where lower is, "off"
    for the signed bias), so a model that loses to the baseline says so where its number is shown."""
    model = overall.loc[overall["model"] == "value model"] if "model" in overall.columns else overall
    baseline = overall.loc[overall["model"] == "bias baseline"] if "model" in overall.columns else overall.iloc[:0]
    tiles = []
    for name in names:
        value = float(model[name].iloc[0])
        other = float(baseline[name].iloc[0]) if len(baseline) else float("nan")
        tiles.append({"metric": name, "value": value, "delta": value - other if np.isfinite(other) and np.isfinite(value) else None,
                      "color": "off" if name == "bias" else "normal" if name in HIGHER_IS_BETTER else "inverse"})  # fmt: skip
    return tiles


def calibration_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The reliability curve of the value model (binary targets)."""
    return reliability_curve(frame["y"].to_numpy(), frame["prediction"].to_numpy())


def default_specs(frame: pd.DataFrame, min_rows: int = 30) -> list[segments.SegmentSpec]:
    """One SegmentSpec per usable column, rare categorical levels folded below `min_rows`."""
    return [segments.SegmentSpec(column, min_count=min_rows) for column in segments.segment_columns(frame)]


def popularity_curve_points(table: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most `points` rows of the popularity table (log-spaced ranks plus every bucket boundary)."""
    if len(table) <= points:
        return table
    ranks = np.unique(np.geomspace(1, len(table), points).astype(np.int64))
    codes = table["bucket"].cat.codes.to_numpy()
    boundaries = np.flatnonzero(np.diff(codes)) + 1
    keep = np.unique(np.concatenate([ranks - 1, boundaries, boundaries - 1, [len(table) - 1]]))
    return table.iloc[keep].reset_index(drop=True)


def head_items(table: pd.DataFrame, items: pd.DataFrame | None, n: int = HEAD_ITEMS) -> pd.DataFrame:
    """The most popular items with their title and category when the items table has them."""
    top = table.head(n)[["rank", "item_id", "interactions", "share", "bucket"]].copy()
    if items is not None:
        extra = [c for c in ("title", "category") if c in items.columns]
        if extra:
            info = items.drop_duplicates("item_id").assign(item_id=lambda f: f["item_id"].astype(str)).set_index("item_id")[extra]
            top = top.join(info, on="item_id")
    return top


def long_tail_section(
    frame: pd.DataFrame, evalset: EvaluationSet, dataset, lists: pd.DataFrame | None, config: EvalConfig,
    catalogue: np.ndarray | None = None,
) -> dict[str, Any]:
    """Popularity curve, metrics per bucket, exposure vs interactions, popularity bias, head items."""
    catalogue = long_tail.catalogue_items(dataset) if catalogue is None else catalogue
    table = long_tail.popularity_table(evalset.train_events, catalogue, config.cuts)
    frame = frame.assign(popularity_bucket=long_tail.item_buckets(frame["item_id"], table))
    section: dict[str, Any] = {
        "cut_points": {"head": config.cuts.head, "tail": config.cuts.tail, "definition": long_tail.describe(config.cuts)},
        "bucket_sizes": table.groupby("bucket", observed=False).agg(items=("item_id", "size"), interactions=("interactions", "sum")).reset_index(),
        "curve": popularity_curve_points(table),
        "buckets": long_tail.bucket_metrics(frame, evalset.task, config.boot),
        "head_items": head_items(table, dataset.items),
    }
    if lists is not None and len(lists):
        per_user = long_tail.user_popularity_bias(lists, evalset.train_events, table)
        section["exposure"] = long_tail.exposure_table(lists, table)
        section["popularity_bias"] = long_tail.popularity_bias_summary(per_user)
        section["popularity_bias_users"] = per_user
    return section


def ranking_section(
    candidates: pd.DataFrame | None, info: dict | None, evalset: EvaluationSet, dataset, config: EvalConfig, threshold: float | None,
    catalogue: np.ndarray | None = None,
) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Top-K metrics with intervals, beyond-accuracy metrics, and the top-K lists (for exposure)."""
    if candidates is None or not len(candidates) or not candidates["relevant"].any():
        return {"k": config.k, "candidates": info or {"mode": "none"}, "relevance_threshold": threshold,
                "note": "no test user has a relevant held-out item", "metrics": [], "beyond_accuracy": {}}, None  # fmt: skip
    per_user = ranking.user_ranking_metrics(candidates, config.k)
    lists = ranking.top_k_lists(candidates, config.k)
    catalogue = long_tail.catalogue_items(dataset) if catalogue is None else catalogue
    extra = ranking.beyond_accuracy(lists, evalset.train_events, catalogue, max_users=config.personalisation_users, seed=config.boot.seed)
    lists_note = ("top-K of each user's full candidate set (catalogue items the user never interacted with)"
                  if (info or {}).get("mode") == "full" else
                  "top-K of each user's sampled candidate set: beyond-accuracy figures describe sampled lists")  # fmt: skip
    section = {
        "k": config.k,
        "candidates": info,
        "relevance_threshold": threshold,
        "relevance": "label = 1" if evalset.task == "binary" else f"rating ≥ {threshold:.3g}",
        "users": int(len(per_user)),
        "metrics": ranking.ranking_metrics(per_user, config.k, config.boot),
        "beyond_accuracy": extra,
        "lists": lists_note,
    }
    return section, lists


def build_report(
    frame: pd.DataFrame,
    evalset: EvaluationSet,
    dataset,
    model: ModelInfo,
    config: EvalConfig = DEFAULT_CONFIG,
    *,
    candidates: pd.DataFrame | None = None,
    candidate_info: dict | None = None,
) -> EvaluationReport:
    """Every diagnostic of an evaluation frame (see frame.evaluation_frame) and scored candidates (with `score`)."""
    task = evalset.task
    boot = config.boot
    specs = default_specs(frame, config.min_rows)
    threshold = relevance_threshold(evalset, config)
    catalogue = long_tail.catalogue_items(dataset)
    ranking_part, lists = ranking_section(candidates, candidate_info, evalset, dataset, config, threshold, catalogue)
    meta = {
        "report_version": REPORT_VERSION,
        "model": asdict(model),
        "metrics": list(metric_names(task)),
        "evaluation_set": {
            "source": evalset.source, "note": evalset.note, "pairs": int(len(frame)), "cutoff": evalset.cutoff,
            "training_events": int(len(evalset.train_events)), "dropped_rows": evalset.dropped_rows,
            "new_users": int(frame["new_user"].sum()), "new_items": int(frame["new_item"].sum()),
        },  # fmt: skip
        "bootstrap": {"resamples": boot.resamples, "seed": boot.seed, "level": boot.level, "method": "Poisson weights"},
        "config": {"k": config.k, "min_rows": config.min_rows, "baseline_reg": config.baseline_reg,
                   "relevance_threshold": threshold, "head": config.cuts.head, "tail": config.cuts.tail},  # fmt: skip
        "definitions": {
            "bias": "mean(prediction − label): positive = over-prediction",
            "history_length": "the user's events strictly before the pair's time",
            "new_user": "absent from the training events (before the cutoff)",
            "baseline": "global mean + user bias + item bias, ridge-shrunk, fitted on the training events' labels",
        },
        "overlapping_segments": segments.overlap_notes(frame, specs),
    }
    segment_tables = segments.segment_tables(frame, specs, task, boot, min_rows=config.min_rows)
    overall = overall_table(frame, task, boot)
    error = ERROR_METRIC[task]
    return EvaluationReport(
        meta=meta,
        overall=overall,
        calibration=calibration_table(frame) if task == "binary" else None,
        segments=segment_tables,
        weakest=segments.rank_weakest(segment_tables, float(overall[error].iloc[0]), error, min_rows=config.min_rows),
        cold_start={**cold_start.cold_start_curves(frame, task, boot), "new_entities": cold_start.new_entity_table(frame, task, boot)},
        long_tail=long_tail_section(frame, evalset, dataset, lists, config, catalogue),
        ranking=ranking_part,
    )
