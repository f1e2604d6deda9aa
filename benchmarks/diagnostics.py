"""Benchmark: every diagnostic view and the full evaluation report on synthetic scored frames.

Builds a synthetic dataset (users with region/tier/age/signup date, items with category/price/launch
date, a Zipf-like long tail of training events) and a scored evaluation set of N pairs (100k and 1M by
default, regression and binary), then times, after the model has scored (the model is not involved):

- prepare: the evaluation frame (history length, tenure, activity, item counts, baseline, attributes);
- each view as the pages compute it (bootstrap intervals, 200 Poisson resamples): overall, one
  categorical / numeric / date segment, a two-way view, weakest segments over every column, a cohort
  vs the rest, the cold-start curves, new users/items, the long-tail buckets, top-K metrics and
  beyond-accuracy on 200 users × 101 scored candidates, and a two-model comparison;
- the full evaluate run without scoring: prepare + build_report + JSON serialisation.

Goals (issue #4): at 100k pairs every view < 1 s and the full run < 10 s; at 1M pairs the full run < 30 s.

    python benchmarks/diagnostics.py [--sizes 100000 1000000] [--tasks regression binary]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import stamp  # noqa: E402

from uvp_core.data.contract import Dataset  # noqa: E402
from uvp_core.diagnostics import cohorts, cold_start, compare, long_tail, ranking, report, segments  # noqa: E402
from uvp_core.diagnostics.evaluation_set import EvaluationSet  # noqa: E402
from uvp_core.diagnostics.frame import evaluation_frame  # noqa: E402
from uvp_core.diagnostics.metrics import Bootstrap  # noqa: E402

DAY_MS = 86_400_000


def synthetic(n_pairs: int, task: str, seed: int = 0) -> tuple[Dataset, EvaluationSet, pd.DataFrame, pd.DataFrame]:
    """(dataset, evaluation set, scored pairs, scored candidates) of a given size."""
    rng = np.random.default_rng(seed)
    n_users, n_items, n_train = max(n_pairs // 10, 100), max(n_pairs // 50, 50), 2 * n_pairs
    user_ids = np.char.add("U", np.char.zfill(np.arange(n_users).astype(str), 7)).astype(object)
    item_ids = np.char.zfill(np.arange(n_items).astype(str), 7).astype(object)
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 10**6
    users = pd.DataFrame({
        "user_id": pd.array(user_ids, dtype="str"),
        "region": rng.choice(["North", "South", "East", "West", "Central"], n_users),
        "tier": rng.choice(["basic", "plus", "premium"], n_users, p=[0.6, 0.3, 0.1]),
        "age": rng.integers(18, 80, n_users).astype(np.float64),
        "signup_date": pd.to_datetime(start - rng.integers(0, 900, n_users) * DAY_MS, unit="ms").strftime("%Y-%m-%d"),
    })  # fmt: skip
    items = pd.DataFrame({
        "item_id": pd.array(item_ids, dtype="str"),
        "title": [f"Item {i}" for i in range(n_items)],
        "category": rng.choice([f"cat{c:02d}" for c in range(20)], n_items),
        "price": np.round(rng.lognormal(3, 0.8, n_items), 2),
        "launch_date": pd.to_datetime(start - rng.integers(0, 1500, n_items) * DAY_MS, unit="ms").strftime("%Y-%m-%d"),
    })  # fmt: skip
    popular = np.minimum(rng.zipf(1.4, n_train + n_pairs), n_items) - 1
    who = rng.integers(0, n_users, n_train + n_pairs)
    times = np.sort(rng.integers(0, 365 * DAY_MS, n_train + n_pairs)) + start
    events = pd.DataFrame({
        "user_id": pd.array(user_ids[who], dtype="str"), "item_id": pd.array(item_ids[popular], dtype="str"),
        "timestamp": pd.to_datetime(times, unit="ms", utc=True).astype("datetime64[ms, UTC]"),
    })  # fmt: skip
    truth = rng.normal(0, 1, n_train + n_pairs)
    if task == "regression":
        events["rating"] = np.clip(np.round(3.5 + truth), 1, 5)
    else:
        events["label"] = (truth > 0.8).astype(np.int8)
    target = "rating" if task == "regression" else "label"
    dataset = Dataset(events=events, items=items, users=users, name="synthetic")
    cutoff = events["timestamp"].iloc[n_train]
    test = events.iloc[n_train:]
    y = test[target].to_numpy(dtype=np.float64)
    pairs = pd.DataFrame({"user_id": test["user_id"].to_numpy(), "item_id": test["item_id"].to_numpy(), "timestamp": test["timestamp"].to_numpy(), "y": y})
    evalset = EvaluationSet(pairs=pairs, train_events=events.iloc[:n_train].reset_index(drop=True), cutoff=cutoff, target=target, source="synthetic")
    noise = rng.normal(0, 0.9, len(pairs))
    prediction = np.clip(y + noise, 1, 5) if task == "regression" else 1 / (1 + np.exp(-(2.5 * (y - 0.5) + noise)))
    scored = pairs.assign(prediction=prediction)
    chosen = rng.choice(np.unique(pairs["user_id"].to_numpy(dtype=object)), 200, replace=False)
    candidates = pd.DataFrame({
        "user_id": np.repeat(chosen, 101), "item_id": item_ids[rng.integers(0, n_items, 200 * 101)],
        "relevant": np.tile(np.r_[True, np.zeros(100, bool)], 200), "score": rng.random(200 * 101),
    })  # fmt: skip
    return dataset, evalset, scored, candidates


def timed(fn) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(n_pairs: int, task: str) -> dict[str, float]:
    """Timings of every view and of the full run for one size and task."""
    dataset, evalset, scored, candidates = synthetic(n_pairs, task)
    boot = Bootstrap()
    out: dict[str, float] = {}
    start = time.perf_counter()
    frame = evaluation_frame(scored, dataset, evalset)
    out["prepare"] = time.perf_counter() - start
    config = report.EvalConfig()
    cohort = cohorts.Cohort("west premium", (cohorts.CohortFilter("user.region", "==", "West"), cohorts.CohortFilter("user.tier", "in", "plus,premium")))
    paired = frame.assign(prediction_b=frame["prediction"] * 0.9 + frame["y"].mean() * 0.1)
    specs = report.default_specs(frame)
    views = {
        "overall": lambda: report.overall_table(frame, task, boot),
        "segment: category": lambda: segments.segment_table(frame, segments.SegmentSpec("item.category"), task, boot),
        "segment: price (quantiles)": lambda: segments.segment_table(frame, segments.SegmentSpec("item.price", bins=5), task, boot),
        "segment: signup date": lambda: segments.segment_table(frame, segments.SegmentSpec("user.signup_date"), task, boot),
        "two-way region × category": lambda: segments.two_way_table(frame, segments.SegmentSpec("user.region"), segments.SegmentSpec("item.category"), task),
        "weakest segments (all columns)": lambda: segments.weakest_segments(frame, specs, task, boot),
        "cohort vs rest": lambda: cohorts.cohort_vs_rest(frame, cohort, task, boot),
        "cold start (users + items)": lambda: cold_start.cold_start_curves(frame, task, boot),
        "new users / items": lambda: cold_start.new_entity_table(frame, task, boot),
        "long tail buckets": lambda: (long_tail.popularity_table(evalset.train_events, long_tail.catalogue_items(dataset)),
                                      long_tail.bucket_metrics(frame, task, boot)),  # fmt: skip
        "top-K + beyond accuracy": lambda: (ranking.ranking_metrics(ranking.user_ranking_metrics(candidates, 10), 10, boot),
                                            ranking.beyond_accuracy(ranking.top_k_lists(candidates, 10), evalset.train_events,
                                                                    long_tail.catalogue_items(dataset))),  # fmt: skip
        "compare two models (overall + segment)": lambda: compare.compare_models(paired, task, [segments.SegmentSpec("user.region")], boot),
    }
    for name, view in views.items():
        timed(view)  # first computation (weights generated, caches warm)
        out[name] = timed(view)
    start = time.perf_counter()
    frame = evaluation_frame(scored, dataset, evalset)
    built = report.build_report(frame, evalset, dataset, report.ModelInfo("synthetic", evalset.target, task), config,
                                candidates=candidates, candidate_info={"mode": "sampled"})  # fmt: skip
    json.dumps(built.to_dict())
    out["full evaluate run (no scoring)"] = time.perf_counter() - start
    return out


def main() -> None:
    """Run every size and task; print one Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--tasks", nargs="+", default=["regression", "binary"], choices=["regression", "binary"])
    args = parser.parse_args()
    results = {(n, task): run(n, task) for n in args.sizes for task in args.tasks}
    columns = list(results)
    print(stamp())
    print("| step (seconds) | " + " | ".join(f"{n:,} pairs, {task}" for n, task in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for step in next(iter(results.values())):
        print(f"| {step} | " + " | ".join(f"{results[c][step]:.2f}" for c in columns) + " |")
    verdicts = []
    for (n, task), figures in results.items():
        views = [v for k, v in figures.items() if k not in ("prepare", "full evaluate run (no scoring)")]
        full = figures["full evaluate run (no scoring)"]
        if n <= 100_000:
            ok = max(views) < 1.0 and full < 10.0
            verdicts.append(f"{n:,} {task}: slowest view {max(views):.2f} s (goal < 1 s), full run {full:.1f} s (goal < 10 s): {'met' if ok else 'MISSED'}")
        else:
            verdicts.append(f"{n:,} {task}: full run {full:.1f} s (goal < 30 s): {'met' if full < 30 else 'MISSED'}")
    print()
    for line in verdicts:
        print(f"- {line}")


if __name__ == "__main__":
    main()
