"""Diagnostics: how good the value model is, overall and where — segments, cohorts, cold start, long tail, top-K.

Modules (pages import them as `from uvp_core.diagnostics import segments`):
    evaluation_set   holdout(dataset, target) / read_test_set(csv, dataset, target) -> EvaluationSet
    scoring          score_pairs, build_candidates, score_candidates, run_evaluation (the only model calls)
    frame            evaluation_frame(scored, dataset, evalset): derived segments, baseline, attributes
    metrics          point metrics, Poisson-bootstrap intervals, group_metrics, paired differences
    baseline         BiasBaseline (global + user + item bias, regularised)
    segments         SegmentSpec, segment_table, two_way_table, prediction_distribution, weakest_segments
    cohorts          Cohort, CohortFilter, cohort_mask, cohort_vs_rest, CohortStore (workspace/cohorts/)
    cold_start       cold_start_curve, new_entity_table (history / item-count buckets)
    long_tail        TailCuts, popularity_table, bucket_metrics, exposure_table, user_popularity_bias
    ranking          candidate_pairs, user_ranking_metrics, ranking_metrics, top_k_lists, beyond_accuracy
    compare          paired_frame, compare_models (two models, paired bootstrap)
    report           EvalConfig, ModelInfo, EvaluationReport, build_report (one code path for CLI and pages)
    html_report      render_html(report): one self-contained, escaped HTML file
"""

from uvp_core.diagnostics import (
    baseline,
    cohorts,
    cold_start,
    compare,
    evaluation_set,
    frame,
    long_tail,
    metrics,
    ranking,
    report,
    scoring,
    segments,
)

__all__ = [
    "baseline",
    "cohorts",
    "cold_start",
    "compare",
    "evaluation_set",
    "frame",
    "long_tail",
    "metrics",
    "ranking",
    "report",
    "scoring",
    "segments",
]
