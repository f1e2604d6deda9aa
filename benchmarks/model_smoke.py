"""Manual smoke benchmark of the value model on MovieLens latest-small with the real MiniLM (frozen mode).

Reports end-to-end wall time, encoding texts/s, scoring pairs/s, and validation RMSE on the model's time
split versus a user+item bias baseline (and, when scikit-surprise is installed, a tuned-ish SVD).

    python benchmarks/model_smoke.py [--data /work/shared/data/movielens-latest-small] [--epochs 30]

Not part of the test suite (needs the real data and ~1-2 minutes of CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from uvp_core.data.contract import Dataset
from uvp_core.model import TrainConfig, clear_embedding_cache, load_model, train
from uvp_core.model.config import ENCODING_PHASES
from uvp_core.model.examples import bias_baseline, time_split
from uvp_core.model.features import to_ms

log = logging.getLogger("model_smoke")
DEFAULT_DATA = Path("/work/shared/data/movielens-latest-small")


def load_movielens(folder: Path) -> Dataset:
    """ratings.csv + movies.csv as a canonical Dataset (read-only)."""
    ratings = pd.read_csv(folder / "ratings.csv")
    movies = pd.read_csv(folder / "movies.csv")
    events = pd.DataFrame(
        {
            "user_id": ratings["userId"].astype(str).astype("str"),
            "item_id": ratings["movieId"].astype(str).astype("str"),
            "timestamp": pd.to_datetime(ratings["timestamp"], unit="s", utc=True).astype("datetime64[ms, UTC]"),
            "rating": ratings["rating"].astype("float64"),
        }
    )
    items = pd.DataFrame(
        {
            "item_id": movies["movieId"].astype(str).astype("str"),
            "title": movies["title"].astype("str"),
            "category": movies["genres"].str.replace("|", ", ", regex=False).astype("str"),
        }
    )
    return Dataset(events=events, items=items, name="movielens-latest-small", source_format="movielens")


def svd_rmse(dataset: Dataset, val_fraction: float, seed: int) -> float | None:
    """RMSE of surprise's SVD (biased MF) on the same time split, or None without surprise."""
    try:
        from surprise import SVD, Reader
        from surprise import Dataset as SDataset
    except ImportError:
        return None
    ev = dataset.events
    train, _ = time_split(to_ms(ev["timestamp"]), val_fraction, seed)
    frame = ev.loc[train, ["user_id", "item_id", "rating"]]
    data = SDataset.load_from_df(frame, Reader(rating_scale=(ev["rating"].min(), ev["rating"].max())))
    algo = SVD(n_factors=50, n_epochs=30, lr_all=0.005, reg_all=0.05, random_state=seed)
    algo.fit(data.build_full_trainset())
    val = ev.loc[~train]
    pred = np.array([algo.predict(u, i).est for u, i in zip(val["user_id"], val["item_id"], strict=True)])
    return float(np.sqrt(np.mean((pred - val["rating"].to_numpy()) ** 2)))


def main() -> None:
    """Run the benchmark and print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--save", type=Path, default=None, help="also save/load the model here")
    parser.add_argument("--svd", action="store_true", help="also fit surprise SVD on the same split")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    clear_embedding_cache()
    started = time.monotonic()
    dataset = load_movielens(args.data)
    loaded = time.monotonic()
    marks: dict[str, float] = {"texts": 0, "encode_seconds": 0.0}

    def progress(p) -> None:
        if p.phase in ENCODING_PHASES and p.step == 0:
            marks["start"] = time.monotonic()
        elif p.phase in ENCODING_PHASES and p.step == p.total_steps:
            marks["texts"] += p.total_steps
            marks["encode_seconds"] += time.monotonic() - marks["start"]

    config = TrainConfig(epochs=args.epochs)
    model = train(dataset, config, progress=progress)
    trained = time.monotonic()

    ev = dataset.events
    pairs = ev[["user_id", "item_id", "timestamp"]].sample(n=min(100_000, len(ev)), random_state=0)
    model.predict(dataset, pairs.head(1000))  # warm the dataset context and caches
    tick = time.monotonic()
    model.predict(dataset, pairs)
    score_seconds = time.monotonic() - tick
    tick = time.monotonic()
    top = model.recommend(dataset, ev["user_id"].iloc[0], k=10)
    recommend_seconds = time.monotonic() - tick

    train_mask, _ = time_split(to_ms(ev["timestamp"]), config.val_fraction, config.seed)
    tr, va = ev.loc[train_mask], ev.loc[~train_mask]
    bias = bias_baseline(
        tr["user_id"].to_numpy(object), tr["item_id"].to_numpy(object), tr["rating"].to_numpy(), va["user_id"].to_numpy(object), va["item_id"].to_numpy(object)
    )
    bias = np.clip(bias, ev["rating"].min(), ev["rating"].max())
    summary = {
        "events": len(ev),
        "items": len(dataset.items),
        "load_seconds": round(loaded - started, 2),
        "train_seconds_end_to_end": round(trained - loaded, 2),
        "wall_seconds_total": round(trained - started, 2),
        "texts_encoded": marks["texts"],
        "encoding_seconds": round(marks["encode_seconds"], 2),
        "encoding_texts_per_second": round(marks["texts"] / max(1e-9, marks["encode_seconds"]), 1),
        "scoring_pairs_per_second": round(len(pairs) / score_seconds, 1),
        "recommend_seconds": round(recommend_seconds, 3),
        "val_rmse": model.metrics_.get("val_rmse"),
        "val_rmse_bias_baseline": float(np.sqrt(np.mean((bias - va["rating"].to_numpy()) ** 2))),
        "val_mae": model.metrics_.get("val_mae"),
        "best_epoch": model.metrics_.get("best_epoch"),
        "epochs_run": model.metrics_.get("epochs_run"),
        "cold_users_validation": model.metrics_.get("n_cold_users_validation"),
        "cold_items_validation": model.metrics_.get("n_cold_items_validation"),
        "n_validation": model.metrics_.get("n_validation"),
    }
    # The same validation pairs when only training-period events are known (no validation-period history):
    # the protocol of the bias/SVD baselines, which never see validation-period ratings.
    past = Dataset(events=tr.reset_index(drop=True), items=dataset.items, name="train-period")
    pred = model.predict(past, va[["user_id", "item_id", "timestamp"]])
    summary["val_rmse_train_period_history_only"] = float(np.sqrt(np.mean((pred - va["rating"].to_numpy()) ** 2)))
    if args.svd:
        summary["val_rmse_surprise_svd"] = svd_rmse(dataset, config.val_fraction, config.seed)
    if args.save:
        tick = time.monotonic()
        model.save(args.save)
        again = load_model(args.save)
        same = np.array_equal(again.predict(dataset, pairs.head(5000)), model.predict(dataset, pairs.head(5000)))
        summary["save_load_seconds"] = round(time.monotonic() - tick, 2)
        summary["save_load_identical"] = bool(same)
    log.info("top-10 for user %s:\n%s", ev["user_id"].iloc[0], top.to_string())
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
