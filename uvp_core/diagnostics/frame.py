"""The evaluation frame: scored pairs plus everything the diagnostics group by, computed once.

Columns added to the scored pairs (user_id, item_id, timestamp, y, prediction):

    error                prediction − y
    baseline             the bias baseline's prediction (fitted on the training events' labels)
    history_length       the user's events strictly before the pair's time (all events when it has none)
    history_bucket       0, 1, 2–3, 4–5, 6–10, 11–20, 21–50, 51+
    tenure_days, tenure  days since the user's first event (bucketed; "no history" when none before)
    activity_30d, activity  the user's events in the 30 days before the pair's time (bucketed)
    item_train_count, item_count_bucket   the item's training events (bucketed like history)
    new_user, new_item   absent from the training events
    new_vs_returning     "new user" / "returning user"
    popularity_bucket    head / torso / tail (see long_tail)
    user.<attribute>, item.<attribute>   the users/items tables' columns (ISO dates parsed to dates)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uvp_core.data.contract import Dataset
from uvp_core.diagnostics.baseline import BiasBaseline
from uvp_core.diagnostics.cold_start import count_bucket
from uvp_core.diagnostics.evaluation_set import (
    EvaluationSet,
    label_events,
    labelled_pairs,
    positives_only,
    sampled_negative_pairs,
)
from uvp_core.diagnostics.long_tail import BUCKETS, DEFAULT_CUTS, TailCuts, bucket_codes

MS_PER_DAY = 86_400_000
ACTIVITY_DAYS = 30
TENURE_EDGES_DAYS = (7, 30, 90, 365)
TENURE_LABELS = ("no history", "under 1 week", "1–4 weeks", "1–3 months", "3–12 months", "1 year or more")
ACTIVITY_EDGES = (0, 2, 5, 10)
ACTIVITY_LABELS = ("0", "1–2", "3–5", "6–10", "11+")
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}"


def _ms(series: pd.Series) -> np.ndarray:
    """Timestamps as int64 ms (NaT -> int64 min)."""
    return series.astype("datetime64[ms, UTC]").array.asi8.astype(np.int64)


def shared_codes(*columns: pd.Series) -> tuple[list[np.ndarray], pd.Index]:
    """Integer codes of ids across several id columns from one factorisation, and the distinct ids."""
    joined = pd.concat([c.reset_index(drop=True).astype("str") for c in columns], ignore_index=True)
    codes, uniques = pd.factorize(joined)
    bounds = np.cumsum([0, *(len(c) for c in columns)])
    return [codes[a:b].astype(np.int64) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], pd.Index(uniques)


def history_from_codes(pair_user: np.ndarray, pair_ms: np.ndarray, event_user: np.ndarray, event_ms: np.ndarray) -> pd.DataFrame:
    """history_length, tenure_days, activity_30d from user codes and ms times (NaT pair time: every event counts)."""
    nat = np.iinfo(np.int64).min
    last_ms = int(event_ms.max()) if len(event_ms) else 0
    pair_ms = np.where(pair_ms == nat, last_ms + 1, pair_ms)
    low = min(int(event_ms.min()) if len(event_ms) else 0, int(pair_ms.min()) if len(pair_ms) else 0) - ACTIVITY_DAYS * MS_PER_DAY
    span = max(last_ms, int(pair_ms.max()) if len(pair_ms) else 0) - low + 2
    n_users = int(max(event_user.max(initial=-1), pair_user.max(initial=-1))) + 1
    scale = 1 if span * (n_users + 1) < 2**62 else 1000  # whole seconds if ms keys could overflow
    span = span // scale + 2
    event_key = np.sort(event_user * span + (event_ms - low) // scale)
    pair_key = pair_user * span + (pair_ms - low) // scale
    order = np.argsort(pair_key, kind="stable")  # sorted queries search much faster
    before, month_ago = np.empty(len(pair_key), np.int64), np.empty(len(pair_key), np.int64)
    before[order] = np.searchsorted(event_key, pair_key[order], side="left")
    month_ago[order] = np.searchsorted(event_key, pair_key[order] - ACTIVITY_DAYS * MS_PER_DAY // scale, side="left")
    user_start = np.searchsorted(event_key, np.arange(n_users + 1, dtype=np.int64) * span, side="left")
    start = user_start[pair_user]
    history = before - start
    first_key = event_key[np.minimum(start, max(len(event_key) - 1, 0))] if len(event_key) else np.zeros(len(pair_key), np.int64)
    tenure = np.where(history > 0, (pair_key - first_key) * scale / MS_PER_DAY, np.nan)
    return pd.DataFrame({"history_length": history, "tenure_days": tenure, "activity_30d": before - month_ago})


def history_features(pairs: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """history_length, tenure_days and activity_30d per pair, from the user's events before the pair's time."""
    (pair_user, event_user), _ = shared_codes(pairs["user_id"], events["user_id"])
    pair_ms = _ms(pairs["timestamp"]) if "timestamp" in pairs.columns else np.full(len(pairs), np.iinfo(np.int64).min)
    out = history_from_codes(pair_user, pair_ms, event_user, _ms(events["timestamp"]))
    out.index = pairs.index
    return out


def tenure_bucket(days: pd.Series | np.ndarray) -> pd.Categorical:
    """Tenure buckets: no history, under 1 week, 1–4 weeks, 1–3 months, 3–12 months, 1 year or more."""
    values = np.asarray(days, dtype=np.float64)
    codes = np.where(np.isnan(values), 0, 1 + np.searchsorted(np.array(TENURE_EDGES_DAYS, float), values, side="right"))
    return pd.Categorical.from_codes(codes, categories=list(TENURE_LABELS), ordered=True)


def activity_bucket(counts: pd.Series | np.ndarray) -> pd.Categorical:
    """Events in the last 30 days: 0, 1–2, 3–5, 6–10, 11+."""
    values = np.asarray(counts, dtype=np.float64)
    codes = np.searchsorted(np.array(ACTIVITY_EDGES, float), values, side="left")
    return pd.Categorical.from_codes(codes, categories=list(ACTIVITY_LABELS), ordered=True)


def parse_dates(series: pd.Series) -> pd.Series:
    """ISO-date text columns (e.g. signup_date '2024-10-12') as UTC datetimes; anything else unchanged."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series.dt.tz_localize("UTC") if getattr(series.dt, "tz", None) is None else series
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return series
    sample = series.dropna().astype(str).head(200)
    if not len(sample) or not sample.str.match(_DATE_PATTERN).all():
        return series
    parsed = pd.to_datetime(series, format="ISO8601", utc=True, errors="coerce")
    return parsed if parsed.notna().sum() >= 0.95 * series.notna().sum() else series


def _attributes(table: pd.DataFrame | None, key: str, prefix: str) -> pd.DataFrame | None:
    """A users/items table (one row per id) with prefixed columns and dates parsed; None without attributes."""
    if table is None or len(table.columns) <= 1:
        return None
    table = table.drop_duplicates(key).reset_index(drop=True)
    out = pd.DataFrame({f"{prefix}.{column}": parse_dates(table[column]) for column in table.columns if column != key})
    return out.assign(**{key: table[key]})


def train_labels(evalset: EvaluationSet) -> pd.DataFrame:
    """The training events' labels for the model's target (for the bias baseline); positives-only binary labels get
    sampled negatives, as the evaluation pairs do (evaluation_set.with_sampled_negatives)."""
    rows = label_events(evalset.train_events, evalset.target)
    if not len(rows) or (evalset.target != "rating" and "label" not in rows.columns and "event_type" not in rows.columns):
        return pd.DataFrame(columns=["user_id", "item_id", "timestamp", "y"])
    labels = labelled_pairs(rows, evalset.target)
    if positives_only(labels, evalset.target):
        universe = pd.unique(evalset.train_events["item_id"].to_numpy(dtype=object))
        labels = pd.concat([labels, sampled_negative_pairs(evalset.train_events, labels, universe)], ignore_index=True)
    return labels


def fit_baseline(evalset: EvaluationSet, reg: float = 5.0) -> BiasBaseline | None:
    """The bias baseline fitted on the training labels, on user and item ids (None when there are none)."""
    labels = train_labels(evalset)
    if not len(labels):
        return None
    clip = (0.0, 1.0) if evalset.task == "binary" else None
    return BiasBaseline(reg=reg, clip=clip).fit(labels["user_id"].to_numpy(dtype=object), labels["item_id"].to_numpy(dtype=object), labels["y"].to_numpy())


def _baseline(evalset: EvaluationSet, dataset: Dataset, train_user: np.ndarray, train_item: np.ndarray, pair_user: np.ndarray,
              pair_item: np.ndarray, pair_times: pd.Series | None, users: pd.Index, items: pd.Index, reg: float) -> np.ndarray | None:  # fmt: skip
    """The bias baseline's predictions, fitted on shared integer codes (no string work for rating/label targets); for
    a rating, as of each pair's time (BiasBaseline.predict_as_of: the user's ratings since the cutoff folded in)."""
    train = evalset.train_events
    clip = (0.0, 1.0) if evalset.task == "binary" else None
    role = "rating" if evalset.target == "rating" else "label" if "label" in train.columns and train["label"].notna().any() else None
    if role is not None and role in train.columns:
        y = pd.to_numeric(train[role], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        keep = ~np.isnan(y)
        if not keep.any():
            return None
        positives_only_labels = evalset.task == "binary" and bool((y[keep] == 1).all())
        if not positives_only_labels:  # else through train_labels, which adds the sampled negatives
            model = BiasBaseline(reg=reg, clip=clip).fit(train_user[keep], train_item[keep], y[keep])
            if evalset.task == "regression" and evalset.cutoff is not None and pair_times is not None:
                later = label_events(dataset.events, evalset.target)
                later = later.loc[(later["timestamp"] >= evalset.cutoff).to_numpy()]
                return model.predict_as_of(pair_user, pair_item, pair_times, users.get_indexer(later["user_id"].astype(str)),
                                           items.get_indexer(later["item_id"].astype(str)), pd.to_numeric(later[role]).to_numpy(np.float64),
                                           later["timestamp"])  # fmt: skip  (Series: their datetime dtype converts fast)
            return model.predict(pair_user, pair_item)
    labels = train_labels(evalset)  # event types (collapsed per pair first), or positives-only labels
    if not len(labels):
        return None
    model = BiasBaseline(reg=reg, clip=clip).fit(
        users.get_indexer(labels["user_id"].astype(str)), items.get_indexer(labels["item_id"].astype(str)), labels["y"].to_numpy()
    )
    return model.predict(pair_user, pair_item)


def evaluation_frame(
    scored: pd.DataFrame, dataset: Dataset, evalset: EvaluationSet, *, cuts: TailCuts = DEFAULT_CUTS, baseline_reg: float = 5.0
) -> pd.DataFrame:
    """Scored pairs (user_id, item_id, timestamp, y, prediction) with every grouping column (module docstring)."""
    frame = scored.reset_index(drop=True)
    frame = frame.assign(user_id=frame["user_id"].astype("str"), item_id=frame["item_id"].astype("str"))
    frame["error"] = frame["prediction"] - frame["y"]
    events, train = dataset.events, evalset.train_events
    user_tables = [dataset.users["user_id"]] if dataset.users is not None else []
    item_tables = [dataset.items["item_id"]] if dataset.items is not None else []
    (pair_user, event_user, train_user, *_), users = shared_codes(frame["user_id"], events["user_id"], train["user_id"], *user_tables)
    (pair_item, train_item, *_), items = shared_codes(frame["item_id"], train["item_id"], *item_tables)
    baseline = _baseline(evalset, dataset, train_user, train_item, pair_user, pair_item, frame.get("timestamp"), users, items, baseline_reg)
    frame["baseline"] = baseline if baseline is not None else np.full(len(frame), float(frame["y"].mean()))
    pair_ms = _ms(frame["timestamp"]) if "timestamp" in frame.columns else np.full(len(frame), np.iinfo(np.int64).min)
    frame = pd.concat([frame, history_from_codes(pair_user, pair_ms, event_user, _ms(events["timestamp"]))], axis=1)
    frame["history_bucket"] = count_bucket(frame["history_length"])
    frame["tenure"] = tenure_bucket(frame["tenure_days"])
    frame["activity"] = activity_bucket(frame["activity_30d"])
    item_counts = np.bincount(train_item, minlength=len(items))
    frame["item_train_count"] = item_counts[pair_item]
    frame["item_count_bucket"] = count_bucket(frame["item_train_count"])
    known_user = np.zeros(len(users), bool)
    known_user[train_user] = True
    frame["new_user"] = ~known_user[pair_user]
    frame["new_item"] = frame["item_train_count"].to_numpy() == 0
    frame["new_vs_returning"] = pd.Categorical.from_codes(
        np.where(frame["new_user"], 0, 1), categories=["new user", "returning user"], ordered=True
    )
    frame["popularity_bucket"] = pd.Categorical.from_codes(
        bucket_codes(item_counts, items.to_numpy(dtype=object), cuts)[pair_item], categories=list(BUCKETS), ordered=True
    )
    for table, key, prefix, pair_codes, n_ids in ((dataset.users, "user_id", "user", pair_user, len(users)),
                                                  (dataset.items, "item_id", "item", pair_item, len(items))):  # fmt: skip
        attributes = _attributes(table, key, prefix)
        if attributes is None:
            continue
        table_codes = (users if prefix == "user" else items).get_indexer(attributes[key].astype(str))
        row_of_id = np.full(n_ids, -1, np.int64)
        row_of_id[table_codes] = np.arange(len(attributes))
        position = row_of_id[pair_codes]
        joined = attributes.drop(columns=key).iloc[np.maximum(position, 0)].reset_index(drop=True)
        if (position < 0).any():
            joined = joined.where(np.broadcast_to((position >= 0)[:, None], joined.shape))
        frame = pd.concat([frame, joined], axis=1)
    return frame
