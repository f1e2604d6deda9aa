"""Training examples from events: targets, sampled negatives, the time-based validation split, baselines."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from uvp_core.model.errors import TrainingDataError
from uvp_core.model.features import (
    MAX_WORDS,
    FeatureSpace,
    fit_late_kinds,
    fit_levels,
    fit_rating_kinds,
    fit_words,
    price_edges,
    to_ms,
)
from uvp_core.text.templates import TemplateContext

log = logging.getLogger(__name__)

BINARY_DEFAULTS = ("purchase", "click")


@dataclass
class Examples:
    """One row per training example: who, what, when, the target, and whether it is a sampled negative."""

    users: np.ndarray  # object (user ids)
    items: np.ndarray  # object (item ids)
    times: np.ndarray  # int64 ms
    y: np.ndarray  # float32 target (rating, or 0/1)
    sampled: np.ndarray  # bool: a sampled non-interacted item

    def subset(self, mask: np.ndarray) -> Examples:
        """The rows where mask is True (or at the given positions)."""
        return Examples(*(a[mask] for a in (self.users, self.items, self.times, self.y, self.sampled)))

    def __len__(self) -> int:
        return len(self.y)


def named_positives(events: pd.DataFrame) -> bool:
    """Whether the label column is 1 on every labelled row while the events also carry event types (a transaction log
    marks each purchase line label 1): the event type then names the same target in the analyst's words."""
    if "label" not in events.columns or "event_type" not in events.columns:
        return False
    label = pd.to_numeric(events["label"], errors="coerce").dropna()
    return len(label) > 0 and bool((label == 1).all()) and events["event_type"].notna().any()


def resolve_target(events: pd.DataFrame, target: str) -> tuple[str, str]:
    """(target, task) for a requested target: task is 'regression' for rating, else 'binary'."""
    has_rating = "rating" in events.columns and events["rating"].notna().any()
    has_label = "label" in events.columns and events["label"].notna().any()
    types = set(events["event_type"].dropna().astype(str)) if "event_type" in events.columns else set()
    if target == "auto":
        if has_rating:
            return "rating", "regression"
        if has_label and not named_positives(events):
            return "label", "binary"
        for name in BINARY_DEFAULTS:
            if name in types:
                return name, "binary"
        if has_label:
            return "label", "binary"
        raise TrainingDataError("No target found: the events have no rating, no label and no purchase/click events.")
    if target == "rating":
        if not has_rating:
            raise TrainingDataError("Target 'rating' needs a rating column with values in the events.")
        return "rating", "regression"
    if target == "label":
        if not has_label:
            raise TrainingDataError("Target 'label' needs a label column with 0/1 values in the events.")
        return "label", "binary"
    if target not in types:
        known = ", ".join(sorted(types)) or "none"
        raise TrainingDataError(f"Target {target!r} is not an event type in the data (event types: {known}).")
    return target, "binary"


POSITIVES_ONLY_SAMPLED = 3  # sampled items per positive in a log of positives only (sampled_per_positive)


def sampled_per_positive(configured: int | None, examples: Examples) -> int:
    """Sampled items per positive: as configured, or (None) 3 where no event is a negative, else 1.

    In a log of positives only (a purchase log) every negative is a sampled item, in training and in the diagnostics,
    and three per positive rank them better than one (Online Retail, all four splits); where events are negatives too
    (views that did not convert), the held-out pairs have no sampled items, and one per positive ranks those better
    (the bundled sample). docs/BENCHMARKS.md, session 21."""
    if configured is not None:
        return configured
    return POSITIVES_ONLY_SAMPLED if not np.any((examples.y == 0) & ~examples.sampled) else 1


def build_examples(events: pd.DataFrame, target: str, negatives: int | None, seed: int, universe: np.ndarray) -> Examples:
    """Examples for a target: rated events, or positives + non-converting events (no later positive of the pair) +
    sampled items (`negatives` per positive; None: sampled_per_positive's default)."""
    users = events["user_id"].to_numpy(dtype=object)
    items = events["item_id"].to_numpy(dtype=object)
    times = to_ms(events["timestamp"])
    if target == "rating":
        rating = events["rating"].to_numpy(dtype=np.float64, na_value=np.nan)
        keep = ~np.isnan(rating)
        return Examples(users[keep], items[keep], times[keep], rating[keep].astype(np.float32), np.zeros(keep.sum(), bool))
    if target == "label":
        label = events["label"].to_numpy(dtype=np.float64, na_value=np.nan)
        positive, negative = label == 1, label == 0
    else:
        positive = (events["event_type"].astype("string") == target).fillna(False).to_numpy(dtype=bool)
        pair = pd.Series(users).astype(str) + "\x1f" + pd.Series(items).astype(str)
        # A negative is an event that no later positive of its pair follows. The events before a positive are its
        # funnel (left out). Events after a pair's last positive used to be left out too, so "bought this item
        # before" was never a negative and read as a certain purchase: on the sample's held-out pairs, predictions
        # of 0.97 came true 42% of the time (docs/BENCHMARKS.md).
        last = pd.Series(times[positive], index=pair[positive].to_numpy()).groupby(level=0).max()
        followed = pair.map(last).to_numpy(dtype=np.float64, na_value=np.nan) >= times
        negative = ~positive & ~followed
    keep = positive | negative
    y = positive[keep].astype(np.float32)
    base = Examples(users[keep], items[keep], times[keep], y, np.zeros(keep.sum(), bool))
    per_positive = sampled_per_positive(negatives, base)
    sampled = sample_negatives(users, items, base.subset(base.y == 1), per_positive, seed, universe, first_seen(items, times, universe))
    return Examples(*(np.concatenate([a, b]) for a, b in zip(vars(base).values(), vars(sampled).values(), strict=True)))


NEVER = np.iinfo(np.int64).max  # first_seen of an item without events: never drawn as a negative


def first_seen(items: np.ndarray, times: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Per universe item, the time (ms) of its first event in (items, times); NEVER for an item without events.

    An item without events is a cold item: drawn as a negative, it would get a learned ID from label-0 rows only
    (and on the new-items benchmark split, the held-out items, which have no training events by design, were
    drawn so: they were not "never seen in training")."""
    first = pd.Series(times).groupby(pd.Series(items, dtype=object)).min()
    positions = first.index.get_indexer(pd.Index(universe, dtype=object))
    if not len(first):
        return np.full(len(universe), NEVER, dtype=np.int64)
    return np.where(positions >= 0, first.to_numpy(dtype=np.int64)[np.maximum(positions, 0)], NEVER)


def sample_negatives(
    users: np.ndarray, items: np.ndarray, positives: Examples, per_positive: int, seed: int, universe: np.ndarray,
    available: np.ndarray | None = None, at: np.ndarray | None = None,
) -> Examples:
    """Items the user never interacted with, `per_positive` per positive, at the positive's time.

    available: per universe item, the time (ms) from which it may be drawn (first_seen: an item first bought or
    viewed after a positive's time did not exist for that user yet; drawn anyway, it became a known item learned
    from label-0 rows only, and was under-predicted once it sold); `at`: the positives' times in ms when
    positives.times are not (default: positives.times)."""
    empty = Examples(*(np.zeros(0, dtype=d) for d in (object, object, np.int64, np.float32, bool)))
    if per_positive <= 0 or not len(positives) or len(universe) < 2:
        return empty
    rng = np.random.default_rng(seed)
    item_index = pd.Index(universe, dtype=object)
    user_index = pd.Index(pd.unique(users), dtype=object)
    seen = np.unique(user_index.get_indexer(users).astype(np.int64) * len(universe) + item_index.get_indexer(items))
    u = np.repeat(user_index.get_indexer(positives.users).astype(np.int64), per_positive)
    order = np.arange(len(universe)) if available is None else np.argsort(available, kind="stable")
    when = np.repeat(positives.times if at is None else at, per_positive)
    # per row, how many items (in `order`) exist at its time: draws come from order[:n]
    n = np.full(len(u), len(universe)) if available is None else np.searchsorted(available[order], when, side="right")
    choice = np.full(len(u), -1, dtype=np.int64)
    for _ in range(10):  # rejection sampling; rows still colliding after 10 rounds are dropped
        todo = (choice < 0) & (n > 0)
        if not todo.any():
            break
        draw = order[rng.integers(0, n[todo])]
        ok = ~np.isin(u[todo] * len(universe) + draw, seen)
        choice[np.flatnonzero(todo)[ok]] = draw[ok]
    keep = choice >= 0
    rep = np.repeat(np.arange(len(positives)), per_positive)[keep]
    return Examples(
        positives.users[rep], universe[choice[keep]], positives.times[rep], np.zeros(keep.sum(), np.float32), np.ones(keep.sum(), bool)
    )


def time_split(times: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, int | None]:
    """Train mask holding out the most recent `val_fraction` of examples; random split if time can't split.

    Returns (train_mask, cutoff_ms). All examples at or after the cutoff time are validation, so ties never
    straddle the split. With too few distinct times, a seeded random split is used (cutoff None).
    """
    n = len(times)
    if n < 2:
        raise TrainingDataError("Need at least 2 training examples.")
    cutoff = int(np.sort(times)[min(n - 1, int(n * (1.0 - val_fraction)))])
    train = times < cutoff
    if train.sum() >= max(1, n // 2) and (~train).sum() >= 1:
        return train, cutoff
    log.warning("Timestamps cannot split train/validation by time; using a random split.")
    rng = np.random.default_rng(seed)
    train = rng.random(n) >= val_fraction
    train[rng.integers(0, n)] = True
    if train.all():
        train[rng.integers(0, n)] = False
    return train, None


def target_kind_names(target: str, kinds: list[str]) -> list[str]:
    """The event kinds that are the target itself: rating levels, label values, or the target event type."""
    if target == "rating":
        return [k for k in kinds if k.startswith("rated")]
    if target == "label":
        return [k for k in kinds if k.startswith("label ")]
    return [target]


WORD_ROWS = 400  # training ratings per item word read (word_budget)


def word_budget(n_train: int) -> int:
    """How many item words a model with n_train training ratings reads: one per WORD_ROWS, at most MAX_WORDS.

    Each word brings one cross weight per profile value (16 on the sample); on the sample's 3,505 ratings
    8 words gave validation RMSE 0.846 / 0.841 (seeds 0 / 1) against 0.854 for 16 and 0.858 for 32, whose
    many noise weights also made explanations less faithful (session 10, docs/BENCHMARKS.md)."""
    return min(MAX_WORDS, n_train // WORD_ROWS)


def fit_space(dataset, examples: Examples, train: np.ndarray, cutoff: int | None, history_k: int, target: str = "") -> FeatureSpace:
    """The FeatureSpace from training examples: ID vocabularies, kinds, attribute columns, template context."""
    events = dataset.events
    fit = examples.subset(train)
    user_ids = sorted(pd.unique(fit.users))
    item_ids = sorted(pd.unique(fit.items))
    period = events if cutoff is None else events.loc[to_ms(events["timestamp"]) < cutoff]
    counts = period["item_id"].value_counts()
    levels, bins = fit_rating_kinds(events)
    probe = FeatureSpace([], [], [], [], rating_levels=levels, rating_bins=bins)
    kinds = sorted(pd.unique(probe.kind_names(events)))
    names = [str(k) for k in kinds]
    target_kinds = target_kind_names(target, names) if target else []
    rating_max = float(events["rating"].max()) if "rating" in events.columns and events["rating"].notna().any() else None
    template = TemplateContext(price_edges=price_edges(dataset.items), rating_max=rating_max, history_k=history_k)
    user_columns = [c for c in dataset.users.columns if c != "user_id"] if dataset.users is not None else []
    item_columns = [c for c in dataset.items.columns if c != "item_id"] if dataset.items is not None else []
    user_levels = fit_levels(dataset.users, user_columns)
    return FeatureSpace(
        user_ids=[str(u) for u in user_ids],
        item_ids=[str(i) for i in item_ids],
        item_counts=[int(c) for c in counts.reindex(item_ids).fillna(0).to_numpy()],
        kinds=names,
        rating_levels=levels,
        rating_bins=bins,
        user_columns=user_columns,
        item_columns=item_columns,
        user_levels=user_levels,
        item_levels=fit_levels(dataset.items, item_columns),
        # words: for the profile x word crosses, which only rating models have (training.build_head)
        item_words=fit_words(dataset.items, word_budget(int(np.sum(train)))) if user_levels and target == "rating" else [],
        price_bands=bool(user_levels) and target == "rating" and bool(template.price_edges),  # for the same crosses
        template=template,
        target_kinds=target_kinds,
        late_kinds=fit_late_kinds(names, target_kinds) if target == "rating" else [],
        repeat_kinds=repeat_kinds(target, names),
    )


def repeat_kinds(target: str, kinds: Sequence[str]) -> list[str]:
    """The kinds counted as a binary model's earlier events on the candidate (FeatureSpace.repeat_kinds): the
    positive outcome's ("bought this item before"); none for ratings, whose models read a pair once."""
    positive = "label 1" if target == "label" else target
    return [positive] if target and target != "rating" and positive in kinds else []


def ridge_biases(
    u: np.ndarray, i: np.ndarray, y: np.ndarray, n_users: int, n_items: int, reg: float = 5.0, iterations: int = 15
) -> tuple[float, np.ndarray, np.ndarray]:
    """(global mean, user biases, item biases) of y by alternating ridge fits, for integer user/item codes."""
    mu = float(y.mean()) if len(y) else 0.0
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    for _ in range(iterations):
        bi = np.bincount(i, y - mu - bu[u], n_items) / (np.bincount(i, minlength=n_items) + reg)
        bu = np.bincount(u, y - mu - bi[i], n_users) / (np.bincount(u, minlength=n_users) + reg)
    return mu, bu, bi


BIAS_REGS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0)  # ridge penalties tried for refitted biases (cv_bias_reg)


def cv_bias_reg(u: np.ndarray, i: np.ndarray, y: np.ndarray, n_users: int, n_items: int, folds: int = 5, seed: int = 0,
                regs: Sequence[float] = BIAS_REGS, iterations: int = 15) -> tuple[float, dict]:  # fmt: skip
    """The ridge_biases penalty with the least squared error in seeded `folds`-fold cross-validation, and the errors."""
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    errors = {}
    for reg in regs:
        total = 0.0
        for f in range(folds):
            fit, held = fold != f, fold == f
            mu, bu, bi = ridge_biases(u[fit], i[fit], y[fit], n_users, n_items, reg, iterations)
            total += float(np.sum((y[held] - mu - bu[u[held]] - bi[i[held]]) ** 2))
        errors[reg] = total / max(len(y), 1)
    return min(errors, key=errors.get), errors


CROSS_ALPHAS = tuple(float(a) for a in np.logspace(0, 4, 9))  # ridge penalties tried for the cross weights
CROSS_RATIOS = (1.0, 10.0, 100.0)  # ... with the first `n_strong` columns penalised this many times more
SPARSE_STRENGTHS = (0.0, 3.0, 10.0, 30.0)  # adaptive_ridge strengths (multiples of the GCV ridge penalty; 0: the ridge)
SPARSE_DELTA = 0.05  # ... a weight well above this (normalised rating units) is barely penalised
SPARSE_ITERATIONS = 5


class RidgeGCV:
    """Ridge weights of a target on one design's columns, the penalty chosen by generalised cross-validation.

    The first n_strong columns (many, mostly noise: attribute x attribute) may take a larger penalty than
    the rest, and so may each further block of columns (`blocks`: boolean masks, e.g. attribute x word),
    each with its own ratio; the penalty and the ratios come from the grid (CROSS_ALPHAS x CROSS_RATIOS per
    block). The eigendecomposition of the scaled design's Gram matrix (one per combination of ratios; the Gram
    matrix itself is computed once) stands in for its SVD -- the same fits, but p x p work per combination
    instead of n x p (a 20,000 x 1,024 design: 0.3 s instead of 2.6 s each, and three blocks make 27) -- so
    fitting many targets on it is cheap. Its penalty (`penalty`) is the start of adaptive_ridge.
    """

    def __init__(self, design: np.ndarray, n_strong: int = 0, blocks: Sequence[np.ndarray] = ()):
        self.n, self.p = design.shape
        self.design = design
        masks = [np.arange(self.p) < n_strong] if 0 < n_strong < self.p else []
        masks = [m for m in (*masks, *(np.asarray(b, bool) for b in blocks)) if m.any() and not m.all()]
        for later in range(1, len(masks)):  # a column in two masks belongs to the later one
            for earlier in range(later):
                masks[earlier] = masks[earlier] & ~masks[later]
        gram = self.gram = design.T @ design
        self.spectra = []
        for ratios in itertools.product(CROSS_RATIOS, repeat=len(masks)):
            scale = np.ones(self.p)
            for mask, ratio in zip(masks, ratios, strict=True):
                scale[mask] = 1.0 / np.sqrt(ratio)
            label = ratios[0] if len(ratios) == 1 else (ratios if ratios else 1.0)
            eigen, vectors = np.linalg.eigh(gram * np.outer(scale, scale))
            keep = eigen > max(float(eigen.max(initial=0.0)), 1.0) * 1e-10  # the design's rank: s^2 of its SVD
            self.spectra.append((label, scale, eigen[keep], vectors[:, keep]))

    def __call__(self, r: np.ndarray) -> tuple[np.ndarray, dict]:
        """Weights for target r and the chosen penalty ({"alpha", "ratio"}; ratio: one per block when there are several)."""
        best: tuple[float, np.ndarray, dict] | None = None
        moment, total = self.design.T @ r, float(r @ r)
        for ratio, scale, eigen, vectors in self.spectra:
            projected = vectors.T @ (scale * moment)  # s * (U^T r) in SVD terms
            explained = projected**2 / eigen  # (U^T r)^2
            for alpha in CROSS_ALPHAS:
                shrink = eigen / (eigen + alpha)
                rss = total - float(np.sum((2 * shrink - shrink**2) * explained))
                gcv = self.n * max(rss, 0.0) / max(self.n - float(shrink.sum()), 1.0) ** 2
                if best is None or gcv < best[0]:
                    w = scale * (vectors @ (projected / (eigen + alpha)))
                    best = (gcv, w, {"alpha": alpha, "ratio": ratio})
        return (best[1], best[2]) if best is not None else (np.zeros(self.p), {})

    def penalty(self, chosen: dict) -> np.ndarray:
        """The per-column ridge penalty of a choice of __call__ (alpha over the squared block scale)."""
        scale = next(scale for ratio, scale, *_ in self.spectra if ratio == chosen["ratio"])
        return chosen["alpha"] / scale**2


def adaptive_ridge(gram: np.ndarray, moment: np.ndarray, penalty: np.ndarray, strength: float) -> np.ndarray:
    """Ridge weights (strength 0), or adaptive-ridge weights approximating an L0 penalty (Frommlet & Nuel 2016).

    Each column's penalty starts at strength x its ridge penalty and is re-weighted SPARSE_ITERATIONS times by
    delta^2 / (w^2 + delta^2): a weight near zero keeps its penalty, one well above SPARSE_DELTA loses it. Ridge
    shrinks every weight alike, so on the sample a planted +0.8 interaction came out at about half its size
    while hundreds of noise weights stayed non-zero (session 14, docs/BENCHMARKS.md).
    """
    w = np.linalg.solve(gram + np.diag(penalty), moment)
    for _ in range(SPARSE_ITERATIONS if strength else 0):
        w = np.linalg.solve(gram + np.diag(strength * penalty * SPARSE_DELTA**2 / (w**2 + SPARSE_DELTA**2)), moment)
    return w


def cv_sparse_strength(design: np.ndarray, u: np.ndarray, i: np.ndarray, y: np.ndarray, n_users: int, n_items: int,
                       penalty: np.ndarray, reg: float = 5.0, iterations: int = 15, folds: int = 5, seed: int = 0,
                       rounds: int = 3, gram: np.ndarray | None = None) -> tuple[float, dict]:  # fmt: skip
    """The SPARSE_STRENGTHS value with the least squared error in seeded `folds`-fold cross-validation, and the errors.

    Each fold's cross weights (adaptive_ridge on `design`'s rows) and user + item biases (ridge_biases) are fitted
    in turn, `rounds` times, on the other folds' rows, as init_biases fits them on all. Residuals of biases fitted
    on the held-out rows themselves would not do: a user's own bias already holds what their attributes say there.
    `gram`: design.T @ design when the caller has it (RidgeGCV.gram).
    """
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    gram = design.T @ design if gram is None else gram
    fit_grams = [gram - design[fold == f].T @ design[fold == f] for f in range(folds)]
    errors = {}
    for strength in SPARSE_STRENGTHS:
        total = 0.0
        for f, fit_gram in enumerate(fit_grams):
            fit, held = fold != f, fold == f
            fit_design = design[fit]
            mu, bu, bi = ridge_biases(u[fit], i[fit], y[fit], n_users, n_items, reg, iterations)
            for _ in range(rounds):
                w = adaptive_ridge(fit_gram, fit_design.T @ (y[fit] - mu - bu[u[fit]] - bi[i[fit]]), penalty, strength)
                mu, bu, bi = ridge_biases(u[fit], i[fit], y[fit] - fit_design @ w, n_users, n_items, reg, iterations)
            total += float(np.sum((y[held] - mu - bu[u[held]] - bi[i[held]] - design[held] @ w) ** 2))
        errors[strength] = total / max(len(y), 1)
    return min(errors, key=errors.get), errors


def ridge_gcv(design: np.ndarray, r: np.ndarray, n_strong: int = 0, blocks: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, dict]:
    """Ridge weights of r on design's columns, the penalty chosen by generalised cross-validation (see RidgeGCV)."""
    return RidgeGCV(design, n_strong, blocks)(r)


def bias_baseline(
    train_users: np.ndarray, train_items: np.ndarray, train_y: np.ndarray,
    users: np.ndarray, items: np.ndarray, reg: float = 5.0, iterations: int = 15,
    times: np.ndarray | None = None, y: np.ndarray | None = None,
) -> np.ndarray:
    """Predictions of a regularised global + user + item bias model (alternating least squares); given the pairs'
    `times` and labels `y` (pairs after the training data, as the validation examples are), as of each pair's time: a
    user's bias also folds in their labels from strictly earlier pairs, as the value model reads those events in its
    history (the pages' baseline does the same: diagnostics.baseline.BiasBaseline.predict_as_of)."""
    ui, u = np.unique(train_users, return_inverse=True)
    ii, i = np.unique(train_items, return_inverse=True)
    mu, bu, bi = ridge_biases(u, i, train_y, len(ui), len(ii), reg, iterations)
    pu = pd.Index(ui).get_indexer(users)
    pi = pd.Index(ii).get_indexer(items)
    item_bias = np.where(pi >= 0, bi[np.maximum(pi, 0)], 0.0)
    user_bias = np.where(pu >= 0, bu[np.maximum(pu, 0)], 0.0)
    if times is None or y is None:
        return mu + user_bias + item_bias
    count = np.where(pu >= 0, np.bincount(u, minlength=len(ui))[np.maximum(pu, 0)], 0).astype(np.float64)
    stamps = pd.to_datetime(np.asarray(times), unit="ms", utc=True) if np.issubdtype(np.asarray(times).dtype, np.integer) else times
    residuals = np.asarray(y, np.float64) - mu - item_bias
    return mu + item_bias + user_bias_as_of(user_bias, count, reg, np.asarray(users), stamps, np.asarray(users), stamps, residuals)


def user_bias_as_of(user_bias: np.ndarray, count: np.ndarray, reg: float, users: np.ndarray, times: np.ndarray | pd.Series,
                    later_users: np.ndarray, later_times: np.ndarray | pd.Series, residuals: np.ndarray) -> np.ndarray:  # fmt: skip
    """Each pair's user bias with the user's later residuals from strictly before its time folded in: Σ residual /
    (count + reg) over the `count` training labels (whose fit gave `user_bias`) and those later ones alike."""
    folded, extra = sums_before(users, times, later_users, later_times, residuals)
    return (user_bias * (count + reg) + folded) / (count + extra + reg)


def sums_before(users: np.ndarray, times: np.ndarray | pd.Series, later_users: np.ndarray, later_times: np.ndarray | pd.Series,
                 values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per (user, time) query: the sum and count of that user's `values` at later_times strictly before time (0 where
    the time is missing). Sorted once by (user, time rank), then a binary search per query (the diagnostics' frame on
    1M pairs: 2.2 s to prepare, 4.0 s with pandas' merge_asof; docs/BENCHMARKS.md)."""
    n = len(users)
    query_ns, later_ns = _ns(times), _ns(later_times)
    keep = ~np.isnat(later_ns)
    later_ns, later_users, values = later_ns[keep], np.asarray(later_users)[keep], np.asarray(values, np.float64)[keep]
    if not len(later_ns) or not n:
        return np.zeros(n), np.zeros(n)
    codes, _ = pd.factorize(np.concatenate([np.asarray(later_users, dtype=object), np.asarray(users, dtype=object)]))
    later_code, query_code = codes[: len(later_ns)].astype(np.int64), codes[len(later_ns) :].astype(np.int64)
    stamps = np.unique(later_ns)
    span = len(stamps) + 1  # a user's keys: code * span + the rank of the time among the later events' times
    later_key = later_code * span + np.searchsorted(stamps, later_ns)
    order = np.argsort(later_key, kind="stable")
    sorted_key = later_key[order]
    running = np.concatenate([[0.0], np.cumsum(values[order])])
    timed = ~np.isnat(query_ns)
    first = np.searchsorted(sorted_key, query_code * span)  # the user's first later event
    before = np.searchsorted(sorted_key, query_code * span + np.searchsorted(stamps, np.where(timed, query_ns, stamps[0])))
    before = np.where(timed, before, first)  # strictly earlier times: the rank of the first time not before the query's
    return running[before] - running[first], (before - first).astype(np.float64)


def _ns(times: np.ndarray | pd.Series) -> np.ndarray:
    """UTC timestamps as naive datetime64[ns] (one resolution and zone for every comparison)."""
    series = times if isinstance(times, pd.Series) else pd.Series(np.asarray(times))
    return pd.to_datetime(series, utc=True).dt.tz_convert(None).dt.as_unit("ns").to_numpy()


FOLD_IN_PRIORS = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0)  # candidate pseudo-event counts


def fold_in_prior(
    u: np.ndarray, i: np.ndarray, times: np.ndarray, y: np.ndarray, n_users: int, n_items: int,
    first: int = 5, default: float = 5.0, min_users: int = 20,
) -> float:
    """The shrinkage (pseudo-events) that best predicts a user's later ratings from their first `first` ones.

    Empirical Bayes on the training events: for each user with more than `first` events, the mean
    residual (y - global - item bias) of their earliest `first` events, shrunk by first / (first + k), is
    scored against the residuals of their later events; the k of FOLD_IN_PRIORS with the least squared
    error wins. This is what folding a new user in from their first events needs: early ratings can say
    less about later ones than their count suggests (MovieLens: k = 10, not 5). `default` when fewer than
    `min_users` users qualify.
    """
    mu, _, bi = ridge_biases(u, i, y, n_users, n_items)
    residual = y - mu - bi[i]
    order = np.lexsort((np.arange(len(u)), times, u))  # by user, then time, ties in input order
    su, sr = u[order], residual[order]
    starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    rank = np.arange(len(su)) - np.repeat(starts, np.diff(np.r_[starts, len(su)]))
    counts = np.bincount(su, minlength=n_users)
    eligible = counts[su] > first
    early = eligible & (rank < first)
    late = eligible & (rank >= first)
    if np.unique(su[eligible]).size < min_users:
        return float(default)
    early_mean = np.bincount(su[early], sr[early], n_users) / first
    errors = [float(np.sum((sr[late] - early_mean[su[late]] * first / (first + k)) ** 2)) for k in FOLD_IN_PRIORS]
    return float(FOLD_IN_PRIORS[int(np.argmin(errors))])
