"""Explanations of value-model predictions in the analyst's words, and what-if edits.

Public surface:
    pair_features, background_for, masked_inputs     interpretable features and their masking (features.py)
    explain_pair, explain_inputs -> shap.Explanation  SHAP values that add up to the prediction (shap_explain.py)
    warm_up                                           compile shap's numba code ahead of the first explanation
    contributions_frame, explanation_record, pair_record, group_importance
    compare_explanations                              two items for one user, feature by feature
    edits + what_if, cohort_what_if                   re-predict edited inputs, for one user or a cohort (whatif.py)
    figures                                           plotly builders (figures.py)
"""

from uvp_core.explain import figures, whatif
from uvp_core.explain.features import GROUP_LABELS, GROUPS, Background, Feature, background_for, masked_inputs, pair_features
from uvp_core.explain.shap_explain import (
    CAPPED_NOTE,
    ExplainConfig,
    capped_at,
    compare_explanations,
    contributions_frame,
    explain_inputs,
    explain_pair,
    explanation_record,
    group_importance,
    group_totals,
    pair_record,
    warm_up,
)

__all__ = [
    "GROUPS",
    "GROUP_LABELS",
    "Background",
    "ExplainConfig",
    "Feature",
    "background_for",
    "capped_at",
    "CAPPED_NOTE",
    "compare_explanations",
    "contributions_frame",
    "explain_inputs",
    "explain_pair",
    "explanation_record",
    "group_importance",
    "group_totals",
    "masked_inputs",
    "pair_record",
    "pair_features",
    "warm_up",
    "figures",
    "whatif",
]
