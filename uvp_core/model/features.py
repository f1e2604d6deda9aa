"""From a Dataset to model inputs: event kinds, ID vocabularies, history windows and numeric features.

Everything here is vectorised (numpy/pandas/torch): one example costs no Python, so building inputs for
100k examples or scoring 20k pairs per second is cheap. Texts are rendered and encoded lazily, once per
distinct text (items once per item, profiles once per distinct profile).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from uvp_core.data.contract import EVENT_TYPE_ORDER
from uvp_core.text.templates import (
    PRICE_BANDS,
    TemplateContext,
    field_records,
    format_number,
    format_value,
    is_missing,
    price_band,
    render_item,
    render_profile,
)

PURCHASE_STEP = EVENT_TYPE_ORDER.index("purchase") + 1  # a purchase's funnel step (FeatureSpace.kind_depths)

NUMERIC_FEATURES = ("log_history_length", "log_item_popularity", "log_price", "price_missing")
REPEAT_FEATURE = "log_earlier_target_events"  # a fifth numeric feature (FeatureSpace.repeat_kinds): log1p(times bought before)
MAX_RATING_LEVELS = 20  # more distinct rating values than this -> 10 equal-width rating buckets
MS_PER_DAY = 86_400_000.0
WORD_PATTERN = re.compile(r"[a-z]{3,}")


def to_ms(values: pd.Series | Sequence) -> np.ndarray:
    """Timestamps as int64 milliseconds since the epoch (UTC); missing -> NaT's int64."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    return series.dt.as_unit("ms").array.asi8.astype(np.int64)


NAT_MS = np.iinfo(np.int64).min
LATE_KIND = EVENT_TYPE_ORDER[0]  # "view": the lowest-intent event type, read last (fit_late_kinds)
LATE_WINDOW = 5  # with late kinds, the window looked at for the history_k read is this many times history_k


@dataclass
class FeatureSpace:
    """The mapping from raw data to model inputs, fitted on training data and saved with the model."""

    user_ids: list[str]  # code i+1 <-> user_ids[i]; code 0 = unknown user
    item_ids: list[str]  # code i+1 <-> item_ids[i]; code 0 = unknown item
    item_counts: list[int]  # training-period events per known item (popularity)
    kinds: list[str]  # event-kind vocabulary; code i+1 <-> kinds[i]; 0 = unknown kind
    rating_levels: list[float] = field(default_factory=list)  # distinct ratings used as kinds
    rating_bins: list[float] = field(default_factory=list)  # bin edges when ratings are continuous
    user_columns: list[str] = field(default_factory=list)  # users-table attributes in the profile text
    item_columns: list[str] = field(default_factory=list)  # items-table columns in the item text
    template: TemplateContext = field(default_factory=TemplateContext)
    target_kinds: list[str] = field(default_factory=list)  # kinds of the target events; a candidate item's own
    #   events of other kinds (its view/click/cart before a purchase) are left out of the history: they are
    #   the funnel of the outcome being predicted, not evidence of value, and absent at first contact.
    #   Empty (models saved before this) = nothing left out.
    user_levels: dict[str, list[str]] = field(default_factory=dict)  # categorical profile columns -> values (one-hot)
    item_levels: dict[str, list[str]] = field(default_factory=dict)  # categorical item columns -> values (one-hot)
    #   Read next to the text: a few thousand ratings are too few to find a tier or category in a sentence
    #   embedding, and a one-hot gives it to the head directly. Empty (models saved before this) = text only.
    item_words: list[str] = field(default_factory=list)  # words of the items' free text (title, description) whose
    #   presence follows the item one-hot block (fit_words): a profile attribute x word cross ("eco" for West
    #   users) is learnable from a few thousand ratings where the same effect inside a sentence embedding is not.
    #   Empty (models saved before this, or no levelled profile attribute to cross with) = none.
    price_bands: bool = False  # the candidate's price band (the template's quartile bands) as indicators after the words:
    #   a profile attribute x band cross learns a step ("premium members value premium-priced items") that the linear
    #   attribute x log-price cross could only draw as a slope, so it also marked premium members down on cheap items.
    #   False (models saved before this, or no price edges) = none.
    late_kinds: list[str] = field(default_factory=list)  # kinds read only in the history slots the others leave free:
    #   views, the lowest-intent events, which crowd a heavy user's purchases out of the most recent history_k
    #   (fit_late_kinds; rating models). Empty (models saved before this, or no such kind) = by time only.
    repeat_kinds: list[str] = field(default_factory=list)  # kinds whose earlier events on the candidate item are counted,
    #   as REPEAT_FEATURE after NUMERIC_FEATURES: "bought this item 3 times before" (binary models: the target kind). On
    #   Online Retail 23% of the held-out purchases repeat an earlier purchase, mostly one older than the events read.
    #   Empty (models saved before this, rating models) = not counted.
    numeric_mean: list[float] = field(default_factory=lambda: [0.0] * len(NUMERIC_FEATURES))
    numeric_std: list[float] = field(default_factory=lambda: [1.0] * len(NUMERIC_FEATURES))

    def __post_init__(self) -> None:
        self._users = pd.Index(self.user_ids, dtype=object)
        self._items = pd.Index(self.item_ids, dtype=object)
        self._kinds = pd.Index(self.kinds, dtype=object)
        self._counts = np.concatenate([[0], np.asarray(self.item_counts, dtype=np.float64)])
        extra = len(self.numeric_names) - len(self.numeric_mean)  # a fresh space with repeat_kinds: identity until fitted
        if extra > 0 and len(self.numeric_mean) == len(NUMERIC_FEATURES):
            self.numeric_mean, self.numeric_std = [*self.numeric_mean, *[0.0] * extra], [*self.numeric_std, *[1.0] * extra]

    @property
    def user_width(self) -> int:
        """Width of the profile one-hot block."""
        return sum(len(v) for v in self.user_levels.values())

    @property
    def item_width(self) -> int:
        """Width of the item one-hot block (levelled columns, then words, then price bands)."""
        return sum(len(v) for v in self.item_levels.values()) + self.indicator_width

    @property
    def indicator_width(self) -> int:
        """Width of the block's indicators after the levelled columns (words, price bands): crossed with the profile,
        not matched against the history."""
        return len(self.item_words) + (len(PRICE_BANDS) if self.price_bands else 0)

    def item_hot(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
        """[n, item_width] item one-hot block of item field records (levelled values, words, price bands); None if empty."""
        if not self.item_width:
            return None
        blocks = [one_hot(records, self.item_levels), word_hot(records, self.item_words)]
        if self.price_bands:
            blocks.append(band_hot(records, self.template.price_edges))
        return np.concatenate(blocks, axis=1)

    def user_codes(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """ID codes (0 = unknown) for user ids."""
        return self._users.get_indexer(np.asarray(user_ids, dtype=object)).astype(np.int64) + 1

    def item_codes(self, item_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """ID codes (0 = unknown) for item ids."""
        return self._items.get_indexer(np.asarray(item_ids, dtype=object)).astype(np.int64) + 1

    def item_popularity(self, item_codes: np.ndarray) -> np.ndarray:
        """Training-period event counts for item codes (0 for unknown items)."""
        return self._counts[item_codes]

    @property
    def history_window(self) -> int:
        """Most recent events looked at to find the `history_k` the model reads (more when some are left out or late)."""
        k = self.template.history_k
        return LATE_WINDOW * k if self.late_kinds else 2 * k if self.target_kinds else k

    def late_kind_codes(self, codes: np.ndarray) -> np.ndarray:
        """True for kind codes that are read only in the slots other events leave free (late_kinds)."""
        if not self.late_kinds:
            return np.zeros(np.shape(codes), dtype=bool)
        return np.isin(codes, self.kind_codes(self.late_kinds))

    def funnel_kind_codes(self, codes: np.ndarray) -> np.ndarray:
        """True for kind codes that are left out when on the candidate item (every kind not a target kind)."""
        if not self.target_kinds:
            return np.zeros(np.shape(codes), dtype=bool)
        return ~np.isin(codes, self.kind_codes(self.target_kinds))

    def repeat_kind_codes(self, codes: np.ndarray) -> np.ndarray:
        """True for kind codes counted as the candidate's earlier events (repeat_kinds)."""
        if not self.repeat_kinds:
            return np.zeros(np.shape(codes), dtype=bool)
        return np.isin(codes, self.kind_codes(self.repeat_kinds))

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """The numeric features this space computes, in column order."""
        return NUMERIC_FEATURES + ((REPEAT_FEATURE,) if self.repeat_kinds else ())

    def kind_depths(self) -> np.ndarray:
        """[kinds + 1] funnel step per kind code: view 1, click 2, cart 3, purchase 4 (PURCHASE_STEP), a rating 5; 0 = off the funnel."""
        step = {kind: i + 1 for i, kind in enumerate(EVENT_TYPE_ORDER)}
        rated = len(EVENT_TYPE_ORDER) + 1
        return np.array([0] + [rated if k.startswith("rated") else step.get(k, 0) for k in self.kinds], dtype=np.float32)

    def kind_codes(self, kind_names: Sequence[str] | np.ndarray) -> np.ndarray:
        """Kind codes (0 = unknown kind) for kind names."""
        return self._kinds.get_indexer(np.asarray(kind_names, dtype=object)).astype(np.int64) + 1

    def rating_kind(self, ratings: np.ndarray) -> np.ndarray:
        """Kind names for rating values: 'rated 4' (distinct levels) or 'rated 3.5-4' (buckets)."""
        ratings = np.asarray(ratings, dtype=np.float64)
        if self.rating_levels:
            levels = np.asarray(self.rating_levels)
            nearest = levels[np.abs(ratings[:, None] - levels[None, :]).argmin(1)]
            return np.array([f"rated {format_number(v)}" for v in nearest], dtype=object)
        if self.rating_bins:
            edges = np.asarray(self.rating_bins)
            idx = np.clip(np.searchsorted(edges[1:-1], ratings, side="right"), 0, len(edges) - 2)
            return np.array(
                [f"rated {format_number(edges[i])}-{format_number(edges[i + 1])}" for i in idx], dtype=object
            )
        return np.full(len(ratings), "rated", dtype=object)

    def kind_names(self, events: pd.DataFrame) -> np.ndarray:
        """Each event's kind: its rating level if rated, else its event type, else its label, else 'event'."""
        out = np.full(len(events), "event", dtype=object)
        if "label" in events.columns:
            label = events["label"]
            known = label.notna().to_numpy()
            out[known] = np.array([f"label {int(v)}" for v in label[known]], dtype=object)
        if "event_type" in events.columns:
            types = events["event_type"]
            known = (types.notna() & (types.astype("string").str.len() > 0)).to_numpy(dtype=bool)
            out[known] = types[known].astype(str).to_numpy(dtype=object)
        if "rating" in events.columns:
            rating = events["rating"].to_numpy(dtype=np.float64, na_value=np.nan)
            known = ~np.isnan(rating)
            if known.any():
                out[known] = self.rating_kind(rating[known])
        return out

    def standardize(self, numeric: np.ndarray) -> np.ndarray:
        """Numeric features scaled by the training mean and std."""
        return ((numeric - np.asarray(self.numeric_mean)) / np.asarray(self.numeric_std)).astype(np.float32)

    def to_json(self) -> dict:
        """A JSON-ready dict (the ID vocabularies included)."""
        data = asdict(self)
        data["template"] = asdict(self.template)
        data["template"]["price_edges"] = list(self.template.price_edges)
        return data

    @classmethod
    def from_json(cls, data: dict) -> FeatureSpace:
        """The inverse of to_json."""
        data = dict(data)
        template = dict(data.pop("template"))
        template["price_edges"] = tuple(template.get("price_edges", ()))
        return cls(template=TemplateContext(**template), **data)


def fit_rating_kinds(events: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Rating levels (<= 20 distinct values) or 10 equal-width bucket edges, from observed ratings."""
    if "rating" not in events.columns:
        return [], []
    values = events["rating"].dropna().to_numpy(dtype=np.float64)
    if not len(values):
        return [], []
    levels = np.unique(values)
    if len(levels) <= MAX_RATING_LEVELS:
        return [float(v) for v in levels], []
    return [], [float(v) for v in np.linspace(values.min(), values.max(), 11)]


def price_edges(items: pd.DataFrame | None) -> tuple[float, ...]:
    """Quartile edges of catalogue prices (for price bands), or () without prices."""
    if items is None or "price" not in items.columns:
        return ()
    prices = pd.to_numeric(items["price"], errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(prices) < 4:
        return ()
    return tuple(float(v) for v in np.quantile(prices, [0.25, 0.5, 0.75]))


MAX_LEVELS = 32  # a categorical column with more distinct values than this is read from the text alone
FREE_TEXT_COLUMNS = ("title", "description")
MAX_WORDS = 32  # item words read as indicators (fit_words)
WORD_SHARE = (0.02, 0.3)  # ... each in at least / at most this share of the items
STOP_WORDS = frozenset(
    "about after all also and any are but can for from has have her his into its more not one our out over she "
    "than that the their them then there these they this those too two use very was were what when which who "
    "will with you your".split()
)


def item_words(record: Mapping[str, Any]) -> set[str]:
    """The lower-case words (3+ letters, not stop words) of a record's free-text fields."""
    text = " ".join(str(record[c]) for c in FREE_TEXT_COLUMNS if c in record and not is_missing(record[c]))
    return {w for w in WORD_PATTERN.findall(text.lower()) if w not in STOP_WORDS}


def fit_words(frame: pd.DataFrame | None, limit: int = MAX_WORDS) -> list[str]:
    """The `limit` words in most items' free text, among those in WORD_SHARE of the items (ties: alphabetical)."""
    columns = [c for c in FREE_TEXT_COLUMNS if frame is not None and c in frame.columns]
    if not columns or not len(frame):
        return []
    items = frame.drop_duplicates("item_id") if "item_id" in frame.columns else frame
    counts: dict[str, int] = {}
    for record in items[columns].to_dict("records"):
        for word in item_words(record):
            counts[word] = counts.get(word, 0) + 1
    low, high = WORD_SHARE[0] * len(items), WORD_SHARE[1] * len(items)
    kept = [w for w, c in counts.items() if max(low, 2) <= c <= high]
    return sorted(sorted(kept), key=lambda w: -counts[w])[:limit]


def word_hot(records: Sequence[Mapping[str, Any]], words: Sequence[str]) -> np.ndarray:
    """[n, len(words)] float32: 1 where the record's free text has the word (item_words)."""
    out = np.zeros((len(records), len(words)), dtype=np.float32)
    if words:
        position = {w: j for j, w in enumerate(words)}
        for r, record in enumerate(records):
            for word in item_words(record) & position.keys():
                out[r, position[word]] = 1.0
    return out


def band_hot(records: Sequence[Mapping[str, Any]], edges: Sequence[float]) -> np.ndarray:
    """[n, len(PRICE_BANDS)] float32: 1 in the band of the record's price (the template's; none when it has no price)."""
    out = np.zeros((len(records), len(PRICE_BANDS)), dtype=np.float32)
    for r, record in enumerate(records):
        price = float(pd.to_numeric(record.get("price"), errors="coerce"))  # NaN when missing or not a number
        band = price_band(price, edges) if np.isfinite(price) else None
        if band is not None:
            out[r, PRICE_BANDS.index(band)] = 1.0
    return out


def fit_levels(frame: pd.DataFrame | None, columns: Sequence[str]) -> dict[str, list[str]]:
    """Categorical columns (text or yes/no, 2..MAX_LEVELS distinct values) -> their values as the templates write them."""
    out: dict[str, list[str]] = {}
    if frame is None:
        return out
    for column in columns:
        if column in FREE_TEXT_COLUMNS or column not in frame.columns:
            continue
        values = frame[column].dropna()
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric or pd.api.types.is_datetime64_any_dtype(values) or values.empty:
            continue
        levels = sorted({format_value(v) for v in values.unique()} - {""})
        if 2 <= len(levels) <= MAX_LEVELS:
            out[column] = levels
    return out


def one_hot(records: Sequence[Mapping[str, Any]], levels: dict[str, list[str]]) -> np.ndarray:
    """[n, width] float32 indicators of each record's value per levelled column (missing or unseen value: all zero)."""
    width = sum(len(v) for v in levels.values())
    out = np.zeros((len(records), width), dtype=np.float32)
    start = 0
    for column, values in levels.items():
        position = {v: start + j for j, v in enumerate(values)}
        for r, record in enumerate(records):
            value = record.get(column)
            if value is not None and not is_missing(value):
                j = position.get(format_value(value))
                if j is not None:
                    out[r, j] = 1.0
        start += len(values)
    return out


# --- lazily rendered and encoded texts ------------------------------------------------------------


class TextTable:
    """Keys (item or user ids) -> deduplicated texts (+ one-hot attributes) -> feature rows, each filled on first use.

    A row is the text's embedding followed by its one-hot block (`extras`, width 0 without levelled columns).
    """

    def __init__(self, render: Callable[[list[str]], tuple[list[str], np.ndarray | None]]):
        self._render = render  # keys -> (texts, one-hot blocks or None)
        self.keys = pd.Index([], dtype=object)
        self.key_rows = np.zeros(0, dtype=np.int64)  # text row per key
        self.texts: list[str] = []
        self.extra_rows: list[np.ndarray] = []  # one-hot block per text row (when `extras` is given)
        self._text_rows: dict[tuple[str, bytes], int] = {}
        self.embeddings: torch.Tensor | None = None  # [n_encoded, dim]
        self._table: torch.Tensor | None = None  # embeddings + extras, rebuilt when embeddings grow

    def rows(self, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        """Text rows for keys, rendering texts for keys not seen before."""
        keys = np.asarray(keys, dtype=object)
        pos = self.keys.get_indexer(keys)
        if (pos < 0).any():
            new = pd.unique(keys[pos < 0])
            texts, extras = self._render(list(new))
            rows = []
            for j, text in enumerate(texts):
                key = (text, b"" if extras is None else extras[j].tobytes())
                if key not in self._text_rows:
                    self._text_rows[key] = len(self.texts)
                    self.texts.append(text)
                    if extras is not None:
                        self.extra_rows.append(extras[j])
                rows.append(self._text_rows[key])
            self.keys = self.keys.append(pd.Index(new, dtype=object))
            self.key_rows = np.concatenate([self.key_rows, np.asarray(rows, dtype=np.int64)])
            pos = self.keys.get_indexer(keys)
        return self.key_rows[pos]

    def pending(self) -> int:
        """How many of the texts so far `encode` has yet to encode."""
        return len(self.texts) - (0 if self.embeddings is None else len(self.embeddings))

    def encode(self, encoder, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Feature rows of all texts so far [n_texts, dim + extras], encoding only the new texts."""
        have = len(self.texts) - self.pending()
        if have < len(self.texts) or self.embeddings is None:
            new = encoder.encode(self.texts[have:], progress)
            self.embeddings = new if self.embeddings is None else torch.cat([self.embeddings, new])
            self._table = None
        if self._table is None:
            self._table = with_extras(self.embeddings, self.extra_rows)
        return self._table


def with_extras(embeddings: torch.Tensor, extras: Sequence[np.ndarray]) -> torch.Tensor:
    """Embeddings [n, dim] followed by their one-hot blocks (as they are when there are none)."""
    if not len(extras) or not len(extras[0]):
        return embeddings
    block = torch.as_tensor(np.stack(extras[: len(embeddings)]), dtype=embeddings.dtype, device=embeddings.device)
    return torch.cat([embeddings, block], dim=1)


class Context:
    """A Dataset prepared for history lookups and scoring with one FeatureSpace."""

    def __init__(self, dataset, space: FeatureSpace):
        self.space = space
        self.items_frame = dataset.items
        self.users_frame = dataset.users
        self.items = TextTable(self._render_items)
        self.profiles = TextTable(self._render_profiles)
        self._price = _price_lookup(dataset.items)
        self.events = EventIndex(dataset.events, space)
        self.item_index = pd.Index(_all_items(dataset), dtype=object)
        self.projected: dict = {}  # a model's projected text tables for this context (see ValueModel._raw)
        self._event_rows: np.ndarray | None = None
        self._event_item_codes: np.ndarray | None = None
        self._event_id_codes: np.ndarray | None = None

    def _render_items(self, ids: list[str]) -> tuple[list[str], np.ndarray | None]:
        """Item texts and one-hot blocks of ids, from one lookup of their rows."""
        space = self.space
        records = field_records(self.items_frame, ids, "item_id", space.item_columns)
        texts = [render_item(fields, i, space.template) for fields, i in zip(records, ids, strict=True)]
        return texts, space.item_hot(records)

    def _render_profiles(self, ids: list[str]) -> tuple[list[str], np.ndarray | None]:
        """Profile texts and one-hot blocks of user ids, from one lookup of their rows."""
        records = field_records(self.users_frame, ids, "user_id", self.space.user_columns)
        return [render_profile(fields) for fields in records], one_hot(records, self.space.user_levels) if self.space.user_levels else None

    def price(self, item_ids: np.ndarray) -> np.ndarray:
        """Item prices (NaN when unknown)."""
        if self._price is None:
            return np.full(len(item_ids), np.nan)
        return self._price.reindex(pd.Index(item_ids, dtype=object)).to_numpy(dtype=np.float64, na_value=np.nan)

    def inputs(self, user_ids: np.ndarray, item_ids: np.ndarray, times: np.ndarray | None) -> Inputs:
        """Model inputs for (user, item, time) rows; times None or NAT_MS -> all events, 'now' = latest."""
        space, ev = self.space, self.events
        user_ids = np.asarray(user_ids, dtype=object)
        item_ids = np.asarray(item_ids, dtype=object)
        times = np.full(len(user_ids), NAT_MS, dtype=np.int64) if times is None else np.asarray(times, np.int64)
        k = space.template.history_k
        idx, n_before = ev.lookup(user_ids, times, space.history_window)
        if space.history_window > k:
            idx = self._without_funnel(idx, item_ids, k)
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        hist_rows = np.where(valid, self._event_text_rows()[safe], 0) if len(ev.item_ids) else np.zeros(idx.shape, np.int64)
        now = np.where(times == NAT_MS, ev.t_max, times)
        age = (now[:, None] - ev.t[safe]) / MS_PER_DAY if len(ev.t) else np.zeros(idx.shape)
        item_codes = space.item_codes(item_ids)
        repeats = ev.repeats(user_ids, item_ids, times, space) if space.repeat_kinds else None
        numeric = numeric_features(n_before, space.item_popularity(item_codes), self.price(item_ids), repeats)
        return Inputs.build(
            n_before=n_before,
            user=space.user_codes(user_ids),
            item=item_codes,
            profile_row=self.profiles.rows(user_ids),
            item_row=self.items.rows(item_ids),
            hist_row=hist_rows,
            hist_kind=np.where(valid, ev.kind[safe] if len(ev.kind) else 0, 0),
            hist_item=np.where(valid, self._event_codes()[safe], 0) if len(ev.item_ids) else np.zeros(idx.shape, np.int64),
            hist_age=np.where(valid, age, 0.0),
            hist_mask=valid,
            numeric=space.standardize(numeric),
        )


    def _event_text_rows(self) -> np.ndarray:
        """Item-text row of every event (computed once; the text table only grows)."""
        if self._event_rows is None:
            self._event_rows = self.items.rows(self.events.item_ids)
        return self._event_rows

    def _event_codes(self) -> np.ndarray:
        """Item ID code (0 = unknown) of every event (computed once)."""
        if self._event_id_codes is None:
            self._event_id_codes = self.space.item_codes(self.events.item_ids)
        return self._event_id_codes

    def _event_items(self) -> np.ndarray:
        """Catalogue position of every event's item (computed once)."""
        if self._event_item_codes is None:
            self._event_item_codes = self.item_index.get_indexer(self.events.item_ids).astype(np.int64)
        return self._event_item_codes

    def _without_funnel(self, idx: np.ndarray, item_ids: np.ndarray, k: int) -> np.ndarray:
        """Event positions [n, k]: the k of the window the model reads (read_slots), without the candidate's funnel."""
        ev = self.events
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        candidate = self.item_index.get_indexer(np.asarray(item_ids, dtype=object)).astype(np.int64)
        same = (self._event_items()[safe] == candidate[:, None]) & (candidate[:, None] >= 0)
        keep = read_slots(valid & ~(same & self.space.funnel_kind_codes(ev.kind[safe])), self.space.late_kind_codes(ev.kind[safe]), k)
        order = np.argsort(keep, axis=1, kind="stable")  # left out first, kept last, in time order
        return np.take_along_axis(np.where(keep, idx, -1), order, axis=1)[:, -k:]

    def first_events(self, user_ids: np.ndarray, times: np.ndarray, item_ids: np.ndarray | None = None) -> FirstEvents:
        """Where each (user, time) row's earliest events are: what a new user with a few events shows."""
        ev = self.events
        local = ev.user_index.get_indexer(np.asarray(user_ids, dtype=object))
        _, n_before = ev.lookup(user_ids, times, 1)
        start = np.where(local >= 0, ev.start[np.clip(local, 0, None)] if len(ev.start) else 0, 0)
        candidate = np.full(len(start), -2) if item_ids is None else self.item_index.get_indexer(np.asarray(item_ids, dtype=object))
        return FirstEvents(
            start=torch.as_tensor(start, dtype=torch.long),
            count=torch.as_tensor(n_before, dtype=torch.long),
            time=torch.as_tensor(np.asarray(times, np.int64)),
            event_row=torch.as_tensor(self._event_text_rows(), dtype=torch.long),
            event_kind=torch.as_tensor(ev.kind, dtype=torch.long),
            event_time=torch.as_tensor(ev.t),
            item=torch.as_tensor(np.asarray(candidate, np.int64)),
            event_item=torch.as_tensor(self._event_items()),
            event_funnel=torch.as_tensor(self.space.funnel_kind_codes(ev.kind)),
            event_code=torch.as_tensor(self._event_codes()),
        )


@dataclass
class FirstEvents:
    """Per example: the position of the user's first event and the count before its time (plus event tables)."""

    start: torch.Tensor  # [n] position of the user's first event in the event tables
    count: torch.Tensor  # [n] events before the example's time
    time: torch.Tensor  # [n] example times (ms)
    event_row: torch.Tensor  # [E] item-text row of each event
    event_kind: torch.Tensor  # [E] kind code of each event
    event_time: torch.Tensor  # [E] event times (ms)
    item: torch.Tensor | None = None  # [n] catalogue position of each row's candidate item
    event_item: torch.Tensor | None = None  # [E] catalogue position of each event's item
    event_funnel: torch.Tensor | None = None  # [E] True where the event's kind is left out on the candidate item
    event_code: torch.Tensor | None = None  # [E] item ID code of each event (0 = unknown)

    def take(self, index: torch.Tensor) -> FirstEvents:
        """The rows of a batch (event tables shared)."""
        item = None if self.item is None else self.item[index]
        return replace(self, start=self.start[index], count=self.count[index], time=self.time[index], item=item)

    def history(self, keep: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(hist_row, hist_kind, hist_feat, hist_mask, hist_item) [n, k] of each row's first min(keep, count) events."""
        m = torch.minimum(keep, self.count).clamp(max=k)
        j = torch.arange(k)[None, :]
        mask = j >= (k - m)[:, None]
        pos = torch.where(mask, self.start[:, None] + j - (k - m)[:, None], 0)
        age = ((self.time[:, None] - self.event_time[pos]).double() / MS_PER_DAY).clamp(min=0).float()
        slot = ((k - 1 - j) / max(k, 1)).float().expand(len(m), k)
        if self.item is not None and self.event_item is not None and self.event_funnel is not None:
            mask = mask & ~((self.event_item[pos] == self.item[:, None]) & self.event_funnel[pos])  # a gap, in training only
        feat = torch.stack([torch.log1p(age), slot], dim=-1) * mask.unsqueeze(-1)
        items = self.event_code[pos] * mask if self.event_code is not None else torch.zeros_like(pos)
        return self.event_row[pos] * mask, self.event_kind[pos] * mask, feat, mask, items


def read_slots(candidates: np.ndarray, late: np.ndarray, k: int) -> np.ndarray:
    """[n, W] bool: which of a time-ordered window's candidate events the model reads: the k most recent that are
    not late (FeatureSpace.late_kinds), then the most recent late ones in the slots left free."""
    early = candidates & ~late
    chosen = early & (np.cumsum(early[:, ::-1], axis=1)[:, ::-1] <= k)
    free = k - chosen.sum(1, keepdims=True)
    late = candidates & late
    return chosen | (late & (np.cumsum(late[:, ::-1], axis=1)[:, ::-1] <= free))


def read_positions(kinds: Sequence[str], late: Collection[str], k: int) -> list[int]:
    """Positions in a time-ordered list of event kinds that fill the k history slots (read_slots), oldest first."""
    is_late = np.array([[kind in late for kind in kinds]], dtype=bool).reshape(1, len(kinds))
    return np.flatnonzero(read_slots(np.ones_like(is_late), is_late, k)[0]).tolist()


def fit_late_kinds(kinds: Sequence[str], target_kinds: Sequence[str]) -> list[str]:
    """The kinds read last (FeatureSpace.late_kinds): views, when other kinds exist and views are not the target.

    For rating models only (examples.fit_space). On the sample's ratings (session 11, docs/BENCHMARKS.md),
    views were 60% of the events and pushed the purchases that carry a user's tastes out of the 20 the
    model reads; reading views last raised the Kitchen-history driver share from 58% to 75%. A purchase or
    click model needs its recent views (sample purchase validation AUC 0.781 -> 0.749 with views last)."""
    late = [k for k in kinds if k == LATE_KIND and k not in target_kinds]
    return late if late and len(kinds) > len(late) else []


def _all_items(dataset) -> np.ndarray:
    """Item ids from the items table and the events, first appearance order."""
    parts = [dataset.events["item_id"].to_numpy(dtype=object)]
    if dataset.items is not None and "item_id" in dataset.items.columns:
        parts.insert(0, dataset.items["item_id"].to_numpy(dtype=object))
    return pd.unique(np.concatenate(parts))


def _price_lookup(items: pd.DataFrame | None) -> pd.Series | None:
    """item_id -> numeric price, or None without a price column."""
    if items is None or "price" not in items.columns:
        return None
    frame = items.drop_duplicates("item_id", keep="first")
    return pd.Series(
        pd.to_numeric(frame["price"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan),
        index=pd.Index(frame["item_id"].to_numpy(dtype=object)),
    )


def numeric_features(n_before: np.ndarray, popularity: np.ndarray, price: np.ndarray, repeats: np.ndarray | None = None) -> np.ndarray:
    """Raw numeric features [n, 4]: log history length, log popularity, log price, price missing; with `repeats`
    (earlier events on the candidate, FeatureSpace.repeat_kinds) a fifth, their log."""
    price = np.asarray(price, dtype=np.float64)
    missing = np.isnan(price)
    columns = [
        np.log1p(np.asarray(n_before, dtype=np.float64)),
        np.log1p(np.asarray(popularity, dtype=np.float64)),
        np.where(missing, 0.0, np.log1p(np.clip(np.nan_to_num(price), 0, None))),
        missing.astype(np.float64),
    ]
    if repeats is not None:
        columns.append(np.log1p(np.asarray(repeats, dtype=np.float64)))
    return np.stack(columns, axis=1)


class EventIndex:
    """Events sorted by (user, time) for vectorised 'last K events strictly before t' lookups."""

    def __init__(self, events: pd.DataFrame, space: FeatureSpace):
        users = events["user_id"].to_numpy(dtype=object)
        self.user_index = pd.Index(pd.unique(users), dtype=object)
        u = self.user_index.get_indexer(users).astype(np.int64)
        t = to_ms(events["timestamp"])
        order = np.lexsort((t, u))
        self.u, self.t = u[order], t[order]
        self.item_ids = events["item_id"].to_numpy(dtype=object)[order]
        self.kind = space.kind_codes(space.kind_names(events))[order]
        self.times = np.unique(self.t)
        self.key = self.u * (len(self.times) + 1) + np.searchsorted(self.times, self.t)
        positions = np.arange(len(self.user_index))
        self.start = np.searchsorted(self.u, positions, side="left")
        self.end = np.searchsorted(self.u, positions, side="right")
        self.t_max = int(self.t.max()) if len(self.t) else 0
        self._pairs: tuple[pd.Index, pd.Index, np.ndarray] | None = None  # repeats(): built on first use

    def _pair_keys(self, space: FeatureSpace) -> tuple[pd.Index, pd.Index, np.ndarray]:
        """(item index, (user, item) pair index, sorted pair x time-rank keys) of the events of repeat kinds."""
        if self._pairs is None:
            counted = space.repeat_kind_codes(self.kind)
            items = pd.Index(pd.unique(self.item_ids[counted]), dtype=object)
            code = self.u[counted] * max(len(items), 1) + items.get_indexer(self.item_ids[counted])
            pairs = pd.Index(pd.unique(code))
            key = pairs.get_indexer(code).astype(np.int64) * (len(self.times) + 1) + np.searchsorted(self.times, self.t[counted])
            self._pairs = (items, pairs, np.sort(key))
        return self._pairs

    def repeats(self, user_ids: np.ndarray, item_ids: np.ndarray, times: np.ndarray, space: FeatureSpace) -> np.ndarray:
        """Per (user, item, time) row, the user's events of repeat kinds on that item strictly before the time (all
        of them for NAT_MS)."""
        items, pairs, keys = self._pair_keys(space)
        local = self.user_index.get_indexer(np.asarray(user_ids, dtype=object)).astype(np.int64)
        item = items.get_indexer(np.asarray(item_ids, dtype=object)).astype(np.int64)
        pair = pairs.get_indexer(local * max(len(items), 1) + item) if len(pairs) else np.full(len(local), -1)
        pair = np.where((local >= 0) & (item >= 0), pair, -1)
        rank = np.where(times == NAT_MS, len(self.times), np.searchsorted(self.times, times, side="left"))
        base = np.maximum(pair, 0).astype(np.int64) * (len(self.times) + 1)
        count = np.searchsorted(keys, base + rank, side="left") - np.searchsorted(keys, base, side="left")
        return np.where(pair >= 0, count, 0)

    def lookup(self, user_ids: np.ndarray, times: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Event positions [n, k] (right-aligned, -1 = empty) and counts of all events before each time."""
        local = self.user_index.get_indexer(np.asarray(user_ids, dtype=object))
        known = local >= 0
        safe = np.where(known, local, 0)
        rank = np.where(times == NAT_MS, len(self.times), np.searchsorted(self.times, times, side="left"))
        hi = np.searchsorted(self.key, safe * (len(self.times) + 1) + rank, side="left")
        lo = self.start[safe] if len(self.start) else np.zeros(len(safe), dtype=np.int64)
        hi = np.where(known, hi, 0)
        lo = np.where(known, lo, 0)
        idx = hi[:, None] - k + np.arange(k)[None, :]
        idx = np.where(idx >= lo[:, None], idx, -1)
        return idx, hi - lo


@dataclass
class Inputs:
    """Model input tensors for n rows (batch-indexable)."""

    user: torch.Tensor  # [n] user ID codes (0 = unknown)
    item: torch.Tensor  # [n] item ID codes (0 = unknown)
    profile_row: torch.Tensor  # [n] row in the profile text table
    item_row: torch.Tensor  # [n] row in the item text table
    hist_row: torch.Tensor  # [n, K] item-text rows of history events
    hist_kind: torch.Tensor  # [n, K] event-kind codes
    hist_feat: torch.Tensor  # [n, K, 2] recency: log1p(days before), slots from the most recent / K
    hist_mask: torch.Tensor  # [n, K] True where a history event is present
    numeric: torch.Tensor  # [n, F] standardised numeric features
    hist_item: torch.Tensor  # [n, K] item ID codes of history events (0 = unknown item or empty slot)
    n_before: torch.Tensor  # [n] float: the user's events before the prediction time, read or not (the fold-in counts them)

    @classmethod
    def build(
        cls, *, hist_age: np.ndarray, hist_mask: np.ndarray, numeric: np.ndarray, n_before: np.ndarray | None = None,
        **codes: np.ndarray,
    ) -> Inputs:
        """Tensors from numpy arrays; recency features from ages in days; n_before defaults to the events read."""
        k = hist_mask.shape[1]
        n_before = np.asarray(hist_mask, bool).sum(1) if n_before is None else n_before
        slot = np.broadcast_to((k - 1 - np.arange(k)) / max(k, 1), hist_mask.shape)
        feat = np.stack([np.log1p(np.clip(hist_age, 0, None)), slot], axis=-1) * hist_mask[..., None]
        codes.setdefault("hist_item", np.zeros(hist_mask.shape, np.int64))  # unknown items: no residual fold-in
        tensors = {name: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long) for name, a in codes.items()}
        return cls(
            numeric=torch.as_tensor(numeric, dtype=torch.float32),
            n_before=torch.as_tensor(np.asarray(n_before, np.float32)),
            hist_feat=torch.as_tensor(feat, dtype=torch.float32),
            hist_mask=torch.as_tensor(hist_mask, dtype=torch.bool),
            **tensors,
        )

    def __len__(self) -> int:
        return len(self.user)

    def take(self, index: torch.Tensor | slice) -> Inputs:
        """Rows selected by an index tensor or slice."""
        return Inputs(**{name: value[index] for name, value in vars(self).items()})

    def to(self, device: torch.device) -> Inputs:
        """All tensors moved to a device."""
        return Inputs(**{name: value.to(device) for name, value in vars(self).items()})

    @classmethod
    def concat(cls, parts: Sequence[Inputs]) -> Inputs:
        """Rows of several Inputs stacked."""
        return cls(**{name: torch.cat([vars(p)[name] for p in parts]) for name in vars(parts[0])})
