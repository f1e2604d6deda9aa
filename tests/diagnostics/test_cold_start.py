"""Cold start: what the curves say about buckets they cannot score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from uvp_core.diagnostics import cold_start


def test_buckets_whose_auc_is_undefined_are_named() -> None:
    """A walk-through found purchase-model buckets with one outcome only ("1 n=2") drawn without a marker or a word."""
    frame = pd.DataFrame({
        "history_bucket": pd.Categorical(["0"] * 4 + ["1"] * 2 + ["4–5"] * 3, categories=list(cold_start.COUNT_LABELS), ordered=True),
        "y": [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
        "prediction": np.linspace(0.1, 0.9, 9), "baseline": np.full(9, 0.4),
    })  # fmt: skip
    table = cold_start.cold_start_curve(frame, "history_bucket", "binary", boot=None)
    assert table.loc[table["history_bucket"].astype(str) == "1", "auc"].isna().all()  # one outcome: no AUC to draw
    note = cold_start.undefined_auc_note(table, "auc", "history_bucket")
    assert note is not None and note.startswith("AUC is undefined") and note.endswith(": 1 (n=2), 4–5 (n=3).")
    assert cold_start.undefined_auc_note(table, "brier", "history_bucket") is None  # defined for one outcome too
    defined = table.loc[table["history_bucket"].astype(str) == "0"]
    assert cold_start.undefined_auc_note(defined, "auc", "history_bucket") is None
