"""The trained value model: predict, recommend, show what it reads, and score editable inputs."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from uvp_core.model.config import TrainConfig
from uvp_core.model.encoder import StoredEmbeddings, TextEncoder
from uvp_core.model.features import (
    NAT_MS,
    Context,
    FeatureSpace,
    Inputs,
    numeric_features,
    one_hot,
    read_positions,
    to_ms,
    with_extras,
)
from uvp_core.model.network import ValueHead
from uvp_core.model.threads import governed_threads
from uvp_core.text.templates import (
    PairTexts,
    fields_by_id,
    history_frame,
    render_item,
    render_items,
    render_pair_texts,
    render_profile,
    row_fields,
)

log = logging.getLogger(__name__)

SCORE_BATCH = 512  # rows per scoring block (fixed shape, zero-padded; small enough that a call for a few hundred
#                    pairs does not pay for thousands: 2,048 held Amazon's 752-pair splits to 11,000 pairs/s)
PROJECT_BLOCK = 1024  # text-table rows per projection block (fixed shape, zero-padded)
CONTEXT_CACHE = 2  # prepared Datasets kept per model (by fingerprint)
ISOTONIC_TIE_BREAK = 1e-6  # keeps logit order inside isotonic steps (see apply_calibration)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def calibrate(raw: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> dict:
    """Fit probability calibration on validation logits (rows weighted by `weight`, default 1): centred isotonic
    (>= 1000 rows, both classes) or Platt."""
    raw, y = np.asarray(raw, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=np.float64)
    if len(y) < 2 or y.min() == y.max():
        return {"method": "none"}
    if len(y) >= 1000 and min(y.sum(), len(y) - y.sum()) >= 50:
        x, p = centred_isotonic(raw, y, w)
        return {"method": "isotonic", "centred": True, "x": x.tolist(), "y": p.tolist()}
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e4).fit(raw[:, None], y, sample_weight=w)
    return {"method": "platt", "a": float(platt.coef_[0, 0]), "b": float(platt.intercept_[0])}


def centred_isotonic(raw: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic regression's steps as points at each step's (weighted) mean logit, to interpolate between (centred
    isotonic regression): a strictly increasing map, so predictions no longer tie across whole steps."""
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(raw, kind="stable")
    xs = raw[order]
    ws = np.ones_like(xs) if weight is None else np.asarray(weight, dtype=np.float64)[order]
    fitted = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(xs, y[order], sample_weight=ws).predict(xs)
    starts = np.r_[0, np.flatnonzero(np.diff(fitted) != 0) + 1]  # one step per run of equal fitted values
    centres = np.add.reduceat(xs * ws, starts) / np.add.reduceat(ws, starts)
    return centres, fitted[starts]


def apply_calibration(calibration: dict, raw: np.ndarray) -> np.ndarray:
    """Calibrated probabilities from logits."""
    method = calibration.get("method", "none")
    if method == "isotonic":
        # Isotonic calibration is a step function (models saved before centred steps; centred ones are flat
        # only beyond their end points): whole ranges of logits share one probability, which would erase the
        # ranking (AUC, top-K) among them. A tie-breaker far below any meaningful probability difference keeps
        # the order of the logits.
        stepped = np.interp(raw, calibration["x"], calibration["y"])
        return np.clip(stepped + ISOTONIC_TIE_BREAK * (sigmoid(raw) - 0.5), 0.0, 1.0)
    if method == "platt":
        return sigmoid(calibration["a"] * np.asarray(raw) + calibration["b"])
    return sigmoid(raw)


@dataclass(frozen=True)
class HistoryEvent:
    """One past event in editable inputs: which item, what kind (a name from `model.kinds_`), when."""

    item_id: str
    kind: str
    timestamp: pd.Timestamp


@dataclass
class PairInputs:
    """Explicit, editable inputs for scoring one (user, item) pair (for what-if and SHAP work)."""

    profile: dict[str, Any]  # user attributes, e.g. {"region": "North"} (rendered with the profile template)
    history: list[HistoryEvent]  # past events, any order; the most recent `history_k` are used
    item: dict[str, Any]  # candidate item fields: title, category, description, price, other attributes
    user_id: str | None = None  # None -> the unknown-user ID row
    item_id: str | None = None  # None -> the unknown-item ID row
    time: pd.Timestamp | None = None  # prediction time; None -> the latest history event
    n_earlier: int = 0  # events older than those listed (only their count is used: log history length)
    item_popularity: float | None = None  # None -> the training count of item_id (0 when unknown)
    history_fields: dict[str, dict] = field(default_factory=dict)  # item_id -> fields for history items
    item_text: str | None = None  # the candidate item's text exactly as the encoder reads it (None -> from `item`)
    profile_text: str | None = None  # the profile text exactly as the encoder reads it (None -> from `profile`)
    reserve: list[HistoryEvent] = field(default_factory=list)  # events of the window not read (older, or views with no
    # free slot), oldest first, counted in n_earlier: a what-if removal lets them in as deleting an event from the data
    # would (explain.whatif.within_window); scoring reads them only in the repeat count (FeatureSpace.repeat_kinds)
    earlier_repeats: int = 0  # events of the repeat kinds on the candidate item older than those listed (history, reserve)
    repeat_of: str | None = None  # the item whose listed events count as repeats (None -> item_id; kept when an
    #   explanation masks the item ID, which hides the item's learned terms, not which item the user bought before)

    def repeats(self, kinds: Collection[str]) -> int:
        """The user's earlier events of these kinds on the candidate item: those listed, then the older ones."""
        item = self.repeat_of if self.repeat_of is not None else self.item_id
        return count_on(item, [*self.history, *self.reserve], kinds) + self.earlier_repeats if item is not None else 0


def count_on(item_id: str | None, events: Sequence[HistoryEvent], kinds: Collection[str]) -> int:
    """How many of these events are of one of `kinds` on item_id."""
    return sum(1 for e in events if e.item_id == item_id and e.kind in kinds)


class ValueModel:
    """A trained value model (see `uvp_core.model.train`)."""

    def __init__(
        self,
        *,
        config: TrainConfig,
        target: str,
        task: str,
        space: FeatureSpace,
        head: ValueHead,
        encoder: TextEncoder,
        label_stats: dict,
        calibration: dict,
        metrics: dict,
        history: list,
        data_fingerprint: str,
        fine_tuned: bool,
        encoder_origin: dict,
        meta: dict | None = None,
        validated: dict[str, torch.Tensor] | None = None,
        stored_embeddings: StoredEmbeddings | None = None,
    ):
        self.config = config
        self.target = target
        self.task = task  # "regression" | "binary"
        self.space_ = space
        self.head_ = head.eval()
        self.encoder_ = encoder
        self.label_stats_ = label_stats
        self.calibration_ = calibration
        self.metrics_ = metrics
        self.history_ = history
        self.data_fingerprint_ = data_fingerprint
        self.fine_tuned = fine_tuned
        self.encoder_origin_ = encoder_origin  # origin folder, its weights' sha256, is_default
        self.meta_ = meta or {}
        self.validated_ = validated  # the head's biases (and fold-in prior) before training.refit_biases, or None
        self.stored_embeddings_ = stored_embeddings  # the training texts' embeddings, saved with the model (or None)
        self._contexts: OrderedDict[str, Context] = OrderedDict()
        self._lock = threading.RLock()  # contexts grow lazily; serialise scoring calls from UI threads

    # --- introspection ------------------------------------------------------------------------

    @property
    def kinds_(self) -> list[str]:
        """The event-kind names the model knows (for HistoryEvent.kind)."""
        return list(self.space_.kinds)

    @property
    def history_k(self) -> int:
        """How many recent events the model reads."""
        return self.space_.template.history_k

    def as_validated(self) -> ValueModel:
        """The model as its validation metrics measured it: the biases before refit_biases read the validation
        period (this model when they were not refitted). Held-out diagnostics on the training data score it."""
        if not self.validated_:
            return self
        twin = copy.copy(self)  # shares the encoder and the per-dataset contexts (their projections do not use biases)
        twin.head_ = copy.deepcopy(self.head_)
        twin.head_.load_state_dict(self.validated_, strict=False)
        twin.validated_ = None
        return twin

    @property
    def late_kinds(self) -> list[str]:
        """Event kinds read only in the history places the others leave free (FeatureSpace.late_kinds)."""
        return list(self.space_.late_kinds)

    def __repr__(self) -> str:
        return f"ValueModel(target={self.target!r}, task={self.task!r}, mode={self.config.mode!r}, metrics={self.metrics_})"

    # --- scoring --------------------------------------------------------------------------------

    def context(self, dataset) -> Context:
        """The prepared form of a Dataset (cached by fingerprint)."""
        key = dataset.fingerprint()
        if key in self._contexts:
            self._contexts.move_to_end(key)
            return self._contexts[key]
        context = Context(dataset, self.space_)
        self._contexts[key] = context
        while len(self._contexts) > CONTEXT_CACHE:
            self._contexts.popitem(last=False)
        return context

    def _predict(self, dataset, pairs: pd.DataFrame) -> np.ndarray:
        """See predict()."""
        missing = {"user_id", "item_id"} - set(pairs.columns)
        if missing:
            raise ValueError(f"pairs needs columns user_id and item_id (missing: {', '.join(sorted(missing))})")
        context = self.context(dataset)
        times = None
        if "timestamp" in pairs.columns:
            times = to_ms(pairs["timestamp"].reset_index(drop=True))
        x = context.inputs(
            pairs["user_id"].astype(str).to_numpy(dtype=object), pairs["item_id"].astype(str).to_numpy(dtype=object), times
        )
        raw = self._raw(context.items.encode(self.encoder_), context.profiles.encode(self.encoder_), x, context.projected)
        return self._transform(raw)

    def _raw(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs, cache: dict | None = None) -> np.ndarray:
        """Head outputs for inputs; every matrix product runs in fixed-shape blocks (zero-padded), so a
        pair's prediction does not depend on the other pairs in the call, their order, or earlier calls."""
        outs = []
        with torch.inference_mode(), governed_threads() as governor:
            if governor is not None:
                governor.adjust()
            item_proj, profile_proj = self._projected(items, profiles, cache)
            for start in range(0, len(x), SCORE_BATCH):
                batch = x.take(slice(start, start + SCORE_BATCH))
                n = len(batch)
                if n < SCORE_BATCH:
                    batch = Inputs.concat([batch, x.take(torch.zeros(SCORE_BATCH - n, dtype=torch.long))])
                outs.append(self.head_.score(item_proj, profile_proj, batch)[:n])
        return torch.cat(outs).double().numpy() if outs else np.zeros(0)

    def _projected(self, items: torch.Tensor, profiles: torch.Tensor, cache: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected text tables; with a cache, only rows added since the last call are projected."""
        cache = {} if cache is None else cache
        for name, table, layer in (("items", items, self.head_.project_items), ("profiles", profiles, self.head_.project_profiles)):
            done = cache.get(name)
            have = 0 if done is None else len(done)
            if have < len(table):
                new = _blocked(layer, table[have:])
                cache[name] = new if done is None else torch.cat([done, new])
        return cache["items"], cache["profiles"]

    def _transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw head outputs -> label units (clipped to the observed range) or calibrated probabilities."""
        if self.task == "regression":
            s = self.label_stats_
            return np.clip(s["mean"] + s["std"] * raw, s["min"], s["max"])
        return apply_calibration(self.calibration_, raw)

    def _recommend(self, dataset, user_id: str, k: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame:
        """See recommend()."""
        context = self.context(dataset)
        candidates = np.asarray(context.item_index, dtype=object)
        if exclude_seen:
            seen = dataset.events.loc[dataset.events["user_id"] == user_id, "item_id"].unique()
            candidates = candidates[~pd.Index(candidates).isin(seen)]
        if len(candidates):
            pairs = pd.DataFrame({"user_id": user_id, "item_id": candidates})
            x = context.inputs(pairs["user_id"].to_numpy(dtype=object), candidates, None)
            raw = self._raw(context.items.encode(self.encoder_), context.profiles.encode(self.encoder_), x, context.projected)
            scores = self._transform(raw)
            order = np.lexsort((candidates.astype(str), -raw, -scores))[:k]  # score, then raw logit, then id
            out = pd.DataFrame({"item_id": candidates[order], "score": scores[order], "rank": np.arange(1, len(order) + 1)})
        else:  # every item seen: no rows, the same columns
            out = pd.DataFrame({"item_id": pd.Series([], dtype=object), "score": pd.Series([], dtype=float), "rank": pd.Series([], dtype=int)})
        if dataset.items is not None:
            extra = [c for c in ("title", "category") if c in dataset.items.columns]
            if extra:
                info = dataset.items.drop_duplicates("item_id").set_index("item_id")[extra]
                out = out.join(info, on="item_id")
        return out

    def predict(self, dataset, pairs: pd.DataFrame) -> np.ndarray:
        """Predictions for (user_id, item_id[, timestamp]) rows, in input order (label units / probability).

        History for a pair = the user's events in `dataset` strictly before its timestamp (all events when
        there is no timestamp column or the value is missing). Unknown users/items are scored from text,
        attributes and history. Each pair's prediction is independent of the other pairs in the call.
        """
        if not len(pairs):
            return np.zeros(0)
        with self._lock:
            return self._predict(dataset, pairs)

    def recommend(self, dataset, user_id: str, k: int = 10, *, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-k items for a user (items they have not interacted with), with scores, best first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        with self._lock:
            return self._recommend(dataset, user_id, k, exclude_seen=exclude_seen)

    def score_inputs(self, rows: Sequence[PairInputs]) -> np.ndarray:
        """Predictions for explicit inputs (batched): edit or mask fields, then re-score."""
        with self._lock:
            return self._score_inputs(rows)

    # --- what the model reads -----------------------------------------------------------------

    def warm_up(self) -> float:
        """Set up the encoder's kernels and score one empty pair, so the first explanation is quick; seconds taken."""
        started = time.perf_counter()
        self.encoder_.warm_up()
        self.score_inputs([PairInputs(profile={}, history=[], item={})])
        return time.perf_counter() - started

    def texts(self, dataset, user_id: str, item_id: str, time: pd.Timestamp | None = None) -> PairTexts:
        """The rendered texts (profile, history lines, item) the model reads for one (user, item, time)."""
        return render_pair_texts(
            dataset, user_id, item_id, _timestamp(time), context=self.space_.template,
            user_columns=self.space_.user_columns, item_columns=self.space_.item_columns,
        )

    def rendered_texts(self, inputs: PairInputs) -> dict[str, str]:
        """The candidate item's and the profile's texts as the encoder reads them for these inputs."""
        template = self.space_.template
        return {
            "item": render_item(inputs.item, inputs.item_id or "unknown", template) if inputs.item_text is None else inputs.item_text,
            "profile": render_profile(inputs.profile) if inputs.profile_text is None else inputs.profile_text,
        }

    def read_history(self, window: Sequence[HistoryEvent], item_id: str | None) -> list[HistoryEvent]:
        """The `history_k` events of a window (oldest first) that the model reads for a candidate item: the item's
        own events of non-target kinds are left out (FeatureSpace.target_kinds), views fill free slots only."""
        return self.split_history(window, item_id)[0]

    def split_history(self, window: Sequence[HistoryEvent], item_id: str | None) -> tuple[list[HistoryEvent], list[HistoryEvent]]:
        """(read_history's events, the window's other events that could be read: the reserve), both oldest first."""
        kinds = self.space_.target_kinds
        if kinds:
            window = [e for e in window if not (e.item_id == item_id and e.kind not in kinds)]
        read = set(read_positions([e.kind for e in window], self.late_kinds, self.history_k))
        return [e for j, e in enumerate(window) if j in read], [e for j, e in enumerate(window) if j not in read]

    def _read_slots(self, events: Sequence[HistoryEvent]) -> list[HistoryEvent]:
        """The events (oldest first) that fill the history_k slots (features.read_slots)."""
        return [events[j] for j in read_positions([e.kind for e in events], self.late_kinds, self.history_k)]

    def pair_inputs(self, dataset, user_id: str, item_id: str, time: pd.Timestamp | None = None) -> PairInputs:
        """Editable inputs equal to what predict() uses for this pair (time None -> the latest event)."""
        time = _timestamp(time)
        space = self.space_
        events = dataset.events
        mine = events.loc[events["user_id"] == user_id]
        before = mine if time is None else mine.loc[mine["timestamp"] < time]
        recent = history_frame(events, user_id, time, space.history_window).iloc[::-1]  # oldest first
        window = [
            HistoryEvent(str(i), str(kind), ts)
            for i, kind, ts in zip(recent["item_id"], space.kind_names(recent), recent["timestamp"], strict=True)
        ]
        history, reserve = self.split_history(window, item_id)
        listed = {h.item_id for h in [*history, *reserve]}
        found = fields_by_id(dataset.items, "item_id", listed, space.item_columns)
        fields = {i: found.get(i, {}) for i in listed}  # {} for an item the items table lacks
        now = time if time is not None else (events["timestamp"].max() if len(events) else None)
        repeats = int((before["item_id"].astype(str).eq(str(item_id)) & pd.Series(space.kind_names(before), index=before.index)
                       .isin(space.repeat_kinds)).sum()) if space.repeat_kinds else 0  # fmt: skip
        shown = count_on(str(item_id), [*history, *reserve], space.repeat_kinds)
        return PairInputs(
            profile=row_fields(dataset.users, "user_id", user_id, space.user_columns),
            history=history,
            item=row_fields(dataset.items, "item_id", item_id, space.item_columns),
            user_id=user_id,
            item_id=item_id,
            time=now,
            n_earlier=max(0, len(before) - len(history)),
            history_fields=fields,
            reserve=reserve,
            earlier_repeats=max(0, repeats - shown),
        )

    def _score_inputs(self, rows: Sequence[PairInputs]) -> np.ndarray:
        """See score_inputs()."""
        space, k, template = self.space_, self.history_k, self.space_.template
        n = len(rows)
        item_texts: dict[tuple[str, bytes], int] = {}  # (text, one-hot block) -> table row
        profile_texts: dict[tuple[str, bytes], int] = {}
        rendered: dict[tuple[str, str], tuple[str, bytes]] = {}  # (item id, fields) -> key, for repeated history items

        def text_row(table: dict[tuple[str, bytes], int], key: tuple[str, bytes]) -> int:
            return table.setdefault(key, len(table))

        def item_key(text: str, fields: dict) -> tuple[str, bytes]:
            hot = space.item_hot([fields])
            return text, hot[0].tobytes() if hot is not None else b""

        def history_text(item_id: str, fields: dict) -> tuple[str, bytes]:
            key = (item_id, repr(fields))
            if key not in rendered:
                rendered[key] = item_key(render_item(fields, item_id, template), fields)
            return rendered[key]

        item_row = np.zeros(n, np.int64)
        profile_row = np.zeros(n, np.int64)
        hist_row = np.zeros((n, k), np.int64)
        hist_age = np.zeros((n, k))
        hist_mask = np.zeros((n, k), bool)
        n_before = np.zeros(n)
        price = np.full(n, np.nan)
        repeats = np.array([row.repeats(space.repeat_kinds) for row in rows]) if space.repeat_kinds else None
        kind_slots: list[tuple[int, int]] = []
        kind_names: list[str] = []
        slot_items: list[str] = []
        for r, row in enumerate(rows):
            texts = self.rendered_texts(row)
            profile_key = one_hot([row.profile], space.user_levels)[0].tobytes() if space.user_levels else b""
            profile_row[r] = text_row(profile_texts, (texts["profile"], profile_key))
            item_row[r] = text_row(item_texts, item_key(texts["item"], row.item))
            events = self._read_slots(sorted(row.history, key=lambda e: pd.Timestamp(e.timestamp)))
            now = pd.Timestamp(row.time) if row.time is not None else (pd.Timestamp(events[-1].timestamp) if events else None)
            offset = k - len(events)
            for j, event in enumerate(events):
                fields = row.history_fields.get(event.item_id, {})
                hist_row[r, offset + j] = text_row(item_texts, history_text(event.item_id, fields))
                hist_age[r, offset + j] = (now - pd.Timestamp(event.timestamp)).total_seconds() / 86400.0
                kind_slots.append((r, offset + j))
                kind_names.append(event.kind)
                slot_items.append(event.item_id)
            hist_mask[r, offset:] = bool(events)
            n_before[r] = len(events) + row.n_earlier
            price[r] = _as_float(row.item.get("price"))
        hist_kind = np.zeros((n, k), np.int64)
        hist_item = np.zeros((n, k), np.int64)
        if kind_slots:
            slots = np.asarray(kind_slots)
            hist_kind[slots[:, 0], slots[:, 1]] = space.kind_codes(kind_names)
            hist_item[slots[:, 0], slots[:, 1]] = space.item_codes(slot_items)
        sentinel = "\x00unknown"  # None -> a key no vocabulary holds -> code 0
        users = space.user_codes([row.user_id if row.user_id is not None else sentinel for row in rows])
        items = space.item_codes([row.item_id if row.item_id is not None else sentinel for row in rows])
        popularity = space.item_popularity(items)
        given = [r for r, row in enumerate(rows) if row.item_popularity is not None]
        popularity[given] = [rows[r].item_popularity for r in given]
        x = Inputs.build(
            user=users,
            item=items,
            profile_row=profile_row,
            item_row=item_row,
            hist_row=hist_row,
            hist_kind=hist_kind,
            hist_item=hist_item,
            hist_age=hist_age,
            hist_mask=hist_mask,
            numeric=space.standardize(numeric_features(n_before, popularity, price, repeats)),
            n_before=n_before,
        )
        item_table = with_extras(self.encoder_.encode([t for t, _ in item_texts]), _blocks(item_texts, space.item_width))
        profile_table = with_extras(self.encoder_.encode([t for t, _ in profile_texts]), _blocks(profile_texts, space.user_width))
        return self._transform(self._raw(item_table, profile_table, x))

    def item_texts(self, dataset, item_ids: Sequence[str]) -> list[str]:
        """Item texts as the model renders them."""
        return render_items(dataset.items, list(item_ids), self.space_.template, self.space_.item_columns)

    # --- persistence ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model folder atomically (see uvp_core.model.persistence); returns its path."""
        from uvp_core.model.persistence import save_model

        return save_model(self, path)


def _blocks(keys: dict[tuple[str, bytes], int], width: int) -> list[np.ndarray]:
    """The one-hot blocks of (text, block bytes) keys, in table-row order (none when width is 0)."""
    return [np.frombuffer(block, dtype=np.float32) for _, block in keys] if width else []


def _as_float(value: Any) -> float:
    """A number from a field value, NaN when missing or not numeric."""
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _blocked(layer: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """layer(rows) computed in zero-padded blocks of PROJECT_BLOCK rows (shape-independent results)."""
    out = []
    for start in range(0, len(rows), PROJECT_BLOCK):
        block = rows[start : start + PROJECT_BLOCK]
        n = len(block)
        if n < PROJECT_BLOCK:
            block = torch.cat([block, block.new_zeros(PROJECT_BLOCK - n, block.shape[1])])
        out.append(layer(block)[:n])
    return torch.cat(out)


def _timestamp(value) -> pd.Timestamp | None:
    """A UTC Timestamp (ms), or None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ms")


__all__ = ["HistoryEvent", "PairInputs", "ValueModel", "count_on", "apply_calibration", "calibrate", "sigmoid", "NAT_MS"]
