"""Binary targets: the candidate item's own funnel events (view/click before a purchase) are not read.

They are the outcome's own path, not evidence of value, and a pair seen at first contact has none, so a
model that read them learned "carted it minutes ago" and nothing else (sample shop: validation AUC 0.998,
first-contact AUC 0.45). Its own earlier *target* events (a repeat purchase) are still read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from uvp_core.model.examples import target_kind_names


def _funnel_pairs(dataset) -> pd.DataFrame:
    """(user, item, time) of purchases that the same user viewed or clicked earlier."""
    ev = dataset.events.sort_values("timestamp", kind="stable")
    rows = []
    for (user, item), group in ev.groupby(["user_id", "item_id"], sort=False):
        kinds = group["event_type"].tolist()
        for j, kind in enumerate(kinds):
            if kind == "purchase" and any(k in ("view", "click") for k in kinds[:j]):
                rows.append((user, item, group["timestamp"].iloc[j]))
                break
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_target_kinds_per_target() -> None:
    kinds = ["click", "label 0", "label 1", "purchase", "rated 4", "rated 5", "view"]
    assert target_kind_names("purchase", kinds) == ["purchase"]
    assert target_kind_names("rating", kinds) == ["rated 4", "rated 5"]
    assert target_kind_names("label", kinds) == ["label 0", "label 1"]


def test_candidates_own_funnel_is_not_read_and_both_paths_agree(purchase_model, binary_dataset) -> None:
    model = purchase_model
    assert model.space_.target_kinds == ["purchase"]
    pairs = _funnel_pairs(binary_dataset)
    assert len(pairs) >= 10
    inputs = [model.pair_inputs(binary_dataset, u, i, t) for u, i, t in pairs.itertuples(index=False)]
    for row, (_, item, _) in zip(inputs, pairs.itertuples(index=False), strict=True):
        assert not [e for e in row.history if e.item_id == item and e.kind != "purchase"]
        assert len(row.history) <= model.history_k
    # predict() (vectorised Context path) and score_inputs (explicit inputs, as SHAP and what-if use) agree
    np.testing.assert_allclose(model.score_inputs(inputs), model.predict(binary_dataset, pairs), atol=1e-5)


def test_other_items_and_earlier_purchases_are_still_read(purchase_model, binary_dataset) -> None:
    ev = binary_dataset.events.sort_values("timestamp", kind="stable")
    user = ev["user_id"].value_counts().index[0]
    mine = ev.loc[ev["user_id"] == user]
    t = mine["timestamp"].iloc[-1] + pd.Timedelta(seconds=1)
    bought = mine.loc[mine["event_type"] == "purchase", "item_id"].iloc[-1]  # the latest purchase
    row = purchase_model.pair_inputs(binary_dataset, user, bought, t)
    shown = [(e.item_id, e.kind) for e in row.history]
    assert (bought, "purchase") in shown  # a repeat purchase is evidence, and is read
    window = mine.tail(purchase_model.space_.history_window)
    readable = ~((window["item_id"] == bought) & (window["event_type"] != "purchase"))
    assert len(row.history) == min(purchase_model.history_k, int(readable.sum()))
    assert {i for i, _ in shown} - {bought}  # other items' events of every kind are read
