"""The value head: a small torch module that scores (user, history, item) rows from text embeddings."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from uvp_core.model.features import NUMERIC_FEATURES, PURCHASE_STEP, Inputs

FOLD_IN_PRIOR = 5.0  # pseudo-events shrinking an unknown user's fold-in bias: the default (models saved before it was fitted)
NO_FOLD_IN = 1e9  # a fold-in prior this large turns the fold-in off (a candidate of training.choose_fold_prior)


def cross_width(n_kinds: int, n_numeric: int, item_extra: int, user_extra: int, item_words: int = 0) -> int:
    """How many cross weights a head has (ValueHead.cross_design's columns)."""
    return user_extra * (item_extra + n_numeric) + (n_kinds + 2) * (item_extra - item_words)


def mlp(n_in: int, n_hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    """Linear -> GELU -> Dropout -> Linear."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(n_hidden, n_out))


class ValueHead(nn.Module):
    """Text towers + target attention over history + collaborative ID terms + numeric features.

    score = content(u, v) + global bias + user bias + item bias + <user ID emb, item ID emb>, where
    u = user tower(profile, attention-pooled and mean-pooled history, numeric) and
    v = item tower(item text, numeric); content scores [u, v, u * v] with a small MLP.
    A history event = projected item-text embedding + event-kind embedding + recency projection.
    Code 0 of every ID/kind table is the shared "unknown" row (trained by random ID dropout).
    Item and profile rows are text embeddings followed by one-hot categorical attributes (widths
    item_extra / user_extra; see FeatureSpace.item_levels), projected together. The item block ends with
    item_words word indicators (FeatureSpace.item_words).
    With fold_in, an unknown user (no ID row) also gets a learned bias from the kinds of its visible
    events (for ratings: how it rated so far, less each rated item's own bias), shrunk towards zero
    for short histories: sum of (kind value - item bias) / (events + fold_prior) -- the fold-in a
    user+item bias model does for a new user (training picks fold_prior: see training.choose_fold_prior).
    With fold_all_events (set once training has ended: training.train), every earlier event counts, at the mean of
    those read: mean(kind value - item bias) x n / (n + fold_prior) for a user with n earlier events, of whom only
    the window is read (without it, a user with 300 ratings was shrunk as if they had 20; identical for n <= the
    events read).
    With ratings_via_fold_in, the history the content part reads for such a user shows a rated event
    without its value, so the first ratings are not counted twice (once by the fold-in, once by content).
    With crosses, content also adds two interpretable terms that a few thousand examples can pin down
    (the towers alone learned little of them): cross_design's columns times `cross` (started at a ridge
    fit: training.init_biases) -- profile attribute x candidate attribute or numeric feature (a membership
    tier x price), and per event kind, "one of the history events read is on an item sharing the
    candidate's category (or other attribute value)" (with match_funnel: of that kind or a later funnel step,
    see funnel_groups; with match_all_ratings, an unknown user's rated events count as ratings there too: see
    match_kinds) -- plus profile attribute x projected candidate text
    (`attr_text`, from zero). A candidate's words count as its attribute values in the first kind of term
    (a West member x "eco" in the item text) but not in the second (words shared with a history item).
    """

    def __init__(
        self,
        *,
        text_dim: int,
        n_users: int,
        n_items: int,
        n_kinds: int,
        n_numeric: int,
        hidden: int = 64,
        id_dim: int = 32,
        dropout: float = 0.1,
        fold_in: bool = False,
        item_extra: int = 0,
        user_extra: int = 0,
        ratings_via_fold_in: bool = False,
        crosses: bool = False,
        item_words: int = 0,
        match_funnel: bool = False,
        match_all_ratings: bool = False,
        fold_all_events: bool = False,
        top_band_slope: bool = False,
    ):
        super().__init__()
        self.fold_all_events = fold_in and fold_all_events
        self.hidden = hidden
        self.crosses = crosses
        self.item_extra, self.user_extra, self.n_numeric = item_extra, user_extra, n_numeric
        self.item_match = item_extra - item_words  # the item block's levelled columns (history matches read these only)
        self.fold_in = fold_in
        self.match_funnel = crosses and match_funnel
        self.match_all_ratings = crosses and match_all_ratings
        self.top_band_slope = crosses and top_band_slope
        self.ratings_via_fold_in = ratings_via_fold_in
        self.item_text = nn.Linear(text_dim + item_extra, hidden)  # item text embedding + its one-hot attributes
        self.profile_text = nn.Linear(text_dim + user_extra, hidden)  # profile text embedding + its one-hot attributes
        self.kind = nn.Embedding(n_kinds + 1, hidden)
        self.recency = nn.Linear(2, hidden)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.user_tower = mlp(3 * hidden + n_numeric, hidden, hidden, dropout)
        self.item_tower = mlp(hidden + n_numeric, hidden, hidden, dropout)
        self.scorer = mlp(3 * hidden, hidden, 1, dropout)
        self.user_id = nn.Embedding(n_users + 1, id_dim)
        self.item_id = nn.Embedding(n_items + 1, id_dim)
        self.user_bias = nn.Embedding(n_users + 1, 1)
        self.item_bias = nn.Embedding(n_items + 1, 1)
        self.global_bias = nn.Parameter(torch.zeros(1))
        if fold_in:
            self.kind_value = nn.Embedding(n_kinds + 1, 1)
            nn.init.zeros_(self.kind_value.weight)
            self.register_buffer("rated_kind", torch.zeros(n_kinds + 1))  # 1 for rating kinds ("rated 4"), set by training
            self.register_buffer("fold_prior", torch.full((1,), FOLD_IN_PRIOR))  # pseudo-events; set by training (choose_fold_prior)
        if crosses:
            self.attr_text = nn.Parameter(torch.zeros(user_extra, hidden))
            self.cross = nn.Parameter(torch.zeros(cross_width(n_kinds, n_numeric, item_extra, user_extra, item_words)))
        if self.match_funnel:  # funnel step per kind code (FeatureSpace.kind_depths: view 1 ... a rating 5), set by training
            self.register_buffer("kind_depth", torch.zeros(n_kinds + 1))
        for table in (self.user_id, self.item_id, self.kind):
            nn.init.normal_(table.weight, std=0.01)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def id_parameters(self) -> list[nn.Parameter]:
        """The collaborative (ID) parameters, regularised separately."""
        return [self.user_id.weight, self.item_id.weight, self.user_bias.weight, self.item_bias.weight]

    def forward(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs) -> torch.Tensor:
        """Raw scores [B] (normalised rating units, or logits) given item/profile text-embedding tables."""
        return self.score(*self._projected(items, profiles, x))

    def _projected(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs) -> tuple[torch.Tensor, torch.Tensor, Inputs]:
        """The projected rows the batch reads, each text once, and x re-indexed into them (score's arguments)."""
        rows = torch.cat([x.item_row, x.hist_row.reshape(-1)])
        unique, inverse = torch.unique(rows, return_inverse=True)
        batch = len(x.item_row)
        profile_rows, profile_inverse = torch.unique(x.profile_row, return_inverse=True)
        x = replace(x, item_row=inverse[:batch], hist_row=inverse[batch:].view_as(x.hist_row), profile_row=profile_inverse)
        picked_items, picked_profiles = items.index_select(0, unique), profiles.index_select(0, profile_rows)  # a copy, as [ ] is, but faster
        return self.project_items(picked_items), self.project_profiles(picked_profiles), x  # each text once

    def forward_parts(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs) -> ScoreParts:
        """forward's scores before the fold-in prior is applied (ScoreParts.scores(prior) gives them for any prior)."""
        return self.score_parts(*self._projected(items, profiles, x))

    def project_items(self, items: torch.Tensor) -> torch.Tensor:
        """Projected item rows for `score` (with crosses, the rows' one-hot attributes follow the projection)."""
        out = self.item_text(items)
        return torch.cat([out, items[:, items.shape[1] - self.item_extra :]], dim=-1) if self.crosses else out

    def project_profiles(self, profiles: torch.Tensor) -> torch.Tensor:
        """Projected profile rows for `score` (with crosses, the rows' one-hot attributes follow the projection)."""
        out = self.profile_text(profiles)
        return torch.cat([out, profiles[:, profiles.shape[1] - self.user_extra :]], dim=-1) if self.crosses else out

    def read_kinds(self, x: Inputs) -> torch.Tensor:
        """History kinds as the content part reads them (with ratings_via_fold_in, an unknown user's "rated 5" reads as the unknown kind)."""
        kind = x.hist_kind
        if self.fold_in and self.ratings_via_fold_in:  # an unknown user's rating values reach the score through the fold-in only
            rated = (self.rated_kind[kind] > 0) & (x.user == 0).unsqueeze(1)
            kind = torch.where(rated, torch.zeros_like(kind), kind)  # "rated 5" -> the unknown kind: an event, value unread
        return kind

    def match_kinds(self, x: Inputs) -> torch.Tensor:
        """History kinds as the history matches read them (_match_columns).

        With match_all_ratings, as they are: the matches never read a rating's value, so an unknown user's rated
        purchase is still a rating (and so a purchase) there. Without it (models saved before), as the content
        part reads them (read_kinds): an unknown user's rating counted as an event of unknown kind, so a rated
        Kitchen purchase stopped counting as a Kitchen purchase whenever the user's ID was unknown -- for every
        new user, and in every explanation coalition that masked the user's ID, which took about half the history's
        credit away (sample, with early_step_columns: Kitchen history first for 97% / 93% of two probe samples,
        75% / 73% before; docs/BENCHMARKS.md)."""
        return x.hist_kind if self.match_all_ratings else self.read_kinds(x)

    @property
    def n_cross_attr(self) -> int:
        """How many of `cross`'s weights are profile value x (candidate value or numeric feature) ones (the first)."""
        return self.user_extra * (self.item_extra + self.n_numeric)

    @property
    def word_columns(self) -> torch.Tensor:
        """[cross weights] bool: the profile value x candidate word ones (penalised as a block of their own)."""
        target = torch.arange(self.item_extra + self.n_numeric)
        words = (target >= self.item_match) & (target < self.item_extra)
        return torch.cat([words.repeat(self.user_extra), torch.zeros(self.cross.numel() - self.n_cross_attr, dtype=torch.bool)])

    @property
    def early_step_columns(self) -> torch.Tensor:
        """[cross weights] bool: the history matches of funnel steps before a purchase (view, click, cart), which the
        ridge start penalises as a block of their own (training.init_biases; none without match_funnel).

        A purchase is also a view, a click and a cart, so its effect can sit on any of the four nested columns, and
        a ridge with one penalty spreads it evenly over them (sample: +0.04 view, +0.08 click, +0.18 cart, +0.22
        purchase for the planted Kitchen effect, which needs a purchase). A viewed-only item in the history then
        shares the credit of a bought one. With a penalty ratio of their own, generalised cross-validation says how
        far the earlier steps carry value of their own (on the sample: hardly; the effect moves to the purchase)."""
        columns = torch.zeros(self.cross.numel() if self.crosses else 0, dtype=torch.bool)
        if self.match_funnel:
            depth = self._group_depths()
            early = (depth >= 1) & (depth < PURCHASE_STEP)
            columns[self.n_cross_attr :] = early.repeat_interleave(self.item_match)
        return columns

    def cross_design(self, item_hot: torch.Tensor, profile_hot: torch.Tensor, x: Inputs) -> torch.Tensor:
        """[B, P] columns weighted by `cross`: profile one-hot x (candidate one-hot, numeric features), then per
        kind group x candidate attribute value (see _match_columns). Tables: one-hot rows of item/profile texts."""
        parts = []
        if self.user_extra:
            target = self.attribute_targets(item_hot, x)
            parts.append((profile_hot[x.profile_row].unsqueeze(-1) * target.unsqueeze(1)).flatten(1))
        if self.item_match:
            parts.append(self._match_columns(item_hot, x))
        return torch.cat(parts, dim=-1) if parts else x.numeric.new_zeros(len(x), 0)

    def attribute_targets(self, item_hot: torch.Tensor, x: Inputs) -> torch.Tensor:
        """[B, item_extra + n_numeric] what each profile value is crossed with: the candidate's one-hot row, then
        its numeric features.

        With top_band_slope (heads whose item block ends with the price bands) the log price counts within the top
        band only, and a missing price not at all: the band columns draw a profile value's step at a band, and the
        slope tells expensive from very expensive in the open-ended top band. A slope through every price had marked
        the sample's premium members down 0.3 stars on a 9.99 mug for their planted step on premium-priced items."""
        cand_hot, numeric = item_hot[x.item_row], x.numeric
        if self.top_band_slope:
            price, missing = NUMERIC_FEATURES.index("log_price"), NUMERIC_FEATURES.index("price_missing")
            numeric = numeric.clone()
            numeric[:, price] = cand_hot[:, self.item_extra - 1] * x.numeric[:, price]  # the last price band (FeatureSpace.item_hot)
            numeric[:, missing] = 0.0
        return torch.cat([cand_hot, numeric], dim=-1)

    def _match_columns(self, item_hot: torch.Tensor, x: Inputs) -> torch.Tensor:
        """[B, (kinds + 2) * item_match]: per kind group (each kind; all rating kinds together) and candidate
        attribute value, 1 if one of the history events read is of that kind on an item with that value
        (the kinds as the matches read them, see match_kinds). With match_funnel, "of that kind or a later
        funnel step" (see funnel_groups)."""
        kind = self.match_kinds(x)
        groups = self.kind.num_embeddings + 1  # the last group: every rating kind ("rated 4", "rated 5")
        if self.fold_in:
            kind = torch.where(self.rated_kind[kind] > 0, torch.full_like(kind, groups - 1), kind)
        item_hot = item_hot[:, : self.item_match]
        cand_hot = item_hot[x.item_row]
        same = item_hot[x.hist_row] * cand_hot.unsqueeze(1) * x.hist_mask.unsqueeze(-1)  # [B, K, item_extra]
        if self.match_funnel:
            return torch.einsum("bkg,bkc->bgc", self.funnel_groups(kind), same).clamp(max=1.0).flatten(1)
        counts = torch.zeros(len(cand_hot), groups, same.shape[-1], dtype=same.dtype, device=same.device)
        counts.scatter_add_(1, kind.unsqueeze(-1).expand(-1, -1, same.shape[-1]), same)
        return counts.clamp(max=1.0).flatten(1)

    def funnel_groups(self, group: torch.Tensor) -> torch.Tensor:
        """[B, K, groups] float: the kind groups each history event counts in (group: [B, K], rating kinds as one).

        An event counts in its own group and in those of the funnel steps before it: a purchase is also a view,
        a click and a cart, and a rating (all rating kinds, the last group) also a purchase. Counted at its own
        kind only, one bought item turned on four columns that the ridge split the effect between, and a rated
        purchase and an unrated one were two unrelated columns. Kinds off the funnel (depth 0) count in their own
        group only."""
        depth = self._group_depths()
        own = torch.nn.functional.one_hot(group, len(depth)).to(depth.dtype)
        step = depth[group].unsqueeze(-1)  # [B, K, 1]
        earlier = ((depth > 0) & (depth <= step)).to(depth.dtype)
        return torch.where(step > 0, earlier, own)

    def _group_depths(self) -> torch.Tensor:
        """[kinds + 2] the funnel step of each kind group (FeatureSpace.kind_depths): a rating kind's own group 0 (with
        fold_in its events count in the last group, every rating kind together, at the rating step)."""
        depth = self.kind_depth.clone()
        if self.fold_in:
            depth[self.rated_kind > 0] = 0  # their own columns stay empty: they count in the last group
        rated = self.kind_depth.max() * (self.rated_kind > 0).any() if self.fold_in else depth.new_zeros(())  # no host sync
        return torch.cat([depth, rated.view(1)])

    def _cross_term(self, candidate: torch.Tensor, item_hot: torch.Tensor, profile_hot: torch.Tensor, x: Inputs) -> torch.Tensor:
        """cross_design(...) @ cross + profile one-hot x projected candidate text, without building the outer products."""
        out = candidate.new_zeros(len(x))
        if self.user_extra:
            profile = profile_hot[x.profile_row]
            attr = self.cross[: self.n_cross_attr].view(self.user_extra, -1)
            out = out + ((profile @ attr) * self.attribute_targets(item_hot, x)).sum(-1)
            out = out + ((profile @ self.attr_text) * candidate).sum(-1)
        if self.item_match:
            out = out + self._match_columns(item_hot, x) @ self.cross[self.n_cross_attr :]
        return out

    def score(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs) -> torch.Tensor:
        """Raw scores [B] from projected item and profile tables (project_items, project_profiles)."""
        return self.score_parts(items, profiles, x).scores(self.fold_prior if self.fold_in else None)

    def score_parts(self, items: torch.Tensor, profiles: torch.Tensor, x: Inputs) -> ScoreParts:
        """score's terms before the fold-in prior is applied (the prior scales an unknown user's fold-in only)."""
        if self.crosses:
            items, item_hot = items[:, : self.hidden], items[:, self.hidden :]
            profiles, profile_hot = profiles[:, : self.hidden], profiles[:, self.hidden :]
        candidate = items[x.item_row]
        kind = self.read_kinds(x)
        history = items[x.hist_row] + self.kind(kind) + self.recency(x.hist_feat)

        mask = x.hist_mask
        logits = (history @ self.query(candidate).unsqueeze(-1)).squeeze(-1) / math.sqrt(self.hidden)
        weights = torch.softmax(logits.masked_fill(~mask, -1e4), dim=-1) * mask
        attended = (weights.unsqueeze(-1) * history).sum(1)
        present = mask.unsqueeze(-1).to(history.dtype)
        mean = (history * present).sum(1) / present.sum(1).clamp(min=1.0)

        profile = profiles[x.profile_row]
        u = self.user_tower(torch.cat([profile, attended, mean, x.numeric], dim=-1))
        v = self.item_tower(torch.cat([candidate, x.numeric], dim=-1))
        content = self.scorer(torch.cat([u, v, u * v], dim=-1)).squeeze(-1)
        if self.crosses:
            content = content + self._cross_term(candidate, item_hot, profile_hot, x)
        ids = (self.user_id(x.user) * self.item_id(x.item)).sum(-1)
        parts = ScoreParts(content + ids, self.user_bias(x.user).squeeze(-1) + self.item_bias(x.item).squeeze(-1), self.global_bias)
        if self.fold_in:
            known = (x.hist_item > 0) * self.rated_kind[x.hist_kind]  # a rating counts by how far it is from what the item usually gets
            values = self.kind_value(x.hist_kind).squeeze(-1) - known * self.item_bias(x.hist_item).squeeze(-1).detach()
            parts.read = mask.sum(1).to(values.dtype)
            parts.total = (values * mask).sum(1)
            if self.fold_all_events:  # the events not read count too, at the mean of those read
                parts.earlier = torch.maximum(x.n_before.to(values.dtype), parts.read)
            parts.unknown = x.user == 0
        return parts


@dataclass
class ScoreParts:
    """A batch's score terms before the fold-in prior: scores(prior) gives ValueHead.score's result for that prior."""

    base: torch.Tensor  # content + ID factors
    biases: torch.Tensor  # user + item bias
    global_bias: torch.Tensor
    read: torch.Tensor | None = None  # fold-in: history events read, their summed values, events before (fold_all_events)
    total: torch.Tensor | None = None
    earlier: torch.Tensor | None = None
    unknown: torch.Tensor | None = None  # rows whose user is unknown (the fold-in applies to them only)

    def scores(self, prior: torch.Tensor | None) -> torch.Tensor:
        """Raw scores [B] with this fold-in prior (None: the head has no fold-in)."""
        biases = self.biases
        if self.total is not None:
            values = self.total / (self.read + prior)
            if self.earlier is not None:  # the events not read count too, at the mean of those read
                values = torch.where(self.earlier > self.read, self.total / self.read.clamp(min=1.0) * self.earlier / (self.earlier + prior), values)
            biases = biases + values * self.unknown
        return self.base + biases + self.global_bias
