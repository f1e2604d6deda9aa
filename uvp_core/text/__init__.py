"""Versioned text templates: what the value model reads about users, their history and items."""

from uvp_core.text.templates import (
    NO_PROFILE,
    TEMPLATE_RULES,
    TEMPLATE_VERSION,
    PairTexts,
    TemplateContext,
    describe_gap,
    price_band,
    render_history_event,
    render_item,
    render_items,
    render_pair_texts,
    render_profile,
    render_profiles,
)

__all__ = [
    "NO_PROFILE",
    "TEMPLATE_RULES",
    "TEMPLATE_VERSION",
    "PairTexts",
    "TemplateContext",
    "describe_gap",
    "price_band",
    "render_history_event",
    "render_item",
    "render_items",
    "render_pair_texts",
    "render_profile",
    "render_profiles",
]
