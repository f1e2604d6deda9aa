"""SHAP values of one prediction over interpretable features (see features.py for the masking).

The model seen by shap is a function of a 0/1 coalition vector (1 = the feature is present). Its
masker is `shap.maskers.Independent` with a single all-zero background row, so a masked position is
exactly "the feature is absent"; every coalition shap asks for is turned into PairInputs and scored
in one batched `score_inputs` call per shap batch. Exact Shapley values up to EXACT_MAX features;
beyond that the permutation algorithm (antithetic permutations; still exactly additive, since each
permutation's contributions telescope to f(all) - f(none)), run in two passes so that all its
coalitions are scored in a single deduplicated `score_inputs` call (one text-encoding batch, one
scoring block) instead of one call per permutation.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shap

from uvp_core.explain.features import Background, Feature, background_for, masked_inputs, pair_features
from uvp_core.model import PairInputs
from uvp_core.text.templates import attribute_name

EXACT_MAX = 12  # features; 2**12 = 4,096 coalitions in one batch
PERMUTATIONS = 12  # antithetic permutation pairs above EXACT_MAX (each costs 2M+1 evaluations)


@dataclass(frozen=True)
class ExplainConfig:
    """How an explanation is computed."""

    exact_max: int = EXACT_MAX  # exact Shapley values up to this many features
    permutations: int = PERMUTATIONS  # permutation pairs beyond exact_max
    seed: int = 0  # permutation order seed (results are reproducible)
    history: str = "item"  # a history feature: one item with its events ("item") or one event ("event"); see features


class CoalitionModel:
    """f(masks) -> predictions: each row of 0/1 flags is one coalition of present features."""

    def __init__(self, model, inputs: PairInputs, features: list[Feature], background: Background):
        self.model, self.inputs, self.features, self.background = model, inputs, features, background
        self.calls = 0
        self.evaluations = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Predictions (model output space) for a batch of coalitions; averaged over a population background."""
        masks = np.atleast_2d(np.asarray(masks)) > 0.5
        backgrounds = self.background.rows()
        attributes = [j for j, feat in enumerate(self.features) if feat.kind == "attribute"]
        slots: dict[tuple, int] = {}  # (coalition, the masked attributes' background values) -> row scored
        rows, index = [], np.zeros((len(masks), len(backgrounds)), dtype=np.int64)
        for m, keep in enumerate(masks):
            for b, background in enumerate(backgrounds):
                masked = tuple(repr(background.profile.get(self.features[j].key)) for j in attributes if not keep[j])
                key = (keep.tobytes(), masked)
                if key not in slots:  # population rows that agree on every masked attribute give one input
                    slots[key] = len(rows)
                    rows.append(masked_inputs(self.inputs, self.features, keep, background))
                index[m, b] = slots[key]
        self.calls += 1
        self.evaluations += len(rows)
        return np.asarray(self.model.score_inputs(rows), dtype=np.float64)[index].mean(axis=1)


def explain_inputs(model, inputs: PairInputs, background: Background, config: ExplainConfig = ExplainConfig()) -> shap.Explanation:
    """A shap.Explanation of model.score_inputs([inputs]) over its interpretable features."""
    started = _time.perf_counter()
    space = getattr(model, "space_", None)  # None: a stand-in model without ID vocabularies (tests)
    known_user = space is None or inputs.user_id is None or bool(space.user_codes([inputs.user_id])[0])
    known_item = space is None or inputs.item_id is None or bool(space.item_codes([inputs.item_id])[0])
    features = pair_features(inputs, model.history_k, known_user=known_user, known_item=known_item, history=config.history,
                             late=model.late_kinds, repeat=space.repeat_kinds if space is not None else ())  # fmt: skip
    m = len(features)
    f = CoalitionModel(model, inputs, features, background)
    names = [feat.name for feat in features]
    if m == 0:
        prediction = float(f(np.ones((1, 0)))[0])
        return _explanation(np.zeros(0), prediction, features, prediction, started, "none", f, known_user, inputs.time)
    masker = shap.maskers.Independent(np.zeros((1, m)), max_samples=1)
    x = np.ones((1, m))
    if m <= config.exact_max:
        explainer = shap.explainers.ExactExplainer(f, masker, feature_names=names)
        result, table = explainer(x, batch_size=2**m + 1, silent=True), {}
        algorithm = "exact"
    else:
        result, table = _batched_permutation(f, masker, x, names, config)
        algorithm = "permutation"
    values = np.asarray(result.values[0], dtype=np.float64)
    base = float(np.ravel(result.base_values)[0])
    full = np.ones(m, dtype=bool).tobytes()
    prediction = float(table[full]) if algorithm == "permutation" and full in table else float(f(x)[0])
    return _explanation(values, base, features, prediction, started, algorithm, f, known_user, inputs.time)


def warm_up() -> float:
    """Compile shap's numba code (exact and permutation paths) on a toy sum model, so a first explanation is quick; seconds taken.

    The first shap explanation in a process spends seconds in numba compilation (9 s on the 2-core
    benchmark machine); this pays that once, ahead of the analyst's first click.
    """
    started = _time.perf_counter()
    config = ExplainConfig()
    for m in (3, config.exact_max + 1):  # one exact, one permutation explanation
        masker = shap.maskers.Independent(np.zeros((1, m)), max_samples=1)
        x = np.ones((1, m))
        if m <= config.exact_max:
            shap.explainers.ExactExplainer(_toy_sum, masker)(x, batch_size=2**m + 1, silent=True)
        else:
            kwargs = {"max_evals": 2 * (2 * m + 1), "batch_size": 2 * m + 1, "silent": True}
            shap.explainers.PermutationExplainer(_toy_sum, masker, seed=0)(x, **kwargs)
    return _time.perf_counter() - started


def _toy_sum(masks: np.ndarray) -> np.ndarray:
    """A stand-in model for warm_up: the number of present features."""
    return np.atleast_2d(np.asarray(masks, dtype=np.float64)).sum(1)


class _Recorder:
    """A stand-in model that records the coalitions shap asks for (and answers from a table once filled)."""

    def __init__(self, f: CoalitionModel):
        self.f = f
        self.asked: list[np.ndarray] = []
        self.table: dict[bytes, float] | None = None

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        keys = [row.tobytes() for row in np.atleast_2d(np.asarray(masks)) > 0.5]
        if self.table is None:
            self.asked.extend(np.atleast_2d(np.asarray(masks)) > 0.5)
            return np.zeros(len(keys))
        missing = [k for k in keys if k not in self.table]
        if missing:  # not expected: the second pass replays the first; scored here to stay exact
            rows = np.array([np.frombuffer(k, dtype=bool) for k in missing])
            self.table.update(zip(missing, self.f(rows), strict=True))
        return np.array([self.table[k] for k in keys])


def _batched_permutation(f: CoalitionModel, masker, x: np.ndarray, names: list[str], config: ExplainConfig) -> tuple[shap.Explanation, dict]:
    """Permutation SHAP with every coalition scored in one batched call: a first pass records the
    coalitions of the seeded permutations, they are scored at once (deduplicated), and a second pass
    with the same seed replays the permutations from the table."""
    m = x.shape[1]
    recorder = _Recorder(f)
    kwargs = {"max_evals": config.permutations * (2 * m + 1), "batch_size": 2 * m + 1, "silent": True}
    shap.explainers.PermutationExplainer(recorder, masker, feature_names=names, seed=config.seed)(x, **kwargs)
    unique = np.unique(np.array(recorder.asked, dtype=bool), axis=0)
    recorder.table = dict(zip((row.tobytes() for row in unique), f(unique), strict=True))
    result = shap.explainers.PermutationExplainer(recorder, masker, feature_names=names, seed=config.seed)(x, **kwargs)
    return result, recorder.table


NOISE = 1e-12  # |SHAP| below this is floating-point noise, set to 0 (the sum still matches the prediction far within 1e-9)


def _explanation(values, base, features, prediction, started, algorithm, f, known_user, time=None) -> shap.Explanation:
    """Package values and feature metadata as a shap.Explanation (extra attributes: groups, features, known_user, ...)."""
    values = np.where(np.abs(values) < NOISE, 0.0, values)  # exact arithmetic leaves ~1e-17 on features that change nothing
    exp = shap.Explanation(
        values=values,
        base_values=base,
        data=np.array([feat.value for feat in features], dtype=object),
        feature_names=[feat.name for feat in features],
        compute_time=_time.perf_counter() - started,
    )
    exp.groups = np.array([feat.group for feat in features], dtype=object)
    exp.features = list(features)
    exp.prediction = prediction
    exp.algorithm = algorithm
    exp.evaluations = f.evaluations
    exp.known_user = known_user  # the model learned this user's bias in training
    exp.time = None if time is None else pd.Timestamp(time)  # the prediction time: the history is the events before it
    return exp


def explain_pair(model, dataset, user_id: str, item_id: str, time=None, *, background: Background | None = None,
                 config: ExplainConfig = ExplainConfig()) -> shap.Explanation:  # fmt: skip
    """Explain the model's prediction for one (user, item[, time]) of a dataset."""
    inputs = model.pair_inputs(dataset, user_id, item_id, time)
    return explain_inputs(model, inputs, background or background_for(model, dataset), config)


def capped_at(model, value: float) -> float | None:
    """The end of the rating scale a regression prediction sits at (predictions are clipped to the training labels'
    range), or None (binary models, or a value inside the range)."""
    if getattr(model, "task", None) != "regression":
        return None
    stats = model.label_stats_
    return next((float(end) for end in (stats["max"], stats["min"]) if abs(value - end) < 1e-9), None)


CAPPED_NOTE = ("This prediction is at the end of the rating scale ({cap:g}), where predictions are capped: the contributions "
               "explain the capped value, so the credit for the part the model put beyond the cap is shared among the features.")


def contributions_frame(exp: shap.Explanation) -> pd.DataFrame:
    """One row per feature: feature, group, feature value (the data), contribution; largest |contribution| first.
    ("feature value", not "value": in the CLI's JSON, a contribution's `value` is its SHAP value.)"""
    frame = pd.DataFrame(
        {
            "feature": list(exp.feature_names),
            "group": list(exp.groups),
            "feature value": [str(v) for v in exp.data],
            "contribution": np.asarray(exp.values, dtype=float),
        }
    )
    return frame.reindex(frame["contribution"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def explanation_record(exp: shap.Explanation) -> dict:
    """JSON-ready: the prediction time, prediction, base_value and contributions (feature, group, value) that add up."""
    time = getattr(exp, "time", None)
    return {
        "time": None if time is None else pd.Timestamp(time).isoformat(),  # two times of one pair are two predictions
        "prediction": float(exp.prediction),
        "base_value": float(exp.base_values),
        "algorithm": exp.algorithm,
        "evaluations": int(exp.evaluations),
        "contributions": [
            {"feature": str(n), "group": str(g), "value": float(v), "data": str(d)}
            for n, g, v, d in zip(exp.feature_names, exp.groups, exp.values, exp.data, strict=True)
        ],
    }


def pair_record(exp: shap.Explanation, user_id: str, item_id: str, target: str, **choices: object) -> dict:
    """The explanation of one (user, item) pair as the CLI's `explain` writes it: the pair, the target, the masking choices
    (background, item_fields, history, ...) and explanation_record's fields."""
    return {"user_id": user_id, "item_id": item_id, "target": target, **choices, **explanation_record(exp)}


def compare_explanations(first: shap.Explanation, second: shap.Explanation) -> pd.DataFrame:
    """Two explanations of the same user, feature by feature: contributions and their difference (first - second), largest first."""
    rows: dict[tuple, dict] = {}
    for column, exp in (("first", first), ("second", second)):
        for feature, value in zip(exp.features, np.asarray(exp.values, dtype=float), strict=True):
            key = (feature.kind, feature.value if feature.kind == "event" else feature.key)  # an event by what it is, not its position:
            # the candidate's own funnel events are left out of its history, so two candidates' histories can differ
            row = rows.setdefault(key, {"feature": _shared_label(feature), "group": feature.group, "value_first": "",
                                        "value_second": "", "first": 0.0, "second": 0.0})  # fmt: skip
            row["value_" + column] = feature.value
            row[column] += value
    base = float(first.base_values) - float(second.base_values)
    if abs(base) > 1e-9:  # another background: the difference of the base values is part of the difference
        rows[("base", "")] = {"feature": "base value", "group": "other", "value_first": "", "value_second": "",
                              "first": float(first.base_values), "second": float(second.base_values)}  # fmt: skip
    frame = pd.DataFrame(list(rows.values()), columns=["feature", "group", "value_first", "value_second", "first", "second"])
    frame["difference"] = frame["first"] - frame["second"]
    return frame.reindex(frame["difference"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)


def _shared_label(feature: Feature) -> str:
    """A feature's label without the candidate's value, for features that differ between two candidates."""
    if feature.kind == "item_field":
        return f"item {attribute_name(str(feature.key))}"
    if feature.kind == "item_id":
        return "item ID (learned item bias, popularity)"
    return feature.name


def group_totals(exp: shap.Explanation) -> dict[str, float]:
    """Sum of contributions per feature group."""
    out: dict[str, float] = {}
    for g, v in zip(exp.groups, exp.values, strict=True):
        out[str(g)] = out.get(str(g), 0.0) + float(v)
    return out


def group_importance(model, dataset, pairs: pd.DataFrame, segment_column: str | None = None, *,
                     config: ExplainConfig = ExplainConfig(), progress=None) -> pd.DataFrame:  # fmt: skip
    """Mean |SHAP| by feature group over pairs (user_id, item_id[, segment]), overall and per segment, with each one's
    number of pairs."""
    background = background_for(model, dataset)
    records = []
    for n, row in enumerate(pairs.itertuples(index=False)):
        exp = explain_pair(model, dataset, row.user_id, row.item_id, background=background, config=config)
        segment = str(getattr(row, segment_column)) if segment_column else "all"
        for group, total in _abs_by_group(exp).items():
            records.append({"segment": segment, "group": group, "abs_shap": total})
        if progress is not None:
            progress(n + 1, len(pairs))
    frame = pd.DataFrame(records, columns=["segment", "group", "abs_shap"])
    by_segment = frame.groupby(["segment", "group"], as_index=False).agg(mean_abs_shap=("abs_shap", "mean"), pairs=("abs_shap", "size"))
    overall = frame.groupby("group", as_index=False).agg(mean_abs_shap=("abs_shap", "mean"), pairs=("abs_shap", "size")).assign(segment="all")
    out = pd.concat([overall, by_segment]) if segment_column else overall
    return out[["segment", "group", "mean_abs_shap", "pairs"]].reset_index(drop=True)


def _abs_by_group(exp: shap.Explanation) -> dict[str, float]:
    """Sum of |SHAP| per group for one explanation (every group present, 0 when it has no feature)."""
    from uvp_core.explain.features import GROUPS

    out = {g: 0.0 for g in GROUPS}
    for g, v in zip(exp.groups, exp.values, strict=True):
        out[str(g)] += abs(float(v))
    return out
