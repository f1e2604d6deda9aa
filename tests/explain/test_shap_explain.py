"""SHAP explanations: additive on the real encoder path, exact on a toy model, JSON record."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import shap

from uvp_core.explain import (
    Background,
    ExplainConfig,
    Feature,
    compare_explanations,
    contributions_frame,
    explain_inputs,
    explain_pair,
    explanation_record,
    group_importance,
)
from uvp_core.model import HistoryEvent, PairInputs


def _check_additive(exp: shap.Explanation, expected: float) -> None:
    assert isinstance(exp, shap.Explanation)
    assert abs(float(exp.base_values) + float(np.sum(exp.values)) - expected) < 1e-4
    assert abs(exp.prediction - expected) < 1e-9


def test_additive_permutation_rating(rating_model, rating_dataset):
    exp = explain_pair(rating_model, rating_dataset, "u001", "i005", config=ExplainConfig(permutations=3))
    assert exp.algorithm == "permutation" and len(exp.values) > 12
    prediction = rating_model.predict(rating_dataset, pd.DataFrame({"user_id": ["u001"], "item_id": ["i005"]}))[0]
    _check_additive(exp, prediction)
    assert set(exp.groups) == {"profile", "history", "item", "collaborative"}


def test_additive_exact_purchase_probability(purchase_model, binary_dataset):
    inputs = purchase_model.pair_inputs(binary_dataset, "u002", "i007")
    inputs = replace(inputs, history=inputs.history[:3], n_earlier=0)  # 2 + 3 + 4 + 2 = 11 features: exact
    exp = explain_inputs(purchase_model, inputs, Background())
    assert exp.algorithm == "exact" and len(exp.values) == 11
    _check_additive(exp, purchase_model.score_inputs([inputs])[0])
    assert 0.0 <= exp.prediction <= 1.0


def test_earlier_events_are_a_feature_so_the_base_value_is_the_same_for_every_user(rating_model, rating_dataset):
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    short = replace(inputs, history=inputs.history[-3:], n_earlier=0)
    long = replace(inputs, history=inputs.history[-3:], n_earlier=40)  # 40 older events: only their count is read
    a, b = (explain_inputs(rating_model, x, Background(), ExplainConfig(permutations=3)) for x in (short, long))
    assert float(a.base_values) == pytest.approx(float(b.base_values), abs=1e-9)  # it used to carry the 40 events' count
    earlier = [j for j, f in enumerate(b.features) if f.kind == "earlier"]
    assert len(earlier) == 1 and b.features[earlier[0]].name.startswith("40 earlier events") and b.groups[earlier[0]] == "history"
    assert not [f for f in a.features if f.kind == "earlier"]
    assert rating_model.score_inputs([short])[0] != rating_model.score_inputs([long])[0]  # the count matters to the model
    _check_additive(b, rating_model.score_inputs([long])[0])


class ToyModel:
    """score = 1 + 2*[region present] + sum of 0.5 per history event + 3*[item id known] (additive)."""

    history_k = 5
    late_kinds = ()

    def score_inputs(self, rows):
        return np.array([1 + 2 * ("region" in r.profile) + 0.5 * len(r.history) + 3 * (r.item_id is not None) for r in rows])


def test_exact_values_on_additive_toy_model():
    t = pd.Timestamp("2024-01-01", tz="UTC")
    inputs = PairInputs(profile={"region": "North"}, history=[HistoryEvent("a", "view", t), HistoryEvent("b", "purchase", t + pd.Timedelta(days=1))],
                        item={}, user_id=None, item_id="i1", time=t + pd.Timedelta(days=2))  # fmt: skip
    exp = explain_inputs(ToyModel(), inputs, Background())  # region background absent: left out when masked
    values = dict(zip(exp.feature_names, exp.values, strict=True))
    assert values["region = North"] == pytest.approx(2.0)
    assert values["purchased item b, 1 day before"] == pytest.approx(0.5)
    assert values["item ID i1 (learned item bias, popularity)"] == pytest.approx(3.0)
    assert float(exp.base_values) == pytest.approx(1.0)


def test_record_and_frame_add_up(rating_model, rating_dataset):
    exp = explain_pair(rating_model, rating_dataset, "u003", "i010", config=ExplainConfig(permutations=2))
    record = json.loads(json.dumps(explanation_record(exp)))
    total = record["base_value"] + sum(c["value"] for c in record["contributions"])
    assert abs(total - record["prediction"]) < 1e-4
    frame = contributions_frame(exp)
    assert list(frame.columns) == ["feature", "group", "feature value", "contribution"]
    assert frame["contribution"].abs().is_monotonic_decreasing


def test_two_items_compared_feature_by_feature_add_up_to_the_difference(rating_model, rating_dataset):
    first = explain_pair(rating_model, rating_dataset, "u003", "i010", config=ExplainConfig(permutations=2))
    second = explain_pair(rating_model, rating_dataset, "u003", "i011", config=ExplainConfig(permutations=2))
    table = compare_explanations(first, second)
    assert abs(table["difference"].sum() - (first.prediction - second.prediction)) < 2e-4  # same user: same base value
    assert "base value" not in set(table["feature"])
    assert table["difference"].abs().is_monotonic_decreasing
    assert table["feature"].is_unique and len(table) == len({(f.kind, f.key) for f in (*first.features, *second.features)})
    item_id = table.loc[table["feature"] == "item ID (learned item bias, popularity)"].iloc[0]
    assert (item_id["value_first"], item_id["value_second"]) == ("i010", "i011")
    title = table.loc[table["feature"] == "item title"].iloc[0]  # an item field: one row, each item's value
    assert title["value_first"] != title["value_second"]
    profile = table.loc[table["group"] == "profile"]  # the user's own features: the same value for both items
    assert (profile["value_first"] == profile["value_second"]).all()
    elsewhere = explain_pair(rating_model, rating_dataset, "u003", "i011", background=Background(),
                             config=ExplainConfig(permutations=2))  # every attribute left out: another base value
    assert abs(float(elsewhere.base_values) - float(first.base_values)) > 1e-6
    mixed = compare_explanations(first, elsewhere)
    assert "base value" in set(mixed["feature"])
    assert abs(mixed["difference"].sum() - (first.prediction - elsewhere.prediction)) < 2e-4


def test_compared_histories_are_matched_by_event_not_position():
    def explanation(features, values):
        return SimpleNamespace(features=features, values=np.asarray(values, dtype=float), base_values=3.0)

    viewed_a = Feature("viewed A, 2 days before", "history", "event", 0, "A · view · 2024-01-01 10:00")
    bought_b = Feature("purchased B, 1 day before", "history", "event", 1, "B · purchase · 2024-01-02 10:00")
    # Candidate A: its own view is left out of the history, so the purchase of B sits at position 0.
    first = explanation([replace(bought_b, key=0)], [0.3])
    second = explanation([viewed_a, bought_b], [0.1, 0.2])
    table = compare_explanations(first, second).set_index("feature")
    assert table.loc["purchased B, 1 day before", ["first", "second"]].tolist() == [0.3, 0.2]
    assert table.loc["viewed A, 2 days before", ["first", "second"]].tolist() == [0.0, 0.1]


def test_group_importance_by_segment(rating_model, rating_dataset):
    pairs = pd.DataFrame({"user_id": ["u001", "u002", "u003"], "item_id": ["i001", "i002", "i003"], "segment": ["a", "b", "a"]})
    table = group_importance(rating_model, rating_dataset, pairs, "segment", config=ExplainConfig(permutations=1))
    assert set(table["segment"]) == {"all", "a", "b"}
    assert set(table["group"]) == {"profile", "history", "item", "collaborative"}
    assert (table["mean_abs_shap"] >= 0).all()


class CurvedToyModel:
    """A non-additive toy: interactions make permutation order matter."""

    history_k = 20
    late_kinds = ()

    def score_inputs(self, rows):
        return np.array([len(r.history) ** 1.5 + 3.0 * (r.item_id is not None) * ("region" in r.profile) for r in rows])


def test_batched_permutation_equals_plain_shap_permutation():
    from uvp_core.explain.features import pair_features
    from uvp_core.explain.shap_explain import CoalitionModel

    t = pd.Timestamp("2024-01-01", tz="UTC")
    history = [HistoryEvent(f"h{j}", "view", t + pd.Timedelta(days=j)) for j in range(14)]
    inputs = PairInputs(profile={"region": "North"}, history=history, item={}, user_id=None, item_id="i1", time=t + pd.Timedelta(days=30))
    model = CurvedToyModel()
    exp = explain_inputs(model, inputs, Background(), ExplainConfig(permutations=5, seed=3))
    assert exp.algorithm == "permutation"
    features = pair_features(inputs, model.history_k)
    f = CoalitionModel(model, inputs, features, Background())
    m = len(features)
    plain = shap.explainers.PermutationExplainer(f, shap.maskers.Independent(np.zeros((1, m)), max_samples=1), seed=3)(
        np.ones((1, m)), max_evals=5 * (2 * m + 1), silent=True)  # fmt: skip
    assert np.allclose(exp.values, plain.values[0])
    assert f.calls > 1 and exp.evaluations < f.evaluations  # one deduplicated call instead of one per permutation


def test_warm_up_runs_both_shap_paths_and_leaves_explanations_unchanged(rating_model, rating_dataset):
    from uvp_core.explain import warm_up

    user, item = rating_dataset.events["user_id"].iloc[0], rating_dataset.events["item_id"].iloc[-1]
    before = explain_pair(rating_model, rating_dataset, user, item)
    assert warm_up() >= 0.0 and rating_model.warm_up() >= 0.0
    after = explain_pair(rating_model, rating_dataset, user, item)
    assert np.array_equal(before.values, after.values) and before.prediction == after.prediction


class TierToyModel:
    """score = 1 + {basic: -1, plus: 0, premium: 2}[tier] + 0.5 * history length (additive)."""

    history_k = 5
    late_kinds = ()
    effect = {"basic": -1.0, "plus": 0.0, "premium": 2.0}

    def score_inputs(self, rows):
        return np.array([1 + self.effect.get(r.profile.get("tier"), 0.0) + 0.5 * len(r.history) for r in rows])


def test_population_background_credits_the_most_common_value_against_the_population_mean():
    t = pd.Timestamp("2024-01-01", tz="UTC")
    inputs = PairInputs(profile={"tier": "basic"}, history=[HistoryEvent("a", "view", t)], item={}, user_id=None, item_id=None,
                        time=t + pd.Timedelta(days=1))  # fmt: skip
    population = ({"tier": "basic"}, {"tier": "basic"}, {"tier": "plus"}, {"tier": "premium"})  # basic is the mode
    mode = explain_inputs(TierToyModel(), inputs, Background(profile={"tier": "basic"}))
    sampled = explain_inputs(TierToyModel(), inputs, Background(profiles=population))
    assert dict(zip(mode.feature_names, mode.values, strict=True))["tier = basic"] == pytest.approx(0.0)  # masked to itself
    tier = dict(zip(sampled.feature_names, sampled.values, strict=True))["tier = basic"]
    assert tier == pytest.approx(-1.0 - np.mean([-1.0, -1.0, 0.0, 2.0]))  # basic vs the population's mean effect
    assert float(sampled.base_values) == pytest.approx(1 + np.mean([-1.0, -1.0, 0.0, 2.0]))
    _check_additive(sampled, 1 - 1.0 + 0.5)


def test_population_background_is_additive_on_the_real_encoder_path(rating_model, rating_dataset):
    from uvp_core.explain import background_for, masked_inputs, pair_features

    background = background_for(rating_model, rating_dataset, attributes="population", size=4)
    assert len(background.profiles) == 4 and all(set(p) == {"age_band", "region"} for p in background.profiles)
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    inputs = replace(inputs, history=inputs.history[:4])
    exp = explain_inputs(rating_model, inputs, background)
    _check_additive(exp, rating_model.score_inputs([inputs])[0])
    features = pair_features(inputs, rating_model.history_k)
    masked_all = [masked_inputs(inputs, features, np.zeros(len(features), bool), row) for row in background.rows()]
    assert len({repr(sorted(row.profile.items())) for row in masked_all}) > 1  # the sampled users differ
    assert float(exp.base_values) == pytest.approx(float(np.mean(rating_model.score_inputs(masked_all))), abs=1e-6)


def test_an_id_the_model_never_saw_is_not_called_a_learned_bias(rating_model, rating_dataset):
    """explain on an unknown user labelled it "user ID NEWUSER (learned user bias)"; no bias was learned for it."""
    from uvp_core.explain import background_for

    inputs = rating_model.pair_inputs(rating_dataset, "NEWUSER", "i001")
    names = explain_inputs(rating_model, inputs, background_for(rating_model, rating_dataset)).feature_names
    assert "user ID NEWUSER (not seen in training: no learned bias)" in names
    assert "item ID i001 (learned item bias, popularity)" in names


def test_a_prediction_at_the_end_of_the_rating_scale_is_recognised(rating_model):
    """MovieLens user 1's top ten items all showed 5 (the cap), and their explanations split credit for a capped
    value without saying so; the Explain page now says when a prediction sits at the cap."""
    from uvp_core.explain import capped_at

    stats = rating_model.label_stats_
    assert capped_at(rating_model, float(stats["max"])) == stats["max"]
    assert capped_at(rating_model, float(stats["min"])) == stats["min"]
    assert capped_at(rating_model, (stats["min"] + stats["max"]) / 2) is None
    assert capped_at(ToyModel(), 5.0) is None  # no rating scale: nothing is capped


def test_a_feature_equal_to_its_background_gets_exactly_zero(rating_model, rating_dataset):
    from uvp_core.explain import background_for
    """Exact Shapley arithmetic left ~1e-17 on such features, shown as 0.00000000000000009 or -0.0000."""
    background = background_for(rating_model, rating_dataset)
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i005")
    inputs = replace(inputs, profile={**inputs.profile, **background.profile}, history=inputs.history[-3:], n_earlier=0)
    exp = explain_inputs(rating_model, inputs, background)
    typical = [j for j, f in enumerate(exp.features) if f.kind == "attribute"]
    assert typical and all(exp.values[j] == 0.0 for j in typical)
    _check_additive(exp, rating_model.score_inputs([inputs])[0])
