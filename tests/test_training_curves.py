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
