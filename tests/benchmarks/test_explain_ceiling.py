"""The explanation benchmark's ceiling: exact Shapley of the sample's rating rule, checked against shap."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import shap

from benchmarks.explain import BACKGROUND_NAMES, perfect_rule_ceiling, rule_shapley
from uvp_core.data import load_path
from uvp_core.explain import background_for

TRUTH = Path(__file__).resolve().parents[2] / "sample_data" / "ground_truth.json"


def test_shapley_of_the_rule_gives_the_driver_half_the_interaction() -> None:
    generosity, quality, delta = 0.3, -0.2, 1.0  # features: user, item, driver, partner (1 = present, 0 = background)

    def rule(x: np.ndarray) -> np.ndarray:
        return 3.0 + generosity * x[:, 0] + quality * x[:, 1] + delta * x[:, 2] * x[:, 3]

    explanation = shap.ExactExplainer(rule, np.zeros((1, 4)))(np.ones((1, 4)))
    np.testing.assert_allclose(explanation.values[0], [generosity, quality, delta / 2, delta / 2], atol=1e-12)


def test_rule_shapley_matches_shap_exact_for_an_asymmetric_background() -> None:
    def rule(tier, band) -> float:  # the sample's tier x price rule: +1 premium member, -0.8 basic member, premium items only
        return 1.0 * (tier == "premium" and band == "premium") - 0.8 * (tier == "basic" and band == "premium")

    on, off = ("premium", "premium"), ("basic", "mid")  # masked: the most common tier, the median price's band
    values = {0: off, 1: on}

    def model(x: np.ndarray) -> np.ndarray:
        return np.array([rule(values[int(a)][0], values[int(b)][1]) for a, b in x])

    explanation = shap.ExactExplainer(model, np.zeros((1, 2)))(np.ones((1, 2)))
    np.testing.assert_allclose(explanation.values[0], rule_shapley(rule, on, off), atol=1e-12)
    np.testing.assert_allclose(rule_shapley(rule, on, off), (0.9, 0.1), atol=1e-12)  # the tier takes most of it


@pytest.fixture(scope="module")
def ceiling() -> list[dict]:
    truth = json.loads(TRUTH.read_text())
    dataset = load_path(TRUTH.parent).dataset
    stub = SimpleNamespace(space_=SimpleNamespace(user_columns=list(dataset.users.columns), item_columns=list(dataset.items.columns)))
    backgrounds = {name: background_for(stub, dataset, attributes=name) for name in BACKGROUND_NAMES}
    return perfect_rule_ceiling(truth, dataset, backgrounds)


def test_ceiling_shares_per_planted_effect_and_background(ceiling) -> None:
    truth = json.loads(TRUTH.read_text())
    assert [(r["effect"], r["background"]) for r in ceiling] == [(e["id"], b) for e in truth["effects"] for b in BACKGROUND_NAMES]
    n = {e["id"]: len(e["probe_pairs"]) for e in truth["effects"]}
    for row in ceiling:
        assert row["n"] == n[row["effect"]]
        assert 0.0 <= row["driver_first"] <= row["driver_or_partner_first"] <= 1.0
    rows = {(r["effect"], r["background"]): r for r in ceiling}
    # Against the most common value: basic is the most common tier, so a basic member's tier gets no credit ...
    assert rows[("basic_tier_x_premium_price", "mode")]["driver_first"] == 0.0
    # ... and Kitchen is the most common category, so a Kitchen candidate hands its share to the history.
    kitchen = rows[("history_category_affinity", "mode")]
    assert kitchen["driver_first"] == kitchen["driver_or_partner_first"] > 0.9
    # Driver + partner together carry the whole delta whatever the background.
    for effect in n:
        assert len({rows[(effect, b)]["driver_or_partner_first"] for b in BACKGROUND_NAMES}) == 1
