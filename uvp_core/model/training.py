"""Training: examples -> encoded texts -> a tight tensor-indexed loop over the value head.

Validation split: the most recent `val_fraction` of examples by time (everything at or after the cutoff time),
so validation mirrors deployment: predict later behaviour from earlier behaviour. A validation example's
history is the user's events strictly before its time (earlier validation events included, as they
would be known when predicting). ID vocabularies cover training-period users/items only, so users and
items that first appear in validation are scored through the shared "unknown" ID rows, as in production.

Every epoch is seeded from (seed, epoch): batch order, ID dropout and dropout masks depend only on them,
so resuming from an end-of-epoch checkpoint reproduces an uninterrupted run exactly.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from uvp_core.data.contract import LABEL_ROLES
from uvp_core.model.config import Progress, TrainConfig
from uvp_core.model.encoder import (
    TextEncoder,
    autocast_dtype,
    is_default_encoder,
    load_encoder,
    resolve_device,
)
from uvp_core.model.errors import TrainingCancelled
from uvp_core.model.examples import (
    FOLD_IN_PRIORS,
    Examples,
    RidgeGCV,
    adaptive_ridge,
    bias_baseline,
    build_examples,
    cv_bias_reg,
    cv_sparse_strength,
    fit_space,
    fold_in_prior,
    resolve_target,
    ridge_biases,
    sampled_per_positive,
    time_split,
)
from uvp_core.model.features import Context, FeatureSpace, FirstEvents, Inputs, with_extras
from uvp_core.model.network import FOLD_IN_PRIOR, NO_FOLD_IN, ValueHead, cross_width
from uvp_core.model.persistence import load_checkpoint, save_checkpoint
from uvp_core.model.threads import fixed_threads
from uvp_core.model.value_model import ValueModel, calibrate, sigmoid

log = logging.getLogger(__name__)

EVAL_BATCH = 8192
ENCODE_CHUNK = 64  # texts per encoder forward in finetune mode


# --- data preparation -------------------------------------------------------------------------


@dataclass
class Prepared:
    """Everything the loop needs, built once from the Dataset."""

    target: str
    task: str  # "regression" | "binary"
    space: FeatureSpace
    context: Context
    train_x: Inputs
    train_first: FirstEvents  # each training row's earliest events (new-user simulation in ID dropout, choose_fold_prior)
    train_y: torch.Tensor
    val_x: Inputs
    val_y: torch.Tensor  # label units (train_y is normalised for regression)
    label_stats: dict  # mean, std, min, max of the target (training split)
    baseline: dict  # validation metrics of a simple baseline
    n_examples: dict  # counts for the model card
    fingerprint: str
    validation_cutoff_ms: int | None = None  # where the time-based validation period starts (None: random split)
    per_positive: int = 1  # sampled negatives per positive (binary; examples.sampled_per_positive)
    val_weight: np.ndarray | None = None  # per validation row (binary): 1 / per_positive on sampled negatives,
    #   so calibration and the reported validation metrics read one sampled item per positive, whatever training
    #   samples (None: all 1); early stopping reads the rows unweighted
    fold_prior: float = FOLD_IN_PRIOR  # pseudo-events of an unknown user's fold-in (regression; examples.fold_in_prior)


def prepare(dataset, config: TrainConfig, device: torch.device) -> Prepared:
    """Examples, split, feature space and input tensors for a Dataset and config."""
    target, task = resolve_target(dataset.events, config.target)
    context_items = _catalogue(dataset)
    examples = build_examples(dataset.events, target, config.negatives_per_positive, config.seed, context_items)
    per_positive = sampled_per_positive(config.negatives_per_positive, examples) if task == "binary" else 0
    train, cutoff = time_split(examples.times, config.val_fraction, config.seed)
    space = fit_space(dataset, examples, train, cutoff, config.history_k, target)
    tr, va = examples.subset(train), examples.subset(~train)
    if config.mode == "finetune" and device.type == "cpu":
        tr = _cap(tr, config.max_samples, config.seed)
        va = _cap(va, max(200, config.max_samples // 4), config.seed + 1)
    val_weight = sampled_weight(va.sampled, per_positive) if per_positive > 1 else None
    context = Context(dataset, space)
    train_x = context.inputs(tr.users, tr.items, tr.times)
    mean = train_x.numeric.mean(0).double()
    std = train_x.numeric.std(0).double() if len(tr) > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    space.numeric_mean, space.numeric_std = mean.tolist(), std.tolist()
    train_x.numeric = ((train_x.numeric - mean.float()) / std.float()).contiguous()
    val_x = context.inputs(va.users, va.items, va.times)
    known = train_x.user.numpy() > 0
    fold_prior = fold_in_prior(
        train_x.user.numpy()[known], train_x.item.numpy()[known], tr.times[known], tr.y[known].astype(np.float64),
        len(space.user_ids) + 1, len(space.item_ids) + 1, first=config.cold_history,
    ) if task == "regression" else FOLD_IN_PRIOR  # fmt: skip
    y_all = examples.y[train]
    stats = {
        "mean": float(y_all.mean()) if task == "regression" else 0.0,
        "std": float(y_all.std()) if task == "regression" and y_all.std() > 0 else 1.0,
        "min": float(examples.y.min()),
        "max": float(examples.y.max()),
    }
    return Prepared(
        target=target,
        task=task,
        space=space,
        context=context,
        train_x=train_x,
        train_first=context.first_events(tr.users, tr.times, tr.items),
        train_y=torch.as_tensor((tr.y - stats["mean"]) / stats["std"], dtype=torch.float32),  # normalised units
        val_x=val_x,
        val_y=torch.as_tensor(va.y, dtype=torch.float32),
        label_stats=stats,
        validation_cutoff_ms=cutoff,
        per_positive=per_positive,
        val_weight=val_weight,
        fold_prior=fold_prior,
        baseline=_baseline(task, tr, va, space, val_weight),
        n_examples={
            "train": len(tr),
            "validation": len(va),
            "sampled_negatives": int(examples.sampled.sum()),
            **({"sampled_per_positive": per_positive} if task == "binary" else {}),
            "event_negatives": int(((examples.y == 0) & ~examples.sampled).sum()) if task == "binary" else 0,
            "cold_users_validation": int((space.user_codes(va.users) == 0).sum()),
            "cold_items_validation": int((space.item_codes(va.items) == 0).sum()),
        },
        fingerprint=dataset.fingerprint(),
    )


def _catalogue(dataset) -> np.ndarray:
    """All item ids (items table, then events), for negative sampling."""
    from uvp_core.model.features import _all_items

    return _all_items(dataset)


def _cap(examples: Examples, limit: int, seed: int) -> Examples:
    """At most `limit` examples, sampled with a seed, in original order."""
    if len(examples) <= limit:
        return examples
    keep = np.sort(np.random.default_rng(seed).choice(len(examples), size=limit, replace=False))
    return examples.subset(keep)


def sampled_weight(sampled: np.ndarray, per_positive: int) -> np.ndarray:
    """Row weights that count each sampled negative as 1 / per_positive: the mix of one sampled item per positive."""
    return np.where(sampled, 1.0 / per_positive, 1.0)


def _baseline(task: str, tr: Examples, va: Examples, space: FeatureSpace, val_weight: np.ndarray | None = None) -> dict:
    """Validation metrics of a simple baseline: user+item biases (rating) or item popularity (binary; validation rows
    weighted by val_weight, as the model's)."""
    if not len(va):
        return {}
    if task == "regression":
        pred = bias_baseline(tr.users, tr.items, tr.y.astype(np.float64), va.users, va.items, times=va.times, y=va.y)  # as of each
        # example's time: a validation user's earlier validation ratings count, as the model reads them in its history
        pred = np.clip(pred, tr.y.min(), tr.y.max())
        return {"baseline_rmse": float(np.sqrt(np.mean((pred - va.y) ** 2))), "baseline": "user+item bias"}
    popularity = space.item_popularity(space.item_codes(va.items))
    return {"baseline_auc": _auc(va.y, popularity, val_weight), "baseline": "item popularity"}


def _auc(y: np.ndarray, score: np.ndarray, weight: np.ndarray | None = None) -> float | None:
    """ROC AUC (rows weighted by `weight`, default 1), or None when only one class is present."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score, sample_weight=weight)) if 0 < np.sum(y) < len(y) else None


# --- text tables ----------------------------------------------------------------------------


def one_bar(on_encode: Callable[[int, int], None] | None, totals: list[int]) -> list[Callable[[int, int], None] | None]:
    """Progress callbacks for consecutive encoding phases (the item texts, then the profiles) that report one count over
    all of them: each phase used to report its own, so the bar reached the end on the items and restarted at 0."""
    if on_encode is None:
        return [None] * len(totals)
    whole = sum(totals)
    offsets = np.cumsum([0, *totals[:-1]]).tolist()
    return [lambda done, _total, o=o, t=t: on_encode(o + min(done, t), whole) for o, t in zip(offsets, totals, strict=True)]


class Tables:
    """The text embeddings the head reads: precomputed (frozen) or encoded per batch (finetune)."""

    def __init__(self, prep: Prepared, encoder: TextEncoder, mode: str, device: torch.device, on_encode=None):
        self.mode, self.encoder, self.device = mode, encoder, device
        if mode == "frozen":
            tables = (prep.context.items, prep.context.profiles)
            items, profiles = (t.encode(encoder, bar) for t, bar in zip(tables, one_bar(on_encode, [t.pending() for t in tables]), strict=True))
            self.items, self.profiles = items.to(device), profiles.to(device)
        else:
            self.item_tokens = encoder.tokenize(prep.context.items.texts)
            self.profile_tokens = encoder.tokenize(prep.context.profiles.texts)
            self.item_extras = prep.context.items.extra_rows  # one-hot attribute blocks per text row
            self.profile_extras = prep.context.profiles.extra_rows

    def __call__(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor, Inputs]:
        """(item table, profile table, inputs indexing them) for a batch already on the device."""
        if self.mode == "frozen":
            return self.items, self.profiles, x
        batch = len(x)
        item_rows, item_inv = torch.unique(torch.cat([x.item_row, x.hist_row.reshape(-1)]), return_inverse=True)
        profile_rows, profile_inv = torch.unique(x.profile_row, return_inverse=True)
        items = self._encode(self.item_tokens, item_rows, self.item_extras)
        profiles = self._encode(self.profile_tokens, profile_rows, self.profile_extras)
        x = replace(x, item_row=item_inv[:batch], hist_row=item_inv[batch:].view_as(x.hist_row), profile_row=profile_inv)
        return items, profiles, x

    def _encode(self, tokens: list[list[int]], rows: torch.Tensor, extras: list[np.ndarray]) -> torch.Tensor:
        """Feature rows (embedding + one-hot block) of the texts at `rows` with the current encoder, in length-sorted chunks."""
        rows_list = rows.tolist()
        order = sorted(range(len(rows_list)), key=lambda j: len(tokens[rows_list[j]]))
        out = [None] * len(rows_list)
        for start in range(0, len(order), ENCODE_CHUNK):
            chunk = order[start : start + ENCODE_CHUNK]
            vectors = self.encoder.pooled([tokens[rows_list[j]] for j in chunk])
            for j, vector in zip(chunk, vectors, strict=True):
                out[j] = vector
        return with_extras(torch.stack(out), [extras[r] for r in rows_list] if extras else [])


# --- the loop -------------------------------------------------------------------------------


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic torch kernels while training (some CPU backward ops otherwise vary run to run)."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


MAX_CROSS_COLUMNS = 1024  # more cross weights than this (very many attribute values): no cross terms
CROSS_FIT_ROWS = 20_000  # training rows (evenly spaced) the cross weights' ridge start is fitted on


def _epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch (batch order, ID dropout, dropout masks)."""
    return (seed * 1_000_003 + epoch * 7919) % (2**62)


def _drop_ids(x: Inputs, p: float, generator: torch.Generator, space: FeatureSpace | None = None, cold_history: int = 5,
              first: FirstEvents | None = None, first_share: float = 1.0) -> Inputs:  # fmt: skip
    """Swap each user and item ID for the unknown row (0) with probability p, making the row look cold.

    With a `space` (whose numeric_mean/std standardised x.numeric), a dropped item also gets the popularity
    an unseen item has at prediction time (0) and no earlier outcomes of the user on it (FeatureSpace.repeat_kinds;
    with them, Online Retail's new-items AUC fell 0.662 -> 0.644, mean of three customer samples), and a dropped
    user keeps only a random 0..cold_history history events (with the matching history length) and the repeats among
    them, as a new user with a few visible events has: with
    `first` (the rows' FirstEvents), a `first_share` of them keep their *earliest* events, which is what a
    new user's history is; the others (and all, without `first`) their most recent ones. Otherwise the
    unknown rows only ever train on popular items and long histories, unlike real cold rows. (Earliest
    events only: MovieLens new users improve, but Online Retail's known users get worse, 0.863 -> 0.837 AUC.)
    """
    if p <= 0:
        return x
    keep_user = torch.rand(len(x), generator=generator) >= p
    keep_item = torch.rand(len(x), generator=generator) >= p
    x = replace(x, user=x.user * keep_user, item=x.item * keep_item)
    if space is None:
        return x
    mean = torch.as_tensor(space.numeric_mean, dtype=torch.float32)
    std = torch.as_tensor(space.numeric_std, dtype=torch.float32)
    numeric = x.numeric.clone()
    numeric[:, 1] = torch.where(keep_item, numeric[:, 1], (0.0 - mean[1]) / std[1])  # log1p(0) = 0
    k = x.hist_mask.shape[1]
    keep_n = torch.randint(0, max(0, cold_history) + 1, (len(x),), generator=generator)
    from_right = torch.arange(k - 1, -1, -1)  # slot j holds the (k-1-j)-th most recent event
    mask = x.hist_mask & ((from_right[None, :] < keep_n[:, None]) | keep_user[:, None])
    hist_row, hist_kind, hist_feat = x.hist_row * mask, x.hist_kind * mask, x.hist_feat * mask.unsqueeze(-1)
    hist_item = x.hist_item * mask
    if first is not None:
        cold = (~keep_user & (torch.rand(len(x), generator=generator) < first_share))[:, None]
        row, kind, feat, early, items = first.history(keep_n, k)
        mask = torch.where(cold, early, mask)
        hist_row, hist_kind = torch.where(cold, row, hist_row), torch.where(cold, kind, hist_kind)
        hist_feat = torch.where(cold.unsqueeze(-1), feat, hist_feat)
        hist_item = torch.where(cold, items, hist_item)
    numeric[:, 0] = torch.where(keep_user, numeric[:, 0], _history_length(mask, space))
    if space.repeat_kinds:  # a new user's repeats are those its visible events show; a new item has none
        numeric[:, -1] = torch.where(keep_user, numeric[:, -1], _visible_repeats(x, mask, hist_row, hist_kind, space))
        numeric[:, -1] = torch.where(keep_item, numeric[:, -1], (0.0 - mean[-1]) / std[-1])
    n_before = torch.where(keep_user, x.n_before, mask.sum(1).to(x.n_before.dtype))
    return replace(x, numeric=numeric, n_before=n_before, hist_mask=mask, hist_row=hist_row, hist_kind=hist_kind,
                   hist_feat=hist_feat, hist_item=hist_item)  # fmt: skip


def _history_length(mask: torch.Tensor, space: FeatureSpace) -> torch.Tensor:
    """The standardised log history length (numeric feature 0) of histories with this mask."""
    mean = torch.as_tensor(space.numeric_mean[0], dtype=torch.float32)
    std = torch.as_tensor(space.numeric_std[0], dtype=torch.float32)
    return (torch.log1p(mask.sum(1).float()) - mean) / std


def _visible_repeats(x: Inputs, mask: torch.Tensor, hist_row: torch.Tensor, hist_kind: torch.Tensor, space: FeatureSpace) -> torch.Tensor:
    """The standardised repeat feature (FeatureSpace.repeat_kinds, the last numeric one) counted in a history with this
    mask only: a new user's earlier events on the candidate are those it shows."""
    counted = torch.as_tensor(space.repeat_kind_codes(np.arange(len(space.kinds) + 1)))
    same = mask & (hist_row == x.item_row[:, None]) & counted[hist_kind]
    mean = torch.as_tensor(space.numeric_mean[-1], dtype=torch.float32)
    std = torch.as_tensor(space.numeric_std[-1], dtype=torch.float32)
    return (torch.log1p(same.sum(1).float()) - mean) / std


def _loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE (regression, normalised units) or BCE with logits (binary)."""
    if task == "regression":
        return torch.nn.functional.mse_loss(out, y)
    return torch.nn.functional.binary_cross_entropy_with_logits(out, y)


def _id_penalty(head: ValueHead, x: Inputs) -> torch.Tensor:
    """Squared norms of the ID embeddings and biases used by the batch (classic MF regularisation)."""
    terms = head.user_id(x.user).pow(2).sum(-1) + head.item_id(x.item).pow(2).sum(-1)
    terms = terms + head.user_bias(x.user).squeeze(-1).pow(2) + head.item_bias(x.item).squeeze(-1).pow(2)
    return terms.mean()


def _eval_batches(head: ValueHead, tables: Tables, x: Inputs, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor, Inputs]]:
    """(items, profiles, batch) of x in EVAL_BATCH slices on the device, the head (and a fine-tuned encoder) in eval
    mode, without gradients: what raw_scores and prior_scores score."""
    head.eval()
    if tables.mode == "finetune":
        tables.encoder.model.eval()
    with torch.inference_mode(), _maybe_autocast(device, tables.mode):
        for start in range(0, len(x), EVAL_BATCH):
            yield tables(x.take(slice(start, start + EVAL_BATCH)).to(device))


def raw_scores(head: ValueHead, tables: Tables, x: Inputs, device: torch.device) -> np.ndarray:
    """Head outputs for all rows of x, in eval mode and large batches."""
    outs = [head(items, profiles, batch).float().cpu() for items, profiles, batch in _eval_batches(head, tables, x, device)]
    return torch.cat(outs).numpy().astype(np.float64) if outs else np.zeros(0)


def prior_scores(head: ValueHead, tables: Tables, x: Inputs, priors: Sequence[float]) -> dict[float, np.ndarray]:
    """raw_scores of x (on the CPU) under each fold-in prior of a fold-in head; the prior-free terms are computed once
    per batch. The head's fold_prior is left at the last prior."""
    outs: dict[float, list[torch.Tensor]] = {prior: [] for prior in priors}
    for items, profiles, batch in _eval_batches(head, tables, x, torch.device("cpu")):
        parts = head.forward_parts(items, profiles, batch)
        for prior in priors:
            head.fold_prior.fill_(prior)  # as raw_scores would read it, so the scores are its to the last bit
            outs[prior].append(parts.scores(head.fold_prior).float())
    return {prior: torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0) for prior, out in outs.items()}


def _maybe_autocast(device: torch.device, mode: str):
    """bf16 autocast for the head on CUDA; the head stays fp32 on CPU (it is small)."""
    if device.type == "cuda" and mode == "finetune":
        return torch.autocast("cuda", dtype=autocast_dtype(device))
    return contextlib.nullcontext()


def unread_event_columns(columns) -> list[str]:
    """Event columns the model does not read (it reads the user, item, time and label roles: not review texts,
    revenue or other columns), for the model card."""
    return [str(c) for c in columns if c not in ("user_id", "item_id", "timestamp", *LABEL_ROLES)]


def val_metric(task: str, raw: np.ndarray, y: np.ndarray, stats: dict) -> float:
    """Early-stopping metric: RMSE in label units (regression) or log loss (binary, uncalibrated, on the training mix)."""
    if not len(y):
        return float("nan")
    if task == "regression":
        pred = np.clip(stats["mean"] + stats["std"] * raw, stats["min"], stats["max"])
        return float(np.sqrt(np.mean((pred - y) ** 2)))
    p = np.clip(sigmoid(raw), 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class PhaseEta:
    """Seconds left in a counted phase (encoding), from its rate so far; None before the first batch is done."""

    def __init__(self) -> None:
        self.started: float | None = None

    def __call__(self, done: int, total: int) -> float | None:
        """The estimate after `done` of `total` (the clock starts, or starts again, at a call with done 0)."""
        now = time.monotonic()
        if self.started is None or done <= 0:  # each encode() counts from 0: a run encodes items, then profiles
            self.started = now
            return None
        return (now - self.started) / done * max(total - done, 0)


class Reporter:
    """Forwards Progress to a callback, at most ~4 times a second for step updates."""

    def __init__(self, callback: Callable[[Progress], None] | None):
        self.callback = callback
        self._last = 0.0

    def __call__(self, phase: str, *, force: bool = True, **fields) -> None:
        """Report (step updates are throttled unless force)."""
        if self.callback is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        self.callback(Progress(phase=phase, **fields))


def build_head(prep: Prepared, text_dim: int, config: TrainConfig) -> ValueHead:
    """A freshly initialised head sized for the feature space."""
    head = ValueHead(
        text_dim=text_dim,
        n_users=len(prep.space.user_ids),
        n_items=len(prep.space.item_ids),
        n_kinds=len(prep.space.kinds),
        n_numeric=prep.train_x.numeric.shape[1],
        hidden=config.hidden_dim,
        id_dim=config.id_dim,
        dropout=config.dropout,
        fold_in=prep.task == "regression",
        ratings_via_fold_in=prep.task == "regression",
        item_extra=prep.space.item_width,
        user_extra=prep.space.user_width,
        # cross terms start at a ridge fit (init_biases) for ratings; binary targets would train them from zero, which
        # cost Online Retail random 0.863 -> 0.857 AUC (country x price and x item text over-fit), so they are off there,
        # and for heads that would need more than MAX_CROSS_COLUMNS weights
        crosses=prep.task == "regression" and cross_width(len(prep.space.kinds), prep.train_x.numeric.shape[1], prep.space.item_width,
                                                          prep.space.user_width, prep.space.indicator_width) <= MAX_CROSS_COLUMNS,  # fmt: skip
        item_words=prep.space.indicator_width,
        match_funnel=True,
        match_all_ratings=True,
        top_band_slope=prep.space.price_bands,
    )
    if head.match_funnel:
        head.kind_depth.copy_(torch.as_tensor(prep.space.kind_depths()))
    return head


def init_biases(head: ValueHead, prep: Prepared, reg: float = 5.0, iterations: int = 15) -> None:
    """Start the head at a ridge-regularised user+item bias model of the training labels.

    Global, user and item biases take the fitted values and the content scorer's output layer starts at
    zero, so training begins from the bias model (early stopping keeps the best epoch, from the first on). Small
    datasets give too few steps for SGD to find biases from zero (Amazon: 8 steps an epoch, and a model
    worse than the bias baseline). Unknown rows (code 0) start at zero. Measured in the same-run
    benchmark (docs/BENCHMARKS.md): user biases started too help Amazon and MovieLens time/new users
    and cost MovieLens random RMSE about 0.01 (still ahead of SVD).
    """
    rated = head.fold_in and bool(prep.space.rating_levels)
    if rated:  # which kinds are ratings (the fold-in and the cross design read them)
        codes = prep.space.kind_codes(prep.space.rating_kind(np.asarray(prep.space.rating_levels)))
        head.rated_kind[torch.as_tensor(codes[codes > 0])] = 1.0
    u, i, y = prep.train_x.user.numpy(), prep.train_x.item.numpy(), prep.train_y.double().numpy()
    n_users, n_items = head.user_bias.num_embeddings, head.item_bias.num_embeddings
    mu, bu, bi = ridge_biases(u, i, y, n_users, n_items, reg, iterations)
    if head.crosses and head.cross.numel():  # alternate: cross weights on what the biases leave, then biases on what those leave
        fit_rows = np.unique(np.linspace(0, len(y) - 1, min(len(y), CROSS_FIT_ROWS)).astype(np.int64))
        blocks = [head.word_columns.numpy(), head.early_step_columns.numpy()]
        design = _cross_design(head, prep, fit_rows)
        ridge, strength = RidgeGCV(design, n_strong=head.n_cross_attr, blocks=blocks), None
        for _ in range(3):  # the design's eigendecompositions (RidgeGCV) are computed once for all three fits
            residual = (y - mu - bu[u] - bi[i])[fit_rows]
            w, chosen = ridge(residual)
            if strength is None:  # the ridge's penalty the start of a sparser fit, as strong as cross-validation says
                strength, _ = cv_sparse_strength(design, u[fit_rows], i[fit_rows], y[fit_rows], n_users, n_items, ridge.penalty(chosen),
                                                 reg, iterations, gram=ridge.gram)  # fmt: skip
            if strength:
                w = adaptive_ridge(ridge.gram, design.T @ residual, ridge.penalty(chosen), strength)
            chosen["sparse"] = strength
            with torch.no_grad():
                head.cross.copy_(torch.as_tensor(w, dtype=torch.float32))
            mu, bu, bi = ridge_biases(u, i, y - _cross_offsets(head, prep), n_users, n_items, reg, iterations)
        log.info("cross weights started at a ridge fit on %d rows (GCV, then cross-validation: %s)", len(fit_rows), chosen)
    bu[0] = bi[0] = 0.0
    with torch.no_grad():
        head.global_bias.fill_(mu)
        head.user_bias.weight.copy_(torch.as_tensor(bu, dtype=torch.float32).unsqueeze(1))
        head.item_bias.weight.copy_(torch.as_tensor(bi, dtype=torch.float32).unsqueeze(1))
        head.scorer[-1].weight.zero_()
        head.scorer[-1].bias.zero_()
        if rated:  # an unknown user's "rated v" events start at v's deviation
            stats = prep.label_stats
            values = (np.asarray(prep.space.rating_levels) - stats["mean"]) / stats["std"] - mu
            head.kind_value.weight[torch.as_tensor(codes[codes > 0])] = torch.as_tensor(values[codes > 0], dtype=torch.float32).unsqueeze(1)
        if head.fold_in:
            head.fold_prior.fill_(prep.fold_prior)


def _hot_tables(head: ValueHead, prep: Prepared) -> tuple[torch.Tensor, torch.Tensor]:
    """The one-hot rows of the item and profile text tables."""
    def table(rows: list[np.ndarray], width: int) -> torch.Tensor:
        return torch.as_tensor(np.stack(rows), dtype=torch.float32) if width and rows else torch.zeros(1, 0)

    return table(prep.context.items.extra_rows, head.item_extra), table(prep.context.profiles.extra_rows, head.user_extra)


def _cross_blocks(head: ValueHead, prep: Prepared, rows: np.ndarray | None = None, block: int = 4096) -> Iterator[torch.Tensor]:
    """The head's cross columns (ValueHead.cross_design) for these training rows (default: all), a block at a time."""
    item_hot, profile_hot = _hot_tables(head, prep)
    n = len(prep.train_y) if rows is None else len(rows)
    for s in range(0, n, block):
        index = slice(s, s + block) if rows is None else torch.as_tensor(rows[s : s + block])
        yield head.cross_design(item_hot, profile_hot, prep.train_x.take(index))


def _cross_design(head: ValueHead, prep: Prepared, rows: np.ndarray) -> np.ndarray:
    """The cross columns of these training rows, as float64."""
    with torch.no_grad():
        return torch.cat(list(_cross_blocks(head, prep, rows))).double().numpy()


def _cross_offsets(head: ValueHead, prep: Prepared) -> np.ndarray:
    """cross_design @ cross for every training row (the design itself is never built whole)."""
    with torch.no_grad():
        return torch.cat([columns @ head.cross for columns in _cross_blocks(head, prep)]).double().numpy()


def build_optimizer(head: ValueHead, encoder: TextEncoder | None, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW: dense head layers with weight decay, ID tables without (they get id_l2), encoder at encoder_lr."""
    ids = {id(p) for p in head.id_parameters()}
    dense = [p for p in head.parameters() if id(p) not in ids]
    groups = [
        {"params": dense, "weight_decay": config.weight_decay, "lr": config.lr},
        {"params": head.id_parameters(), "weight_decay": 0.0, "lr": config.lr},
    ]
    if encoder is not None:
        groups.append({"params": list(encoder.model.parameters()), "weight_decay": 0.01, "lr": config.encoder_lr})
    return torch.optim.AdamW(groups)


def train(
    dataset,
    config: TrainConfig | None = None,
    *,
    encoder_dir: str | Path | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_dir: Path | None = None,
) -> ValueModel:
    """Train a value model; resumes from `checkpoint_dir` when it holds a checkpoint of the same run."""
    config = config or TrainConfig()
    report = Reporter(progress)
    stop = should_stop or (lambda: False)
    device = resolve_device(config.device)
    started = time.monotonic()
    report("preparing", message="Building training examples and features")
    base_encoder = load_encoder(encoder_dir, max_tokens=config.max_tokens, device=device)
    prep = prepare(dataset, config, device)
    log.info("Target %s (%s): %s", prep.target, prep.task, prep.n_examples)
    finetune = config.mode == "finetune"
    encoder = base_encoder.trainable_copy() if finetune else base_encoder
    if finetune:
        eta = _estimate(prep, encoder, config, device)
        report("estimate", eta_seconds=eta, message=f"Fine-tuning will take about {eta / 60:.1f} minutes")

    encode_eta = PhaseEta()

    def on_encode(done: int, total: int) -> None:
        if stop():
            raise TrainingCancelled(0, 0, checkpoint_dir)
        report("encoding", step=done, total_steps=total, force=done in (0, total), eta_seconds=encode_eta(done, total),
               message=f"Encoding texts {done}/{total}")

    tables = Tables(prep, encoder, config.mode, device, on_encode)
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), deterministic(), fixed_threads(config.threads if device.type == "cpu" else -1):
        torch.manual_seed(config.seed)
        head = build_head(prep, encoder.dim, config)
        if config.bias_init and prep.task == "regression":
            init_biases(head, prep)
        head = head.to(device)
        optimizer = build_optimizer(head, encoder if finetune else None, config)
        state = _TrainState(started=started)
        if checkpoint_dir is not None:
            state = _resume(checkpoint_dir, prep, config, head, encoder if finetune else None, optimizer, started) or state
        _loop(prep, config, head, encoder if finetune else None, tables, optimizer, state, device, report, stop, checkpoint_dir)
        head.load_state_dict(state.best_head)
        if finetune and state.best_encoder is not None:
            encoder.model.load_state_dict(state.best_encoder)
    if finetune:
        encoder.model.eval()
        for parameter in encoder.model.parameters():
            parameter.requires_grad_(False)
        encoder.refresh_weights_id()

    catalogue_eta = PhaseEta()

    def on_catalogue(done: int, total: int) -> None:  # its own phase: after the epochs, the bar does not fall back to 0
        if stop():
            raise TrainingCancelled(0, 0, checkpoint_dir)
        report("catalogue", step=done, total_steps=total, force=done in (0, total), eta_seconds=catalogue_eta(done, total),
               message="Encoding the rest of the catalogue's texts, so that the saved model scores every item")

    prep.context.items.rows(prep.context.item_index)  # the whole catalogue, so the saved embeddings cover every item
    tables = Tables(prep, encoder, "frozen", torch.device("cpu"), on_catalogue)  # cached unless fine-tuned
    report("calibrating", message="Validation metrics and calibration")
    head.fold_all_events = head.fold_in  # from here on (prior choice, metrics, scoring) the fold-in counts every earlier event
    fold_in = choose_fold_prior(head.cpu(), tables, prep, config) if head.fold_in else {}
    if fold_in:  # which prior scored which validation figures (the curves', the metrics'): the card says why they differ
        fold_in |= {"fold_prior_during_training": prep.fold_prior, "fold_prior_of_validation_metrics": fold_in["fold_prior"]}
    origin = {
        "origin": base_encoder.origin,
        "origin_sha256": base_encoder.weights_id,
        "files_sha256": base_encoder.files_id,  # its tokenizer files and config.json
        "is_default": is_default_encoder(base_encoder),  # weights, tokenizer and config all the bundled default's
    }
    model = _finish(prep, config, head.cpu(), encoder, tables, state, origin)
    model.metrics_.update(fold_in)
    if encoder.device.type == "cpu":  # a loaded model encodes on the CPU: embeddings made elsewhere would not be its own
        model.stored_embeddings_ = encoder.snapshot(prep.context.items.texts + prep.context.profiles.texts)
    if config.refit_biases and prep.task == "regression" and len(prep.val_y):  # after the validation metrics
        model.validated_ = {k: v.detach().clone() for k, v in head.state_dict().items() if k in VALIDATED_KEYS}
        report("refitting", message="Refitting the user and item biases on the training and validation ratings")
        model.metrics_.update(refit_biases(head, tables, prep, config.seed))
        if head.fold_in:  # the prior for the final biases (chosen on training rows, as before)
            report("refitting", message="Choosing the fold-in prior for the refitted biases")
            model.metrics_.update(choose_fold_prior(head, tables, prep, config))
    model.meta_["data_name"] = getattr(dataset, "name", "")
    model.meta_["unread_event_columns"] = unread_event_columns(dataset.events.columns)
    model.meta_["events_fingerprint"] = dataset.events_fingerprint()  # diagnostics: which evaluation events it saw
    model.metrics_["train_seconds"] = round(state.seconds(), 2)  # a resumed run counts the time before its checkpoint too
    if state.seconds_before:
        model.metrics_["train_seconds_before_resume"] = round(state.seconds_before, 2)
    kept = state.best_epoch or state.epoch  # the epoch whose weights the model keeps
    report("done", epoch=kept, val_metric=state.best_metric,
           message=f"Training finished after {state.epoch} epochs; the weights of epoch {kept} are kept")
    return model


@dataclass
class _TrainState:
    """Loop state that a checkpoint carries."""

    epoch: int = 0  # completed epochs
    best_metric: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False  # early stopping triggered
    history: list | None = None
    best_head: dict | None = None
    best_encoder: dict | None = None
    seconds_before: float = 0.0  # training seconds of earlier processes, up to the checkpoint this run resumed from
    started: float = field(default_factory=time.monotonic)  # this process's start (not saved)

    def seconds(self) -> float:
        """Training seconds so far: this process's and those of the runs it resumed (up to their checkpoint)."""
        return self.seconds_before + time.monotonic() - self.started


def _loop(prep, config, head, encoder, tables, optimizer, state, device, report, stop, checkpoint_dir) -> None:
    """Epochs of shuffled minibatch steps with validation, early stopping and checkpoints."""
    task, n = prep.task, len(prep.train_y)
    batch_size = config.step_batch_size(n)
    id_l2, id_dropout = config.id_settings(task)
    steps = max(1, math.ceil(n / batch_size))
    state.history = state.history or []
    if state.best_head is None:
        state.best_head = _copy_state(head)
        state.best_encoder = _copy_state(encoder.model) if encoder is not None else None
    step_times: list[float] = []
    while state.epoch < config.n_epochs and not state.stopped:
        epoch = state.epoch + 1
        seed = _epoch_seed(config.seed, epoch)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(n, generator=generator)
        head.train()
        if encoder is not None:
            encoder.model.train()
        total_loss = 0.0
        for step in range(steps):
            if stop():
                raise TrainingCancelled(epoch, step, checkpoint_dir)
            tick = time.monotonic()
            index = order[step * batch_size : (step + 1) * batch_size]
            first = prep.train_first.take(index) if config.cold_first > 0 else None
            x = _drop_ids(prep.train_x.take(index), id_dropout, generator, prep.space, config.cold_history, first,
                          float(config.cold_first)).to(device)  # fmt: skip
            y = prep.train_y[index].to(device)
            items, profiles, x = tables(x)
            with _maybe_autocast(device, tables.mode):
                out = head(items, profiles, x).float()
            loss = _loss(task, out, y)
            objective = loss + id_l2 * _id_penalty(head, x) if id_l2 > 0 else loss
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 5.0)
            optimizer.step()
            total_loss += float(loss.detach())
            step_times.append(time.monotonic() - tick)
            remaining = (config.n_epochs - epoch) * steps + (steps - step - 1)
            report(
                "training", force=False, epoch=epoch, step=step + 1, total_steps=steps, loss=total_loss / (step + 1),
                eta_seconds=remaining * float(np.mean(step_times[-50:])), message=f"Epoch {epoch}/{config.n_epochs}",
            )  # val_metric only on the end-of-epoch report
        report("validating", epoch=epoch, message=f"Validating epoch {epoch}")
        # Early stopping reads the training mix, unweighted (as the training loss, which shares its curve): the logits
        # are not yet calibrated, and their offset on a 1:1 mix (Prepared.val_weight) would stop training early
        # (Online Retail: epoch 4 instead of 12, validation AUC 0.882 instead of 0.887; docs/BENCHMARKS.md).
        metric = val_metric(task, raw_scores(head, tables, prep.val_x, device), prep.val_y.numpy(), prep.label_stats)
        state.history.append({"epoch": epoch, "train_loss": total_loss / steps, "val_metric": metric})
        log.info("epoch %d: train loss %.4f, validation %.4f", epoch, total_loss / steps, metric)
        if metric < state.best_metric or math.isnan(state.best_metric) or not len(prep.val_y):
            state.best_metric, state.best_epoch, state.bad_epochs = metric, epoch, 0
            state.best_head = _copy_state(head)
            state.best_encoder = _copy_state(encoder.model) if encoder is not None else None
        else:
            state.bad_epochs += 1
            state.stopped = state.bad_epochs >= config.patience
            for group in optimizer.param_groups:  # a plateau: take smaller steps
                group["lr"] *= config.lr_decay
        state.epoch = epoch
        if checkpoint_dir is not None:
            _save(checkpoint_dir, prep, config, head, encoder, optimizer, state)
        report(
            "training", epoch=epoch, step=steps, total_steps=steps, loss=total_loss / steps, val_metric=metric,
            message=f"Epoch {epoch}: validation {metric:.4f} (best {state.best_metric:.4f} at epoch {state.best_epoch})",
        )


def _copy_state(module: torch.nn.Module) -> dict:
    """A detached CPU copy of a module's state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _run_identity(prep: Prepared, config: TrainConfig) -> dict:
    """What a checkpoint must match to be resumed: data, target and config."""
    return {"data_fingerprint": prep.fingerprint, "target": prep.target, "config": config.to_dict()}


def _save(checkpoint_dir, prep, config, head, encoder, optimizer, state: _TrainState) -> None:
    """Write the end-of-epoch checkpoint."""
    tensors = {f"head.{k}": v for k, v in head.state_dict().items()}
    tensors.update({f"best_head.{k}": v for k, v in state.best_head.items()})
    if encoder is not None:
        tensors.update({f"encoder.{k}": v for k, v in encoder.model.state_dict().items()})
        tensors.update({f"best_encoder.{k}": v for k, v in (state.best_encoder or {}).items()})
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        **_run_identity(prep, config),
        "epoch": state.epoch,
        "best_metric": None if math.isinf(state.best_metric) else state.best_metric,
        "best_epoch": state.best_epoch,
        "bad_epochs": state.bad_epochs,
        "stopped": state.stopped,
        "history": state.history,
        "seconds": state.seconds(),
    }
    save_checkpoint(checkpoint_dir, tensors, optimizer.state_dict(), meta)


def _resume(checkpoint_dir, prep, config, head, encoder, optimizer, started: float) -> _TrainState | None:
    """Load a matching checkpoint into head/encoder/optimizer; None when there is none or it doesn't match."""
    loaded = load_checkpoint(checkpoint_dir)
    if loaded is None:
        return None
    tensors, optimizer_state, meta = loaded
    identity = _run_identity(prep, config)
    if any(meta.get(k) != v for k, v in identity.items()):
        log.warning("Checkpoint in %s is from a different run (data, target or config); starting afresh.", checkpoint_dir)
        return None
    head.load_state_dict(_section(tensors, "head."))
    if encoder is not None:
        encoder.model.load_state_dict(_section(tensors, "encoder."))
    optimizer.load_state_dict(optimizer_state)
    torch.set_rng_state(tensors["rng.torch"])
    log.info("Resuming from %s after epoch %d", checkpoint_dir, meta["epoch"])
    return _TrainState(
        epoch=meta["epoch"],
        best_metric=math.inf if meta["best_metric"] is None else meta["best_metric"],
        best_epoch=meta["best_epoch"],
        bad_epochs=meta["bad_epochs"],
        stopped=meta["stopped"],
        history=meta["history"],
        best_head=_section(tensors, "best_head."),
        best_encoder=_section(tensors, "best_encoder.") if encoder is not None else None,
        seconds_before=float(meta.get("seconds", 0.0)),  # checkpoints written before it carry none
        started=started,
    )


def _section(tensors: dict, prefix: str) -> dict:
    """The tensors under a key prefix, prefix removed."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def as_new_users(x: Inputs, first: FirstEvents, space: FeatureSpace, visible: int) -> Inputs:
    """Rows as a new user would have them: user ID unknown, only the user's first `visible` events as history."""
    k = x.hist_mask.shape[1]
    hist_row, hist_kind, hist_feat, mask, hist_item = first.history(torch.full((len(x),), visible, dtype=torch.long), k)
    numeric = x.numeric.clone()
    numeric[:, 0] = _history_length(mask, space)
    if space.repeat_kinds:
        numeric[:, -1] = _visible_repeats(x, mask, hist_row, hist_kind, space)
    return replace(x, user=torch.zeros_like(x.user), hist_row=hist_row, hist_kind=hist_kind, hist_feat=hist_feat,
                   hist_mask=mask, hist_item=hist_item, numeric=numeric, n_before=mask.sum(1).to(x.n_before.dtype))  # fmt: skip


def choose_fold_prior(head: ValueHead, tables: Tables, prep: Prepared, config: TrainConfig, min_rows: int = 50,
                      max_rows: int = 20_000) -> dict:  # fmt: skip
    """Set the fold-in prior with which the trained model best predicts known users' later ratings from their first ones.

    Rows: up to `max_rows` training events (seeded sample) of users with more than `cold_history` earlier
    events, scored as a new user is: user ID unknown, only the user's first `cold_history` events visible.
    Candidates: FOLD_IN_PRIORS and no fold-in; the least RMSE wins. This is examples.fold_in_prior's
    question asked of the whole model, whose content part also reads the new user's history (MovieLens:
    15-20 here against 10 for the bias-only fit). Training rows, not validation ones: the validation
    period's known users had their first events long before (years, on MovieLens), and there every
    fold-in hurt, while a new user's next ratings follow their first ones. With fewer than `min_rows`
    rows, the bias-only fit stays. Returns the metrics that record the choice (fold_prior, fold_prior_source).
    """
    x, first, n = prep.train_x, prep.train_first, config.cold_history
    rows = torch.nonzero((x.user > 0) & (first.count > n)).squeeze(1)
    rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(config.seed))[:max_rows]]
    if len(rows) < min_rows:
        return {"fold_prior": float(head.fold_prior), "fold_prior_source": "bias-only fit on the training users' first ratings"}
    sim = as_new_users(x.take(rows), first.take(rows), prep.space, n)
    stats = prep.label_stats
    y = (stats["mean"] + stats["std"] * prep.train_y[rows].double()).numpy()
    errors = {}
    for prior, raw in prior_scores(head, tables, sim, (*FOLD_IN_PRIORS, NO_FOLD_IN)).items():
        pred = np.clip(stats["mean"] + stats["std"] * raw, stats["min"], stats["max"])
        errors[prior] = float(np.sqrt(np.mean((pred - y) ** 2)))
    best = min(errors, key=errors.get)
    head.fold_prior.fill_(best)
    log.info("fold-in prior %s (RMSE by prior: %s)", best, {k: round(v, 4) for k, v in errors.items()})
    return {"fold_prior": float(best), "fold_prior_source": f"the trained model on {len(rows)} training ratings of known users shown as new users"}


VALIDATED_KEYS = ("global_bias", "user_bias.weight", "item_bias.weight", "fold_prior")  # what refit_biases changes


def refit_biases(head: ValueHead, tables: Tables, prep: Prepared, seed: int = 0, iterations: int = 15) -> dict:
    """Refit the global, user and item biases to the training and validation ratings, the rest of the model fixed.

    Early stopping holds back the most recent share of the ratings; once it has chosen the epoch, those
    ratings still tell the biases about their users and items (and the latest tastes). The biases take the
    ridge fit that init_biases starts them at, now of what the trained rest of the model leaves (label
    minus content, cross and ID terms) on all rows, with the penalty chosen by 5-fold cross-validation on
    those rows. The unknown rows (code 0) keep their trained values. Measured in benchmarks/quality.py
    (docs/BENCHMARKS.md). Returns the metrics that record it.
    """
    stats = prep.label_stats
    u = np.concatenate([prep.train_x.user.numpy(), prep.val_x.user.numpy()])
    i = np.concatenate([prep.train_x.item.numpy(), prep.val_x.item.numpy()])
    y = np.concatenate([prep.train_y.double().numpy(), (prep.val_y.double().numpy() - stats["mean"]) / stats["std"]])
    raw = np.concatenate([raw_scores(head, tables, x, torch.device("cpu")) for x in (prep.train_x, prep.val_x)])
    with torch.no_grad():
        bu, bi = head.user_bias.weight[:, 0].double().numpy(), head.item_bias.weight[:, 0].double().numpy()
        rest = y - (raw - bu[u] - bi[i] - float(head.global_bias))  # what the biases are asked to explain
        reg, errors = cv_bias_reg(u, i, rest, len(bu), len(bi), seed=seed, iterations=iterations)
        log.info("biases refit on %d rows, penalty %s (5-fold CV error by penalty: %s)", len(rest), reg, {k: round(v, 5) for k, v in errors.items()})
        mu, new_u, new_i = ridge_biases(u, i, rest, len(bu), len(bi), reg, iterations)
        new_u[0], new_i[0] = bu[0], bi[0]
        head.global_bias.fill_(mu)
        head.user_bias.weight.copy_(torch.as_tensor(new_u, dtype=torch.float32).unsqueeze(1))
        head.item_bias.weight.copy_(torch.as_tensor(new_i, dtype=torch.float32).unsqueeze(1))
    return {"biases_refit_rows": int(len(y)), "biases_refit_penalty": reg}


def _finish(prep, config, head, encoder, tables, state, origin: dict) -> ValueModel:
    """Calibration (binary), validation metrics and the ValueModel."""
    raw = raw_scores(head, tables, prep.val_x, torch.device("cpu")) if len(prep.val_y) else np.zeros(0)
    y = prep.val_y.numpy().astype(np.float64)
    metrics: dict = {"n_" + k: v for k, v in prep.n_examples.items()}
    metrics.update(prep.baseline)
    metrics.update({"best_epoch": state.best_epoch, "epochs_run": state.epoch, "batch_size": config.step_batch_size(len(prep.train_y))})
    cutoff = prep.validation_cutoff_ms
    metrics["validation_split"] = "random" if cutoff is None else "time"
    metrics["validation_cutoff"] = None if cutoff is None else pd.Timestamp(cutoff, unit="ms", tz="UTC").isoformat()
    calibration = {"method": "none"}
    if prep.task == "regression":
        pred = np.clip(prep.label_stats["mean"] + prep.label_stats["std"] * raw, prep.label_stats["min"], prep.label_stats["max"])
        if len(y):
            metrics["val_rmse"] = float(np.sqrt(np.mean((pred - y) ** 2)))
            metrics["val_mae"] = float(np.mean(np.abs(pred - y)))
    else:
        w = prep.val_weight  # None: every row counts 1
        calibration = calibrate(raw, y, w)
        if prep.per_positive > 1:  # the card says which mix the probabilities are relative to
            calibration["sampled_weight"] = 1.0 / prep.per_positive
        from uvp_core.model.value_model import apply_calibration

        p = np.clip(apply_calibration(calibration, raw), 1e-7, 1 - 1e-7)
        if len(y):
            metrics["val_auc"] = _auc(y, raw, w)
            metrics["val_logloss"] = float(-np.average(y * np.log(p) + (1 - y) * np.log(1 - p), weights=w))
            metrics["val_logloss_uncalibrated"] = val_metric("binary", raw, y, prep.label_stats)  # the training mix, as the
            #   curves' validation log loss: the uncalibrated logits on the weighted mix read as a coin flip (0.69)
            metrics["val_brier"] = float(np.average((p - y) ** 2, weights=w))
            metrics["val_base_rate"] = float(np.average(y, weights=w))
    return ValueModel(
        config=config,
        target=prep.target,
        task=prep.task,
        space=prep.space,
        head=head,
        encoder=encoder,
        label_stats=prep.label_stats,
        calibration=calibration,
        metrics=metrics,
        history=state.history or [],
        data_fingerprint=prep.fingerprint,
        fine_tuned=config.mode == "finetune",
        encoder_origin=origin,
    )


# --- time estimate --------------------------------------------------------------------------


def estimate_training_time(dataset, config: TrainConfig | None = None, encoder_dir: str | Path | None = None) -> float:
    """Seconds a full run would take (all epochs), measured on a few real steps on this machine."""
    config = config or TrainConfig()
    device = resolve_device(config.device)
    encoder = load_encoder(encoder_dir, max_tokens=config.max_tokens, device=device)
    prep = prepare(dataset, config, device)
    if config.mode == "finetune":
        encoder = encoder.trainable_copy()
    return _estimate(prep, encoder, config, device)


def _estimate(prep: Prepared, encoder: TextEncoder, config: TrainConfig, device: torch.device) -> float:
    """Seconds for a full run: text encoding + epochs x (training steps + validation), from timed real steps."""
    finetune = config.mode == "finetune"
    batch_size = config.step_batch_size(len(prep.train_y))
    threads = config.threads if device.type == "cpu" else -1
    if finetune:
        tables = Tables(prep, encoder, "finetune", device)
        with fixed_threads(threads):
            per_text = _time_inference(encoder, tables.item_tokens)
        n_texts = len(tables.item_tokens) + len(tables.profile_tokens)
        val_rows = torch.cat([prep.val_x.item_row, prep.val_x.hist_row.reshape(-1)]).unique()
        encode_seconds = per_text * n_texts  # the final re-encoding with the tuned encoder
        val_seconds = per_text * (len(val_rows) + len(prep.val_x.profile_row.unique()))  # per epoch
    else:
        texts = prep.context.items.texts + prep.context.profiles.texts
        probe = texts[: min(64, len(texts))]
        tick = time.monotonic()
        encoder.encode(probe)  # cached: not wasted
        encode_seconds = (time.monotonic() - tick) / max(1, len(probe)) * max(0, len(texts) - len(probe))
        tables = _RandomTables(prep, encoder.dim, device)
        val_seconds = None
    state = {k: v.clone() for k, v in encoder.model.state_dict().items()} if finetune else None
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), fixed_threads(threads):
        head = build_head(prep, encoder.dim, config).to(device)
        optimizer = build_optimizer(head, encoder if finetune else None, config)
        generator = torch.Generator().manual_seed(config.seed)
        times = []
        for _ in range(3 if finetune else 4):  # the first step warms kernels up and is not counted
            index = torch.randint(0, len(prep.train_y), (min(batch_size, len(prep.train_y)),), generator=generator)
            tick = time.monotonic()
            items, profiles, x = tables(prep.train_x.take(index).to(device))
            loss = _loss(prep.task, head(items, profiles, x).float(), prep.train_y[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            times.append(time.monotonic() - tick)
    if state is not None:
        encoder.model.load_state_dict(state)
    step = float(np.median(times[1:]))
    steps = math.ceil(len(prep.train_y) / batch_size)
    if val_seconds is None:
        val_seconds = 0.3 * step * math.ceil(len(prep.val_y) / batch_size)
    return encode_seconds + config.n_epochs * (steps * step + val_seconds)


def _time_inference(encoder: TextEncoder, tokens: list[list[int]]) -> float:
    """Seconds per text for inference encoding, timed after a warm-up batch."""
    probe = tokens[: min(64, len(tokens))]
    if not probe:
        return 0.0
    with torch.inference_mode():
        encoder.pooled(probe[:8])
        tick = time.monotonic()
        encoder.pooled(probe)
    return (time.monotonic() - tick) / len(probe)


class _RandomTables:
    """Stand-in text tables of the right shape, for timing head steps before encoding."""

    mode = "frozen"

    def __init__(self, prep: Prepared, dim: int, device: torch.device):
        self.items = torch.randn(max(1, len(prep.context.items.texts)), dim + prep.space.item_width, device=device)
        self.profiles = torch.randn(max(1, len(prep.context.profiles.texts)), dim + prep.space.user_width, device=device)

    def __call__(self, x: Inputs) -> tuple[torch.Tensor, torch.Tensor, Inputs]:
        return self.items, self.profiles, x
