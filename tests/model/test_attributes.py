"""Categorical attributes reach the head as one-hot blocks next to their text (FeatureSpace.user_levels/item_levels)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from uvp_core.model.features import MAX_LEVELS, MAX_WORDS, fit_levels, fit_words, one_hot, word_hot
from uvp_core.text.templates import PRICE_BANDS, price_band


def test_fit_levels_takes_short_categorical_columns_only():
    frame = pd.DataFrame({
        "tier": ["basic", "plus", "premium", "basic"] * 10,
        "member": [True, False] * 20,
        "price": np.arange(40.0),  # numeric: read as a number, not one-hot
        "title": [f"Item {j}" for j in range(40)],  # free text
        "city": [f"city {j}" for j in range(40)],  # more distinct values than MAX_LEVELS
        "constant": ["x"] * 40,  # one value: nothing to learn
    })  # fmt: skip
    levels = fit_levels(frame, list(frame.columns))
    assert levels == {"tier": ["basic", "plus", "premium"], "member": ["no", "yes"]}
    assert MAX_LEVELS < 40


def test_one_hot_marks_known_values_and_leaves_missing_or_unseen_blank():
    levels = {"tier": ["basic", "plus", "premium"], "member": ["no", "yes"]}
    block = one_hot([{"tier": "plus", "member": True}, {"tier": "gold"}, {}, {"tier": None, "member": False}], levels)
    assert block.dtype == np.float32 and block.shape == (4, 5)
    assert block.tolist() == [[0, 1, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 0]]


def test_a_trained_model_reads_the_one_hot_blocks_on_every_path(rating_model, rating_dataset):
    space = rating_model.space_
    assert set(space.user_levels) == {"age_band", "region"}  # the fixture's two profile attributes
    assert rating_model.head_.profile_text.in_features == rating_model.encoder_.dim + space.user_width
    user = rating_dataset.events["user_id"].iloc[0]
    item = rating_dataset.events["item_id"].iloc[-1]
    inputs = rating_model.pair_inputs(rating_dataset, user, item)
    pairs = pd.DataFrame({"user_id": [user], "item_id": [item]})
    # the explicit-inputs path (explanations, what-if) and the dataset path score the pair alike
    assert np.allclose(rating_model.score_inputs([inputs]), rating_model.predict(rating_dataset, pairs), atol=1e-5)
    edited = copy.deepcopy(inputs)
    edited.profile["region"] = "South" if inputs.profile["region"] == "North" else "North"
    blank = copy.deepcopy(edited)
    blank.profile_text = rating_model.rendered_texts(inputs)["profile"]  # same text, other region: only the one-hot differs
    scores = rating_model.score_inputs([inputs, edited, blank])
    assert scores[0] != scores[2]  # the one-hot block alone moves the prediction


def test_an_unknown_user_is_folded_in_from_how_they_rated(rating_model, rating_dataset):
    """fold_in: a new user's visible ratings move their prediction the way a bias model's fold-in does."""
    from uvp_core.model import HistoryEvent, PairInputs

    assert rating_model.head_.fold_in
    items = rating_dataset.events["item_id"].drop_duplicates().to_list()
    start = pd.Timestamp("2024-03-01", tz="UTC")

    def new_user(stars: float) -> PairInputs:
        history = [HistoryEvent(item_id=i, kind=f"rated {stars:g}", timestamp=start + pd.Timedelta(days=d)) for d, i in enumerate(items[:5])]
        return PairInputs(profile={}, history=history, item={}, item_id=items[-1], time=start + pd.Timedelta(days=10))

    generous, harsh = rating_model.score_inputs([new_user(5), new_user(1)])
    assert generous > harsh


def test_fold_in_adds_the_shrunk_mean_kind_value_for_unknown_users_only(rating_model, rating_dataset):
    import torch

    head = copy.deepcopy(rating_model.head_)
    head.ratings_via_fold_in = False  # the fold-in arithmetic alone (rated_kind is zeroed below)
    head.crosses = False  # (the cross terms group rating kinds by rated_kind too)
    head.fold_prior.fill_(5.0)
    assert head.fold_all_events  # a trained model counts every earlier event (checked below); first the events read alone
    head.fold_all_events = False
    prior = float(head.fold_prior)
    context = rating_model.context(rating_dataset)
    events = rating_dataset.events
    x = context.inputs(events["user_id"].to_numpy(object)[:40], events["item_id"].to_numpy(object)[:40], None)
    items, profiles = context.items.encode(rating_model.encoder_), context.profiles.encode(rating_model.encoder_)
    cold = type(x)(**{**vars(x), "user": torch.zeros_like(x.user)})
    with torch.no_grad():
        with_fold_in = head(items, profiles, cold)
        saved = head.kind_value.weight.clone()
        head.kind_value.weight.zero_()
        without = head(items, profiles, cold)
        known_without = head(items, profiles, x)
        rated = head.rated_kind.clone()
        head.rated_kind.zero_()
        no_residual = head(items, profiles, cold)  # kind values zero, item biases not subtracted: no fold-in at all
        head.rated_kind.copy_(rated)
        head.kind_value.weight.copy_(saved)
        known_with = head(items, profiles, x)
    mask = x.hist_mask.float()
    expected = (saved[x.hist_kind, 0] * mask).sum(1) / (mask.sum(1) + prior)
    assert torch.allclose(with_fold_in - without, expected, atol=1e-5) and expected.abs().max() > 0
    # each rated history item's own bias is taken off its rating: the fold-in is a residual, as in a bias model
    item_bias = head.item_bias.weight[x.hist_item, 0] * (x.hist_item > 0) * rated[x.hist_kind]
    residual = -(item_bias * mask).sum(1) / (mask.sum(1) + prior)
    assert torch.allclose(without - no_residual, residual, atol=1e-5) and residual.abs().max() > 0
    assert torch.equal(known_with, known_without)  # known users have their own bias row instead
    # fold_all_events: a user with n earlier events, k of them read, gets the mean of those read x n / (n + prior)
    head.fold_all_events = True
    with torch.no_grad():
        all_with = head(items, profiles, cold)
        head.kind_value.weight.zero_()
        all_without = head(items, profiles, cold)
        head.kind_value.weight.copy_(saved)
    read = mask.sum(1)
    n = torch.maximum(x.n_before, read)
    assert (n > read).any() and (n == read).any()  # both cases occur in these rows
    scale = torch.where(n > read, n / (read.clamp(min=1) * (n + prior)), 1 / (read + prior))
    assert torch.allclose(all_with - all_without, (saved[x.hist_kind, 0] * mask).sum(1) * scale, atol=1e-5)
    assert torch.equal(all_with[n == read], with_fold_in[n == read])  # the events read are all there are: as before


def test_an_unknown_users_rating_values_reach_the_score_through_the_fold_in_only(rating_model, rating_dataset):
    """ratings_via_fold_in: with the fold-in off, a new user rated 5 or rated 1 scores the same; a known user does not."""
    from uvp_core.model import HistoryEvent, PairInputs
    from uvp_core.model.training import NO_FOLD_IN

    model = rating_model
    assert model.head_.ratings_via_fold_in
    saved = float(model.head_.fold_prior)
    items = rating_dataset.events["item_id"].drop_duplicates().to_list()
    start = pd.Timestamp("2024-03-01", tz="UTC")

    def pair(stars: float, user_id: str | None) -> PairInputs:
        history = [HistoryEvent(item_id=i, kind=f"rated {stars:g}", timestamp=start + pd.Timedelta(days=d)) for d, i in enumerate(items[:5])]
        return PairInputs(profile={}, history=history, item={}, user_id=user_id, item_id=items[-1], time=start + pd.Timedelta(days=10))

    model.head_.fold_prior.fill_(NO_FOLD_IN)
    try:
        new_high, new_low, known_high, known_low = model.score_inputs([pair(5, None), pair(1, None), pair(5, "u001"), pair(1, "u001")])
    finally:
        model.head_.fold_prior.fill_(saved)
    assert abs(new_high - new_low) < 1e-7  # the content part reads "an event", not its value
    assert abs(known_high - known_low) > 1e-6  # a known user's history is read with its values (small in the tiny model)


def test_training_picks_the_fold_in_prior_on_known_users_shown_as_new(rating_model):
    from uvp_core.model.examples import FOLD_IN_PRIORS
    from uvp_core.model.training import NO_FOLD_IN

    metrics = rating_model.metrics_
    assert metrics["fold_prior"] in (*FOLD_IN_PRIORS, NO_FOLD_IN)
    assert float(rating_model.head_.fold_prior) == metrics["fold_prior"]
    assert metrics["fold_prior_source"].startswith(("the trained model on", "bias-only fit"))


def test_prior_scores_are_raw_scores_under_each_prior_to_the_last_bit(rating_model, rating_dataset):
    """choose_fold_prior scores every candidate prior from one pass (prior_scores): the same numbers as raw_scores."""
    import copy

    import torch

    from uvp_core.model.training import NO_FOLD_IN, Tables, as_new_users, prepare, prior_scores, raw_scores

    head = copy.deepcopy(rating_model.head_)
    prep = prepare(rating_dataset, rating_model.config, torch.device("cpu"))
    tables = Tables(prep, rating_model.encoder_, "frozen", torch.device("cpu"))
    rows = torch.nonzero(prep.train_x.user > 0).squeeze(1)[:300]
    known = prep.train_x.take(rows)
    shown_new = as_new_users(known, prep.train_first.take(rows), prep.space, 5)
    for fold_all in (False, True):
        head.fold_all_events = fold_all
        for x in (known, shown_new):
            by_prior = prior_scores(head, tables, x, (3.0, 20.0, NO_FOLD_IN))
            for prior, scores in by_prior.items():
                head.fold_prior.fill_(prior)
                assert np.array_equal(scores, raw_scores(head, tables, x, torch.device("cpu")))
            assert not np.array_equal(by_prior[3.0], by_prior[NO_FOLD_IN]) or x is known  # the prior moves new users


def test_as_new_users_keeps_only_the_first_events_and_forgets_the_user(rating_dataset):
    import torch

    from uvp_core.model import TrainConfig
    from uvp_core.model.training import as_new_users, prepare

    prep = prepare(rating_dataset, TrainConfig(), torch.device("cpu"))
    x, first = prep.train_x, prep.train_first
    rows = torch.nonzero((x.user > 0) & (first.count > 7)).squeeze(1)[:20]
    assert len(rows) == 20
    sim = as_new_users(x.take(rows), first.take(rows), prep.space, 5)
    assert bool((sim.user == 0).all()) and torch.equal(sim.item, x.item[rows])
    assert bool((sim.hist_mask.sum(1) == 5).all())  # five visible events, whatever the user had before
    events = rating_dataset.events.sort_values("timestamp", kind="stable")
    row = int(rows[0])
    user = prep.space.user_ids[int(x.user[row]) - 1]
    earliest = events.loc[events["user_id"] == user, "item_id"].head(5).tolist()
    codes = sim.hist_item[0][sim.hist_mask[0]].tolist()
    assert [prep.space.item_ids[c - 1] for c in codes] == earliest  # the user's first five items, oldest first
    assert not torch.equal(sim.numeric[:, 0], x.numeric[rows, 0])  # the history length is the new user's


def test_fit_words_keeps_words_in_some_but_not_most_items_and_word_hot_marks_them():
    titles = [f"Bamboo Mug {j}" if j % 5 == 0 else f"Steel Mug {j}" for j in range(50)]
    descriptions = ["an eco choice" if j % 5 == 0 else "made for the kitchen" for j in range(50)]
    frame = pd.DataFrame({"item_id": [f"i{j}" for j in range(50)], "title": titles, "description": descriptions, "brand": ["Acme"] * 50})
    words = fit_words(frame)
    # "mug" is in every item (over WORD_SHARE's 30%), "for"/"the"/"an" are stop words or short, brand is not free text
    assert words == ["bamboo", "choice", "eco"]
    assert fit_words(frame, limit=2) == ["bamboo", "choice"]  # equally common: alphabetical
    block = word_hot([{"title": "ECO bamboo cup"}, {"description": "Eco-friendly"}, {"title": None}, {}], words)
    assert block.tolist() == [[1, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 0]]


def test_the_word_budget_grows_with_the_training_ratings():
    from uvp_core.model.examples import WORD_ROWS, word_budget

    assert word_budget(WORD_ROWS - 1) == 0 and word_budget(3505) == 8 and word_budget(10**6) == MAX_WORDS


def test_a_rating_model_with_profile_attributes_reads_item_words_and_a_binary_one_does_not(rating_model, rating_dataset):
    space = rating_model.space_
    assert space.item_words and space.price_bands and space.indicator_width == len(space.item_words) + len(PRICE_BANDS)
    assert space.item_width == sum(map(len, space.item_levels.values())) + space.indicator_width
    head = rating_model.head_
    assert head.crosses and head.item_match == head.item_extra - space.indicator_width
    fields = rating_dataset.items.iloc[0].to_dict()
    hot = space.item_hot([fields])[0]
    words = len(space.item_words)
    assert hot[head.item_match : head.item_match + words].tolist() == word_hot([fields], space.item_words)[0].tolist()
    band = price_band(float(fields["price"]), space.template.price_edges)  # then the price band, one of four
    assert hot[head.item_match + words :].tolist() == [float(b == band) for b in PRICE_BANDS]
    from uvp_core.model.examples import build_examples, fit_space

    examples = build_examples(rating_dataset.events, "rating", 1, 0, None)
    every = np.ones(len(examples.times), bool)
    assert fit_space(rating_dataset, examples, every, None, 5, "rating").item_words == space.item_words
    assert fit_space(rating_dataset, examples, every, None, 5, "label").item_words == []  # binary heads have no crosses
    assert not fit_space(rating_dataset, examples, every, None, 5, "label").price_bands
