"""The head's cross terms: profile attribute x item, and history events sharing the candidate's attribute value."""

from __future__ import annotations

import numpy as np
import torch

from uvp_core.model.examples import CROSS_ALPHAS, ridge_gcv
from uvp_core.model.features import FeatureSpace, Inputs
from uvp_core.model.network import ValueHead

# item one-hot rows (one attribute, three values A/B/C) and profile one-hot rows (two values)
ITEM_HOT = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
PROFILE_HOT = torch.tensor([[1.0, 0], [0, 1]])
N_KINDS, N_NUMERIC = 3, 4  # kinds 1, 2, 3; kind 3 is a rating kind ("rated 5")


def _head(item_words: int = 0, steps: list[float] | None = None, all_ratings: bool = False) -> ValueHead:
    head = ValueHead(text_dim=4, n_users=2, n_items=4, n_kinds=N_KINDS, n_numeric=N_NUMERIC, hidden=8, item_extra=3 + item_words,
                     user_extra=2, fold_in=True, ratings_via_fold_in=True, crosses=True, item_words=item_words,
                     match_funnel=steps is not None, match_all_ratings=all_ratings)  # fmt: skip
    head.rated_kind[3] = 1.0
    if steps is not None:
        head.kind_depth.copy_(torch.tensor(steps))
    return head


def _inputs(user: int) -> Inputs:
    """Candidate row 0 (value A); history: row 1 (A, kind 1), row 2 (B, kind 2), row 1 (A, kind 3), an empty slot."""
    return Inputs.build(
        user=np.array([user]), item=np.array([1]), profile_row=np.array([1]), item_row=np.array([0]),
        hist_row=np.array([[1, 2, 1, 3]]), hist_kind=np.array([[1, 2, 3, 1]]), hist_age=np.zeros((1, 4)),
        hist_mask=np.array([[True, True, True, False]]), numeric=np.arange(1.0, N_NUMERIC + 1)[None, :],
    )  # fmt: skip


def test_cross_design_columns():
    head = _head()
    design = head.cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=1))[0]
    attr, match = design[: 2 * (3 + N_NUMERIC)].view(2, 3 + N_NUMERIC), design[2 * (3 + N_NUMERIC) :].view(N_KINDS + 2, 3)
    assert attr[0].abs().sum() == 0 and attr[1].tolist() == [1.0, 0, 0, 1, 2, 3, 4]  # profile value 2 x (candidate A, numeric)
    expected = torch.zeros(N_KINDS + 2, 3)
    expected[1, 0] = 1.0  # a kind-1 event on an item with value A; the kind-2 event is on B, the empty slot counts nothing
    expected[N_KINDS + 1, 0] = 1.0  # the rating kind, in the group of all rating kinds
    assert torch.equal(match, expected)
    cold = head.cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=0))[0][2 * (3 + N_NUMERIC) :].view(N_KINDS + 2, 3)
    assert cold[0, 0] == 1.0 and cold[N_KINDS + 1].sum() == 0  # an unknown user's rating reads as an event, value unread


def test_match_funnel_counts_an_event_at_its_step_and_every_earlier_one():
    match = slice(2 * (3 + N_NUMERIC), None)
    funnel = _head(steps=[0.0, 1, 2, 5]).cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=1))[0][match].view(N_KINDS + 2, 3)
    expected = torch.zeros(N_KINDS + 2, 3)
    expected[1, 0] = 1.0  # the kind-1 event on A (step 1)
    expected[2, 0] = 1.0  # the rating on A (step 5) also counts as kind 2 (step 2) on A: the kind-2 event itself is on B
    expected[N_KINDS + 1, 0] = 1.0  # and in the group of all rating kinds; the rating kind's own column stays empty
    assert torch.equal(funnel, expected)
    off = _head(steps=[0.0, 0, 2, 5]).cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=1))[0][match].view(N_KINDS + 2, 3)
    assert off[1, 0] == 1.0 and off[0].sum() == 0  # a kind off the funnel (step 0) counts in its own group only
    cold = _head(steps=[0.0, 1, 2, 5]).cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=0))[0][match].view(N_KINDS + 2, 3)
    assert cold[0, 0] == 1.0 and cold[2, 0] == 0 and cold[N_KINDS + 1].sum() == 0  # an unknown user's rating: the unknown kind


def test_with_match_all_ratings_an_unknown_users_rating_still_counts_as_a_rating():
    """The matches never read a rating's value: a rated purchase is a purchase whether or not the user's ID is known
    (before, an unknown user's rating counted as an unknown kind, in every explanation coalition masking the user too)."""
    match = slice(2 * (3 + N_NUMERIC), None)
    head = _head(steps=[0.0, 1, 2, 5], all_ratings=True)
    known, cold = (head.cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=u))[0][match] for u in (1, 0))
    assert torch.equal(cold, known) and cold.view(N_KINDS + 2, 3)[N_KINDS + 1, 0] == 1.0
    torch.manual_seed(0)
    items, profiles = torch.cat([torch.randn(4, 4), ITEM_HOT], 1), torch.cat([torch.randn(2, 4), PROFILE_HOT], 1)
    with torch.no_grad():
        head.cross.copy_(torch.randn_like(head.cross))
        weights = head.cross[match].clone()
        scored = head.eval()(items, profiles, _inputs(user=0))
        head.cross[match] = 0.0
        unmatched = head(items, profiles, _inputs(user=0))
    assert torch.allclose(scored - unmatched, cold @ weights, atol=1e-5)  # the score reads the same matches


def test_early_step_columns_are_the_matches_before_a_purchase():
    head = _head(steps=[0.0, 1, 3, 5])  # kind 1: a view (step 1), kind 2: a cart (step 3), kind 3: a rating
    early = head.early_step_columns
    assert len(early) == head.cross.numel() and not early[: head.n_cross_attr].any()
    groups = early[head.n_cross_attr :].view(N_KINDS + 2, 3)
    assert groups.all(1).tolist() == [False, True, True, False, False] and groups.any(1).tolist() == groups.all(1).tolist()
    assert not _head().early_step_columns.any()  # without match_funnel: no block


def test_kind_depths_follow_the_funnel():
    space = FeatureSpace(user_ids=[], item_ids=[], item_counts=[], kinds=["cart", "purchase", "rated 4", "view", "wishlist", "click"])
    assert space.kind_depths().tolist() == [0, 3, 4, 5, 1, 0, 2]


def test_item_words_cross_with_the_profile_but_not_with_the_history():
    words = torch.tensor([[1.0], [1.0], [0.0], [0.0]])  # the candidate (row 0) and history row 1 share a word
    head = _head(item_words=1)
    design = head.cross_design(torch.cat([ITEM_HOT, words], 1), PROFILE_HOT, _inputs(user=1))[0]
    assert len(design) == head.cross.numel() == 2 * (4 + N_NUMERIC) + (N_KINDS + 2) * 3
    attr = design[: 2 * (4 + N_NUMERIC)].view(2, 4 + N_NUMERIC)
    assert attr[1].tolist() == [1.0, 0, 0, 1, 1, 2, 3, 4]  # profile value 2 x (candidate A, its word, numeric)
    plain = _head().cross_design(ITEM_HOT, PROFILE_HOT, _inputs(user=1))[0]
    assert torch.equal(design[2 * (4 + N_NUMERIC) :], plain[2 * (3 + N_NUMERIC) :])  # history matches: levelled values only


def test_score_adds_the_weighted_columns():
    torch.manual_seed(0)
    head = _head().eval()
    items = torch.cat([torch.randn(4, 4), ITEM_HOT], 1)
    profiles = torch.cat([torch.randn(2, 4), PROFILE_HOT], 1)
    x = _inputs(user=1)
    with torch.no_grad():
        before = head(items, profiles, x)
        head.cross.copy_(torch.randn_like(head.cross))
        after = head(items, profiles, x)
        head.attr_text.copy_(torch.randn_like(head.attr_text))
        text = head(items, profiles, x)
        candidate = head.item_text(items[:1])[0]
    assert torch.allclose(after - before, head.cross_design(ITEM_HOT, PROFILE_HOT, x) @ head.cross, atol=1e-5)
    assert torch.allclose(text - after, (PROFILE_HOT[1] @ head.attr_text * candidate).sum(), atol=1e-5)


def test_ridge_gcv_recovers_weights_and_shrinks_noise():
    rng = np.random.default_rng(0)
    design = (rng.random((4000, 6)) < 0.3).astype(float)
    w = np.array([1.0, 0.0, -0.5, 0.0, 0.8, 0.0])
    fitted, chosen = ridge_gcv(design, design @ w + rng.normal(0, 0.5, 4000), n_strong=2)
    assert np.abs(fitted - w).max() < 0.1 and chosen["alpha"] in CROSS_ALPHAS
    noise, chosen = ridge_gcv(design, rng.normal(0, 0.5, 4000), n_strong=2)
    assert np.abs(noise).max() < 0.05 and chosen["alpha"] >= 100


def test_ridge_gcv_is_the_closed_form_ridge_with_the_best_gcv():
    """RidgeGCV works on the Gram matrix's eigenvectors; the weights and the choice are those of the textbook formulas."""
    import itertools

    from uvp_core.model.examples import CROSS_RATIOS, RidgeGCV

    rng = np.random.default_rng(1)
    design = (rng.random((300, 12)) < 0.3).astype(float)
    design[:, 5] = 0.0  # an empty column (rank deficient)
    r = design @ rng.normal(0, 1, 12) + rng.normal(0, 1, 300)
    block = np.zeros(12, bool)
    block[8:] = True
    fitted, chosen = RidgeGCV(design, n_strong=4, blocks=[block])(r)
    best = None
    for ratios in itertools.product(CROSS_RATIOS, repeat=2):
        scale = np.ones(12)
        scale[:4], scale[8:] = ratios[0] ** -0.5, ratios[1] ** -0.5
        x = design * scale
        for alpha in CROSS_ALPHAS:
            inverse = np.linalg.inv(x.T @ x + alpha * np.eye(12))
            rss = float(np.sum((r - x @ inverse @ x.T @ r) ** 2))
            gcv = 300 * rss / (300 - np.trace(x @ inverse @ x.T)) ** 2
            if best is None or gcv < best[0]:
                best = (gcv, scale * (inverse @ x.T @ r), {"alpha": alpha, "ratio": ratios})
    assert chosen == best[2] and np.allclose(fitted, best[1], atol=1e-8)


def test_wide_attributes_get_no_cross_terms_and_the_ridge_start_uses_a_row_sample(rating_dataset, monkeypatch):
    from uvp_core.model import TrainConfig, training

    prep = training.prepare(rating_dataset, TrainConfig(), torch.device("cpu"))
    head = training.build_head(prep, 8, TrainConfig())
    assert head.crosses and head.cross.numel() <= training.MAX_CROSS_COLUMNS
    monkeypatch.setattr(training, "CROSS_FIT_ROWS", 50)  # fitted on 50 rows; the biases still see every row
    training.init_biases(head, prep)
    assert np.abs(head.cross.detach().numpy()).max() > 0
    monkeypatch.setattr(training, "MAX_CROSS_COLUMNS", head.cross.numel() - 1)
    assert not training.build_head(prep, 8, TrainConfig()).crosses


def _sparse_problem(seed: int, n: int = 3000, p: int = 150, effect: float = 0.8):
    """Binary columns each on for 5% of rows, one of them with a real effect; user and item biases; noise."""
    rng = np.random.default_rng(seed)
    design = (rng.random((n, p)) < 0.05).astype(float)
    u, i = rng.integers(1, 60, n), rng.integers(1, 40, n)
    y = rng.normal(0, 0.4, 60)[u] + rng.normal(0, 0.4, 40)[i] + effect * design[:, 0] + rng.normal(0, 0.7, n)
    return design, u, i, y


def test_adaptive_ridge_keeps_a_real_weight_whole_and_zeros_the_noise():
    """Ridge shrinks every weight alike; the adaptive ridge releases a large one and holds the small ones near zero."""
    from uvp_core.model.examples import adaptive_ridge

    design, _, _, y = _sparse_problem(0)
    r = y - y.mean()
    gram, moment, penalty = design.T @ design, design.T @ r, np.full(design.shape[1], 100.0)
    ridge = adaptive_ridge(gram, moment, penalty, 0.0)
    assert np.allclose(ridge, np.linalg.solve(gram + 100.0 * np.eye(design.shape[1]), moment))  # strength 0: the ridge
    sparse = adaptive_ridge(gram, moment, penalty, 10.0)
    assert ridge[0] < 0.5 < sparse[0] < 1.0  # planted 0.8: ridge keeps about 60% of it
    assert np.abs(sparse[1:]).mean() < 0.5 * np.abs(ridge[1:]).mean()


def test_cv_sparse_strength_chooses_sparse_for_a_sparse_effect_and_reports_each_error():
    from uvp_core.model.examples import SPARSE_STRENGTHS, cv_sparse_strength

    design, u, i, y = _sparse_problem(1)
    penalty = np.full(design.shape[1], 100.0)
    strength, errors = cv_sparse_strength(design, u, i, y, 60, 40, penalty)
    assert set(errors) == set(SPARSE_STRENGTHS) and strength == min(errors, key=errors.get)
    assert strength > 0
    same, _ = cv_sparse_strength(design, u, i, y, 60, 40, penalty)
    assert same == strength  # seeded folds


def test_with_top_band_slope_the_profile_crosses_read_the_log_price_in_the_top_price_band_only():
    """Heads whose item block ends with the price bands: a profile value x log price weight would otherwise draw a
    step at the top band as a slope through every price (the sample's premium members marked down on a 9.99 mug)."""
    item_hot = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 1]])  # one attribute (A/B), then two bands: row 1 in the top band
    head = ValueHead(text_dim=4, n_users=2, n_items=4, n_kinds=N_KINDS, n_numeric=N_NUMERIC, hidden=8, item_extra=4, user_extra=2,
                     crosses=True, item_words=2, top_band_slope=True)  # fmt: skip
    numeric = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 5.0, 4.0]])  # NUMERIC_FEATURES order: ..., log_price, price_missing
    x = Inputs.build(user=np.array([1, 1]), item=np.array([1, 2]), profile_row=np.array([1, 1]), item_row=np.array([0, 1]),
                     hist_row=np.zeros((2, 1), int), hist_kind=np.zeros((2, 1), int), hist_age=np.zeros((2, 1)),
                     hist_mask=np.zeros((2, 1), bool), numeric=numeric.numpy())  # fmt: skip
    targets = head.attribute_targets(item_hot, x)
    assert targets[0, 4:].tolist() == [1.0, 2.0, 0.0, 0.0]  # below the top band: no price slope, and a missing price is not crossed
    assert targets[1, 4:].tolist() == [1.0, 2.0, 5.0, 0.0]  # in the top band: the log price
    design = head.cross_design(item_hot, PROFILE_HOT, x)[:, : head.n_cross_attr].view(2, 2, -1)
    assert torch.equal(design[:, 1], targets) and design[:, 0].abs().sum() == 0  # profile value 2 x those targets
    with torch.no_grad():
        head.cross.normal_()
    content = head._cross_term(torch.zeros(2, 8), item_hot, PROFILE_HOT, x)
    assert torch.allclose(content, head.cross_design(item_hot, PROFILE_HOT, x) @ head.cross)  # the fast path reads the same
    head.top_band_slope = False  # models saved before it: every numeric feature, at every price
    assert torch.equal(head.attribute_targets(item_hot, x)[:, 4:], numeric)
