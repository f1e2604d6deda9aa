"""Top-K ranking metrics and beyond-accuracy metrics of recommendation lists.

Candidate sets (`candidate_pairs`). For each evaluated user (test users with at least one relevant
held-out item; at most `max_users`, a seeded sample) the candidates are the user's relevant held-out
items plus items the user never interacted with (in the dataset's events, or in the test set):
- "full": every such item of the catalogue;
- "sampled": `negatives` of them drawn uniformly at random (seeded).
"auto" takes "full" when users × catalogue ≤ `full_limit` pairs, else "sampled". All candidates of a
user are scored at the user's first test time. Relevant: label 1 (binary), or rating ≥ the threshold.

Metrics per user (`user_ranking_metrics`), ranks by descending score with ties broken against the
relevant items (a constant scorer gets no credit): HR@K = 1 if a relevant item is in the top K;
Recall@K = relevant in top K / relevant; NDCG@K = Σ_top-K rel / log2(rank + 1) over the ideal DCG of
min(relevant, K) items; MRR = 1 / rank of the first relevant item (whole list). Means over users.

Beyond accuracy, over the top-K lists: catalogue coverage (distinct recommended items / catalogue);
Gini of exposure (over every catalogue item, items never shown count as 0); average popularity
(training interactions of recommended items); novelty (mean −log2 p(i), p(i) = (users who interacted
with i + 1) / (users + 1)); personalisation (1 − mean pairwise Jaccard overlap of top-K lists, over at
most `max_pairs_users` users).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from uvp_core.diagnostics.metrics import DEFAULT_BOOTSTRAP, Bootstrap, mean_intervals

CANDIDATE_MODES = ("auto", "full", "sampled")


@dataclass(frozen=True)
class CandidateConfig:
    """How candidate sets for top-K metrics are built."""

    mode: str = "auto"  # auto | full | sampled
    negatives: int = 100  # sampled mode: non-interacted items drawn per user
    max_users: int = 200  # users evaluated (a seeded sample when there are more)
    full_limit: int = 250_000  # auto: full ranking when users × catalogue stays under this
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in CANDIDATE_MODES:
            raise ValueError(f"mode must be one of {', '.join(CANDIDATE_MODES)}")
        if self.negatives < 1 or self.max_users < 1:
            raise ValueError("negatives and max_users must be at least 1")


DEFAULT_CANDIDATES = CandidateConfig()


def relevant_mask(pairs: pd.DataFrame, task: str, threshold: float | None) -> np.ndarray:
    """Relevant held-out pairs: y == 1 (binary) or y ≥ threshold (regression)."""
    y = pairs["y"].to_numpy(dtype=np.float64)
    if task == "binary":
        return y >= 0.5
    if threshold is None:
        raise ValueError("A regression target needs a relevance threshold.")
    return y >= threshold


def candidate_pairs(
    pairs: pd.DataFrame, relevant: np.ndarray, events: pd.DataFrame, catalogue: np.ndarray, config: CandidateConfig = DEFAULT_CANDIDATES
) -> tuple[pd.DataFrame, dict]:
    """(user_id, item_id, timestamp, relevant) rows to score, and a description of the candidate set."""
    relevant = np.asarray(relevant, dtype=bool)
    catalogue = np.asarray(pd.unique(np.asarray(catalogue, dtype=object)), dtype=object)
    positives = pairs.loc[relevant, ["user_id", "item_id"]].astype(str).drop_duplicates()
    users = np.sort(pd.unique(positives["user_id"].to_numpy(dtype=object)))
    rng = np.random.default_rng(config.seed)
    if len(users) > config.max_users:
        users = np.sort(rng.choice(users, config.max_users, replace=False))
    mode = config.mode
    if mode == "auto":
        mode = "full" if len(users) * len(catalogue) <= config.full_limit else "sampled"
    info = {"mode": mode, "users": int(len(users)), "catalogue_items": int(len(catalogue)),
            "negatives": None if mode == "full" else config.negatives, "max_users": config.max_users}  # fmt: skip
    empty = pd.DataFrame({"user_id": pd.Series([], dtype=object), "item_id": pd.Series([], dtype=object),
                          "timestamp": pd.Series([], dtype="datetime64[ms, UTC]"), "relevant": pd.Series([], dtype=bool)})  # fmt: skip
    if not len(users) or not len(catalogue):
        return empty, info
    user_index = pd.Index(users)
    item_index = pd.Index(np.concatenate([catalogue, np.setdiff1d(positives["item_id"].to_numpy(dtype=object), catalogue)]))
    n_items = len(item_index)
    seen_rows = pd.concat([events[["user_id", "item_id"]].astype(str), pairs[["user_id", "item_id"]].astype(str)], ignore_index=True)
    u = user_index.get_indexer(seen_rows["user_id"].to_numpy(dtype=object))
    i = item_index.get_indexer(seen_rows["item_id"].to_numpy(dtype=object))
    ok = (u >= 0) & (i >= 0)
    seen = np.unique(u[ok].astype(np.int64) * n_items + i[ok])
    pos_u = user_index.get_indexer(positives["user_id"].to_numpy(dtype=object))
    pos_i = item_index.get_indexer(positives["item_id"].to_numpy(dtype=object))
    keep = pos_u >= 0
    positive_keys = np.unique(pos_u[keep].astype(np.int64) * n_items + pos_i[keep])
    catalogue_codes = np.arange(len(catalogue), dtype=np.int64)
    if mode == "full":
        keys = (np.arange(len(users), dtype=np.int64)[:, None] * n_items + catalogue_codes[None, :]).ravel()
        negative_keys = keys[~np.isin(keys, seen)]
    else:
        negative_keys = _sample_negatives(len(users), len(catalogue), n_items, seen, config.negatives, rng)
    keys = np.concatenate([positive_keys, negative_keys])
    out_u, out_i = keys // n_items, keys % n_items
    first_time = pairs.loc[relevant].assign(user_id=lambda f: f["user_id"].astype(str)).groupby("user_id")["timestamp"].min() \
        if "timestamp" in pairs.columns else None  # fmt: skip
    candidates = pd.DataFrame({"user_id": users[out_u], "item_id": item_index.to_numpy(dtype=object)[out_i],
                               "relevant": np.isin(keys, positive_keys)})  # fmt: skip
    if first_time is not None:
        candidates["timestamp"] = first_time.reindex(candidates["user_id"].to_numpy(dtype=object)).to_numpy()
    candidates = candidates.sort_values(["user_id", "item_id"], ignore_index=True)
    info["candidates"] = int(len(candidates))
    return candidates, info


def _sample_negatives(n_users: int, n_catalogue: int, n_items: int, seen: np.ndarray, per_user: int, rng) -> np.ndarray:
    """Keys of up to `per_user` distinct non-interacted catalogue items per user (rejection sampling)."""
    per_user = min(per_user, n_catalogue)
    chosen = np.zeros(0, np.int64)
    need = np.full(n_users, per_user)
    for _ in range(8):
        todo = np.flatnonzero(need > 0)
        if not len(todo):
            break
        draws = np.repeat(todo, need[todo] * 2 + 4).astype(np.int64)
        keys = draws * n_items + rng.integers(0, n_catalogue, len(draws))
        keys = keys[~np.isin(keys, seen) & ~np.isin(keys, chosen)]
        keys = pd.unique(keys)
        user = keys // n_items
        rank = pd.Series(user).groupby(user).cumcount().to_numpy()
        keys = keys[rank < need[user]]
        chosen = np.concatenate([chosen, keys])
        need = per_user - np.bincount(chosen // n_items, minlength=n_users)
    return np.sort(chosen)


def ranked(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates with a 1-based `rank` per user: by score descending, ties put relevant items last."""
    order = np.lexsort((candidates["relevant"].to_numpy(dtype=bool), -candidates["score"].to_numpy(dtype=np.float64),
                        pd.factorize(candidates["user_id"], sort=True)[0]))  # fmt: skip
    out = candidates.iloc[order].reset_index(drop=True)
    out["rank"] = out.groupby("user_id", sort=False).cumcount().to_numpy() + 1
    return out


def user_ranking_metrics(candidates: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Per user with ≥ 1 relevant candidate: n_relevant, n_candidates, hit, recall, ndcg, reciprocal_rank."""
    if k < 1:
        raise ValueError("k must be at least 1")
    table = ranked(candidates)
    rank = table["rank"].to_numpy()
    relevant = table["relevant"].to_numpy(dtype=bool)
    in_top = relevant & (rank <= k)
    frame = pd.DataFrame({
        "user_id": table["user_id"].to_numpy(dtype=object),
        "relevant": relevant.astype(np.int64),
        "hits": in_top.astype(np.int64),
        "dcg": np.where(in_top, 1.0 / np.log2(rank + 1.0), 0.0),
        "first": np.where(relevant, rank, np.iinfo(np.int64).max),
        "one": 1,
    })
    per_user = frame.groupby("user_id", sort=True).agg(
        n_relevant=("relevant", "sum"), n_candidates=("one", "sum"), hits=("hits", "sum"), dcg=("dcg", "sum"), first=("first", "min")
    )
    per_user = per_user.loc[per_user["n_relevant"] > 0]
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    out = pd.DataFrame(index=per_user.index)
    out["n_relevant"] = per_user["n_relevant"]
    out["n_candidates"] = per_user["n_candidates"]
    out["hit"] = (per_user["hits"] > 0).astype(np.float64)
    out["recall"] = per_user["hits"] / per_user["n_relevant"]
    out["ndcg"] = per_user["dcg"] / ideal[np.minimum(per_user["n_relevant"].to_numpy(), k)]
    out["reciprocal_rank"] = 1.0 / per_user["first"]
    return out.reset_index()


def ranking_metrics(per_user: pd.DataFrame, k: int, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """HR@K, NDCG@K, Recall@K and MRR (means over users) with bootstrap intervals over users."""
    columns = {"hit": f"hr@{k}", "ndcg": f"ndcg@{k}", "recall": f"recall@{k}", "reciprocal_rank": "mrr"}
    table = mean_intervals(per_user[list(columns)], boot)
    table["metric"] = table["metric"].map(columns)
    return table


def top_k_lists(candidates: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Each user's top-K candidates by score: user_id, item_id, score, rank."""
    table = ranked(candidates)
    return table.loc[table["rank"] <= k, ["user_id", "item_id", "score", "rank"]].reset_index(drop=True)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, → 1 = concentrated); nan when all are 0."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if not n or total <= 0:
        return float("nan")
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total))


def personalisation(lists: pd.DataFrame, max_users: int = 300, seed: int = 0) -> float:
    """1 − mean pairwise Jaccard overlap of users' top-K item sets (a seeded sample of users); nan for < 2 users."""
    users = np.sort(pd.unique(lists["user_id"].to_numpy(dtype=object)))
    if len(users) < 2:
        return float("nan")
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    chosen = lists.loc[lists["user_id"].isin(users)]
    u = pd.Index(users).get_indexer(chosen["user_id"].to_numpy(dtype=object))
    i, _ = pd.factorize(chosen["item_id"])
    matrix = sparse.csr_matrix((np.ones(len(u)), (u, i)), shape=(len(users), i.max() + 1))  # duplicates are summed...
    matrix.data[:] = 1.0  # ...so set every stored entry back to 1: item sets
    inter = (matrix @ matrix.T).toarray()
    size = np.asarray(matrix.sum(axis=1)).ravel()
    union = size[:, None] + size[None, :] - inter
    upper = np.triu_indices(len(users), k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union[upper] > 0, inter[upper] / union[upper], 0.0)
    return float(1.0 - jaccard.mean())


BEYOND_ACCURACY_HELP = {
    "users": "users whose top-K lists are scored: users with a relevant held-out item (at most the sample size)",
    "list_entries": "items listed in all (users × K)",
    "catalogue_items": "items in the catalogue: the items table plus every item with an event (so it can exceed the items with events)",
    "coverage": "share of catalogue items that appear in at least one list",
    "gini_exposure": "inequality of how often items are listed: 0 = every item equally often, 1 = one item takes every slot",
    "average_popularity": "mean number of training interactions of the listed items",
    "novelty": "mean −log2(share of training users who interacted with a listed item): higher = less known items",
    "personalisation": "1 − mean overlap (Jaccard) between two users' lists: higher = more individual lists",
}


def beyond_accuracy(lists: pd.DataFrame, train_events: pd.DataFrame, catalogue: np.ndarray, *, max_users: int = 300, seed: int = 0) -> dict:
    """Coverage, Gini of exposure, average popularity, novelty and personalisation of top-K lists."""
    catalogue = pd.Index(pd.unique(np.asarray(catalogue, dtype=object)))
    shown = lists["item_id"].astype(str).value_counts()
    exposure = shown.reindex(catalogue, fill_value=0).to_numpy(dtype=np.float64)
    interactions = train_events["item_id"].astype(str).value_counts()
    item_users = train_events[["user_id", "item_id"]].astype(str).drop_duplicates()["item_id"].value_counts()
    n_users = train_events["user_id"].nunique()
    listed = lists["item_id"].astype(str).to_numpy(dtype=object)
    popularity = interactions.reindex(listed).fillna(0).to_numpy(dtype=np.float64)
    p = (item_users.reindex(listed).fillna(0).to_numpy(dtype=np.float64) + 1.0) / (n_users + 1.0)
    return {
        "users": int(lists["user_id"].nunique()),
        "list_entries": int(len(lists)),
        "catalogue_items": int(len(catalogue)),
        "coverage": float(shown.index.isin(catalogue).sum() / len(catalogue)) if len(catalogue) else float("nan"),
        "gini_exposure": gini(exposure),
        "average_popularity": float(popularity.mean()) if len(popularity) else float("nan"),
        "novelty": float((-np.log2(p)).mean()) if len(p) else float("nan"),
        "personalisation": personalisation(lists, max_users, seed),
    }
