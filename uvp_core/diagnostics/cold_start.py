"""Cold start: accuracy against user history length and item training count, next to the bias baseline.

History length of a pair = the user's events in the dataset strictly before the pair's time (what the
value model reads). Item training count = the item's training events (before the cutoff). Buckets:
0, 1, 2–3, 4–5, 6–10, 11–20, 21–50, 51+. New users / new items are those absent from the training
events; they are reported on their own as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uvp_core.diagnostics.metrics import DEFAULT_BOOTSTRAP, Bootstrap, group_metrics, group_metrics_many

COUNT_BUCKETS: tuple[tuple[int, float], ...] = (
    (0, 0), (1, 1), (2, 3), (4, 5), (6, 10), (11, 20), (21, 50), (51, np.inf),
)
MODELS = {"value model": "prediction", "bias baseline": "baseline"}


def bucket_label(low: int, high: float) -> str:
    """A count bucket's label: '0', '2–3', '51+'."""
    if np.isinf(high):
        return f"{low}+"
    return str(low) if low == high else f"{low}–{int(high)}"


COUNT_LABELS: tuple[str, ...] = tuple(bucket_label(lo, hi) for lo, hi in COUNT_BUCKETS)


def count_bucket(counts: pd.Series | np.ndarray) -> pd.Categorical:
    """The count bucket of each non-negative count, as an ordered categorical."""
    values = np.asarray(counts, dtype=np.float64)
    upper = np.array([hi for _, hi in COUNT_BUCKETS[:-1]])
    codes = np.searchsorted(upper, values, side="left")
    codes = np.where(np.isnan(values), -1, codes)
    return pd.Categorical.from_codes(codes, categories=list(COUNT_LABELS), ordered=True)


def _models(frame: pd.DataFrame) -> dict[str, str]:
    """The prediction columns present: the value model and, when computed, the bias baseline."""
    return {name: column for name, column in MODELS.items() if column in frame.columns}


def cold_start_curve(frame: pd.DataFrame, by: str, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Metrics per bucket of `by` ('history_bucket' or 'item_count_bucket') for the model and the baseline."""
    return group_metrics(frame, by, task, predictions=_models(frame), boot=boot)


def cold_start_curves(frame: pd.DataFrame, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> dict[str, pd.DataFrame]:
    """Both curves — users by history length, items by training count — in one bootstrap pass."""
    models = _models(frame)
    users, items = group_metrics_many(frame, [("history_bucket", models), ("item_count_bucket", models)], task, boot=boot)
    return {"users": users, "items": items}


def undefined_auc_note(table: pd.DataFrame, metric: str, bucket: str) -> str | None:
    """A note naming the buckets of a curve table whose AUC is undefined (one outcome only), or None."""
    if metric != "auc" or metric not in table.columns:
        return None
    undefined = table.loc[table[metric].isna() & (table["n"] > 0)].drop_duplicates(bucket)
    if undefined.empty:
        return None
    named = ", ".join(f"{b} (n={int(n):,})" for b, n in zip(undefined[bucket].astype(str), undefined["n"], strict=True))
    return (f"AUC is undefined for a bucket whose pairs all have the same outcome (all positive or all negative), so "
            f"{'it has' if len(undefined) == 1 else 'these have'} no marker: {named}.")  # fmt: skip


def new_entity_table(frame: pd.DataFrame, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Metrics for new vs known users, new vs known items, and pairs where both are new (model and baseline)."""
    models = _models(frame)
    flagged = frame.assign(both_new=(frame["new_user"] & frame["new_item"]).to_numpy())
    users, items, both = group_metrics_many(flagged, [("new_user", models), ("new_item", models), ("both_new", models)], task, boot=boot)
    parts = []
    for table, flag, noun in ((users, "new_user", "user"), (items, "new_item", "item")):
        table.insert(0, "group", np.where(table.pop(flag).astype(bool), f"new {noun}s", f"known {noun}s"))
        parts.append(table)
    both = both.loc[both.pop("both_new").astype(bool)]
    if len(both):
        both.insert(0, "group", "new user and new item")
        parts.append(both)
    return pd.concat(parts, ignore_index=True)
