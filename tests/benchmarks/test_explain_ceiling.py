"""The explanation benchmark's ceiling: exact Shapley of the sample's rating rule, checked against shap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shap

from benchmarks.explain import perfect_rule_ceiling

TRUTH = Path(__file__).resolve().parents[2] / "sample_data" / "ground_truth.json"


def test_shapley_of_the_rule_gives_the_driver_half_the_interaction() -> None:
    generosity, quality, delta = 0.3, -0.2, 1.0  # features: user, item, driver, partner (1 = present, 0 = background)

    def rule(x: np.ndarray) -> np.ndarray:
        return 3.0 + generosity * x[:, 0] + quality * x[:, 1] + delta * x[:, 2] * x[:, 3]

    explanation = shap.ExactExplainer(rule, np.zeros((1, 4)))(np.ones((1, 4)))
    np.testing.assert_allclose(explanation.values[0], [generosity, quality, delta / 2, delta / 2], atol=1e-12)


def test_ceiling_shares_per_planted_effect() -> None:
    truth = json.loads(TRUTH.read_text())
    rows = perfect_rule_ceiling(truth)
    assert [r["effect"] for r in rows] == [e["id"] for e in truth["effects"]]
    for row, effect in zip(rows, truth["effects"], strict=True):
        assert row["n"] == len(effect["probe_pairs"])
        assert 0.0 < row["driver_first"] < row["driver_or_partner_first"] <= 1.0
