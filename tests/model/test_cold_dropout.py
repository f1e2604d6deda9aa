"""ID dropout makes a training row look like a real cold row: unseen-item popularity, a new user's short history."""

from __future__ import annotations

import numpy as np
import torch

from uvp_core.model.features import FeatureSpace, Inputs, numeric_features
from uvp_core.model.training import _drop_ids


def _inputs(n: int = 400, k: int = 8) -> tuple[Inputs, FeatureSpace]:
    rng = np.random.default_rng(0)
    space = FeatureSpace(["u"], ["i"], [3], ["event"])
    raw = numeric_features(np.full(n, 30), rng.integers(1, 50, n), np.full(n, np.nan))
    space.numeric_mean, space.numeric_std = raw.mean(0).tolist(), (raw.std(0) + 1.0).tolist()
    x = Inputs.build(
        user=np.ones(n, np.int64), item=np.ones(n, np.int64), profile_row=np.zeros(n, np.int64),
        item_row=np.ones(n, np.int64), hist_row=np.full((n, k), 2), hist_kind=np.ones((n, k), np.int64),
        hist_age=np.ones((n, k)), hist_mask=np.ones((n, k), bool), numeric=space.standardize(raw),
    )
    return x, space


def test_dropped_ids_get_cold_popularity_and_short_history():
    x, space = _inputs()
    out = _drop_ids(x, 0.5, torch.Generator().manual_seed(0), space, cold_history=5)
    mean, std = np.asarray(space.numeric_mean), np.asarray(space.numeric_std)
    raw = out.numeric.numpy() * std + mean
    cold_item, cold_user = (out.item == 0).numpy(), (out.user == 0).numpy()
    assert 0 < cold_item.sum() < len(x) and 0 < cold_user.sum() < len(x)
    np.testing.assert_allclose(raw[cold_item, 1], 0.0, atol=1e-5)  # an unseen item's popularity
    assert np.all(raw[~cold_item, 1] > 0.5)
    kept = out.hist_mask.sum(1).numpy()
    assert kept[cold_user].max() <= 5 and kept[cold_user].min() == 0 and np.all(kept[~cold_user] == 8)
    np.testing.assert_allclose(raw[cold_user, 0], np.log1p(kept[cold_user]), atol=1e-5)
    assert torch.all(out.hist_mask[:, -1] | (out.hist_mask.sum(1) == 0))  # the most recent events are kept
    assert torch.all(out.hist_feat[~out.hist_mask] == 0)


def test_drop_ids_is_seeded():
    x, space = _inputs()
    a = _drop_ids(x, 0.3, torch.Generator().manual_seed(1), space)
    b = _drop_ids(x, 0.3, torch.Generator().manual_seed(1), space)
    for name, value in vars(a).items():
        assert torch.equal(value, vars(b)[name])


def test_dropped_users_read_their_earliest_events_when_first_events_are_given():
    """A new user's visible history is their first events: the cold simulation reads those, with their ages."""
    from uvp_core.model.features import FirstEvents

    n, k, ms_day = 300, 8, 86_400_000
    x, space = _inputs(n, k)
    # each row's user has 30 events at days 0..29 (text rows 100..129, kinds 1..30); the row is at day 40
    first = FirstEvents(
        start=torch.zeros(n, dtype=torch.long), count=torch.full((n,), 30), time=torch.full((n,), 40 * ms_day),
        event_row=torch.arange(100, 130), event_kind=torch.arange(1, 31), event_time=torch.arange(30) * ms_day,
    )  # fmt: skip
    out = _drop_ids(x, 0.5, torch.Generator().manual_seed(0), space, cold_history=5, first=first)
    cold = (out.user == 0).numpy()
    assert 0 < cold.sum() < n
    for r in np.flatnonzero(cold):
        kept = out.hist_mask[r].numpy()
        m = int(kept.sum())
        assert m <= 5 and np.all(kept[k - m :])  # right-aligned, like real histories
        np.testing.assert_array_equal(out.hist_row[r, k - m :].numpy(), np.arange(100, 100 + m))  # the first m, in order
        ages = np.expm1(out.hist_feat[r, k - m :, 0].numpy())
        np.testing.assert_allclose(ages, 40 - np.arange(m), rtol=1e-5)  # days before the row's time
    assert torch.all(out.hist_row[~out.hist_mask] == 0) and torch.all(out.hist_feat[~out.hist_mask] == 0)
    assert torch.equal(out.hist_row[~torch.as_tensor(cold)], x.hist_row[~torch.as_tensor(cold)])  # known users untouched
    assert {int(m) for m in out.hist_mask[torch.as_tensor(cold)].sum(1)} == set(range(6))


def test_first_events_stop_at_the_events_before_the_row():
    """A user with 2 events before the row keeps at most those 2, whatever the drawn count."""
    from uvp_core.model.features import FirstEvents

    first = FirstEvents(
        start=torch.tensor([3]), count=torch.tensor([2]), time=torch.tensor([10]),
        event_row=torch.arange(10), event_kind=torch.arange(10), event_time=torch.arange(10),
    )  # fmt: skip
    row, kind, feat, mask, _ = first.history(torch.tensor([5]), 4)
    assert mask.tolist() == [[False, False, True, True]]
    assert row.tolist() == [[0, 0, 3, 4]] and kind.tolist() == [[0, 0, 3, 4]]


def test_dropped_ids_count_only_the_repeats_a_cold_row_could_show():
    """A new user's earlier purchases of the candidate are those among its visible events; a new item has none."""
    n, k = 400, 8
    rng = np.random.default_rng(1)
    space = FeatureSpace(["u"], ["i"], [3], ["purchase", "view"], target_kinds=["purchase"], repeat_kinds=["purchase"])
    hist_row = np.where(np.arange(k) % 2 == 0, 1, 2)[None, :].repeat(n, 0)  # slots 0, 2, 4, 6: the candidate (row 1)
    hist_kind = np.where(np.arange(k) < 4, 2, 1)[None, :].repeat(n, 0)  # older four viewed, latest four purchased
    raw = numeric_features(np.full(n, 30), rng.integers(1, 50, n), np.full(n, np.nan), np.full(n, 6))
    space.numeric_mean, space.numeric_std = raw.mean(0).tolist(), (raw.std(0) + 1.0).tolist()
    x = Inputs.build(
        user=np.ones(n, np.int64), item=np.ones(n, np.int64), profile_row=np.zeros(n, np.int64), item_row=np.ones(n, np.int64),
        hist_row=hist_row, hist_kind=hist_kind, hist_age=np.ones((n, k)), hist_mask=np.ones((n, k), bool),
        numeric=space.standardize(raw),
    )  # fmt: skip
    out = _drop_ids(x, 0.5, torch.Generator().manual_seed(0), space, cold_history=5)
    got = np.expm1(out.numeric.numpy()[:, -1] * space.numeric_std[-1] + space.numeric_mean[-1])
    cold_item, cold_user = (out.item == 0).numpy(), (out.user == 0).numpy()
    shown = ((out.hist_row.numpy() == 1) & out.hist_mask.numpy() & (out.hist_kind.numpy() == 1)).sum(1)
    np.testing.assert_allclose(got[cold_item], 0.0, atol=1e-4)
    np.testing.assert_allclose(got[~cold_item & ~cold_user], 6.0, atol=1e-4)  # all earlier purchases, read or not
    np.testing.assert_allclose(got[~cold_item & cold_user], shown[~cold_item & cold_user], atol=1e-4)
    assert {0, 1, 2} <= set(shown[~cold_item & cold_user].tolist())
