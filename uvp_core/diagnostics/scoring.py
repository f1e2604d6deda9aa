"""The only place the diagnostics call a model: score the evaluation pairs and the top-K candidates.

`run_evaluation` is the whole evaluation: score -> evaluation frame -> candidates -> report. The CLI calls
it; the pages call its steps through cached wrappers (uvp_ui.state) and then the same report
functions view by view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from uvp_core.data.contract import Dataset
from uvp_core.diagnostics import long_tail, ranking
from uvp_core.diagnostics.evaluation_set import EvaluationSet, scored_as_validated
from uvp_core.diagnostics.frame import evaluation_frame
from uvp_core.diagnostics.report import (
    DEFAULT_CONFIG,
    EvalConfig,
    EvaluationReport,
    ModelInfo,
    build_report,
    relevance_threshold,
)


class Scorer(Protocol):
    """What the diagnostics need from a model: ValueModel.predict."""

    target: str
    task: str

    def predict(self, dataset: Dataset, pairs: pd.DataFrame) -> np.ndarray: ...


def check_target(model: Scorer, evalset: EvaluationSet) -> None:
    """ValueError when the evaluation labels are for another target than the model's."""
    if model.target != evalset.target:
        raise ValueError(f"The model predicts {model.target!r}, but the evaluation set is labelled for {evalset.target!r}.")


def as_scored(model: Scorer, dataset: Dataset) -> Scorer:
    """The model that scores an evaluation on `dataset`: on its own training data, the model as validated
    (ValueModel.as_validated: biases before their refit on the validation period, which stays held out)."""
    return model.as_validated() if scored_as_validated(model, dataset) else model


def score_pairs(model: Scorer, dataset: Dataset, evalset: EvaluationSet) -> pd.DataFrame:
    """The evaluation pairs with the model's `prediction` (history = the dataset's events before each pair)."""
    check_target(model, evalset)
    pairs = evalset.pairs
    prediction = as_scored(model, dataset).predict(dataset, pairs[["user_id", "item_id", "timestamp"]])
    return pairs.assign(prediction=np.asarray(prediction, dtype=np.float64))


def build_candidates(dataset: Dataset, evalset: EvaluationSet, config: EvalConfig) -> tuple[pd.DataFrame, dict]:
    """Candidate pairs for top-K metrics (not yet scored) and their description."""
    threshold = relevance_threshold(evalset, config)
    observed = evalset.observed_pairs  # sampled negatives are not events: they stay candidates
    relevant = ranking.relevant_mask(observed, evalset.task, threshold)
    return ranking.candidate_pairs(observed, relevant, dataset.events, long_tail.catalogue_items(dataset), config.candidates)


def score_candidates(model: Scorer, dataset: Dataset, candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates with the model's `score`."""
    if not len(candidates):
        return candidates.assign(score=np.zeros(0))
    columns = [c for c in ("user_id", "item_id", "timestamp") if c in candidates.columns]
    return candidates.assign(score=np.asarray(as_scored(model, dataset).predict(dataset, candidates[columns]), dtype=np.float64))


def paired_evaluation(model_a: Scorer, model_b: Scorer, dataset: Dataset, evalset: EvaluationSet, config: EvalConfig = DEFAULT_CONFIG) -> pd.DataFrame:
    """Model A's evaluation frame with model B's predictions as `prediction_b` (see compare.paired_frame)."""
    from uvp_core.diagnostics.compare import paired_frame

    scored_a = score_pairs(model_a, dataset, evalset)
    frame = evaluation_frame(scored_a, dataset, evalset, cuts=config.cuts, baseline_reg=config.baseline_reg)
    return paired_frame(frame, score_pairs(model_b, dataset, evalset))


@dataclass
class Evaluation:
    """An evaluation run's outputs: the report, the evaluation frame and the scored candidates."""

    report: EvaluationReport
    frame: pd.DataFrame
    candidates: pd.DataFrame
    candidate_info: dict[str, Any]


def run_evaluation(model: Scorer, dataset: Dataset, evalset: EvaluationSet, config: EvalConfig = DEFAULT_CONFIG, *, name: str = "model") -> Evaluation:
    """Score, build the evaluation frame and the candidates, and compute the report."""
    scored = score_pairs(model, dataset, evalset)
    frame = evaluation_frame(scored, dataset, evalset, cuts=config.cuts, baseline_reg=config.baseline_reg)
    candidates, info = build_candidates(dataset, evalset, config)
    candidates = score_candidates(model, dataset, candidates)
    about = ModelInfo(name=name, target=model.target, task=model.task)
    report = build_report(frame, evalset, dataset, about, config, candidates=candidates, candidate_info=info)
    return Evaluation(report=report, frame=frame, candidates=candidates, candidate_info=info)
