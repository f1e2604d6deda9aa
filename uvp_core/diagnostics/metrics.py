"""Accuracy metrics and seeded, vectorised bootstrap intervals, overall and per group.

Point metrics (`rmse`, `auc`, ...) take plain arrays. `group_metrics` computes them for every group of
a frame at once, with 95% intervals from a Poisson bootstrap: replicate b gives row i the weight
w[b, i] ~ Poisson(1), drawn once per (seed, frame length) and shared by every grouping and every
prediction column, so differences between two models on the same rows (or between a cohort and the
rest) are paired. Every replicate statistic is a weighted sum per group — RMSE, MAE, bias, log loss,
Brier and ECE directly; AUC from weighted positive/negative counts per score level — so all of them
come from one sparse (groups × rows) by dense (rows × replicates) product per chunk of rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import exp, factorial

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata

REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "bias")
BINARY_METRICS: tuple[str, ...] = ("auc", "log_loss", "brier", "ece")
# The error metric that ranks segments (higher is worse), per task.
ERROR_METRIC: dict[str, str] = {"regression": "rmse", "binary": "log_loss"}
HIGHER_IS_BETTER: frozenset[str] = frozenset({"auc", "hr", "ndcg", "recall", "mrr"})
CALIBRATION_BINS = 10  # equal-width probability bins for the reliability curve and ECE
PROBABILITY_EPS = 1e-7  # log loss clips probabilities to [eps, 1 - eps]

CHUNK_ROWS = 32_768  # rows per sparse × dense product in weighted sums
WEIGHT_CACHE_BYTES = 256 * 2**20  # bootstrap weights kept between calls (float32 for small frames, else uint8)
MAX_PASS_COLUMNS = 32_768  # group columns summed in one pass over the rows (bounds memory)
AUC_BINS = 256  # AUC replicates use at most this many score levels per group (exact below it)
MEAN_METRICS = frozenset({"rmse", "mae", "bias", "log_loss", "brier"})  # metrics that are a mean of a per-row value


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap settings for every interval in a report."""

    resamples: int = 200  # Poisson-bootstrap replicates (0 = no intervals)
    seed: int = 0  # the same seed gives the same intervals
    level: float = 0.95  # central interval coverage

    def __post_init__(self) -> None:
        if self.resamples < 0:
            raise ValueError("resamples must be 0 or more")
        if not 0.0 < self.level < 1.0:
            raise ValueError("level must be between 0 and 1")


DEFAULT_BOOTSTRAP = Bootstrap()


def metric_names(task: str) -> tuple[str, ...]:
    """The accuracy metrics reported for a task ('regression' or 'binary')."""
    if task == "regression":
        return REGRESSION_METRICS
    if task == "binary":
        return BINARY_METRICS
    raise ValueError(f"task must be 'regression' or 'binary', not {task!r}")


# --- point metrics ---------------------------------------------------------------------------------


def _arrays(y: Sequence[float], p: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as float64 arrays of equal length."""
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"labels and predictions differ in length ({len(y)} vs {len(p)})")
    return y, p


def rmse(y: Sequence[float], p: Sequence[float]) -> float:
    """Root mean squared error (nan for no rows)."""
    y, p = _arrays(y, p)
    return float(np.sqrt(np.mean((p - y) ** 2))) if len(y) else float("nan")


def mae(y: Sequence[float], p: Sequence[float]) -> float:
    """Mean absolute error (nan for no rows)."""
    y, p = _arrays(y, p)
    return float(np.mean(np.abs(p - y))) if len(y) else float("nan")


def bias(y: Sequence[float], p: Sequence[float]) -> float:
    """Mean of prediction − label: positive when the model over-predicts (nan for no rows)."""
    y, p = _arrays(y, p)
    return float(np.mean(p - y)) if len(y) else float("nan")


def auc(y: Sequence[float], p: Sequence[float]) -> float:
    """Area under the ROC curve (ties count one half); nan unless both classes occur."""
    y, p = _arrays(y, p)
    return _auc_exact(y, p)


def log_loss(y: Sequence[float], p: Sequence[float]) -> float:
    """Mean negative log-likelihood of 0/1 labels, probabilities clipped to [1e-7, 1 − 1e-7]."""
    y, p = _arrays(y, p)
    return float(np.mean(_log_loss_terms(y, p))) if len(y) else float("nan")


def brier(y: Sequence[float], p: Sequence[float]) -> float:
    """Mean squared difference between probability and 0/1 label."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def calibration_bin(p: np.ndarray, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """The equal-width bin (0..bins-1) of each probability; 1.0 falls in the last bin."""
    return np.clip(np.floor(np.asarray(p, dtype=np.float64) * bins), 0, bins - 1).astype(np.int64)


def reliability_curve(y: Sequence[float], p: Sequence[float], bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per equal-width probability bin: lower, upper, n, mean_predicted, observed_rate (empty bins left out)."""
    y, p = _arrays(y, p)
    b = calibration_bin(p, bins)
    n = np.bincount(b, minlength=bins)
    mean_p = np.bincount(b, p, bins) / np.maximum(n, 1)
    rate = np.bincount(b, y, bins) / np.maximum(n, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = pd.DataFrame(
        {"bin": np.arange(bins), "lower": edges[:-1], "upper": edges[1:], "n": n, "mean_predicted": mean_p, "observed_rate": rate}
    )
    return table.loc[table["n"] > 0].reset_index(drop=True)


def ece(y: Sequence[float], p: Sequence[float], bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: Σ_bins (n_bin / n) · |mean predicted − observed rate|."""
    y, p = _arrays(y, p)
    if not len(y):
        return float("nan")
    b = calibration_bin(p, bins)
    return float(np.abs(np.bincount(b, p - y, bins)).sum() / len(y))


def ece_noise(p: np.ndarray, codes: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    """Per group: the ECE a perfectly calibrated model would show on these predictions from chance alone
    (labels drawn at p; normal approximation: √(2/π) Σ_bins √(Σ p(1−p)) / n). ECE is biased upward on small groups:
    220 rows of a calibrated model score about 0.04."""
    p = np.asarray(p, np.float64)
    codes = np.zeros(len(p), np.int64) if codes is None else np.asarray(codes, np.int64)
    keep = codes >= 0
    slot = codes[keep] * CALIBRATION_BINS + calibration_bin(p[keep])
    variance = np.bincount(slot, p[keep] * (1.0 - p[keep]), n_groups * CALIBRATION_BINS).reshape(n_groups, CALIBRATION_BINS)
    count = np.bincount(codes[keep], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(2.0 / np.pi) * np.sqrt(variance).sum(axis=1) / count


def _log_loss_terms(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row negative log-likelihood."""
    q = np.clip(p, PROBABILITY_EPS, 1.0 - PROBABILITY_EPS)
    return -(y * np.log(q) + (1.0 - y) * np.log1p(-q))


def _auc_exact(y: np.ndarray, p: np.ndarray) -> float:
    """Mann–Whitney AUC with average ranks for ties; nan unless both classes occur."""
    positive = y > 0.5
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(p, method="average")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _auc_from_bins(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC from weighted positive/negative counts per score bin (ascending, last axis); ties count one half."""
    below = np.cumsum(neg, axis=-1) - neg
    numerator = (pos * (below + 0.5 * neg)).sum(axis=-1)
    denominator = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


_ORDER_CACHE: OrderedDict[tuple, np.ndarray] = OrderedDict()
ORDER_CACHE_ENTRIES = 8


def sorted_order(p: np.ndarray) -> np.ndarray:
    """An argsort of p; reused across calls on the same buffer after an O(n) check that it still sorts p."""
    p = np.asarray(p)
    key = (p.__array_interface__["data"][0], p.shape, p.strides, p.dtype.str)
    order = _ORDER_CACHE.get(key)
    if order is not None:
        ordered = p[order]
        if not (ordered[1:] < ordered[:-1]).any():
            _ORDER_CACHE.move_to_end(key)
            return order
    order = np.argsort(p, kind="stable")
    _ORDER_CACHE[key] = order
    while len(_ORDER_CACHE) > ORDER_CACHE_ENTRIES:
        _ORDER_CACHE.popitem(last=False)
    return order


def score_bins(p: np.ndarray, max_bins: int = AUC_BINS) -> tuple[np.ndarray, int]:
    """(bin per row, number of bins): dense ranks of the scores (exact) or, with more distinct scores,
    equal-frequency bins that never split tied scores."""
    n = len(p)
    if not n:
        return np.zeros(0, np.int64), 1
    order = sorted_order(p)
    ordered = p[order]
    new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    dense = np.cumsum(new) - 1
    if dense[-1] + 1 <= max_bins:
        ranked, n_bins = dense, int(dense[-1]) + 1
    else:
        tie_start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
        ranked, n_bins = tie_start * max_bins // n, max_bins
    bins = np.empty(n, np.int64)
    bins[order] = ranked
    return bins, n_bins


# --- bootstrap weights -----------------------------------------------------------------------------


def _poisson_table() -> np.ndarray:
    """A uint16 -> Poisson(1) lookup: u maps to the smallest k with CDF(k) > (u + 0.5) / 65536."""
    cdf = np.cumsum([exp(-1.0) / factorial(k) for k in range(12)])
    return np.searchsorted(cdf, (np.arange(65536) + 0.5) / 65536, side="right").astype(np.uint8)


_POISSON = _poisson_table()
_WEIGHT_CACHE: OrderedDict[tuple[int, int, int, int], np.ndarray] = OrderedDict()


def weight_chunk(seed: int, n_rows: int, resamples: int, chunk: int) -> np.ndarray:
    """Poisson(1) weights (float32, rows × replicates) of one chunk of CHUNK_ROWS rows; cached, read-only.

    Row i's weights depend only on (seed, frame length, resamples, i): every grouping and every prediction
    column of the same frame sees the same replicates, so differences are paired.
    """
    key = (seed, n_rows, resamples, chunk)
    cached = _WEIGHT_CACHE.get(key)
    if cached is None:
        rows = min(CHUNK_ROWS, n_rows - chunk * CHUNK_ROWS)
        rng = np.random.default_rng([seed, n_rows, resamples, chunk])
        cached = _POISSON[rng.integers(0, 65536, size=(rows, resamples), dtype=np.uint16)]
        if n_rows * resamples * 4 <= WEIGHT_CACHE_BYTES // 2:  # small frames: keep them ready as float32
            cached = cached.astype(np.float32)
        cached.setflags(write=False)
        _WEIGHT_CACHE[key] = cached
        total = sum(w.nbytes for w in _WEIGHT_CACHE.values())
        while total > WEIGHT_CACHE_BYTES and len(_WEIGHT_CACHE) > 1:
            total -= _WEIGHT_CACHE.popitem(last=False)[1].nbytes
    else:
        _WEIGHT_CACHE.move_to_end(key)
    return cached if cached.dtype == np.float32 else cached.astype(np.float32)


Term = tuple[np.ndarray, np.ndarray, int]  # (value per row, group code per row (-1 = skip), number of groups)


def weighted_sums(terms: Sequence[Term], n_rows: int, boot: Bootstrap | None) -> list[np.ndarray]:
    """For each term, Σ_i w[r, i] · value[i] per group: arrays (replicates, groups).

    All terms share the replicate weights of the frame's rows. Without boot (or with 0 resamples) there is
    one replicate with unit weights, summed exactly in float64. With boot, each chunk of rows is one sparse
    (groups × rows) by dense (rows × replicates) product.
    """
    if boot is None or not boot.resamples:
        return [  # codes shifted by one: code -1 (skip) lands in bin 0, which is dropped
            np.bincount(codes + 1, np.asarray(values, np.float64), groups + 1)[1:].reshape(1, groups)
            for values, codes, groups in terms
        ]
    batches, current, width = [], [], 0
    for index, (_, _, groups) in enumerate(terms):  # bound the dense (columns × replicates) output of one pass
        if current and width + groups > MAX_PASS_COLUMNS:
            batches.append(current)
            current, width = [], 0
        current.append(index)
        width += groups
    batches.append(current)
    out: list[np.ndarray] = [np.zeros(0)] * len(terms)
    for batch in batches:
        for index, sums in zip(batch, _weighted_pass([terms[i] for i in batch], n_rows, boot), strict=True):
            out[index] = sums
    return out


def _accumulate(out: np.ndarray, matrix: sparse.csr_matrix, weights: np.ndarray) -> None:
    """out += matrix.T @ weights in place (matrix: rows × groups, CSR, i.e. matrix.T in CSC); each weight row is read once."""
    try:
        from scipy.sparse import _sparsetools

        _sparsetools.csc_matvecs(matrix.shape[1], matrix.shape[0], weights.shape[1], matrix.indptr, matrix.indices,
                                 matrix.data, weights.ravel(), out.ravel())  # fmt: skip
    except (ImportError, AttributeError, TypeError, ValueError):  # a SciPy without the kernel: same result, one temporary
        out += matrix.T @ weights


def _weighted_pass(terms: Sequence[Term], n_rows: int, boot: Bootstrap) -> list[np.ndarray]:
    """One pass of weighted_sums over the rows for a batch of terms: per chunk, (rows × groups).T @ (rows × replicates)."""
    offsets = np.concatenate([[0], np.cumsum([groups for _, _, groups in terms])]).astype(np.int64)
    total = max(int(offsets[-1]), 1)
    out = np.zeros((total, boot.resamples), np.float32)  # accumulated per chunk of rows
    for chunk in range(-(-n_rows // CHUNK_ROWS)):
        start, stop = chunk * CHUNK_ROWS, min(n_rows, (chunk + 1) * CHUNK_ROWS)
        rows, cols, data = [], [], []
        for j, (values, codes, _) in enumerate(terms):
            part_codes, part_values = codes[start:stop], values[start:stop]
            touched = np.flatnonzero((part_codes >= 0) & (part_values != 0))
            rows.append(touched)
            cols.append(part_codes[touched] + offsets[j])
            data.append(part_values[touched])
        rows, cols, data = np.concatenate(rows), np.concatenate(cols), np.concatenate(data).astype(np.float32)
        if not len(rows):
            continue
        matrix = sparse.csr_matrix((data, (rows, cols)), shape=(stop - start, total))
        _accumulate(out, matrix, weight_chunk(boot.seed, n_rows, boot.resamples, chunk))
    return [out[offsets[j] : offsets[j + 1]].T.astype(np.float64) for j in range(len(terms))]


# --- metrics per group ---------------------------------------------------------------------------------


def _row_values(y: np.ndarray, p: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
    """Per-row error terms of one prediction column, computed once per array within a call."""
    key = id(p)
    if key not in cache:
        e = p - y
        cache[key] = {"e": e, "abs": np.abs(e), "sq": e * e, "log_loss": _log_loss_terms(y, p), "calibration": calibration_bin(p), "p": p}
    return cache[key]


def _metric_terms(
    task: str, y: np.ndarray, predictions: Mapping[str, np.ndarray], codes: np.ndarray, n_groups: int, wanted: frozenset[str],
    auc_bins: int, cache: dict,
) -> tuple[list[Term], dict[str, dict[str, int]], set[int]]:
    """The weighted-sum terms behind every wanted metric of every prediction column, where each one sits, and
    which terms only feed point values (means of label and prediction: no intervals are reported for them)."""
    n = len(y)
    terms: list[Term] = [(np.ones(n), codes, n_groups), (y, codes, n_groups)]
    point_only = {1}
    layout: dict[str, dict[str, int]] = {}
    positive = y > 0.5
    for name, p in predictions.items():
        rows = _row_values(y, p, cache)
        slots = {"mean_prediction": len(terms)}
        point_only.add(len(terms))
        terms.append((p, codes, n_groups))
        per_row = (("bias", rows["e"]), ("mae", rows["abs"]), ("rmse", rows["sq"])) if task == "regression" else (
            ("log_loss", rows["log_loss"]), ("brier", rows["sq"]))  # fmt: skip
        for metric, values in per_row:
            slots[metric] = len(terms)
            terms.append((values, codes, n_groups))
        if task == "binary" and "ece" in wanted:
            slots["ece"] = len(terms)
            terms.append((rows["e"], np.where(codes >= 0, codes * CALIBRATION_BINS + rows["calibration"], -1), n_groups * CALIBRATION_BINS))
        if task == "binary" and "auc" in wanted:
            if ("bins", auc_bins) not in rows:
                rows["bins", auc_bins] = score_bins(p, auc_bins)
            bins, n_bins = rows["bins", auc_bins]
            slots["auc_bins"] = n_bins
            slots["auc_pos"] = len(terms)
            terms.append((np.ones(n), np.where((codes >= 0) & positive, codes * n_bins + bins, -1), n_groups * n_bins))
            slots["auc_neg"] = len(terms)
            terms.append((np.ones(n), np.where((codes >= 0) & ~positive, codes * n_bins + bins, -1), n_groups * n_bins))
        layout[name] = slots
    return terms, layout, point_only


def _metrics_from_sums(task: str, sums: list[np.ndarray], layout: dict[str, dict[str, int]], n_groups: int) -> dict[str, dict[str, np.ndarray]]:
    """{name: {metric: array (replicates, groups)}} (plus n, mean_label, mean_prediction) from weighted sums."""
    count = sums[0]
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, slots in layout.items():
            values = {"n": count, "mean_label": sums[1] / count, "mean_prediction": sums[slots["mean_prediction"]] / count}
            if task == "regression":
                values["bias"] = sums[slots["bias"]] / count
                values["mae"] = sums[slots["mae"]] / count
                values["rmse"] = np.sqrt(sums[slots["rmse"]] / count)
            else:
                values["log_loss"] = sums[slots["log_loss"]] / count
                values["brier"] = sums[slots["brier"]] / count
                if "ece" in slots:
                    binned = sums[slots["ece"]].reshape(len(count), n_groups, CALIBRATION_BINS)
                    values["ece"] = np.abs(binned).sum(axis=2) / count
                if "auc_bins" in slots:
                    shape = (len(count), n_groups, slots["auc_bins"])
                    values["auc"] = _auc_from_bins(sums[slots["auc_pos"]].reshape(shape), sums[slots["auc_neg"]].reshape(shape))
            out[name] = values
    return out


def _exact_auc_by_group(y: np.ndarray, p: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Exact Mann–Whitney AUC per group (average ranks for ties), vectorised over groups."""
    order = sorted_order(p)
    group = codes[order]
    keep = group >= 0
    order, group = order[keep], group[keep]
    by_group = np.argsort(group.astype(np.uint16) if n_groups < 65536 else group, kind="stable")  # radix sort
    rows, group = order[by_group], group[by_group]
    if not len(rows):
        return np.full(n_groups, np.nan)
    scores, positive = p[rows], (y[rows] > 0.5).astype(np.float64)
    new = np.concatenate([[True], (group[1:] != group[:-1]) | (scores[1:] != scores[:-1])])
    block = np.cumsum(new) - 1
    position = np.arange(len(rows)) - np.searchsorted(group, np.arange(n_groups))[group] + 1.0
    rank = (np.bincount(block, position) / np.bincount(block))[block]
    n_pos = np.bincount(group, positive, n_groups)
    n_neg = np.bincount(group, minlength=n_groups) - n_pos
    rank_sum = np.bincount(group, rank * positive, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg), np.nan)


MetricArrays = tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]] | None]


def metric_arrays_many(
    task: str, y: np.ndarray, requests: Sequence[tuple[Mapping[str, np.ndarray], np.ndarray, int]], boot: Bootstrap | None,
    metrics: Sequence[str] | None = None, *, replicate_means: bool = False,
) -> list[MetricArrays]:
    """metric_arrays for several (predictions, codes, n_groups) groupings of the same rows, in one bootstrap pass.

    Replicates of mean_label / mean_prediction are computed only with replicate_means (else nan).
    """
    y = np.asarray(y, np.float64)
    wanted = frozenset(metrics if metrics is not None else metric_names(task))
    resamples = boot.resamples if boot is not None and boot.resamples else 0
    prepared, terms, point_only, cache = [], [], set(), {}
    for predictions, codes, n_groups in requests:
        codes = np.asarray(codes, np.int64)
        predictions = {name: np.asarray(p, np.float64) for name, p in predictions.items()}
        auc_bins = max(16, min(AUC_BINS, 2**20 // max(1, n_groups * max(1, resamples))))
        own, layout, own_point_only = _metric_terms(task, y, predictions, codes, n_groups, wanted, auc_bins, cache)
        prepared.append((predictions, codes, n_groups, layout, len(terms), len(own)))
        point_only |= {len(terms) + i for i in own_point_only} if not replicate_means else set()
        terms += own
    point_sums = weighted_sums(terms, len(y), None)
    rep_sums = None
    if resamples:
        needed = [i for i in range(len(terms)) if i not in point_only]
        rep_sums = [np.full((resamples, groups), np.nan) for _, _, groups in terms]
        for i, sums in zip(needed, weighted_sums([terms[i] for i in needed], len(y), boot), strict=True):
            rep_sums[i] = sums
    out = []
    for predictions, codes, n_groups, layout, first, count in prepared:
        point = _metrics_from_sums(task, point_sums[first : first + count], layout, n_groups)
        points = {name: {metric: values[0] for metric, values in table.items()} for name, table in point.items()}
        reps = _metrics_from_sums(task, rep_sums[first : first + count], layout, n_groups) if rep_sums is not None else None
        if task == "binary" and "auc" in wanted:
            for name, p in predictions.items():
                exact = _exact_auc_by_group(y, p, codes, n_groups)
                if reps is not None:
                    reps[name]["auc"] = reps[name]["auc"] - points[name]["auc"] + exact
                points[name]["auc"] = exact
        out.append((points, reps))
    return out


def metric_arrays(
    task: str, y: np.ndarray, predictions: Mapping[str, np.ndarray], codes: np.ndarray, n_groups: int, boot: Bootstrap | None,
    metrics: Sequence[str] | None = None, *, replicate_means: bool = False,
) -> MetricArrays:
    """(point values {name: {metric: (groups,)}}, bootstrap replicates {name: {metric: (R, groups)}} or None).

    All prediction columns share the replicate weights (paired). AUC points are exact; AUC replicates use
    scores binned to at most AUC_BINS levels (exact when there are fewer distinct scores), shifted by the
    binned point's difference from the exact one.
    """
    return metric_arrays_many(task, y, [(predictions, codes, n_groups)], boot, metrics, replicate_means=replicate_means)[0]


def interval(replicates: np.ndarray, level: float, n: np.ndarray | None = None, point: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 (linear interpolation), ignoring nan replicates; nan with < 2 rows (n) or replicates.

    With `point`, the interval is widened to hold it: the replicates of a biased statistic (ECE, above all, is never
    below its true value in expectation) can lie wholly on one side of the estimate, and an interval that leaves its own
    estimate out read as a bug on the pages (a walk-through: ECE 0.0639 in [0.0641, 0.1483])."""
    shape = replicates.shape[1:]
    if replicates.shape[0] == 0:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    ordered = np.sort(np.where(np.isfinite(replicates), replicates, np.nan), axis=0)  # nan sorts last
    count = np.isfinite(ordered).sum(axis=0)
    enough = count >= 2
    if n is not None:
        enough &= np.asarray(n) >= 2
    bounds = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        position = np.maximum(count - 1, 0) * q
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(count - 1, 0))
        low_value = np.take_along_axis(ordered, below[None, ...], axis=0)[0]
        high_value = np.take_along_axis(ordered, above[None, ...], axis=0)[0]
        bounds.append(np.where(enough, low_value + (high_value - low_value) * (position - below), np.nan))
    if point is not None:
        point = np.broadcast_to(np.asarray(point, dtype=np.float64), shape)
        finite = np.isfinite(point) & np.isfinite(bounds[0])
        bounds = [np.where(finite, np.minimum(bounds[0], point), bounds[0]), np.where(finite, np.maximum(bounds[1], point), bounds[1])]
    return bounds[0], bounds[1]


def group_codes(frame: pd.DataFrame, by: str | Sequence[str] | None) -> tuple[np.ndarray, pd.DataFrame]:
    """(code per row, one row of key values per group in sorted order); no `by` -> one group."""
    if by is None or (not isinstance(by, str) and not len(by)):
        return np.zeros(len(frame), np.int64), pd.DataFrame(index=[0])
    if isinstance(by, str) and isinstance(frame[by].dtype, pd.CategoricalDtype) and not frame[by].isna().any():
        labels = frame[by].array  # fast path: observed categories in category order, as groupby would give
        raw = np.asarray(labels.codes, np.int64)
        present = np.bincount(raw, minlength=len(labels.categories)) > 0
        codes = (np.cumsum(present) - 1)[raw]
        return codes, pd.DataFrame({by: pd.Categorical.from_codes(np.flatnonzero(present), dtype=labels.dtype)})
    columns = [by] if isinstance(by, str) else list(by)
    grouped = frame.groupby(columns, observed=True, dropna=False, sort=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().index.to_frame(index=False)
    return codes, keys


def _predictions(predictions: str | Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """{display name: column} and whether the output needs a `model` column."""
    if isinstance(predictions, str):
        return {predictions: predictions}, False
    return dict(predictions), True


GroupRequest = tuple[str | Sequence[str] | None, str | Mapping[str, str]]  # (by, predictions)


def group_metrics_many(
    frame: pd.DataFrame,
    requests: Sequence[GroupRequest],
    task: str,
    *,
    label: str = "y",
    boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
    metrics: Sequence[str] | None = None,
) -> list[pd.DataFrame]:
    """group_metrics for several (by, predictions) requests on the same frame, sharing one bootstrap pass."""
    y = frame[label].to_numpy(dtype=np.float64)
    chosen = [m for m in metric_names(task) if metrics is None or m in metrics]
    plans, arrays_in, columns = [], [], {}
    for by, predictions in requests:
        names, with_model = _predictions(predictions)
        codes, keys = group_codes(frame, by)
        plans.append((names, with_model, keys))
        arrays = {name: columns.setdefault(c, frame[c].to_numpy(dtype=np.float64)) for name, c in names.items()}
        arrays_in.append((arrays, codes, len(keys)))
    results = metric_arrays_many(task, y, arrays_in, boot, chosen)
    out = []
    for (names, with_model, keys), (points, reps), (arrays, codes, n_groups) in zip(plans, results, arrays_in, strict=True):
        tables = []
        for name in names:
            table = keys.copy()
            if with_model:
                table.insert(len(table.columns), "model", name)
            table["n"] = points[name]["n"].astype(np.int64)
            table["mean_label"] = points[name]["mean_label"]
            table["mean_prediction"] = points[name]["mean_prediction"]
            for metric in chosen:
                table[metric] = points[name][metric]
                low, high = interval(reps[name][metric], boot.level, points[name]["n"], points[name][metric]) if reps else (np.full(len(keys), np.nan),) * 2
                table[f"{metric}_low"] = low
                table[f"{metric}_high"] = high
                if metric == "ece":
                    table["ece_noise"] = ece_noise(arrays[name], codes, n_groups)
            tables.append(table)
        out.append(pd.concat(tables, ignore_index=True))
    return out


def group_metrics(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None,
    task: str,
    *,
    predictions: str | Mapping[str, str] = "prediction",
    label: str = "y",
    boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Metrics per group: key columns, [model], n, mean_label, mean_prediction, each metric with _low/_high."""
    return group_metrics_many(frame, [(by, predictions)], task, label=label, boot=boot, metrics=metrics)[0]


def metric_difference(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None,
    task: str,
    *,
    a: str,
    b: str,
    label: str = "y",
    boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
) -> pd.DataFrame:
    """Paired comparison of prediction columns a and b per group: metric, a, b, difference (a − b), low, high."""
    codes, keys = group_codes(frame, by)
    n_groups = len(keys)
    y = frame[label].to_numpy(dtype=np.float64)
    columns = {"a": frame[a].to_numpy(dtype=np.float64), "b": frame[b].to_numpy(dtype=np.float64)}
    points, reps = metric_arrays(task, y, columns, codes, n_groups, boot)
    rows = []
    for metric in metric_names(task):
        table = keys.copy()
        table["n"] = points["a"]["n"].astype(np.int64)
        table["metric"] = metric
        table["a"] = points["a"][metric]
        table["b"] = points["b"][metric]
        table["difference"] = table["a"] - table["b"]
        if reps:
            low, high = interval(reps["a"][metric] - reps["b"][metric], boot.level, points["a"]["n"], table["difference"].to_numpy())
        else:
            low = high = np.full(n_groups, np.nan)
        table["difference_low"], table["difference_high"] = low, high
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def split_difference(
    frame: pd.DataFrame, mask: np.ndarray, task: str, *, prediction: str = "prediction", label: str = "y",
    boot: Bootstrap | None = DEFAULT_BOOTSTRAP,
) -> pd.DataFrame:  # fmt: skip
    """Metrics of the rows in `mask` against the other rows: metric, inside, outside, difference, low, high."""
    mask = np.asarray(mask, dtype=bool)
    codes = np.where(mask, 0, 1).astype(np.int64)
    y = frame[label].to_numpy(dtype=np.float64)
    points, reps = metric_arrays(task, y, {"p": frame[prediction].to_numpy(dtype=np.float64)}, codes, 2, boot, replicate_means=True)
    point, rep = points["p"], (reps or {}).get("p")
    enough = np.array([min(point["n"])])
    rows = []
    for metric in ("mean_label", "mean_prediction", *metric_names(task)):
        inside, outside = point[metric]
        low = high = np.nan
        if rep is not None:
            lows, highs = interval((rep[metric][:, 0] - rep[metric][:, 1])[:, None], boot.level, enough, inside - outside)
            low, high = float(lows[0]), float(highs[0])
        rows.append({"metric": metric, "inside": inside, "outside": outside, "difference": inside - outside,
                     "difference_low": low, "difference_high": high,
                     "n_inside": int(mask.sum()), "n_outside": int((~mask).sum())})  # fmt: skip
        if metric == "ece":  # what chance alone gives each side: a small side's ECE is larger even when calibrated
            inside, outside = ece_noise(frame[prediction].to_numpy(dtype=np.float64), codes, 2)
            rows.append({**rows[-1], "metric": "ece_noise", "inside": inside, "outside": outside, "difference": inside - outside,
                         "difference_low": np.nan, "difference_high": np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def mean_intervals(values: pd.DataFrame, boot: Bootstrap | None = DEFAULT_BOOTSTRAP) -> pd.DataFrame:
    """Mean of each column with a bootstrap interval over rows: metric, value, low, high, n."""
    n = len(values)
    codes = np.zeros(n, np.int64)
    terms: list[Term] = [(np.ones(n), codes, 1)] + [(values[c].to_numpy(dtype=np.float64), codes, 1) for c in values.columns]
    point = weighted_sums(terms, n, None)
    reps = weighted_sums(terms, n, boot) if boot is not None and boot.resamples else None
    rows = []
    for j, column in enumerate(values.columns, start=1):
        with np.errstate(invalid="ignore", divide="ignore"):
            value = float(point[j][0, 0] / point[0][0, 0]) if n else float("nan")
            low = high = np.nan
            if reps is not None:
                lows, highs = interval(reps[j] / reps[0], boot.level, np.array([n]), value)
                low, high = float(lows[0]), float(highs[0])
        rows.append({"metric": column, "value": value, "low": low, "high": high, "n": n})
    return pd.DataFrame(rows)


def _mean_metric_terms(metric: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The per-row value whose mean (or root mean, for RMSE) is the metric."""
    e = p - y
    values = {"rmse": lambda: e * e, "mae": lambda: np.abs(e), "bias": lambda: e, "brier": lambda: e * e,
              "log_loss": lambda: _log_loss_terms(y, p)}  # fmt: skip
    if metric not in values:
        raise ValueError(f"{metric!r} is not a mean-type metric ({', '.join(sorted(MEAN_METRICS))})")
    return values[metric]()


def mean_metric_by_groupings(
    y: np.ndarray, p: np.ndarray, groupings: Sequence[tuple[np.ndarray, int]], metric: str, boot: Bootstrap | None
) -> list[pd.DataFrame]:
    """One mean-type metric for several groupings at once (one bootstrap pass): per grouping a table n, value, low, high."""
    y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
    row_values = _mean_metric_terms(metric, y, p)
    terms: list[Term] = []
    for codes, n_groups in groupings:
        terms += [(np.ones(len(y)), codes, n_groups), (row_values, codes, n_groups)]
    point = weighted_sums(terms, len(y), None)
    reps = weighted_sums(terms, len(y), boot) if boot is not None and boot.resamples else None
    root = np.sqrt if metric == "rmse" else (lambda x: x)
    tables = []
    for j in range(len(groupings)):
        count, total = point[2 * j][0], point[2 * j + 1][0]
        with np.errstate(invalid="ignore", divide="ignore"):
            table = pd.DataFrame({"n": count.astype(np.int64), "value": root(total / count)})
            if reps is not None:
                table["low"], table["high"] = interval(root(reps[2 * j + 1] / reps[2 * j]), boot.level, count, table["value"].to_numpy())
            else:
                table["low"] = table["high"] = np.nan
        tables.append(table)
    return tables

