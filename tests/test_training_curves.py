"""uvp_core.figures: the Model page's training curves (not test_figures.py: tests/explain has one, and test basenames must differ)."""

from __future__ import annotations

import pandas as pd

from uvp_core import figures


def test_one_epoch_of_curves_starts_its_axes_at_zero() -> None:
    """A run cancelled in its second epoch drew its one point on axes running down to -0.5 (loss) and -0.58."""
    one = figures.training_curves(pd.DataFrame({"epoch": [1], "loss": [0.2863], "val_metric": [0.4219]}))
    assert one.layout.yaxis.rangemode == "tozero" and one.layout.yaxis2.rangemode == "tozero"
    two = figures.training_curves(pd.DataFrame({"epoch": [1, 2], "loss": [0.9, 0.8], "val_metric": [0.87, 0.86]}))
    assert two.layout.yaxis.rangemode is None  # a curve keeps the autorange that shows its changes


def test_log_loss_curves_share_one_axis_and_the_kept_epoch_is_marked() -> None:
    """A browser audit: training and validation log loss on two axes with their own scales looked merged, though they
    ended 0.39 against 0.43; and nothing showed which epoch training kept."""
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.6, 0.45, 0.39], "val_metric": [0.50, 0.42, 0.43]})
    shared = figures.training_curves(history, "validation log loss", same_units=True)
    assert {t.yaxis or "y" for t in shared.data} == {"y"} and "yaxis2" not in shared.layout.to_plotly_json()
    best = next(t for t in shared.data if t.name == "best epoch (kept)")
    assert list(best.x) == [2] and list(best.y) == [0.42]
    ratings = figures.training_curves(history, "validation RMSE")
    assert {t.yaxis or "y" for t in ratings.data} == {"y", "y2"} and ratings.layout.yaxis2.overlaying == "y"
