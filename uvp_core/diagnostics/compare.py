"""Two models side by side on the same evaluation pairs: overall and per segment, with paired intervals.

Both models are scored on the same rows, so replicate b of the bootstrap reweights the same pairs for
both: the interval of (metric A − metric B) is a paired bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from uvp_core.diagnostics.evaluation_set import EvaluationSet
from uvp_core.diagnostics.metrics import (
    DEFAULT_BOOTSTRAP,
    HIGHER_IS_BETTER,
    Bootstrap,
    metric_difference,
    metric_names,
)
from uvp_core.diagnostics.segments import SegmentSpec, labelled


def paired_frame(frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> pd.DataFrame:
    """Model A's evaluation frame with model B's predictions as `prediction_b` (same pairs, same order)."""
    same = (
        len(frame_a) == len(frame_b)
        and np.array_equal(frame_a["user_id"].to_numpy(dtype=object), frame_b["user_id"].to_numpy(dtype=object))
        and np.array_equal(frame_a["item_id"].to_numpy(dtype=object), frame_b["item_id"].to_numpy(dtype=object))
        and np.allclose(frame_a["y"].to_numpy(dtype=np.float64), frame_b["y"].to_numpy(dtype=np.float64))
    )
    if not same:
        raise ValueError("The two models were not evaluated on the same pairs and labels (do they predict the same target?).")
    return frame_a.assign(prediction_b=frame_b["prediction"].to_numpy(dtype=np.float64))


def compare_models(
    frame: pd.DataFrame, task: str, specs: Sequence[SegmentSpec] = (), boot: Bootstrap | None = DEFAULT_BOOTSTRAP
) -> pd.DataFrame:
    """Per metric, overall and per segment: column, segment, n, a, b, difference (a − b), difference_low/high."""
    overall = metric_difference(frame, None, task, a="prediction", b="prediction_b", boot=boot)
    overall.insert(0, "column", "overall")
    overall.insert(1, "segment", "all")
    parts = [overall]
    for spec in specs:
        table = metric_difference(labelled(frame, spec), "segment", task, a="prediction", b="prediction_b", boot=boot)
        table.insert(0, "column", spec.column)
        table["segment"] = table["segment"].astype(str)
        parts.append(table)
    columns = ["column", "segment", "n", "metric", "a", "b", "difference", "difference_low", "difference_high"]
    return pd.concat(parts, ignore_index=True)[columns]


def difference_meaning(task: str) -> str:
    """Which sign of (A − B) favours model A, per metric of the task (one line)."""
    names = metric_names(task)
    lower = [m for m in names if m not in HIGHER_IS_BETTER and m != "bias"]
    higher = [m for m in names if m in HIGHER_IS_BETTER]
    parts = [f"negative favours A for {', '.join(lower)}"] if lower else []
    parts += [f"positive favours A for {', '.join(higher)}"] if higher else []
    parts += ["for bias, compare |a| and |b| (0 is best)"] if "bias" in names else []
    return "; ".join(parts)


def comparison_record(
    comparison: pd.DataFrame, evalset: EvaluationSet, models: dict[str, dict[str, Any]], boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
    overlapping: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The comparison as JSON-ready data: meta, `overall` rows and `segments` rows per column (as the CLI writes it);
    `overlapping`: the columns cut by single value, whose segments overlap (segments.overlap_note), by column."""
    from uvp_core.diagnostics.report import _jsonable

    rows = comparison.drop(columns="column")
    by_column = {column: rows.loc[(comparison["column"] == column).to_numpy()] for column in comparison["column"].unique()}
    overall = by_column.pop("overall", rows.iloc[:0]).drop(columns="segment")
    meta = {
        "models": models,
        "metrics": list(metric_names(evalset.task)),
        "difference": "model A − model B; " + difference_meaning(evalset.task),
        "evaluation_set": {"source": evalset.source, "note": evalset.note, "pairs": int(len(evalset.pairs)), "cutoff": evalset.cutoff},
        "bootstrap": None if boot is None else {"resamples": boot.resamples, "seed": boot.seed, "level": boot.level,
                                                 "method": "paired Poisson weights"},
        "overlapping_segments": overlapping or {},
    }  # fmt: skip
    return _jsonable({"meta": meta, "overall": overall, "segments": by_column})
