"""How much of the sample's rating variance its planted effects explain, and how much a 20-event window keeps.

Ridge fits of the sample's ratings on user + item indicators plus planted-effect indicators (from
uvp_core.sample.effect_masks, the generator's own rules), trained on the earliest 90% of ratings and
scored on the latest 10% (the split the value model validates on). A yardstick for the value model's
validation RMSE, not a model of the product. Also: the Kitchen-history indicator computed over the
whole history, the 20 most recent events (what the model reads), and the 20 most recent non-view events.

    python benchmarks/sample_effects.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import Ridge

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import stamp  # noqa: E402
from uvp_core.sample import config_from_truth, effect_masks  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
ALPHA = 10.0
WINDOW = 20


def windowed(events: pd.DataFrame, flag: np.ndarray, window: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Per event: does one of the user's `window` previous events (counting only `keep` ones) have `flag`."""
    keep = np.ones(len(events), bool) if keep is None else keep
    kept = pd.DataFrame({"user": events["user_id"].to_numpy()[keep], "flag": flag[keep].astype(float)}, index=events.index[keep])
    rolling = kept.groupby("user")["flag"].transform(lambda s: s.rolling(window, min_periods=1).sum())  # up to and including
    before = kept.groupby("user")["flag"].transform(lambda s: s.shift(1).rolling(window, min_periods=1).sum()).fillna(0)
    upto = pd.Series(np.nan, index=events.index)
    upto.loc[rolling.index] = rolling.to_numpy()
    upto = upto.groupby(events["user_id"]).transform(lambda s: s.ffill().shift(1)).fillna(0)  # other events: the kept ones before
    upto.loc[before.index] = before.to_numpy()
    return (upto > 0).to_numpy()


def validation_rmse(ratings: pd.DataFrame, extra: np.ndarray) -> float:
    """RMSE on the latest 10% of a ridge on user + item indicators and the `extra` columns, fitted on the rest."""
    n = len(ratings)
    users = pd.Categorical(ratings["user_id"]).codes
    items = pd.Categorical(ratings["item_id"]).codes
    rows = np.arange(n)
    x = sparse.hstack([sparse.csr_matrix((np.ones(n), (rows, users))), sparse.csr_matrix((np.ones(n), (rows, items))),
                       sparse.csr_matrix(extra.reshape(n, -1).astype(float))]).tocsr()  # fmt: skip
    y = ratings["rating"].to_numpy(float)
    cut = int(n * 0.9)
    fit = Ridge(alpha=ALPHA).fit(x[:cut], y[:cut])
    return float(np.sqrt(np.mean((fit.predict(x[cut:]) - y[cut:]) ** 2)))


def main() -> int:
    truth = json.loads((SAMPLE / "ground_truth.json").read_text())
    config = config_from_truth(truth)
    users = pd.read_csv(SAMPLE / "users.csv", dtype=str)
    items = pd.read_csv(SAMPLE / "items.csv", dtype={"item_id": str})
    events = pd.read_csv(SAMPLE / "events.csv.gz", dtype={"user_id": str, "item_id": str})
    events = events.sort_values("timestamp", kind="stable").reset_index(drop=True)
    applies = effect_masks(config, users, items, events)["applies"]
    kitchen = events["item_id"].map(items.set_index("item_id")["category"]).eq(config.history_category).to_numpy()
    bought = kitchen & events["event_type"].eq("purchase").to_numpy()
    rated = events["rating"].notna().to_numpy()
    ratings = events[rated]
    planted = np.column_stack([applies[name][rated] for name in applies])
    last = windowed(events, bought, WINDOW)[rated]
    last_non_view = windowed(events, bought, WINDOW, keep=events["event_type"].ne("view").to_numpy())[rated]
    rows = [
        ("user + item indicators", validation_rmse(ratings, np.zeros((len(ratings), 0)))),
        ("+ the four planted-effect indicators", validation_rmse(ratings, planted)),
        ("+ Kitchen history, whole history (the planted rule)", validation_rmse(ratings, applies["history_category_affinity"][rated])),
        (f"+ Kitchen history, the {WINDOW} most recent events", validation_rmse(ratings, kitchen[rated] & last)),
        (f"+ Kitchen history, the {WINDOW} most recent events other than views", validation_rmse(ratings, kitchen[rated] & last_non_view)),
    ]
    print("\n".join(["# Planted effects in the sample's ratings (ridge yardsticks)", "", stamp(), "",
                     f"{len(ratings)} ratings; fit on the earliest 90%, RMSE on the latest 10%; ridge alpha {ALPHA:g}", "",
                     "| columns | validation RMSE |", "|---|---:|", *[f"| {name} | {rmse:.4f} |" for name, rmse in rows]]))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
