"""Point metrics against hand-computed values; bootstrap intervals: seeded, paired, sensible widths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from uvp_core.diagnostics import metrics as M


def test_regression_metrics_by_hand() -> None:
    y, p = [1, 2, 3, 4], [2, 2, 2, 2]  # errors +1, 0, −1, −2
    assert M.rmse(y, p) == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert M.mae(y, p) == pytest.approx(1.0)
    assert M.bias(y, p) == pytest.approx(-0.5)  # under-prediction is negative
    assert math.isnan(M.rmse([], []))
    with pytest.raises(ValueError):
        M.mae([1, 2], [1])


def test_auc_by_hand_with_ties_and_one_class() -> None:
    assert M.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)  # 3 of 4 pairs ordered
    assert M.auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert M.auc([0, 1, 1], [0.2, 0.2, 0.9]) == pytest.approx((0.5 + 1) / 2)
    assert math.isnan(M.auc([1, 1], [0.2, 0.3]))
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 500), np.round(rng.random(500), 1)
    assert M.auc(y, p) == pytest.approx(roc_auc_score(y, p))


def test_log_loss_brier_ece_and_reliability_by_hand() -> None:
    assert M.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert M.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    assert np.isfinite(M.log_loss([1], [0.0]))  # clipped, not infinite
    y, p = [0, 1, 1, 1], [0.15, 0.15, 0.85, 0.85]
    # bin 1: predicted 0.15, observed 0.5 (2 rows); bin 8: predicted 0.85, observed 1.0 (2 rows)
    assert M.ece(y, p) == pytest.approx(0.5 * 0.35 + 0.5 * 0.15)
    curve = M.reliability_curve(y, p)
    assert curve["bin"].tolist() == [1, 8] and curve["n"].tolist() == [2, 2]
    assert curve["observed_rate"].tolist() == pytest.approx([0.5, 1.0])
    assert curve["mean_predicted"].tolist() == pytest.approx([0.15, 0.85])
    assert M.calibration_bin(np.array([0.0, 0.099, 0.1, 1.0])).tolist() == [0, 0, 1, 9]


def test_poisson_weights_have_mean_and_variance_one_and_are_seeded() -> None:
    w = M.weight_chunk(3, 20_000, 50, 0)
    assert w.shape == (20_000, 50) and w.dtype == np.float32
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)
    M._WEIGHT_CACHE.clear()
    assert np.array_equal(M.weight_chunk(3, 20_000, 50, 0), w)
    assert not np.array_equal(M.weight_chunk(4, 20_000, 50, 0), w)


def test_group_metrics_points_match_hand_values_and_intervals_cover_them() -> None:
    frame = pd.DataFrame({
        "group": ["a", "a", "b", "b", "b"],
        "y": [1.0, 3.0, 2.0, 2.0, 5.0],
        "prediction": [2.0, 2.0, 2.0, 3.0, 3.0],
    })  # fmt: skip
    table = M.group_metrics(frame, "group", "regression", boot=M.Bootstrap(resamples=100, seed=1))
    a, b = table.iloc[0], table.iloc[1]
    assert (a["group"], a["n"], b["n"]) == ("a", 2, 3)
    assert a["rmse"] == pytest.approx(1.0) and a["mae"] == pytest.approx(1.0) and a["bias"] == pytest.approx(0.0)
    assert b["rmse"] == pytest.approx(math.sqrt((0 + 1 + 4) / 3)) and b["bias"] == pytest.approx((0 + 1 - 2) / 3)
    assert b["mean_label"] == pytest.approx(3.0) and b["mean_prediction"] == pytest.approx(8 / 3)
    for metric in M.REGRESSION_METRICS:
        assert (table[f"{metric}_low"] <= table[metric] + 1e-9).all() and (table[metric] <= table[f"{metric}_high"] + 1e-9).all()
    again = M.group_metrics(frame, "group", "regression", boot=M.Bootstrap(resamples=100, seed=1))
    pd.testing.assert_frame_equal(table, again)


def test_bootstrap_interval_width_matches_theory_for_a_mean() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    frame = pd.DataFrame({"y": np.zeros(n), "prediction": rng.normal(0.0, 1.0, n)})
    row = M.group_metrics(frame, None, "regression", boot=M.Bootstrap(resamples=400, seed=0)).iloc[0]
    width = row["bias_high"] - row["bias_low"]
    assert width == pytest.approx(2 * 1.96 / math.sqrt(n), rel=0.2)
    assert row["bias_low"] < row["bias"] < row["bias_high"]


def test_binary_group_metrics_match_point_functions() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.integers(0, 2, n).astype(float)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0.001, 0.999)
    frame = pd.DataFrame({"y": y, "prediction": p, "g": rng.integers(0, 3, n)})
    table = M.group_metrics(frame, "g", "binary", boot=M.Bootstrap(resamples=50))
    for g, part in frame.groupby("g"):
        row = table.loc[table["g"] == g].iloc[0]
        assert row["auc"] == pytest.approx(roc_auc_score(part["y"], part["prediction"]))
        assert row["log_loss"] == pytest.approx(M.log_loss(part["y"], part["prediction"]))
        assert row["brier"] == pytest.approx(M.brier(part["y"], part["prediction"]))
        assert row["ece"] == pytest.approx(M.ece(part["y"], part["prediction"]))
        assert row["auc_low"] < row["auc"] < row["auc_high"]


def test_paired_difference_of_identical_columns_is_exactly_zero() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"y": rng.normal(size=500), "prediction": rng.normal(size=500)})
    frame["same"] = frame["prediction"]
    frame["worse"] = frame["prediction"] + 1.0
    same = M.metric_difference(frame, None, "regression", a="prediction", b="same")
    assert (same["difference"] == 0).all() and (same["difference_low"] == 0).all() and (same["difference_high"] == 0).all()
    worse = M.metric_difference(frame, None, "regression", a="prediction", b="worse").set_index("metric")
    assert worse.loc["bias", "difference"] == pytest.approx(-1.0)
    assert worse.loc["bias", "difference_low"] == pytest.approx(-1.0, abs=1e-4)  # paired: every replicate differs by exactly 1


def test_split_difference_by_hand() -> None:
    frame = pd.DataFrame({"y": [1.0, 1.0, 1.0, 1.0], "prediction": [2.0, 3.0, 1.0, 1.0]})
    table = M.split_difference(frame, np.array([True, True, False, False]), "regression").set_index("metric")
    assert table.loc["mae", "inside"] == pytest.approx(1.5) and table.loc["mae", "outside"] == pytest.approx(0.0)
    assert table.loc["mae", "difference"] == pytest.approx(1.5)
    assert table.loc["mae", "n_inside"] == 2


def test_mean_intervals_and_one_row_groups_have_no_interval() -> None:
    table = M.mean_intervals(pd.DataFrame({"hit": [1.0, 0.0, 1.0, 0.0]}), M.Bootstrap(resamples=100))
    assert table.loc[0, "value"] == pytest.approx(0.5) and table.loc[0, "low"] <= 0.5 <= table.loc[0, "high"]
    frame = pd.DataFrame({"g": ["a", "b", "b"], "y": [1.0, 2.0, 3.0], "prediction": [1.5, 2.0, 2.0]})
    row = M.group_metrics(frame, "g", "regression").iloc[0]
    assert row["rmse"] == pytest.approx(0.5) and math.isnan(row["rmse_low"])


def test_mean_metric_by_groupings_matches_group_metrics() -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"y": rng.normal(size=800), "prediction": rng.normal(size=800), "g": rng.integers(0, 4, 800)})
    boot = M.Bootstrap(resamples=60, seed=9)
    fast = M.mean_metric_by_groupings(frame["y"], frame["prediction"], [(frame["g"].to_numpy(), 4)], "rmse", boot)[0]
    slow = M.group_metrics(frame, "g", "regression", boot=boot)
    assert fast["value"].to_numpy() == pytest.approx(slow["rmse"].to_numpy())
    assert fast["low"].to_numpy() == pytest.approx(slow["rmse_low"].to_numpy(), rel=1e-5)


def test_every_interval_holds_its_own_estimate() -> None:
    """A walk-through saw ECE 0.0639 with the interval [0.0641, 0.1483]: ECE is biased upwards, so its bootstrap
    replicates can all lie above the estimate. Here the estimate is 0 (perfectly calibrated) and every replicate is above."""
    from uvp_core.diagnostics import metrics as M

    frame = pd.DataFrame({"y": [0.0, 1.0] * 50, "prediction": [0.5] * 100})
    table = M.group_metrics(frame, None, "binary", boot=M.Bootstrap(resamples=200, seed=0))
    row = table.iloc[0]
    assert row["ece"] == 0.0 and row["ece_low"] == 0.0 and row["ece_high"] > 0.0
    for metric in M.metric_names("binary"):
        if np.isfinite(row[f"{metric}_low"]):
            assert row[f"{metric}_low"] <= row[metric] <= row[f"{metric}_high"], metric


def test_ece_noise_is_what_chance_alone_gives_a_calibrated_model() -> None:
    """A browser audit: a 220-row cohort's ECE (0.05) read as clearly worse than the rest's (0.008), though a
    perfectly calibrated model scores about that much on 220 rows from chance alone."""
    rng = np.random.default_rng(0)
    for n in (220, 5000):
        p = rng.beta(2, 2, n)
        simulated = np.mean([M.ece((rng.random(n) < p).astype(float), p) for _ in range(300)])
        assert M.ece_noise(p)[0] == pytest.approx(simulated, rel=0.06)
    frame = pd.DataFrame({"g": ["small"] * 220 + ["large"] * 5000, "prediction": rng.beta(2, 2, 5220)})
    frame["y"] = (rng.random(len(frame)) < frame["prediction"]).astype(float)
    table = M.group_metrics(frame, "g", "binary", boot=None).set_index("g")
    assert table.loc["small", "ece_noise"] > 3 * table.loc["large", "ece_noise"]
    split = M.split_difference(frame, (frame["g"] == "small").to_numpy(), "binary", boot=None).set_index("metric")
    assert split.loc["ece_noise", "inside"] == pytest.approx(table.loc["small", "ece_noise"])
    assert list(split.index).index("ece_noise") == list(split.index).index("ece") + 1
