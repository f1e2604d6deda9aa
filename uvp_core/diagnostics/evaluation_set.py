"""Evaluation sets: which (user, item, time) pairs are scored, their labels, and which events count as training.

Sources, one shape (`EvaluationSet`):

- `model_holdout(model, dataset)`: the default — events the model did not train on. On the dataset the
  model was trained on (same data fingerprint), its own time-based validation period: the cutoff is
  recomputed from the dataset and the model's saved TrainConfig exactly as training split it
  (uvp_core.model.examples.time_split). On any other dataset, `holdout(dataset, target)`.
- `all_label_events(dataset, target)`: every label event (in-sample when the model trained on them).
- `holdout(dataset, target)`: the last 10% of the target's label events by time. The cutoff is the
  timestamp of the first held-out event; every event strictly before it is a training event (the
  context for history length, popularity, new-user flags and the bias baseline). The value model still
  reads, for each pair, the user's events strictly before that pair's own time (its usual definition).
- `read_test_set(source, dataset, target)`: a CSV `user_id,item_id[,timestamp]` plus the label column
  (the target: `rating`; for a binary target a 0/1 `label`, or an `event_type` compared with the
  target). The cutoff is the earliest test timestamp (no timestamps: every event in the dataset is a
  training event). `annotate_test_set(evalset, model, dataset)` says whether the model could have
  trained on its rows (compared with the model's validation cutoff).
- `holdout_for_models(a, b, dataset)`: one default set for a comparison — the later of the two.
- `model_fraction_holdout(model, dataset, fraction)`: `holdout` at a chosen share (the CLI's `--holdout`), its note
  saying how much of it the model may have trained on.

Every set carries a `note`: one plain sentence for the analyst starting "held-out:", "in-sample:",
"partly in-sample:", "time holdout:" or "test file …", shown on the pages and written into reports.
On the data a model was trained on, scoring.as_scored scores it with its biases from before their refit
on all ratings (ValueModel.as_validated); `noting_refit` adds that to the note (every source above does).

Labels: `rating` as is (rows without a rating are dropped); `label` as 0/1; event types are collapsed per
(user, item) pair — y = 1 when any of the pair's rows has the target type, time = the pair's first row —
the same way training treats a converting pair.

Positives only (a purchase log, where every event is a purchase): a binary set whose pairs are all
positives gets, per positive, one sampled item the user never interacted with anywhere in the dataset,
at the positive's time, as a negative (`with_sampled_negatives`) — as training samples its negatives, and the
mix (one per positive) that a model trained on a log of positives only is calibrated to, however many it samples.
Without them AUC is undefined and a baseline predicting "always 1" looks perfect. They are appended
after the observed pairs (`EvaluationSet.observed_pairs` leaves them out) and the note says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from uvp_core.data.contract import TIMESTAMP_DTYPE, Dataset

PAIR_COLUMNS = ("user_id", "item_id", "timestamp", "y")
DEFAULT_HOLDOUT = 0.1
NEGATIVES_PER_POSITIVE = 1  # sampled negatives per positive for a positives-only binary set
NEGATIVES_SEED = 0
REFIT_NOTE = "scored with the user and item biases as they were before their refit on all ratings after training"


def target_task(target: str) -> str:
    """'regression' for the rating target, 'binary' for label and event types."""
    return "regression" if target == "rating" else "binary"


@dataclass(frozen=True)
class EvaluationSet:
    """Pairs to score with their labels, and the events that count as training (before `cutoff`)."""

    pairs: pd.DataFrame  # user_id, item_id, timestamp (NaT allowed), y — one row per scored pair
    train_events: pd.DataFrame  # dataset events strictly before `cutoff` (all events when cutoff is None)
    cutoff: pd.Timestamp | None
    target: str  # the model's target: rating, label or an event type
    source: str  # "holdout" or the test file's name
    dropped_rows: int = 0  # test rows without a usable label
    note: str = ""  # one plain sentence for the analyst: held out from the model's training or not, and how
    sampled_negatives: int = 0  # the last rows of `pairs`: sampled negatives of a positives-only set

    @property
    def observed_pairs(self) -> pd.DataFrame:
        """The pairs that are real events (without the sampled negatives)."""
        return self.pairs.iloc[: len(self.pairs) - self.sampled_negatives]

    @property
    def task(self) -> str:
        """'regression' or 'binary'."""
        return target_task(self.target)

    def fingerprint(self) -> str:
        """A content hash of the pairs, labels and cutoff (a cache key)."""
        digest = hashlib.sha256(f"{self.target}|{self.cutoff}|{self.source}".encode())
        digest.update(pd.util.hash_pandas_object(self.pairs, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


def labelled_pairs(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """user_id, item_id, timestamp, y for rows carrying the target's label (see the module docstring)."""
    timestamps = rows["timestamp"] if "timestamp" in rows.columns else pd.Series(pd.NaT, index=rows.index, dtype=TIMESTAMP_DTYPE)
    base = pd.DataFrame({"user_id": rows["user_id"], "item_id": rows["item_id"], "timestamp": timestamps})
    if target == "rating":
        if "rating" not in rows.columns:
            raise ValueError("The model predicts 'rating', but the evaluation rows have no rating column.")
        y = pd.to_numeric(rows["rating"], errors="coerce")
        return base.assign(y=y.astype("float64")).loc[y.notna().to_numpy()].reset_index(drop=True)
    if "label" in rows.columns and rows["label"].notna().any():
        y = pd.to_numeric(rows["label"], errors="coerce")
        bad = y.notna() & ~y.isin([0, 1])
        if bad.any():
            raise ValueError(f"The label column must be 0 or 1 (found {y[bad].iloc[0]!r}).")
        return base.assign(y=y.astype("float64")).loc[y.notna().to_numpy()].reset_index(drop=True)
    if target == "label":
        raise ValueError("The model predicts 'label', but the evaluation rows have no 0/1 label column.")
    if "event_type" not in rows.columns:
        raise ValueError(f"The model predicts {target!r}: the evaluation rows need a 0/1 label or an event_type column.")
    hit = (rows["event_type"].astype("string").str.lower() == target).fillna(False).to_numpy(dtype=bool)
    grouped = base.assign(y=hit.astype("float64")).groupby(["user_id", "item_id"], sort=False, observed=True)
    pairs = grouped.agg(timestamp=("timestamp", "min"), y=("y", "max")).reset_index()
    return pairs[list(PAIR_COLUMNS)]


def positives_only(pairs: pd.DataFrame, target: str) -> bool:
    """Whether a binary target's labelled pairs are all positives (nothing to tell them from)."""
    return target_task(target) == "binary" and len(pairs) > 0 and bool((pairs["y"] == 1).all())


def sampled_negative_pairs(events: pd.DataFrame, positives: pd.DataFrame, universe: np.ndarray,
                           per_positive: int = NEGATIVES_PER_POSITIVE, seed: int = NEGATIVES_SEED) -> pd.DataFrame:  # fmt: skip
    """Per positive (user_id, item_id, timestamp), `per_positive` items the user has no event on and that existed then
    (had an event by then: examples.first_seen), at its time, y = 0."""
    from uvp_core.model.examples import Examples, first_seen, sample_negatives
    from uvp_core.model.features import to_ms

    n = len(positives)
    rows = Examples(positives["user_id"].to_numpy(dtype=object), positives["item_id"].to_numpy(dtype=object),
                    np.arange(n, dtype=np.int64), np.ones(n, np.float32), np.zeros(n, bool))  # times: the positive's row  # fmt: skip
    universe = np.asarray(universe, dtype=object)
    event_items = events["item_id"].to_numpy(dtype=object)
    available = first_seen(event_items, to_ms(events["timestamp"]), universe)
    drawn = sample_negatives(events["user_id"].to_numpy(dtype=object), event_items, rows, per_positive, seed, universe,
                             available, _latest_if_missing(to_ms(positives["timestamp"])) if n else None)  # fmt: skip
    return pd.DataFrame({
        "user_id": pd.array(drawn.users.astype(str), dtype=positives["user_id"].dtype),
        "item_id": pd.array(drawn.items.astype(str), dtype=positives["item_id"].dtype),
        "timestamp": positives["timestamp"].to_numpy()[drawn.times] if n else positives["timestamp"].iloc[:0],
        "y": np.zeros(len(drawn), np.float64),
    })  # fmt: skip


def _latest_if_missing(ms: np.ndarray) -> np.ndarray:
    """Times in ms with a missing one (no timestamp in a test file) as the latest time: every item with events existed by then."""
    from uvp_core.model.features import NAT_MS

    return np.where(ms == NAT_MS, np.iinfo(np.int64).max - 1, ms)


def with_sampled_negatives(evalset: EvaluationSet, dataset: Dataset) -> EvaluationSet:
    """A positives-only binary set with sampled negatives appended (module docstring); any other set unchanged."""
    if evalset.sampled_negatives or not positives_only(evalset.pairs, evalset.target):
        return evalset
    from uvp_core.model.features import _all_items

    negatives = sampled_negative_pairs(dataset.events, evalset.pairs, _all_items(dataset))
    if not len(negatives):
        return evalset
    pairs = pd.concat([evalset.pairs, negatives], ignore_index=True)
    added = replace(evalset, pairs=pairs, sampled_negatives=len(negatives))
    return replace(added, note=evalset.note + negatives_note(added))


def negatives_note(evalset: EvaluationSet) -> str:
    """The note's sentence on sampled negatives ('' when there are none)."""
    if not evalset.sampled_negatives:
        return ""
    return (f"; every event is a positive, so {evalset.sampled_negatives:,} sampled items the users never interacted with "
            f"were added as negatives ({NEGATIVES_PER_POSITIVE} per positive: the mix a model trained on a log of positives only is calibrated to)")  # fmt: skip


def label_events(events: pd.DataFrame, target: str) -> pd.DataFrame:
    """The events that carry a label for the target (rated events; labelled events; all events for event types)."""
    if target == "rating":
        return events.loc[events["rating"].notna()] if "rating" in events.columns else events.iloc[:0]
    if "label" in events.columns and events["label"].notna().any():
        return events.loc[events["label"].notna()]
    return events


def _train_events(events: pd.DataFrame, cutoff: pd.Timestamp | None) -> pd.DataFrame:
    """Events strictly before the cutoff (all of them when there is none)."""
    return events if cutoff is None else events.loc[(events["timestamp"] < cutoff).to_numpy()].reset_index(drop=True)


def _format_time(cutoff: pd.Timestamp) -> str:
    """A cutoff as 'YYYY-MM-DD HH:MM UTC' (seconds when they are not zero)."""
    stamp = pd.Timestamp(cutoff).tz_convert("UTC") if pd.Timestamp(cutoff).tzinfo else pd.Timestamp(cutoff)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC" if stamp.second else "%Y-%m-%d %H:%M UTC")


def _holdout_at(dataset: Dataset, target: str, cutoff: pd.Timestamp, source: str, note: str = "") -> EvaluationSet:
    """The target's label events at or after `cutoff`, with every event before it as training."""
    events = dataset.events
    labelled = label_events(events, target)
    test_rows = labelled.loc[(labelled["timestamp"] >= cutoff).to_numpy()]
    pairs = labelled_pairs(test_rows, target)
    if not len(pairs):
        raise ValueError(f"No event with a {target!r} label at or after {_format_time(cutoff)}.")
    evalset = EvaluationSet(pairs=pairs, train_events=_train_events(events, cutoff), cutoff=cutoff, target=target, source=source, note=note)
    return with_sampled_negatives(evalset, dataset)


def holdout(dataset: Dataset, target: str, fraction: float = DEFAULT_HOLDOUT) -> EvaluationSet:
    """The last `fraction` of the target's label events by time, with everything before as training."""
    if not 0.0 < fraction < 1.0:
        raise ValueError("The holdout fraction must be between 0 and 1.")
    labelled = label_events(dataset.events, target)
    if not len(labelled):  # an audit: a rating model on a purchase log read "too few events carry a 'rating' label"
        raise ValueError(f"This dataset has no event with a {target!r} label, so a {target} model cannot be evaluated on "
                         "it: choose a dataset that has them, such as the one the model was trained on.")  # fmt: skip
    if len(labelled) < 2:
        raise ValueError(f"Only one event carries a {target!r} label: too few to hold some out.")
    times = np.sort(labelled["timestamp"].to_numpy())
    cutoff = pd.Timestamp(times[min(len(times) - 1, int(len(times) * (1.0 - fraction)))])
    note = f"time holdout: the latest {fraction:.0%} of {target!r} label events, from {_format_time(cutoff)} on"
    return _holdout_at(dataset, target, cutoff, "holdout", note)


def all_label_events(dataset: Dataset, target: str, *, in_sample: bool) -> EvaluationSet:
    """Every event carrying the target's label (no cutoff: every event counts as training context)."""
    pairs = labelled_pairs(label_events(dataset.events, target), target)
    if not len(pairs):
        raise ValueError(f"No event carries a {target!r} label.")
    note = (
        "in-sample: the model trained on these events — numbers are optimistic"
        if in_sample
        else "all label events of this dataset; the model was trained on other data (its data fingerprint differs), "
        "so these events are new to it unless the two datasets overlap"
    )
    return with_sampled_negatives(
        EvaluationSet(pairs=pairs, train_events=dataset.events, cutoff=None, target=target, source="all events", note=note), dataset
    )


def trained_on(model: Any, dataset: Dataset) -> bool:
    """True when the model was trained on this dataset or on its very events (same data fingerprint, or the same
    events fingerprint: a re-upload with a title fixed has other items but the events the model trained on)."""
    if getattr(model, "data_fingerprint_", None) == dataset.fingerprint():
        return True
    events = (getattr(model, "meta_", None) or {}).get("events_fingerprint")
    return bool(events) and events == dataset.events_fingerprint()


def model_validation_cutoff(model: Any, dataset: Dataset) -> pd.Timestamp | None:
    """Where the model's time-based validation split starts on the dataset it trained on (None: it split at random).

    Read from the model's metrics (uvp_model.json's `validation_cutoff`); models saved before it was
    recorded get it recomputed the way training computed it: the same examples (target, negatives,
    seed, catalogue) split by `time_split` with the saved val_fraction.
    """
    metrics = getattr(model, "metrics_", {}) or {}
    if metrics.get("validation_split") == "random":
        return None
    if metrics.get("validation_cutoff"):
        return pd.Timestamp(metrics["validation_cutoff"]).tz_convert("UTC")
    from uvp_core.model.examples import build_examples, time_split
    from uvp_core.model.features import _all_items

    config = model.config
    examples = build_examples(dataset.events, model.target, config.negatives_per_positive, config.seed, _all_items(dataset))
    _, cutoff_ms = time_split(examples.times, config.val_fraction, config.seed)
    return None if cutoff_ms is None else pd.Timestamp(cutoff_ms, unit="ms", tz="UTC")


def model_holdout(model: Any, dataset: Dataset, fraction: float = DEFAULT_HOLDOUT) -> EvaluationSet:
    """The default evaluation set: events the model did not train on (see the module docstring)."""
    target = model.target
    if not trained_on(model, dataset):
        evalset = holdout(dataset, target, fraction)
        return replace(evalset, note=evalset.note + (
            "; the model was trained on other data (its data fingerprint differs), so these events are new to it "
            "unless the two datasets overlap" + calibration_mix_note(model)
        ))  # fmt: skip
    cutoff = model_validation_cutoff(model, dataset)
    if cutoff is None:
        evalset = holdout(dataset, target, fraction)
        return replace(evalset, note=(
            "in-sample: the model split its validation set at random (too few distinct timestamps), so it trained on "
            "most of these events — numbers are optimistic" + negatives_note(evalset) + calibration_mix_note(model)
        ))  # fmt: skip
    share = f"{model.config.val_fraction:.0%}"
    note = (
        f"held-out: events from {_format_time(cutoff)} on, not seen in training (the model's own validation period, "
        f"its latest {share} of examples; used only to pick the stopping epoch{' and calibrate' if model.task == 'binary' else ''})"
        + (f"; the calibration was fitted on these events{' and on sampled items' if calibration_mix_note(model) else ''}, so the "
           "reliability curve, ECE and log loss here are not an independent test of it" if model.task == "binary" else "")
    )
    return noting_refit(_holdout_at(dataset, target, cutoff, "validation period", note), dataset, model)


def model_fraction_holdout(model: Any, dataset: Dataset, fraction: float) -> EvaluationSet:
    """holdout(dataset, fraction) for this model, its note saying how much of it the model may have trained on."""
    evalset = holdout(dataset, model.target, fraction)
    if not trained_on(model, dataset):
        note = evalset.note + "; the model was trained on other data (its data fingerprint differs), so these events are new to it unless the two datasets overlap"
        return replace(evalset, note=note + calibration_mix_note(model))
    cutoff = model_validation_cutoff(model, dataset)
    times = evalset.pairs["timestamp"]
    before = len(times) if cutoff is None else int((times < cutoff).sum())
    if before:
        where = ("the model split its validation set at random, so it trained on most of them" if cutoff is None else
                 f"{'every one' if before == len(times) else f'{before:,} of {len(times):,}'} of these pairs "
                 f"{'is' if before == 1 or before == len(times) else 'are'} before {_format_time(cutoff)}, where its training data ends")  # fmt: skip
        prefix = "in-sample" if before == len(times) else "partly in-sample"
        evalset = replace(evalset, note=f"{prefix}: {where} — numbers are optimistic ({evalset.note})")
    return noting_refit(evalset, dataset, model)


def scored_as_validated(model: Any, dataset: Dataset) -> bool:
    """Whether the diagnostics score the model on this dataset with its biases from before their refit (as_validated)."""
    return bool(getattr(model, "validated_", None)) and trained_on(model, dataset)


def refit_note(dataset: Dataset, *models: Any) -> str:
    """The note's "; scored with the … biases … before their refit" where a model scores this dataset so, else ""."""
    return f"; {REFIT_NOTE}" if any(scored_as_validated(m, dataset) for m in models) else ""


def calibration_mix_note(model: Any) -> str:
    """"; its probabilities are relative to …" for a binary model trained on events with negatives of their own (views
    that did not convert) and on sampled items besides: its calibration set held both, while these sets hold only the
    pairs users interacted with, so their observed rate runs above its mean prediction (a browser audit read the gap,
    0.109 observed against 0.066 predicted on the sample, as miscalibration). "" for any other model."""
    metrics = getattr(model, "metrics_", None) or {}
    if getattr(model, "task", "") != "binary" or not metrics.get("n_event_negatives") or not metrics.get("n_sampled_negatives"):
        return ""
    per = int(metrics.get("n_sampled_per_positive") or 1)
    return (f"; its probabilities are relative to its training mix, which adds {per} sampled item{'s' if per != 1 else ''} "
            "the user never interacted with per positive to the events: these pairs hold only items the users interacted "
            "with, so their observed rate is expected to run above the mean prediction, and the reliability curve and ECE "
            "show that difference as well as any miscalibration")  # fmt: skip


def noting_refit(evalset: EvaluationSet, dataset: Dataset, *models: Any) -> EvaluationSet:
    """The set, its note ending in refit_note and (once) calibration_mix_note."""
    mix = next((note for note in map(calibration_mix_note, models) if note), "")
    return replace(evalset, note=evalset.note + refit_note(dataset, *models) + mix)


def all_events_for(models: Sequence[Any], dataset: Dataset) -> EvaluationSet:
    """all_label_events for these models (one, or two scored on the same pairs): in-sample where one trained on them,
    the note saying how much of the set its validation period (which only chose the stopping epoch) holds."""
    trained = [model for model in models if trained_on(model, dataset)]
    evalset = all_label_events(dataset, models[0].target, in_sample=bool(trained))
    if trained and (cutoff := model_validation_cutoff(trained[0], dataset)) is not None:
        times = evalset.pairs["timestamp"]
        later = int((times >= cutoff).sum())
        if later:
            who = "the model" if len(models) == 1 else f"model {'A' if trained[0] is models[0] else 'B'}"
            evalset = replace(evalset, note=(
                f"partly in-sample: {who} trained on the {len(times) - later:,} pairs before {_format_time(cutoff)}; the other "
                f"{later:,}, its validation period, only chose when training stopped — numbers are optimistic"
                + negatives_note(evalset)))  # fmt: skip
    return noting_refit(evalset, dataset, *models)


def holdout_for_models(model_a: Any, model_b: Any, dataset: Dataset, fraction: float = DEFAULT_HOLDOUT) -> EvaluationSet:
    """One default set for two models (they must be scored on the same pairs): the later of their model_holdout sets."""
    first, second = model_holdout(model_a, dataset, fraction), model_holdout(model_b, dataset, fraction)
    if first.cutoff == second.cutoff:
        return first if first.note == second.note else replace(first, note=f"model A: {first.note}; model B: {second.note}")
    later = second if second.cutoff > first.cutoff else first
    starts = f"model A's default set starts {_format_time(first.cutoff)}, model B's {_format_time(second.cutoff)}"
    return replace(later, note=f"{later.note} — the later of the two models' default sets ({starts})")


def annotate_test_set(evalset: EvaluationSet, model: Any, dataset: Dataset) -> EvaluationSet:
    """A test set with a note saying whether the model could have trained on its rows (by the model's validation cutoff)."""
    name = evalset.source
    same_data = trained_on(model, dataset)
    cutoff = model_validation_cutoff(model, dataset) if same_data else None
    times = evalset.pairs["timestamp"]
    if not same_data:
        note = f"test file {name}: the model was trained on other data (its data fingerprint differs), so whether it saw these rows is unknown"
    elif cutoff is None:
        note = f"partly in-sample: the model split its validation set at random, so it may have trained on rows of test file {name}"
    elif times.isna().any():
        note = f"test file {name}: rows without a timestamp — whether the model trained on them cannot be told"
    else:
        before = int((times < cutoff).sum())
        if before:
            share = "every row" if before == len(times) else f"{before:,} of {len(times):,} rows"
            note = (
                f"{'in-sample' if before == len(times) else 'partly in-sample'}: {share} of test file {name} "
                f"{'is' if before == 1 or before == len(times) else 'are'} before {_format_time(cutoff)}, where the model's training data ends — "
                "it may have trained on them, so numbers are optimistic"
            )
        else:
            note = f"held-out: every row of test file {name} is from {_format_time(cutoff)} on, after the model's training data"
    note += refit_note(dataset, model) + calibration_mix_note(model)
    if evalset.dropped_rows:
        note += f"; {evalset.dropped_rows:,} row(s) without a usable label were left out"
    return replace(evalset, note=note + negatives_note(evalset))


def read_test_set(source: str | Path | bytes, dataset: Dataset, target: str, *, name: str | None = None,
                  encoding: str | None = None) -> EvaluationSet:  # fmt: skip
    """A test CSV (path or bytes) as an EvaluationSet; PairsFileError (a ValueError) names the problem."""
    from uvp_core.data.validate import PairsFileError, read_pairs_csv

    label = name or (Path(source).name if not isinstance(source, bytes) else "test.csv")
    frame, rows = read_pairs_csv(source, label, "user_id,item_id[,timestamp] and the label", encoding,
                                 numeric=("rating", "label"))  # a label that is not a number is an error, not a dropped row
    for column in ("rating", "label", "event_type"):
        if column in frame.columns:
            rows[column] = frame[column].replace("", None)
    try:
        pairs = labelled_pairs(rows, target)
    except ValueError as exc:
        raise PairsFileError(f"{label}: {exc}") from exc
    if not len(pairs):
        raise PairsFileError(f"{label}: no row carries a usable {target!r} label.")
    present = pairs["timestamp"].dropna()
    cutoff = present.min() if len(present) else None
    dropped = len(rows) - len(pairs) if target == "rating" or "label" in rows.columns else 0
    return with_sampled_negatives(EvaluationSet(
        pairs=pairs, train_events=_train_events(dataset.events, cutoff), cutoff=cutoff, target=target, source=label,
        dropped_rows=dropped, note=f"test file {label}: held out only if the model did not train on its rows",
    ), dataset)  # fmt: skip
