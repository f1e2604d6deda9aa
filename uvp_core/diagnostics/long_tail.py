"""Long tail: the popularity curve with head / torso / tail, accuracy per bucket, exposure and popularity bias.

Definition. Items are ranked by their number of training interactions (descending; ties by item id);
items of the catalogue with no training interaction come last. Walking down the ranking, an item is in
the **head** while the interactions of the items ranked above it are below `head` (default 20%) of all
interactions — so the head is the smallest set of most popular items holding at least 20% of them; the
**torso** continues while that share is below 1 − `tail` (default 80%); the rest, including every item
never interacted with, is the **tail** (holding the last ~20% of interactions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from uvp_core.diagnostics.metrics import DEFAULT_BOOTSTRAP, Bootstrap, group_metrics

BUCKETS: tuple[str, ...] = ("head", "torso", "tail")
DEFINITION = (
    "Items are ranked by training interactions. Head: the most popular items holding the first {head:.0%} of "
    "interactions; tail: the items holding the last {tail:.0%}, plus items never interacted with; torso: the rest."
)


@dataclass(frozen=True)
class TailCuts:
    """Interaction shares that cut the popularity ranking into head, torso and tail."""

    head: float = 0.2  # the head holds (at least) the first 20% of interactions
    tail: float = 0.2  # the tail holds (at most) the last 20% of interactions

    def __post_init__(self) -> None:
        if not (0.0 < self.head < 1.0 and 0.0 <= self.tail < 1.0 and self.head + self.tail <= 1.0):
            raise ValueError("Cut points need 0 < head < 1, 0 <= tail < 1 and head + tail <= 1.")


DEFAULT_CUTS = TailCuts()


def describe(cuts: TailCuts) -> str:
    """The bucket definition in one sentence, with the cut points filled in."""
    return DEFINITION.format(head=cuts.head, tail=cuts.tail)


def catalogue_items(dataset, train_events: pd.DataFrame | None = None) -> np.ndarray:
    """Every item id known to the dataset: its items table plus items seen in events."""
    ids = [dataset.events["item_id"]]
    if dataset.items is not None:
        ids.append(dataset.items["item_id"])
    if train_events is not None:
        ids.append(train_events["item_id"])
    return np.asarray(pd.concat(ids, ignore_index=True).astype("str").unique(), dtype=object)


def bucket_codes(counts: np.ndarray, item_ids: np.ndarray, cuts: TailCuts = DEFAULT_CUTS) -> np.ndarray:
    """The bucket code (0 head, 1 torso, 2 tail) of each item from its interaction count (see the module docstring)."""
    counts = np.asarray(counts, dtype=np.int64)
    order = np.lexsort((np.asarray(item_ids, dtype=str), -counts))  # by popularity, ties by item id
    total = counts.sum()
    ranked = counts[order]
    before = (np.cumsum(ranked) - ranked) / total if total else np.ones(len(ranked))
    ranked_codes = np.where(before < cuts.head, 0, np.where(before < 1.0 - cuts.tail, 1, 2))
    ranked_codes = np.where(ranked == 0, 2, ranked_codes)
    out = np.empty(len(counts), np.int64)
    out[order] = ranked_codes
    return out


def popularity_table(train_events: pd.DataFrame, catalogue: np.ndarray | None = None, cuts: TailCuts = DEFAULT_CUTS) -> pd.DataFrame:
    """Items by popularity: rank, item_id, interactions, share, cumulative_share, bucket (see the module docstring)."""
    counts = train_events["item_id"].astype(str).value_counts()
    if catalogue is not None:
        extra = pd.Index(pd.unique(np.asarray(catalogue, dtype=object))).difference(counts.index)
        counts = pd.concat([counts, pd.Series(0, index=extra, dtype=counts.dtype)])
    table = pd.DataFrame({"item_id": counts.index.to_numpy(dtype=object), "interactions": counts.to_numpy(dtype=np.int64)})
    table = table.sort_values(["interactions", "item_id"], ascending=[False, True], ignore_index=True)
    total = table["interactions"].sum()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["share"] = table["interactions"] / total if total else 0.0
    table["cumulative_share"] = table["interactions"].cumsum() / total if total else 0.0
    codes = bucket_codes(table["interactions"].to_numpy(), table["item_id"].to_numpy(dtype=object), cuts)
    table["bucket"] = pd.Categorical.from_codes(codes, categories=list(BUCKETS), ordered=True)
    return table


def bucket_sizes(table: pd.DataFrame) -> pd.DataFrame:
    """Items and interactions in each popularity bucket of a popularity_table (every bucket listed, empty ones as 0)."""
    return table.groupby("bucket", observed=False).agg(items=("item_id", "size"), interactions=("interactions", "sum")).reset_index()


def item_buckets(item_ids: pd.Series | np.ndarray, table: pd.DataFrame) -> pd.Categorical:
    """The popularity bucket of each item id (items not in the table: tail)."""
    index = pd.Index(table["item_id"].to_numpy(dtype=object))
    position = index.get_indexer(pd.Series(item_ids, dtype=object))
    codes = np.where(position >= 0, table["bucket"].cat.codes.to_numpy()[np.maximum(position, 0)], 2)
    return pd.Categorical.from_codes(codes, categories=list(BUCKETS), ordered=True)


def bucket_metrics(frame: pd.DataFrame, task: str, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Accuracy per popularity bucket for the value model and the bias baseline."""
    models = {name: c for name, c in {"value model": "prediction", "bias baseline": "baseline"}.items() if c in frame.columns}
    return group_metrics(frame, "popularity_bucket", task, predictions=models, boot=boot)


def exposure_table(lists: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per bucket: items, item_share, interaction_share and the share of top-K slots (exposure_share)."""
    buckets = table.groupby("bucket", observed=False).agg(items=("item_id", "size"), interactions=("interactions", "sum"))
    shown = pd.Series(item_buckets(lists["item_id"], table)).value_counts().reindex(list(BUCKETS), fill_value=0)
    out = pd.DataFrame({"bucket": list(BUCKETS)})
    out["items"] = buckets["items"].reindex(BUCKETS).fillna(0).astype(np.int64).to_numpy()
    out["item_share"] = out["items"] / max(1, out["items"].sum())
    interactions = buckets["interactions"].reindex(BUCKETS).fillna(0).to_numpy(dtype=np.float64)
    out["interaction_share"] = interactions / interactions.sum() if interactions.sum() else 0.0
    out["recommendations"] = shown.to_numpy(dtype=np.int64)
    out["exposure_share"] = out["recommendations"] / max(1, out["recommendations"].sum())
    return out


def user_popularity_bias(lists: pd.DataFrame, train_events: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per user: mean popularity of items consumed (training events) and recommended (top-K), and their ratio."""
    popularity = pd.Series(table["interactions"].to_numpy(dtype=np.float64), index=table["item_id"].to_numpy(dtype=object))
    recommended = (
        lists.assign(popularity=popularity.reindex(lists["item_id"].to_numpy(dtype=object)).fillna(0).to_numpy())
        .groupby("user_id", observed=True)["popularity"].mean()
    )
    mine = train_events.loc[train_events["user_id"].isin(recommended.index)]
    consumed = (
        mine.assign(popularity=popularity.reindex(mine["item_id"].astype(str).to_numpy(dtype=object)).fillna(0).to_numpy())
        .groupby("user_id", observed=True)["popularity"].mean()
    )
    out = pd.DataFrame({"recommended_popularity": recommended})
    out["consumed_popularity"] = consumed.reindex(out.index).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["ratio"] = out["recommended_popularity"] / out["consumed_popularity"]
    return out.rename_axis("user_id").reset_index()


POPULARITY_BIAS_HELP = {
    "n": "users with a training history (the others have no consumed popularity to compare with)",
    "mean_consumed_popularity": "mean training interactions of the items these users interacted with",
    "mean_recommended_popularity": "mean training interactions of the items recommended to them",
    "median_ratio": "median of recommended ÷ consumed popularity: above 1 = lists more popular than the user's taste",
    "share_users_recommended_more_popular": "share of these users whose recommendations are more popular than what they consumed",
}


def popularity_bias_summary(per_user: pd.DataFrame) -> dict[str, float]:
    """Over users with a history: mean consumed and recommended popularity, median ratio, share of users lifted."""
    known = per_user.dropna(subset=["consumed_popularity"])
    known = known.loc[known["consumed_popularity"] > 0]
    if not len(known):
        return {"n": 0, "mean_consumed_popularity": float("nan"), "mean_recommended_popularity": float("nan"),
                "median_ratio": float("nan"), "share_users_recommended_more_popular": float("nan")}  # fmt: skip
    return {
        "n": int(len(known)),
        "mean_consumed_popularity": float(known["consumed_popularity"].mean()),
        "mean_recommended_popularity": float(known["recommended_popularity"].mean()),
        "median_ratio": float(known["ratio"].median()),
        "share_users_recommended_more_popular": float((known["recommended_popularity"] > known["consumed_popularity"]).mean()),
    }
