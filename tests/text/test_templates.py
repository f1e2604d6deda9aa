"""Template rendering: exact strings, verbatim HTML, truncation, history windows."""

from __future__ import annotations

import pandas as pd

from uvp_core.data.contract import Dataset
from uvp_core.text import (
    NO_PROFILE,
    TEMPLATE_RULES,
    TEMPLATE_VERSION,
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

NOW = pd.Timestamp("2024-06-20 12:00", tz="UTC")


def test_profile_renders_attributes_in_words():
    profile = {
        "user_id": "u1",
        "age_band": "25-34",
        "region": "North",
        "membership_tier": "premium",
        "member_since": pd.Timestamp("2024-05-17", tz="UTC"),
    }
    assert render_profile(profile) == "age band 25-34; region North; membership tier premium; member since 2024-05"


def test_profile_skips_missing_values_and_formats_numbers():
    profile = {"Home-Region": "  South \n East ", "age": 34.0, "score": 0.125, "vip": True, "email": None, "x": float("nan")}
    assert render_profile(profile) == "home region South East; age 34; score 0.12; vip yes"


def test_empty_profile_reads_no_profile_information():
    assert render_profile({}) == NO_PROFILE == "no profile information"
    assert render_profile({"region": None, "tier": ""}) == NO_PROFILE


def test_item_template_exact_and_html_verbatim():
    fields = {
        "title": "Blue Ceramic Mug",
        "category": "Kitchen",
        "price": 12.99,
        "colour": "blue",
        "description": "Handmade <b>mug</b> &amp; saucer",
    }
    text = render_item(fields, "i1", TemplateContext(price_edges=(5.0, 10.0, 20.0)))
    assert text == (
        "Blue Ceramic Mug; category: Kitchen; price 12.99 (upper-middle band); colour: blue; "
        "description: Handmade <b>mug</b> &amp; saucer"
    )


def test_item_without_fields_reads_its_id():
    assert render_item({}, "sku-9") == "item sku-9"
    assert render_item({"title": None, "price": None}, "sku-9") == "item sku-9"


def test_item_without_price_bands_shows_price_only():
    assert render_item({"title": "Lamp", "price": 3}, "i2") == "Lamp; price 3.00"


def test_price_bands():
    edges = (10.0, 20.0, 30.0)
    assert [price_band(p, edges) for p in (1, 10, 15, 25, 99)] == ["low", "lower-middle", "lower-middle", "upper-middle", "high"]
    assert price_band(5, ()) is None


def test_long_description_is_cut_at_a_word_with_ellipsis():
    description = "word " * 200
    text = render_item({"title": "T", "description": description}, "i")
    cut = text.split("description: ", 1)[1]
    assert len(cut) <= 300 and cut.endswith("…") and cut[:-1].endswith("word")


def test_long_title_is_cut():
    text = render_item({"title": "x" * 400}, "i")
    assert len(text) == 150 and text.endswith("…")


def test_history_event_templates_exact():
    mug = {"title": "Blue Ceramic Mug", "category": "Kitchen"}
    when = NOW - pd.Timedelta(days=3, hours=2)
    assert render_history_event(mug, "i1", when=when, now=NOW, event_type="purchase") == (
        "purchased Blue Ceramic Mug (Kitchen), 3 days before"
    )
    toy = {"title": "Toy Story (1995)", "category": "Animation"}
    text = render_history_event(
        toy, "m1", when=NOW - pd.Timedelta(days=15), now=NOW, rating=4.0, context=TemplateContext(rating_max=5.0)
    )
    assert text == "rated 4 of 5: Toy Story (1995), 2 weeks before"
    assert render_history_event({}, "i9", when=NOW, now=None, event_type="cart") == "added to cart item i9, on 2024-06-20"
    assert render_history_event({}, "i9", when=NOW, now=NOW, event_type="wishlist") == "wishlist item i9, moments before"


def test_describe_gap_units():
    cases = {
        pd.Timedelta(seconds=30): "moments before",
        pd.Timedelta(minutes=1): "1 minute before",
        pd.Timedelta(hours=5): "5 hours before",
        pd.Timedelta(days=1): "1 day before",
        pd.Timedelta(days=20): "2 weeks before",
        pd.Timedelta(days=100): "3 months before",
        pd.Timedelta(days=800): "2 years before",
    }
    assert {delta: describe_gap(delta) for delta in cases} == cases


def _dataset() -> Dataset:
    ts = pd.to_datetime(["2024-06-01", "2024-06-10", "2024-06-17", "2024-06-19", "2024-06-25"], utc=True)
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u1"],
            "item_id": ["a", "b", "c", "a", "b"],
            "timestamp": pd.Series(ts).astype("datetime64[ms, UTC]"),
            "event_type": ["view", "cart", "purchase", "view", "view"],
        }
    )
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["<i>Apple</i>", "Bowl", "Cup"], "category": ["Food", "Home", "Home"]})
    users = pd.DataFrame({"user_id": ["u1"], "region": ["North"]})
    return Dataset(events=events, items=items, users=users)


def test_pair_texts_history_is_before_time_most_recent_first_and_capped():
    texts = render_pair_texts(_dataset(), "u1", "c", NOW, context=TemplateContext(history_k=2))
    assert texts.profile == "region North"
    assert texts.item == "Cup; category: Home"
    assert texts.history == ("purchased Cup (Home), 3 days before", "added to cart Bowl (Home), 10 days before")


def test_pair_texts_without_time_use_all_events_relative_to_latest():
    texts = render_pair_texts(_dataset(), "u1", "zz", None)
    assert texts.item == "item zz"
    assert texts.history[0] == "viewed Bowl (Home), moments before"
    assert texts.history[-1] == "viewed <i>Apple</i> (Food), 3 weeks before"
    assert render_pair_texts(_dataset(), "nobody", "a").profile == NO_PROFILE


def test_bulk_renderers_match_single_rendering():
    ds = _dataset()
    assert render_items(ds.items, ["a", "zz"]) == ["<i>Apple</i>; category: Food", "item zz"]
    assert render_profiles(ds.users, ["u1", "u9"]) == ["region North", NO_PROFILE]


def test_templates_are_versioned_and_documented():
    assert TEMPLATE_VERSION
    assert set(TEMPLATE_RULES) >= {"profile", "item", "history_event"}


def test_fields_by_id_reads_each_wanted_id_once_from_its_first_row() -> None:
    import pandas as pd

    from uvp_core.text.templates import fields_by_id

    items = pd.DataFrame({"item_id": ["a", "b", "a"], "title": ["Mug", "Lamp", "Second mug"], "price": [3.0, 9.0, 4.0]})
    assert fields_by_id(items, "item_id", {"a", "zz"}, ["item_id", "title"]) == {"a": {"title": "Mug"}}  # zz: not in the table
    assert fields_by_id(None, "item_id", {"a"}, ["title"]) == {}
