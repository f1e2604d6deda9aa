"""Baselines against hand-computed values on tiny frames."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from benchmarks.baselines import (
    GlobalMean,
    ImplicitALS,
    Popularity,
    TunedALS,
    TunedSVD,
    UserItemBias,
    als_solve,
    auc,
    clustered_gain_interval,
    gain,
    log_loss,
    rmse,
)

# u1 rates i1=5, i2=3; u2 rates i1=4. mu = 4.
USERS = np.array(["u1", "u1", "u2"], dtype=object)
ITEMS = np.array(["i1", "i2", "i1"], dtype=object)
Y = np.array([5.0, 3.0, 4.0])


def test_metrics():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert auc([0, 1, 0, 1], [0.1, 0.9, 0.5, 0.5]) == pytest.approx(0.875)  # 3.5 of 4 pairs ordered
    assert log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_global_mean():
    assert GlobalMean().fit(USERS, ITEMS, Y).predict(["x", "u1"], ["i1", "y"]).tolist() == [4.0, 4.0]


def test_user_item_bias_one_iteration_by_hand():
    model = UserItemBias(reg=1.0, iterations=1).fit(USERS, ITEMS, Y)
    # items first, with user biases 0: b_i1 = (1 + 0) / (2 + 1), b_i2 = -1 / (1 + 1)
    bi1, bi2 = 1 / 3, -1 / 2
    # then users: b_u1 = ((5-4-bi1) + (3-4-bi2)) / (2 + 1), b_u2 = (4-4-bi1) / (1 + 1)
    bu1, bu2 = ((1 - bi1) + (-1 - bi2)) / 3, (-bi1) / 2
    pred = model.predict(["u1", "u1", "u2", "u2", "new", "new"], ["i1", "i2", "i2", "zz", "i1", "zz"])
    expected = [4 + bu1 + bi1, 4 + bu1 + bi2, 4 + bu2 + bi2, 4 + bu2, 4 + bi1, 4.0]
    assert pred == pytest.approx(expected)


def test_user_item_bias_converges_to_the_exact_fit_without_penalty():
    # two users x two items, additive ratings: biases reproduce them exactly when reg -> 0
    users = np.array(["a", "a", "b", "b"], dtype=object)
    items = np.array(["x", "y", "x", "y"], dtype=object)
    y = np.array([4.0, 2.0, 3.0, 1.0])
    model = UserItemBias(reg=1e-9, iterations=50).fit(users, items, y)
    assert model.predict(users, items) == pytest.approx(y, abs=1e-6)


def test_user_item_bias_folds_in_new_users_only():
    model = UserItemBias(reg=1.0, iterations=1).fit(USERS, ITEMS, Y)
    before = model.predict(["u1"], ["i1"])
    model.fold_in(
        np.array(["new", "new", "u1"], dtype=object),
        np.array(["i1", "i2", "i2"], dtype=object),
        np.array([5.0, 2.0, 1.0]),
    )
    bi1, bi2 = 1 / 3, -1 / 2
    b_new = ((5 - 4 - bi1) + (2 - 4 - bi2)) / (2 + 1)
    assert model.predict(["new"], ["i1"]) == pytest.approx([4 + b_new + bi1])
    assert model.predict(["u1"], ["i1"]) == pytest.approx(before)  # known users untouched


def test_svd_grid_picks_a_point_and_falls_back_like_surprise():
    rng = np.random.default_rng(0)
    users = np.array([f"u{k % 12}" for k in range(300)], dtype=object)
    items = np.array([f"i{rng.integers(0, 20)}" for _ in range(300)], dtype=object)
    y = rng.integers(1, 6, 300).astype(float)
    grid = {"n_factors": (2, 4), "reg_all": (0.05,), "lr_all": (0.005,), "n_epochs": (5,)}
    svd = TunedSVD(grid=grid, seed=0).fit(users, items, y)
    assert len(svd.scores) == 2 and svd.best in svd.scores
    assert svd.best["val_rmse"] == min(s["val_rmse"] for s in svd.scores)
    algo = svd.algo
    inner = algo.trainset.to_inner_iid("i3")
    expected = algo.trainset.global_mean + algo.bi[inner]
    assert svd.predict(["nobody"], ["i3"]) == pytest.approx([expected])
    assert svd.predict(["nobody"], ["nothing"]) == pytest.approx([algo.trainset.global_mean])


def test_popularity_counts_training_purchases():
    pop = Popularity().fit(["a", "b", "a"], ["x", "x", "y"])
    assert pop.predict(["c", "c", "c"], ["x", "y", "z"]).tolist() == [2.0, 1.0, 0.0]


def test_als_solve_matches_the_closed_form():
    counts = sparse.csr_matrix(np.array([[2.0, 0.0, 1.0]]))
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    reg, alpha = 0.5, 3.0
    c = np.array([alpha * 2.0, 1.0, alpha * 1.0])  # confidence alpha * count where bought, 1 elsewhere
    p = np.array([1.0, 0.0, 1.0])
    expected = np.linalg.solve(items.T @ np.diag(c) @ items + reg * np.eye(2), items.T @ (c * p))
    assert als_solve(counts, items, reg, alpha)[0] == pytest.approx(expected)


@pytest.mark.parametrize("backend", ["numpy", "implicit"])
def test_implicit_als_ranks_co_bought_items_first(backend):
    if backend == "implicit":
        pytest.importorskip("implicit")
    # two taste groups: users 0-9 buy items a*, users 10-19 buy items b*
    users, items = [], []
    for u in range(20):
        group = "a" if u < 10 else "b"
        for i in range(4):
            if (u + i) % 5:  # leave some pairs out
                users.append(f"u{u}")
                items.append(f"{group}{i}")
    model = ImplicitALS(factors=4, regularization=0.1, alpha=10.0, iterations=10, backend=backend).fit(
        users, items
    )
    assert model.backend == backend
    score = model.predict(["u0", "u0", "u15", "u15"], ["a0", "b0", "b1", "a1"])
    assert score[0] > score[1] and score[2] > score[3]
    assert model.predict(["nobody", "u0"], ["a0", "unknown"]).tolist() == [0.0, 0.0]
    model.fold_in(np.array(["new", "new"], dtype=object), np.array(["b0", "b2"], dtype=object))
    new = model.predict(["new", "new"], ["b3", "a3"])
    assert new[0] > new[1]


def test_tuned_als_records_every_grid_point():
    users = [f"u{u}" for u in range(30) for _ in range(4)]
    items = [f"{'a' if u < 15 else 'b'}{(u + k) % 6}" for u in range(30) for k in range(4)]
    als = TunedALS(grid={"factors": (2, 4), "regularization": (0.1,), "alpha": (5.0,)}, backend="numpy").fit(
        users, items
    )
    assert len(als.scores) == 2 and als.best in als.scores
    assert als.model is not None and als.model.factors == als.best["factors"]


def test_gain_interval_covers_the_gain_and_separates_a_clear_win_from_a_tie():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(40), 25).astype(object)
    y = rng.normal(3.5, 1.0, users.size)
    better, worse = y + rng.normal(0, 0.5, users.size), y + rng.normal(0, 0.9, users.size)
    low, high = clustered_gain_interval(y, better, worse, users, "rmse", resamples=200)
    assert 0 < low < gain("rmse", rmse(y, better), rmse(y, worse)) < high
    low, high = clustered_gain_interval(y, better, better, users, "rmse", resamples=20)
    assert low == high == 0.0  # the same predictions: no gain on any replicate
    label = (rng.random(users.size) < 0.5).astype(float)
    low, high = clustered_gain_interval(label, label + rng.normal(0, 0.8, users.size), rng.normal(0, 1, users.size), users, "auc", resamples=100)
    assert low > 0.2 and high < 0.6  # an informative score against noise: AUC about 0.8 against 0.5


def test_gain_interval_resamples_users_not_rows():
    """A user's rows share its errors: 10 users with one offset each are 10 draws, not 1,000."""
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(10), 100).astype(object)
    y = rng.normal(3.5, 1.0, users.size)
    offset = rng.normal(0, 0.6, 10)[np.repeat(np.arange(10), 100)]
    mf = y + rng.normal(0, 0.7, users.size)
    uvp = y + offset + rng.normal(0, 0.5, users.size)
    by_user = clustered_gain_interval(y, uvp, mf, users, "rmse", resamples=300)
    by_row = clustered_gain_interval(y, uvp, mf, np.arange(users.size).astype(object), "rmse", resamples=300)
    assert by_user[1] - by_user[0] > 2 * (by_row[1] - by_row[0])
