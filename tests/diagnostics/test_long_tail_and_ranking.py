"""Long-tail buckets, exposure and popularity bias; top-K and beyond-accuracy metrics, all by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from uvp_core.diagnostics import long_tail as L
from uvp_core.diagnostics import ranking as R


def train_events() -> pd.DataFrame:
    """100 interactions: item a 50, b 30, c 10, d 5, e 5 (users u1..u4)."""
    items = ["a"] * 50 + ["b"] * 30 + ["c"] * 10 + ["d"] * 5 + ["e"] * 5
    users = [f"u{i % 4 + 1}" for i in range(100)]
    return pd.DataFrame({"user_id": users, "item_id": items})


def test_popularity_buckets_follow_the_documented_definition() -> None:
    table = L.popularity_table(train_events(), np.array(["a", "b", "c", "d", "e", "f"]))
    assert table["item_id"].tolist() == ["a", "b", "c", "d", "e", "f"]
    assert table["interactions"].tolist() == [50, 30, 10, 5, 5, 0]
    # interactions ranked above each item: 0%, 50%, 80%, 90%, 95%, 100%
    assert table["bucket"].astype(str).tolist() == ["head", "torso", "tail", "tail", "tail", "tail"]
    assert table["cumulative_share"].tolist() == pytest.approx([0.5, 0.8, 0.9, 0.95, 1.0, 1.0])
    wider = L.popularity_table(train_events(), None, L.TailCuts(head=0.6, tail=0.05))
    assert wider["bucket"].astype(str).tolist() == ["head", "head", "torso", "torso", "tail"]
    assert list(L.item_buckets(pd.Series(["b", "zzz"]), table)) == ["torso", "tail"]
    sizes = L.bucket_sizes(wider)
    assert sizes["bucket"].astype(str).tolist() == ["head", "torso", "tail"]
    assert sizes["items"].tolist() == [2, 2, 1] and sizes["interactions"].tolist() == [80, 15, 5]
    with pytest.raises(ValueError):
        L.TailCuts(head=0.7, tail=0.5)


def test_exposure_and_popularity_bias_by_hand() -> None:
    table = L.popularity_table(train_events(), np.array(["a", "b", "c", "d", "e", "f"]))
    lists = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2"], "item_id": ["a", "b", "a", "f"]})
    exposure = L.exposure_table(lists, table).set_index("bucket")
    assert exposure["items"].tolist() == [1, 1, 4]
    assert exposure["interaction_share"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert exposure["exposure_share"].tolist() == pytest.approx([0.5, 0.25, 0.25])
    per_user = L.user_popularity_bias(lists, train_events(), table).set_index("user_id")
    assert per_user.loc["u1", "recommended_popularity"] == pytest.approx(40.0)  # (50 + 30) / 2
    assert per_user.loc["u2", "recommended_popularity"] == pytest.approx(25.0)  # (50 + 0) / 2
    consumed_u1 = train_events().query("user_id == 'u1'")["item_id"].map({"a": 50, "b": 30, "c": 10, "d": 5, "e": 5}).mean()
    assert per_user.loc["u1", "consumed_popularity"] == pytest.approx(consumed_u1)
    summary = L.popularity_bias_summary(per_user.reset_index())
    assert summary["n"] == 2 and 0 <= summary["share_users_recommended_more_popular"] <= 1


def candidates() -> pd.DataFrame:
    """User A: relevant at ranks 1 and 3; user B: all tied, its one relevant item ranked last (pessimistic)."""
    return pd.DataFrame({
        "user_id": ["A"] * 4 + ["B"] * 3 + ["C"] * 2,
        "item_id": ["i1", "i2", "i3", "i4", "j1", "j2", "j3", "k1", "k2"],
        "score": [0.9, 0.8, 0.7, 0.1, 0.5, 0.5, 0.5, 0.3, 0.2],
        "relevant": [True, False, True, False, False, True, False, False, False],
    })  # fmt: skip


def test_per_user_ranking_metrics_by_hand() -> None:
    per_user = R.user_ranking_metrics(candidates(), k=2).set_index("user_id")
    assert list(per_user.index) == ["A", "B"]  # C has no relevant item
    a, b = per_user.loc["A"], per_user.loc["B"]
    assert (a["hit"], a["recall"], a["reciprocal_rank"]) == (1.0, 0.5, 1.0)
    assert a["ndcg"] == pytest.approx(1.0 / (1.0 + 1.0 / math.log2(3)))  # one hit at rank 1 over the ideal two
    assert (b["hit"], b["recall"], b["ndcg"]) == (0.0, 0.0, 0.0)
    assert b["reciprocal_rank"] == pytest.approx(1 / 3)
    table = R.ranking_metrics(per_user.reset_index(), 2).set_index("metric")
    assert table.loc["hr@2", "value"] == pytest.approx(0.5) and table.loc["mrr", "value"] == pytest.approx((1 + 1 / 3) / 2)
    top = R.top_k_lists(candidates(), 2)
    assert top.loc[top["user_id"] == "A", "item_id"].tolist() == ["i1", "i2"]


def test_gini_personalisation_and_beyond_accuracy_by_hand() -> None:
    assert R.gini(np.array([0, 0, 0, 1])) == pytest.approx(0.75)
    assert R.gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    lists = pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3", "u3"], "item_id": ["a", "b", "a", "c", "d", "e"]})
    # Jaccard: u1-u2 1/3, u1-u3 0, u2-u3 0
    assert R.personalisation(lists) == pytest.approx(1 - (1 / 3) / 3)
    extra = R.beyond_accuracy(lists, train_events(), np.array(["a", "b", "c", "d", "e", "f", "g", "h"]))
    assert extra["coverage"] == pytest.approx(5 / 8)
    assert extra["average_popularity"] == pytest.approx((50 + 30 + 50 + 10 + 5 + 5) / 6)
    # every item was consumed by all 4 training users: p = (4 + 1) / (4 + 1) = 1 -> novelty 0
    assert extra["novelty"] == pytest.approx(0.0)
    exposure = np.array([2, 1, 1, 1, 1, 0, 0, 0], dtype=float)
    assert extra["gini_exposure"] == pytest.approx(R.gini(exposure))


def test_candidate_sets_full_and_sampled() -> None:
    pairs = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "c"], "y": [5.0, 2.0, 4.0],
                          "timestamp": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"], utc=True)})  # fmt: skip
    events = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["d", "a"]})
    catalogue = np.array(list("abcdefgh"))
    relevant = R.relevant_mask(pairs, "regression", 4.0)
    assert relevant.tolist() == [True, False, True]
    full, info = R.candidate_pairs(pairs, relevant, events, catalogue, R.CandidateConfig(mode="full"))
    assert info["mode"] == "full" and info["users"] == 2
    u1 = full.loc[full["user_id"] == "u1"]
    assert set(u1["item_id"]) == set("acefgh")  # not b (seen in the test set), not d (history)
    assert u1.loc[u1["relevant"], "item_id"].tolist() == ["a"]
    assert (u1["timestamp"] == pd.Timestamp("2024-01-02", tz="UTC")).all()
    sampled, info = R.candidate_pairs(pairs, relevant, events, catalogue, R.CandidateConfig(mode="sampled", negatives=3, seed=1))
    assert info["mode"] == "sampled" and info["negatives"] == 3
    counts = sampled.loc[~sampled["relevant"]].groupby("user_id").size()
    assert counts.tolist() == [3, 3]
    assert not set(zip(sampled["user_id"], sampled["item_id"], strict=True)) & {("u1", "b"), ("u1", "d"), ("u2", "a")}
    again, _ = R.candidate_pairs(pairs, relevant, events, catalogue, R.CandidateConfig(mode="sampled", negatives=3, seed=1))
    pd.testing.assert_frame_equal(sampled, again)
