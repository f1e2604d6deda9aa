"""Tests of the bundled sample dataset and its generator (uvp_core.sample)."""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uvp_core import sample
from uvp_core.sample import FILE_NAMES, SampleConfig

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
ID_DTYPES = {"user_id": str, "item_id": str}
EFFECT_IDS = (
    "history_category_affinity",
    "premium_tier_x_premium_price",
    "basic_tier_x_premium_price",
    "eco_text_x_region",
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh generation with the default config."""
    return sample.write_sample(tmp_path_factory.mktemp("sample") / "a")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The committed sample files, read as an analyst would (ids as text)."""
    return {
        "events": pd.read_csv(SAMPLE_DIR / "events.csv.gz", dtype=ID_DTYPES),
        "items": pd.read_csv(SAMPLE_DIR / "items.csv", dtype=ID_DTYPES),
        "users": pd.read_csv(SAMPLE_DIR / "users.csv", dtype=ID_DTYPES),
    }


@pytest.fixture(scope="module")
def truth() -> dict:
    """The committed ground truth."""
    return json.loads((SAMPLE_DIR / "ground_truth.json").read_text())


def _effect(truth: dict, effect_id: str) -> dict:
    return next(e for e in truth["effects"] if e["id"] == effect_id)


# --- determinism and drift --------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(generated: Path, tmp_path: Path) -> None:
    assert sample.main(["--out", str(tmp_path / "b"), "--seed", "7"]) == 0
    for name in FILE_NAMES:
        assert (generated / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_committed_sample_equals_fresh_generation(generated: Path) -> None:
    committed = sorted(p.name for p in SAMPLE_DIR.iterdir())
    assert committed == sorted(FILE_NAMES), "sample_data/ holds exactly the generated files"
    for name in FILE_NAMES:
        ours, theirs = (SAMPLE_DIR / name).read_bytes(), (generated / name).read_bytes()
        if name.endswith(".gz"):  # compare content: gzip bytes may differ across zlib builds
            ours, theirs = gzip.decompress(ours), gzip.decompress(theirs)
        assert ours == theirs, f"sample_data/{name} is stale: run python -m uvp_core.sample"


def test_other_seed_differs_and_small_configs_work() -> None:
    small = SampleConfig(n_users=300, n_items=80, sessions_median=6.0)
    a, b = sample.generate(small), sample.generate(replace(small, seed=8))
    assert len(a.users) == 300 and len(a.items) == 80
    assert not a.events.equals(b.events)


def test_folder_is_small() -> None:
    total = sum(p.stat().st_size for p in SAMPLE_DIR.iterdir())
    assert total < 5 * 2**20


# --- shape and schema -------------------------------------------------------------------------


def test_sizes_and_canonical_columns(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    events, items, users = tables["events"], tables["items"], tables["users"]
    assert list(events.columns) == [
        "user_id",
        "item_id",
        "timestamp",
        "event_type",
        "rating",
        "revenue",
        "quantity",
    ]
    assert list(items.columns) == [
        "item_id",
        "title",
        "description",
        "category",
        "price",
        "brand",
        "launch_date",
    ]
    assert list(users.columns) == [
        "user_id",
        "age_band",
        "gender",
        "region",
        "membership_tier",
        "signup_date",
    ]
    assert 2_500 <= len(users) <= 3_500 and 500 <= len(items) <= 700
    assert 50_000 <= len(events) <= 100_000
    assert truth["counts"]["events"] == len(events)
    assert users["user_id"].is_unique and items["item_id"].is_unique
    assert set(events["user_id"]) <= set(users["user_id"]) and set(events["item_id"]) <= set(items["item_id"])


def test_ids_are_strings_with_leading_zeros(tables: dict[str, pd.DataFrame]) -> None:
    users, items = tables["users"], tables["items"]
    assert users["user_id"].str.fullmatch(r"U\d{5}").all()
    assert items["item_id"].str.fullmatch(r"\d{6}").all()
    assert items["item_id"].str.startswith("0").sum() > 50
    assert items["item_id"].str.startswith("00").any()


def test_user_attributes(tables: dict[str, pd.DataFrame]) -> None:
    users = tables["users"]
    assert set(users["age_band"]) == {"18-24", "25-34", "35-44", "45-54", "55+"}
    assert set(users["membership_tier"]) == {"basic", "plus", "premium"}
    assert users["region"].nunique() >= 4 and users["gender"].nunique() >= 2
    assert pd.to_datetime(users["signup_date"], format="%Y-%m-%d").notna().all()


def test_event_values(tables: dict[str, pd.DataFrame]) -> None:
    events, items = tables["events"], tables["items"]
    assert events["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    ts = pd.to_datetime(events["timestamp"], utc=True)
    assert ts.is_monotonic_increasing
    assert 365 <= (ts.max() - ts.min()).days <= 550  # 12 to 18 months
    assert set(events["event_type"]) == {"view", "click", "cart", "purchase"}
    buy = events["event_type"].eq("purchase")
    rated = events["rating"].notna()
    assert not (rated & ~buy).any(), "ratings only on purchases"
    assert 0.3 < rated[buy].mean() < 0.95, "ratings on some purchases, not all"
    assert events.loc[rated, "rating"].isin([1, 2, 3, 4, 5]).all()
    assert events.loc[rated, "rating"].nunique() == 5
    assert events["revenue"].notna().eq(buy).all() and events["quantity"].notna().eq(buy).all()
    price = events.loc[buy, "item_id"].map(items.set_index("item_id")["price"])
    np.testing.assert_allclose(events.loc[buy, "revenue"], price * events.loc[buy, "quantity"], atol=0.011)


def test_funnel_proportions(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"]
    counts = events["event_type"].value_counts()
    assert counts["view"] > counts["click"] > counts["cart"] > counts["purchase"] > 0
    assert 0.2 < counts["click"] / counts["view"] < 0.7
    assert 0.03 < counts["purchase"] / counts["view"] < 0.25
    per_pair = events.groupby(["user_id", "item_id", "event_type"]).size().unstack(fill_value=0)
    assert (per_pair["view"] >= per_pair["click"]).all()
    assert (per_pair["click"] >= per_pair["cart"]).all() and (per_pair["cart"] >= per_pair["purchase"]).all()


def test_events_respect_signup_and_launch(tables: dict[str, pd.DataFrame]) -> None:
    events, items, users = tables["events"], tables["items"], tables["users"]
    day = events["timestamp"].str[:10]
    assert (day >= events["user_id"].map(users.set_index("user_id")["signup_date"])).all()
    assert (day >= events["item_id"].map(items.set_index("item_id")["launch_date"])).all()


def test_new_users_have_little_history(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    events, users = tables["events"], tables["users"]
    cfg = truth["config"]
    cutoff = str(np.datetime64(cfg["end_date"]) - np.timedelta64(cfg["new_user_days"], "D"))
    new = users.loc[users["signup_date"] >= cutoff, "user_id"]
    assert 0.15 <= len(new) / len(users) <= 0.20
    n_events = events.groupby("user_id").size().reindex(new, fill_value=0)
    assert n_events.between(1, 5).all()
    assert truth["counts"]["new_users"] == len(new)


def test_long_tail(tables: dict[str, pd.DataFrame]) -> None:
    events, items = tables["events"], tables["items"]
    per_item = (
        events["item_id"].value_counts().reindex(items["item_id"], fill_value=0).sort_values(ascending=False)
    )
    top = per_item.iloc[: len(per_item) // 5].sum() / per_item.sum()
    assert top > 0.5, "top 20% of items hold most events"
    assert (per_item < 5).sum() >= 0.05 * len(items), "many items have only a handful of events"


def test_item_text_and_prices(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    items = tables["items"]
    assert 8 <= items["category"].nunique() <= 10
    assert items["title"].is_unique
    assert items["title"].str.fullmatch(r"[A-Z][\w' ()&-]+").all()
    sentences = items["description"].str.count(r"[.!?](?:\s|$)")
    assert sentences.between(1, 2).all()
    medians = items.groupby("category")["price"].median()
    assert medians["Electronics"] > 2 * medians["Books"]
    bands = sample.price_band(items["price"], tuple(truth["price_bands"]["cut_points"]))
    shares = pd.Series(bands).value_counts(normalize=True)
    assert set(shares.index) == {"budget", "mid", "premium"} and shares.min() > 0.1


# --- ground truth -----------------------------------------------------------------------------


def test_ground_truth_describes_the_effects(truth: dict) -> None:
    assert truth["seed"] == SampleConfig().seed and truth["generator_version"] == sample.GENERATOR_VERSION
    assert truth["price_bands"]["cut_points"] == list(SampleConfig().price_cuts)
    assert [e["id"] for e in truth["effects"]] == list(EFFECT_IDS)
    kinds = {e["id"]: e["driver"]["kind"] for e in truth["effects"]}
    assert kinds == {
        "history_category_affinity": "history_category",
        "premium_tier_x_premium_price": "user_attribute",
        "basic_tier_x_premium_price": "user_attribute",
        "eco_text_x_region": "item_text",
    }
    for effect in truth["effects"]:
        assert effect["statement"] and effect["applies_when"] and effect["affected_users_rule"]
        assert effect["rating_delta"] != 0 and effect["purchase_logodds_delta"] != 0
        assert len(effect["affected_users"]) == effect["n_affected_users"] >= 100
        assert effect["affected_users"] == sorted(set(effect["affected_users"]))


def test_affected_users_carry_the_driver(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    events, items, users = tables["events"], tables["items"], tables["users"]
    category = events["item_id"].map(items.set_index("item_id")["category"])
    kitchen_buyers = set(events.loc[events["event_type"].eq("purchase") & category.eq("Kitchen"), "user_id"])
    assert set(_effect(truth, "history_category_affinity")["affected_users"]) == kitchen_buyers
    for effect_id in EFFECT_IDS[1:]:
        driver = _effect(truth, effect_id)["driver"]
        column, value = (
            (driver["attribute"], driver["value"])
            if driver["kind"] == "user_attribute"
            else (driver["user_filter"]["attribute"], driver["user_filter"]["value"])
        )
        expected = set(users.loc[users[column].eq(value), "user_id"])
        assert set(_effect(truth, effect_id)["affected_users"]) == expected, effect_id


def test_eco_rule_matches_item_text(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    items = tables["items"]
    pattern = _effect(truth, "eco_text_x_region")["driver"]["text_pattern"]
    flagged = (items["title"] + " " + items["description"]).str.contains(pattern, regex=True)
    assert flagged.sum() == truth["counts"]["items_eco"] >= 50
    assert not items.loc[~flagged, "description"].str.contains("bamboo", case=False).any()
    assert items.loc[flagged, "title"].str.contains("Bamboo").any()


def test_rules_recomputed_from_files_match_the_simulation() -> None:
    data = sample.generate()
    masks = sample.effect_masks(SampleConfig(), data.users, data.items, data.events)["applies"]
    for effect_id, column in zip(EFFECT_IDS, ("history", "premium", "basic", "eco"), strict=True):
        np.testing.assert_array_equal(masks[effect_id], data.event_effects[column].to_numpy(), effect_id)


def _clean_rating_delta(
    tables: dict[str, pd.DataFrame], truth: dict, effect_id: str
) -> tuple[float, int, int]:
    """Mean rating where the effect applies minus its reference group, no other effect involved."""
    events, items, users = tables["events"], tables["items"], tables["users"]
    cuts = truth["price_bands"]["cut_points"]
    item = items.set_index("item_id").loc[events["item_id"]]
    user = users.set_index("user_id").loc[events["user_id"]]
    premium = item["price"].to_numpy() >= cuts[1]
    tier = user["membership_tier"].to_numpy()
    text = (item["title"] + " " + item["description"]).str.contains(r"(?i)\b(?:eco|bamboo)\b").to_numpy()
    west = user["region"].to_numpy() == "West"
    kitchen = item["category"].to_numpy() == "Kitchen"
    ts = pd.to_datetime(events["timestamp"], utc=True)
    first_buy = ts[events["event_type"].eq("purchase").to_numpy() & kitchen].groupby(events["user_id"]).min()
    history = (ts > events["user_id"].map(first_buy)).to_numpy()
    applies = {
        "history_category_affinity": kitchen & history,
        "premium_tier_x_premium_price": premium & (tier == "premium"),
        "basic_tier_x_premium_price": premium & (tier == "basic"),
        "eco_text_x_region": text & west,
    }
    reference = {
        "history_category_affinity": kitchen & ~history,
        "premium_tier_x_premium_price": premium & (tier == "plus"),
        "basic_tier_x_premium_price": premium & (tier == "plus"),
        "eco_text_x_region": text & ~west,
    }
    others = np.any([m for k, m in applies.items() if k != effect_id], axis=0)
    rating = events["rating"].to_numpy()
    a = rating[applies[effect_id] & ~others & ~np.isnan(rating)]
    r = rating[reference[effect_id] & ~others & ~np.isnan(rating)]
    return float(a.mean() - r.mean()), len(a), len(r)


@pytest.mark.parametrize("effect_id", EFFECT_IDS)
def test_planted_effect_is_visible_in_raw_data(
    tables: dict[str, pd.DataFrame], truth: dict, effect_id: str
) -> None:
    effect = _effect(truth, effect_id)
    delta, n_affected, n_reference = _clean_rating_delta(tables, truth, effect_id)
    assert n_affected >= 80 and n_reference >= 80
    assert np.sign(delta) == np.sign(effect["rating_delta"])
    assert abs(delta - effect["rating_delta"]) <= 0.35, (delta, effect["rating_delta"])
    measured = effect["measured"]
    assert measured["rating_delta"] == pytest.approx(delta, abs=1e-3)
    logodds = measured["purchase_logodds_delta_given_cart"]
    assert np.sign(logodds) == np.sign(effect["purchase_logodds_delta"])
    assert abs(logodds - effect["purchase_logodds_delta"]) <= 0.5, (logodds, effect["purchase_logodds_delta"])


def test_measured_sizes_reproduce_from_files(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    measured = sample.measure_effects(SampleConfig(), tables["users"], tables["items"], tables["events"])
    for effect in truth["effects"]:
        assert measured[effect["id"]] == effect["measured"], effect["id"]


def test_probe_pairs_isolate_one_effect(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    events, items, users = tables["events"], tables["items"], tables["users"]
    cuts = truth["price_bands"]["cut_points"]
    item, user = items.set_index("item_id"), users.set_index("user_id")
    seen = set(zip(events["user_id"], events["item_id"], strict=True))
    kitchen_buyers = set(_effect(truth, "history_category_affinity")["affected_users"])
    eco = re.compile(r"(?i)\b(?:eco|bamboo)\b")
    for effect in truth["effects"]:
        pairs = effect["probe_pairs"]
        assert len(pairs) >= 0.9 * effect["n_affected_users"], effect["id"]
        assert {u for u, _ in pairs} <= set(effect["affected_users"])
        for user_id, item_id in pairs:
            assert (user_id, item_id) not in seen
            it, us = item.loc[item_id], user.loc[user_id]
            premium = it["price"] >= cuts[1]
            active = {
                "history_category_affinity": it["category"] == "Kitchen" and user_id in kitchen_buyers,
                "premium_tier_x_premium_price": premium and us["membership_tier"] == "premium",
                "basic_tier_x_premium_price": premium and us["membership_tier"] == "basic",
                "eco_text_x_region": bool(eco.search(it["title"] + " " + it["description"]))
                and us["region"] == "West",
            }
            assert [k for k, v in active.items() if v] == [effect["id"]], (effect["id"], user_id, item_id)


def test_readme_documents_the_data() -> None:
    text = (SAMPLE_DIR / "README.md").read_text()
    for word in ("events.csv.gz", "items.csv", "users.csv", "ground_truth.json", "Licence", *EFFECT_IDS):
        assert word in text


# --- the data layer reads it as is ------------------------------------------------------------


def test_data_layer_loads_the_sample_without_mapping(tables: dict[str, pd.DataFrame]) -> None:
    try:
        from uvp_core.data import load_path
    except ImportError as exc:
        pytest.skip(f"uvp_core.data.load_path is not available yet: {exc}")
    result = load_path(SAMPLE_DIR)
    assert result.dataset is not None, result.report.format_text()
    assert not result.report.errors, result.report.format_text()
    dataset = result.dataset
    assert len(dataset.events) == len(tables["events"])
    assert dataset.items is not None and set(dataset.items["item_id"]) == set(tables["items"]["item_id"])
    assert dataset.users is not None and len(dataset.users) == len(tables["users"])
    assert {"rating", "event_type", "revenue", "quantity"} <= set(dataset.events.columns)


def test_hidden_biases_are_the_ones_behind_the_ratings(tables: dict[str, pd.DataFrame], truth: dict) -> None:
    generosity, quality = sample.hidden_biases()
    assert set(generosity.index) == set(tables["users"]["user_id"]) and set(quality.index) == set(tables["items"]["item_id"])
    assert abs(generosity.std() - truth["config"]["generosity_sd"]) < 0.05 and abs(quality.std() - truth["config"]["quality_sd"]) < 0.05
    rated = tables["events"].dropna(subset=["rating"])
    by_item = rated.groupby("item_id")["rating"].agg(["mean", "size"])
    by_user = rated.groupby("user_id")["rating"].agg(["mean", "size"])
    items, users = by_item[by_item["size"] >= 10], by_user[by_user["size"] >= 5]
    assert np.corrcoef(items["mean"], quality[items.index])[0, 1] > 0.5  # regenerated from the same seed, not new draws
    assert np.corrcoef(users["mean"], generosity[users.index])[0, 1] > 0.3
