"""The bundled sample dataset: a synthetic e-commerce shop with planted, documented effects.

Run `python -m uvp_core.sample [--out sample_data] [--seed 7]` to (re)generate the folder:
events.csv.gz, items.csv, users.csv (canonical column names, see uvp_core.data.contract),
ground_truth.json (the planted effects, machine-readable) and README.md.

Output is byte-for-byte deterministic given the config: one numpy Generator per component,
stable row order, fixed float formatting and gzip with mtime=0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0.0"
DEFAULT_OUT = "sample_data"
FILE_NAMES: tuple[str, ...] = ("events.csv.gz", "items.csv", "users.csv", "ground_truth.json", "README.md")

EVENT_TYPES: tuple[str, ...] = ("view", "click", "cart", "purchase")
AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55+")
GENDERS: tuple[str, ...] = ("female", "male", "other")
REGIONS: tuple[str, ...] = ("North", "South", "East", "West", "Central")
TIERS: tuple[str, ...] = ("basic", "plus", "premium")
PRICE_BANDS: tuple[str, ...] = ("budget", "mid", "premium")

# Items whose title or description matches this carry the text effect (whole words only, so
# "decor" or "second" never match).
ECO_PATTERN = r"(?i)\b(?:eco|bamboo)\b"
ECO_SENTENCES: tuple[str, ...] = (
    "Eco-friendly: made from responsibly sourced materials with plastic-free packaging.",
    "An eco choice, responsibly sourced and shipped without plastic.",
    "Eco-conscious design in recyclable packaging.",
)
# Materials never offered on eco items, and material names reworded inside descriptions.
SYNTHETIC_WORDS: tuple[str, ...] = (
    "Plastic",
    "PVC",
    "Polyester",
    "Nylon",
    "Polyethylene",
    "Synthetic",
    "TPE",
    "EVA",
)
DESCRIPTION_MATERIAL: dict[str, str] = {"Wooden": "wood", "Plush": "soft plush"}

DAY_S = 86_400
SESSION_GAP_S = 3_600  # sessions of one user start at least an hour apart; a funnel lasts < 45 min


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleConfig:
    """Every knob of the generator; the defaults produce the committed sample_data/."""

    seed: int = 7
    n_users: int = 3_000
    n_items: int = 600
    start_date: str = "2024-06-01"  # first day of the event window (UTC)
    end_date: str = "2025-10-01"  # the window ends at midnight starting this day (exclusive): 16 months
    # Activity: sessions per established user ~ lognormal(median, sigma) x sqrt(active share of window).
    sessions_median: float = 15.0
    sessions_sigma: float = 0.9
    max_sessions: int = 400
    # New users: signed up in the last `new_user_days` days, with 1-5 events each.
    new_user_share: float = 0.17
    new_user_days: int = 28
    new_user_max_events: int = 5
    # Items: Zipf-like popularity (weight = rank ** -zipf_exponent) and late launches.
    zipf_exponent: float = 1.25
    late_launch_share: float = 0.2  # items launched inside the window (no events before launch)
    category_concentration: float = 3.0  # Dirichlet total mass of a user's category preferences
    # Funnel base probabilities: P(click | view), P(cart | click), P(purchase | cart).
    p_click: float = 0.36
    p_cart: float = 0.45
    p_purchase: float = 0.55
    p_rated: float = 0.75  # share of purchases that carry a star rating
    # Biases: user propensity (all funnel steps), item quality (click step and ratings),
    # user generosity (ratings only); all normal with these standard deviations.
    propensity_sd: float = 0.35
    quality_sd: float = 0.4
    generosity_sd: float = 0.4
    rating_mean: float = 3.0  # latent rating before effects, rounded and clipped to 1..5
    rating_noise_sd: float = 0.7
    # Global price-band cut points (USD): budget < 25 <= mid < 75 <= premium.
    price_cuts: tuple[float, float] = (25.0, 75.0)
    # Planted effects: (rating delta in stars, purchase log-odds delta at click->cart and cart->purchase).
    history_category: str = "Kitchen"
    history_effect: tuple[float, float] = (1.0, 1.5)
    premium_tier_effect: tuple[float, float] = (1.0, 1.2)
    basic_tier_effect: tuple[float, float] = (-0.8, -0.9)
    eco_region: str = "West"
    eco_effect: tuple[float, float] = (0.8, 1.0)
    eco_share: float = 0.2  # share of items (in categories that allow it) sold as eco/bamboo


# --- catalogue vocabulary ----------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """One product kind: its noun, usual materials, what it is for and a relative price."""

    noun: str
    materials: tuple[str, ...]
    use: str
    price_factor: float = 1.0
    bamboo_ok: bool = False  # can be made of bamboo (only ever chosen for eco items)


@dataclass(frozen=True)
class Category:
    """Vocabulary, brands, price level and browsing share of one category."""

    name: str
    share: float  # base share of browsing
    price_median: float  # USD, for price_factor 1.0
    adjectives: tuple[str, ...]
    products: tuple[Product, ...]
    styles: tuple[str, ...]
    extras: tuple[str, ...]
    brands: tuple[str, ...]
    title_template: str = "{adj} {material} {noun}"
    description_template: str = "{style} {noun_l} in {material_l}, made for {use}."
    eco_ok: bool = True


# fmt: off
P = Product
CATALOG: tuple[Category, ...] = (
    Category(
        "Kitchen", 0.14, 30.0,
        ("Blue", "White", "Charcoal", "Sage Green", "Cream", "Olive", "Speckled", "Matte Black", "Red"),
        (
            P("Mug", ("Ceramic", "Stoneware", "Porcelain", "Enamel"), "morning coffee and tea", 0.5, True),
            P("Saucepan", ("Stainless Steel", "Copper", "Enamel"), "sauces, soups and everyday cooking", 1.8),
            P("Skillet", ("Cast Iron", "Stainless Steel", "Carbon Steel"), "searing, frying and baking", 1.6),
            P("Mixing Bowl", ("Glass", "Stainless Steel", "Ceramic"), "baking and meal prep", 0.8, True),
            P("Cutting Board", ("Acacia Wood", "Walnut", "Maple"), "chopping and serving", 0.9, True),
            P("Teapot", ("Porcelain", "Cast Iron", "Glass"), "brewing loose-leaf tea", 1.0),
            P("Dutch Oven", ("Cast Iron", "Enamel"), "slow-cooked stews and crusty bread", 3.2),
            P("Salad Bowl", ("Acacia Wood", "Ceramic", "Glass"), "serving guests", 0.9, True),
            P("Utensil Set", ("Silicone", "Stainless Steel", "Walnut"), "stirring and serving", 0.8, True),
            P("French Press", ("Glass", "Stainless Steel"), "rich, full-bodied coffee", 1.2),
            P("Serving Platter", ("Stoneware", "Porcelain", "Acacia Wood"), "family dinners", 1.1, True),
            P("Storage Jar Set", ("Glass", "Ceramic"), "keeping pantry staples fresh", 0.9, True),
        ),
        ("minimalist", "rustic", "classic", "modern", "farmhouse-style", "Scandinavian-inspired"),
        ("Dishwasher safe and easy to clean.", "Comfortable to hold and built to last.",
         "A thoughtful gift for anyone who loves to cook.", "Pairs well with the rest of the collection."),
        ("Hearthline", "Copperleaf", "Oakmere", "Brava Home"),
    ),
    Category(
        "Outdoor", 0.09, 55.0,
        ("Forest Green", "Orange", "Navy", "Grey", "Olive", "Sand", "Red", "Black"),
        (
            P("Tent", ("Ripstop Nylon", "Polyester", "Canvas"), "weekend camping trips", 3.5),
            P("Sleeping Bag", ("Down", "Synthetic Fill"), "cold nights under the stars", 2.0),
            P("Camping Chair", ("Aluminium", "Steel"), "campsites and festivals", 0.9),
            P("Hiking Backpack", ("Ripstop Nylon", "Polyester"), "day hikes and long treks", 1.8),
            P("Headlamp", ("Aluminium", "ABS Plastic"), "night hikes and camp chores", 0.5),
            P("Water Bottle", ("Stainless Steel", "Aluminium", "Tritan"), "trail hydration", 0.45, True),
            P("Camp Stove", ("Stainless Steel", "Aluminium"), "cooking outdoors", 1.2),
            P("Hammock", ("Parachute Nylon", "Cotton"), "relaxing between the trees", 0.8),
            P("Picnic Blanket", ("Wool", "Fleece", "Polyester"), "picnics and beach days", 0.7),
            P("Trekking Poles", ("Aluminium", "Carbon Fibre"), "steep climbs and descents", 1.1, True),
            P("Cooler Box", ("Polyethylene", "Steel"), "keeping drinks cold", 1.5),
            P("Camping Cutlery Set", ("Titanium", "Stainless Steel"), "meals at camp", 0.35, True),
        ),
        ("rugged", "lightweight", "packable", "weatherproof", "classic"),
        ("Packs down small and sets up in minutes.", "Tested in wind, rain and snow.",
         "Backed by a two-year warranty.", "Light enough to carry all day."),
        ("Ridgeway", "Northfold", "Cairn & Co", "Trailwise"),
    ),
    Category(
        "Electronics", 0.11, 90.0,
        ("Black", "White", "Graphite", "Silver", "Midnight Blue", "Rose Gold", "Compact", "Slim"),
        (
            P("Bluetooth Speaker", ("aluminium", "woven fabric"), "music at home or on the go", 0.9),
            P("Wireless Earbuds", ("matte plastic", "glossy plastic"), "commutes and workouts", 1.0),
            P("Over-Ear Headphones", ("aluminium", "matte plastic"), "focused listening", 1.8),
            P("Smartwatch", ("aluminium", "stainless steel"), "tracking fitness and notifications", 2.4),
            P("USB-C Charger", ("matte plastic",), "charging phones and laptops", 0.3),
            P("Power Bank", ("aluminium", "matte plastic"), "charging on the move", 0.45),
            P("Webcam", ("matte plastic", "aluminium"), "crisp video calls", 0.8),
            P("Mechanical Keyboard", ("aluminium", "matte plastic"), "fast, comfortable typing", 1.2),
            P("Wireless Mouse", ("matte plastic",), "precise everyday work", 0.4),
            P("E-Reader", ("matte plastic", "aluminium"), "reading anywhere", 1.6),
            P("Smart Plug", ("matte plastic",), "automating lamps and appliances", 0.25),
            P("Action Camera", ("aluminium", "rubberised plastic"), "capturing adventures", 3.0),
            P("Portable Monitor", ("aluminium",), "a second screen anywhere", 2.6),
        ),
        ("sleek", "compact", "high-performance", "travel-friendly", "reliable"),
        ("Charges over USB-C.", "Includes a one-year warranty.",
         "Pairs in seconds with phones and laptops.", "Long battery life for all-day use."),
        ("Voltaic", "Lumen Labs", "Arcwave", "Pixelport"),
        title_template="{adj} {noun}",
        description_template="{style} {noun_l} with {a_material} finish, designed for {use}.",
        eco_ok=False,
    ),
    Category(
        "Books", 0.10, 17.0,
        ("The Complete", "The Essential", "A Beginner's", "The Illustrated", "The Pocket", "The Practical",
         "The Modern", "The Little"),
        (
            P("Guide to Sourdough Baking", ("Hardcover", "Paperback"), "home bakers", 1.0),
            P("Guide to Houseplants", ("Hardcover", "Paperback"), "new plant parents", 1.0),
            P("Guide to Trail Running", ("Paperback",), "runners leaving the road", 0.9),
            P("Guide to Personal Finance", ("Hardcover", "Paperback"), "anyone starting to budget", 1.0),
            P("Guide to Birdwatching", ("Paperback", "Spiral-Bound"), "curious birders", 0.9),
            P("Guide to Watercolour Painting", ("Hardcover", "Spiral-Bound"), "aspiring painters", 1.3),
            P("Guide to Home Repair", ("Paperback", "Spiral-Bound"), "first-time homeowners", 1.2),
            P("Guide to Mindful Living", ("Hardcover", "Paperback"), "busy people", 0.8),
            P("Guide to Italian Cooking", ("Hardcover",), "weeknight cooks", 1.6),
            P("Guide to Photography", ("Hardcover", "Paperback"), "new camera owners", 1.4),
            P("Guide to Woodworking", ("Hardcover", "Spiral-Bound"), "weekend makers", 1.5),
            P("Guide to Stargazing", ("Paperback",), "backyard astronomers", 0.9),
        ),
        ("clear", "friendly", "richly illustrated", "concise", "thorough", "practical"),
        ("Includes step-by-step projects and photographs.", "A bestseller in its field.",
         "Written by an experienced practitioner.", "Perfect as a gift."),
        ("Harbor Press", "Quillstone", "Meridian Books", "Northlight Publishing"),
        title_template="{adj} {noun} ({material})",
        description_template="{style} guide in {material_l}, written for {use}.",
        eco_ok=False,
    ),
    Category(
        "Toys", 0.09, 26.0,
        ("Rainbow", "Red", "Yellow", "Pastel", "Bright Blue", "Green", "Classic", "Mini"),
        (
            P("Building Blocks", ("Wooden", "Plastic"), "creative play", 1.0, True),
            P("Jigsaw Puzzle", ("Cardboard", "Wooden"), "quiet afternoons", 0.7),
            P("Stacking Rings", ("Wooden", "Silicone"), "toddlers learning to stack", 0.6, True),
            P("Toy Car Set", ("Die-Cast Metal", "Wooden"), "racing around the living room", 0.9),
            P("Plush Bear", ("Cotton", "Plush"), "bedtime cuddles", 0.8),
            P("Train Set", ("Wooden", "Plastic"), "building tracks together", 2.2, True),
            P("Kite", ("Nylon", "Polyester"), "breezy days at the park", 0.7),
            P("Board Game", ("Cardboard", "Wooden"), "family game nights", 1.2),
            P("Doll House", ("Wooden", "Plastic"), "imaginative play", 3.5),
            P("Craft Kit", ("Cardboard", "Felt"), "rainy-day crafts", 0.8),
            P("Xylophone", ("Wooden", "Metal"), "first music lessons", 1.0, True),
        ),
        ("colourful", "sturdy", "award-winning", "classic", "educational"),
        ("Suitable for ages 3 and up.", "Non-toxic paints and finishes.",
         "Encourages creativity and fine motor skills.", "Comes in a gift-ready box."),
        ("Little Otter", "Brightbox", "Tumbletown", "Kiteworks"),
    ),
    Category(
        "Beauty", 0.10, 20.0,
        ("Lavender", "Rose", "Citrus", "Unscented", "Coconut", "Vanilla", "Green Tea", "Sandalwood"),
        (
            P("Hand Cream", ("Shea Butter", "Aloe Vera"), "dry, busy hands", 0.7),
            P("Face Serum", ("Vitamin C", "Hyaluronic Acid"), "a bright, even complexion", 1.8),
            P("Shampoo Bar", ("Argan Oil", "Oat Milk"), "soft, healthy hair", 0.6),
            P("Body Lotion", ("Shea Butter", "Almond Oil"), "daily moisture", 0.9),
            P("Lip Balm", ("Beeswax", "Cocoa Butter"), "soft lips in any weather", 0.3),
            P("Face Mask", ("Clay", "Charcoal"), "a weekly deep cleanse", 1.0),
            P("Bath Salts", ("Sea Salt", "Epsom Salt"), "a relaxing soak", 0.8),
            P("Hair Brush", ("Boar Bristle", "Nylon Bristle"), "smooth, tangle-free hair", 1.2, True),
            P("Makeup Brush Set", ("Synthetic Bristle", "Goat Hair"), "flawless application", 1.9, True),
            P("Toothbrush", ("Nylon Bristle", "Charcoal Bristle"), "a gentle daily clean", 0.3, True),
            P("Cleansing Balm", ("Jojoba Oil", "Rosehip Oil"), "melting away makeup", 1.3),
        ),
        ("gentle", "nourishing", "lightweight", "luxurious", "everyday"),
        ("Dermatologically tested.", "Suitable for sensitive skin.",
         "Free from parabens.", "Travel-size friendly."),
        ("Petal & Pine", "Lumiere Botanics", "Saltwell", "Verdant Skin"),
        description_template="{style} {noun_l} with {material_l}, made for {use}.",
    ),
    Category(
        "Garden", 0.08, 32.0,
        ("Green", "Slate Grey", "Black", "Natural", "Sage", "Stone", "Cream", "Rust Red"),
        (
            P("Plant Pot", ("Ceramic", "Clay", "Concrete"), "herbs and houseplants", 0.6, True),
            P("Watering Can", ("Galvanised Steel", "Plastic", "Copper"), "watering beds and borders", 0.9),
            P("Garden Hose", ("Rubber", "PVC"), "watering the whole garden", 1.3),
            P("Pruning Shears", ("Carbon Steel", "Stainless Steel"), "shaping shrubs and roses", 0.9),
            P("Raised Bed", ("Cedar", "Galvanised Steel"), "growing vegetables", 3.5),
            P("Bird Feeder", ("Cedar", "Metal"), "attracting garden birds", 0.8, True),
            P("Garden Gloves", ("Leather", "Nitrile"), "weeding and planting", 0.4),
            P("Compost Bin", ("Plastic", "Pine"), "turning scraps into compost", 2.0),
            P("Solar Lantern", ("Metal", "Glass"), "lighting paths at night", 0.8),
            P("Plant Stand", ("Iron", "Pine"), "displaying potted plants", 1.5, True),
            P("Hand Trowel", ("Stainless Steel", "Carbon Steel"), "planting bulbs", 0.4),
        ),
        ("durable", "weather-resistant", "classic", "modern", "hand-finished"),
        ("Built to withstand sun, frost and rain.", "Easy to assemble.",
         "A favourite with allotment gardeners.", "Rust-resistant finish."),
        ("Greenhollow", "Fernbrook", "Potting Shed Co", "Wildacre"),
    ),
    Category(
        "Sports", 0.09, 45.0,
        ("Black", "Neon Yellow", "Royal Blue", "Red", "Grey", "White", "Coral", "Teal"),
        (
            P("Yoga Mat", ("Natural Rubber", "TPE", "Cork"), "yoga and stretching", 0.8),
            P("Dumbbell Set", ("Cast Iron", "Neoprene", "Steel"), "strength training at home", 2.0),
            P("Running Shoes", ("Mesh", "Knit"), "road running", 2.2),
            P("Tennis Racket", ("Graphite", "Aluminium"), "club and casual play", 2.4),
            P("Football", ("Synthetic Leather", "Rubber"), "matches and training", 0.6),
            P("Jump Rope", ("Steel Cable", "PVC"), "cardio workouts", 0.3),
            P("Resistance Bands", ("Latex", "Fabric"), "mobility and strength work", 0.5),
            P("Cycling Helmet", ("Polycarbonate", "EPS Foam"), "commuting and road cycling", 1.6),
            P("Gym Bag", ("Canvas", "Nylon"), "carrying kit to the gym", 1.0),
            P("Foam Roller", ("EVA Foam", "Cork"), "post-workout recovery", 0.6),
            P("Sports Socks", ("Merino", "Cotton"), "long runs", 0.3, True),
            P("Yoga Block", ("Cork", "EVA Foam"), "supported poses", 0.35, True),
        ),
        ("lightweight", "professional-grade", "durable", "ergonomic", "breathable"),
        ("Designed with athletes and coaches.", "Easy to clean after training.",
         "Non-slip grip.", "Comes with a carry strap."),
        ("Stridelab", "Apex Motion", "Kinetic Co", "Pulsefit"),
    ),
    Category(
        "Home Office", 0.10, 60.0,
        ("Black", "White", "Grey", "Charcoal", "Navy", "Sand", "Forest Green", "Light Grey"),
        (
            P("Standing Desk", ("Oak Veneer", "Steel"), "working sitting or standing", 5.5, True),
            P("Office Chair", ("Mesh", "Leather", "Fabric"), "long working days", 4.0),
            P("Desk Lamp", ("Aluminium", "Brass"), "late-night reading", 0.9),
            P("Monitor Stand", ("Steel", "Walnut"), "raising screens to eye level", 0.8, True),
            P("Desk Organiser", ("Felt", "Walnut"), "keeping pens and cables tidy", 0.4, True),
            P("Notebook", ("Leather", "Linen"), "notes and sketches", 0.3),
            P("Filing Cabinet", ("Steel", "Oak"), "keeping paperwork in order", 2.5),
            P("Whiteboard", ("Glass", "Magnetic Steel"), "planning and brainstorming", 1.2),
            P("Footrest", ("Foam", "Oak"), "better posture at the desk", 0.6),
            P("Bookshelf", ("Oak", "Pine", "Steel"), "books and files", 2.2, True),
            P("Desk Mat", ("Felt", "Leather", "Cork"), "a tidy, comfortable desk", 0.4),
        ),
        ("ergonomic", "minimalist", "space-saving", "sturdy", "modern"),
        ("Tool-free assembly in under ten minutes.", "Designed for small spaces.",
         "Backed by a five-year warranty.", "Matches the rest of the workspace range."),
        ("Deskwell", "Oak & Ink", "Workhaven", "Studio Nine"),
    ),
    Category(
        "Pet", 0.10, 24.0,
        ("Grey", "Navy", "Red", "Tan", "Green", "Pink", "Charcoal", "Blue"),
        (
            P("Dog Bed", ("Memory Foam", "Fleece", "Canvas"), "restful naps", 2.0),
            P("Cat Scratcher", ("Cardboard", "Sisal"), "keeping claws off the sofa", 0.8),
            P("Dog Lead", ("Nylon", "Leather"), "daily walks", 0.6),
            P("Pet Bowl", ("Stainless Steel", "Ceramic"), "meal times", 0.5, True),
            P("Cat Tree", ("Sisal", "Plush"), "climbing and lounging", 3.0),
            P("Chew Toy", ("Rubber", "Rope"), "heavy chewers", 0.4),
            P("Pet Carrier", ("Nylon", "Plastic"), "trips to the vet", 1.6),
            P("Grooming Brush", ("Stainless Steel", "Boar Bristle"), "shiny, tangle-free coats", 0.6, True),
            P("Dog Harness", ("Nylon", "Mesh"), "no-pull walks", 1.0),
            P("Pet Blanket", ("Fleece", "Cotton"), "sofas and car seats", 0.7),
            P("Feeding Mat", ("Silicone", "Rubber"), "mess-free meals", 0.4, True),
        ),
        ("cosy", "durable", "easy-clean", "vet-approved", "stylish"),
        ("Machine washable.", "Suitable for dogs and cats of all sizes.",
         "Tested by our own pets.", "Non-slip base."),
        ("Pawsome", "Furrow & Co", "Tailwise", "Whiskerwood"),
    ),
)
del P
# fmt: on
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATALOG)


# --- result value -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleData:
    """The generated tables (canonical, as written), hidden per-event truth and ground truth."""

    users: pd.DataFrame
    items: pd.DataFrame
    events: pd.DataFrame
    ground_truth: dict
    # Per event row (same order as `events`): which planted effects applied, as the simulator saw it.
    event_effects: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)


# --- public API -------------------------------------------------------------------------------


def price_band(
    price: np.ndarray | pd.Series, cuts: tuple[float, float] = SampleConfig.price_cuts
) -> np.ndarray:
    """The price band label (budget, mid, premium) of each price, from the global cut points."""
    return np.asarray(PRICE_BANDS, dtype=object)[
        np.searchsorted(np.asarray(cuts), np.asarray(price), "right")
    ]


def eco_items(items: pd.DataFrame) -> pd.Series:
    """True for items whose title or description carries the eco/bamboo keywords."""
    text = items["title"].astype(str) + " " + items["description"].astype(str)
    return text.str.contains(ECO_PATTERN, regex=True)


def prior_category_purchase(events: pd.DataFrame, items: pd.DataFrame, category: str) -> pd.Series:
    """Per event: has this user purchased an item of `category` strictly before this event's time."""
    cat = events["item_id"].map(items.set_index("item_id")["category"]).eq(category)
    ts = pd.to_datetime(events["timestamp"], utc=True)
    is_buy = (events["event_type"].eq("purchase") & cat).to_numpy()
    buys = pd.DataFrame({"user_id": events["user_id"].to_numpy()[is_buy], "ts": ts.to_numpy()[is_buy]})
    first_buy = buys.groupby("user_id")["ts"].min()
    first = events["user_id"].map(first_buy)
    return (ts > first).fillna(False).astype(bool)


def config_from_truth(truth: dict) -> SampleConfig:
    """The config a ground_truth.json was generated with."""
    return SampleConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in truth["config"].items()})


def _rngs(config: SampleConfig) -> list[np.random.Generator]:
    """The generator's six independent random streams (users, items, sessions, funnels, events, truth)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6)]


def generate(config: SampleConfig = SampleConfig()) -> SampleData:
    """Generate the whole sample in memory (no files written)."""
    rngs = _rngs(config)
    users = _make_users(config, rngs[0])
    items = _make_items(config, rngs[1])
    sessions = _make_sessions(config, users, items, rngs[2])
    sessions = _simulate_funnels(config, users, items, sessions, rngs[3])
    events, effects = _build_events(config, users, items, sessions, rngs[4])
    users_out = users[["user_id", "age_band", "gender", "region", "membership_tier", "signup_date"]]
    items_out = items[["item_id", "title", "description", "category", "price", "brand", "launch_date"]]
    truth = _ground_truth(config, users_out, items_out, events, rngs[5])
    return SampleData(
        users_out.reset_index(drop=True), items_out.reset_index(drop=True), events, truth, effects
    )


def hidden_biases(config: SampleConfig = SampleConfig()) -> tuple[pd.Series, pd.Series]:
    """The hidden user generosity (by user_id) and item quality (by item_id) behind the sample's ratings."""
    rngs = _rngs(config)
    users, items = _make_users(config, rngs[0]), _make_items(config, rngs[1])
    return users.set_index("user_id")["_generosity"], items.set_index("item_id")["_quality"]


def write_sample(out_dir: str | Path = DEFAULT_OUT, config: SampleConfig = SampleConfig()) -> Path:
    """Generate the sample and write its five files into `out_dir`; returns the folder."""
    started = time.perf_counter()
    data = generate(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_bytes(out / "events.csv.gz", gzip.compress(_csv_bytes(_format_events(data.events)), 9, mtime=0))
    _write_bytes(out / "items.csv", _csv_bytes(_format_items(data.items)))
    _write_bytes(out / "users.csv", _csv_bytes(data.users))
    _write_bytes(out / "ground_truth.json", (json.dumps(data.ground_truth, indent=1) + "\n").encode())
    _write_bytes(out / "README.md", render_readme(data.ground_truth).encode())
    log.info("wrote %s in %.2f s", out, time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: generate the sample dataset folder."""
    parser = argparse.ArgumentParser(prog="python -m uvp_core.sample", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: sample_data)")
    parser.add_argument("--seed", type=int, default=SampleConfig.seed, help="random seed (default: 7)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = write_sample(args.out, SampleConfig(seed=args.seed))
    print(out)
    return 0


# --- users ------------------------------------------------------------------------------------


def _day(date: str) -> int:
    """Days since the Unix epoch of an ISO date."""
    return int(np.datetime64(date, "D").astype(np.int64))


def _make_users(cfg: SampleConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Users with attributes, signup dates and hidden biases."""
    n = cfg.n_users
    start, end = _day(cfg.start_date), _day(cfg.end_date)
    is_new = np.zeros(n, dtype=bool)
    is_new[rng.permutation(n)[: round(n * cfg.new_user_share)]] = True
    before = rng.random(n) < 0.3
    old_signup = np.where(
        before,
        rng.integers(start - 3 * 365, start, n),
        rng.integers(start, end - cfg.new_user_days - 7, n),
    )
    new_signup = rng.integers(end - cfg.new_user_days, end, n)
    signup = np.where(is_new, new_signup, old_signup)
    pref = rng.dirichlet(np.array([c.share for c in CATALOG]) * cfg.category_concentration, n)
    return pd.DataFrame(
        {
            "user_id": [f"U{i:05d}" for i in range(1, n + 1)],
            "age_band": rng.choice(np.array(AGE_BANDS, dtype=object), n, p=[0.14, 0.28, 0.24, 0.18, 0.16]),
            "gender": rng.choice(np.array(GENDERS, dtype=object), n, p=[0.5, 0.46, 0.04]),
            "region": rng.choice(np.array(REGIONS, dtype=object), n, p=[0.2, 0.21, 0.19, 0.22, 0.18]),
            "membership_tier": rng.choice(np.array(TIERS, dtype=object), n, p=[0.55, 0.3, 0.15]),
            "signup_date": np.datetime_as_string(signup.astype("datetime64[D]")).astype(object),
            "_signup_day": signup,
            "_is_new": is_new,
            "_propensity": rng.normal(0, cfg.propensity_sd, n),
            "_generosity": rng.normal(0, cfg.generosity_sd, n),
            "_pref": list(pref),
        }
    )


# --- items ------------------------------------------------------------------------------------


def _make_items(cfg: SampleConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Items with text, prices, launch dates and hidden quality/popularity."""
    n = cfg.n_items
    shares = np.array([c.share for c in CATALOG])
    counts = np.floor(shares / shares.sum() * n).astype(int)
    counts[np.argsort(-(shares / shares.sum() * n - counts), kind="stable")[: n - counts.sum()]] += 1
    records: list[dict] = []
    for cat, k in zip(CATALOG, counts, strict=True):
        records.extend(_make_category_items(cfg, cat, int(k), rng))
    items = pd.DataFrame.from_records(records)
    ids = rng.choice(np.arange(1, 150_000), n, replace=False)
    items.insert(0, "item_id", [f"{i:06d}" for i in ids])
    start, end = _day(cfg.start_date), _day(cfg.end_date)
    late = rng.random(n) < cfg.late_launch_share
    launch = np.where(late, rng.integers(start + 14, end - 30, n), rng.integers(start - 3 * 365, start, n))
    items["launch_date"] = np.datetime_as_string(launch.astype("datetime64[D]")).astype(object)
    items["_launch_day"] = launch
    items["_quality"] = rng.normal(0, cfg.quality_sd, n)
    rank_key = items["_quality"].to_numpy() + rng.normal(0, 1.0, n)
    rank = np.empty(n, dtype=int)
    rank[np.argsort(-rank_key, kind="stable")] = np.arange(1, n + 1)
    items["_popularity"] = rank.astype(float) ** -cfg.zipf_exponent
    items["price_band"] = price_band(items["price"].to_numpy(), cfg.price_cuts)
    items["_eco"] = eco_items(items).to_numpy()
    return items.sort_values("item_id", kind="stable").reset_index(drop=True)


def _make_category_items(cfg: SampleConfig, cat: Category, k: int, rng: np.random.Generator) -> list[dict]:
    """`k` items of one category with unique titles."""
    out: list[dict] = []
    seen: set[str] = set()
    while len(out) < k:
        prod = cat.products[rng.integers(len(cat.products))]
        adj = cat.adjectives[rng.integers(len(cat.adjectives))]
        material, eco = _pick_material(prod, cat.eco_ok and rng.random() < cfg.eco_share, rng)
        title = cat.title_template.format(adj=adj, material=material, noun=prod.noun)
        if title in seen:
            continue
        seen.add(title)
        style = cat.styles[rng.integers(len(cat.styles))]
        material_l = _lower_words(DESCRIPTION_MATERIAL.get(material, material))
        body = cat.description_template.format(
            style=style,
            noun_l=_lower_words(prod.noun),
            material_l=material_l,
            use=prod.use,
            a_material=("an " if material_l[0] in "aeiou" else "a ") + material_l,
        )
        body = body[0].upper() + body[1:]
        extra = (ECO_SENTENCES if eco else cat.extras)[rng.integers(3 if eco else len(cat.extras))]
        raw = cat.price_median * prod.price_factor * np.exp(rng.normal(0, 0.35))
        price = max(round(raw) - 0.01, 4.99)
        out.append(
            {
                "title": title,
                "description": f"{body} {extra}",
                "category": cat.name,
                "price": round(price, 2),
                "brand": cat.brands[rng.integers(len(cat.brands))],
            }
        )
    return out


def _pick_material(prod: Product, eco: bool, rng: np.random.Generator) -> tuple[str, bool]:
    """A material for the product, and whether the item is sold as eco (bamboo or a natural material)."""
    natural = [m for m in prod.materials if not any(w in m for w in SYNTHETIC_WORDS)]
    if eco and prod.bamboo_ok and (not natural or rng.random() < 0.6):
        return "Bamboo", True
    if eco and natural:
        return natural[rng.integers(len(natural))], True
    return prod.materials[rng.integers(len(prod.materials))], False


def _lower_words(text: str) -> str:
    """Lower-case ordinary capitalised words, keeping acronyms and single letters (USB-C, ABS, Vitamin C)."""

    def fix(word: str) -> str:
        return word.lower() if len(word) > 1 and word[0].isupper() and word[1:].islower() else word

    return " ".join("-".join(fix(part) for part in word.split("-")) for word in text.split(" "))


# --- sessions (one funnel on one item each) ---------------------------------------------------


def _make_sessions(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Session start times and items per user, sorted by (user, time), at least an hour apart."""
    start, end = _day(cfg.start_date), _day(cfg.end_date)
    span = end - start
    first = np.maximum(users["_signup_day"].to_numpy(), start)
    days = end - first
    is_new = users["_is_new"].to_numpy()
    n_old = np.exp(rng.normal(np.log(cfg.sessions_median), cfg.sessions_sigma, len(users))) * np.sqrt(
        days / span
    )
    n_old = np.clip(np.round(n_old), 2, cfg.max_sessions).astype(int)
    n_new = 1 + (rng.random(len(users)) < 0.4)
    n_sess = np.where(is_new, n_new, n_old)
    user_idx = np.repeat(np.arange(len(users)), n_sess)
    # Day uniform over the user's active window; time of day from an evening-heavy profile.
    day = first[user_idx] + np.floor(rng.random(len(user_idx)) * days[user_idx]).astype(np.int64)
    hour_w = np.array(
        [
            1,
            0.6,
            0.4,
            0.3,
            0.3,
            0.4,
            0.8,
            1.5,
            2.2,
            2.6,
            2.8,
            3,
            3.4,
            3.2,
            3,
            3,
            3.2,
            3.6,
            4.2,
            4.8,
            5.2,
            4.8,
            3.6,
            2,
        ]
    )
    hour = rng.choice(24, len(user_idx), p=hour_w / hour_w.sum())
    t = day * DAY_S + hour * 3600 + rng.integers(0, 3600, len(user_idx))
    order = np.lexsort((t, user_idx))
    user_idx, t = user_idx[order], t[order]
    # Enforce the minimum gap: t'_k = k*gap + cummax_j<=k(t_j - j*gap), per user.
    starts = np.r_[0, np.flatnonzero(np.diff(user_idx)) + 1]
    rank = np.arange(len(t)) - np.repeat(starts, np.diff(np.r_[starts, len(t)]))
    offset = user_idx.astype(np.int64) * (10 * (span + 4 * 365) * DAY_S)
    shifted = np.maximum.accumulate(t - rank * SESSION_GAP_S + offset) - offset
    t = shifted + rank * SESSION_GAP_S
    # Drop sessions that would run past the window, but keep (pulled back) every user's first one.
    t = np.where(rank == 0, np.minimum(t, end * DAY_S - SESSION_GAP_S), t)
    keep = t + SESSION_GAP_S <= end * DAY_S
    user_idx, t = user_idx[keep], t[keep]
    item_idx = _pick_items(cfg, users, items, user_idx, t // DAY_S, rng)
    return pd.DataFrame({"user": user_idx, "item": item_idx, "t": t})


def _pick_items(
    cfg: SampleConfig,
    users: pd.DataFrame,
    items: pd.DataFrame,
    user_idx: np.ndarray,
    day: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One item per session: category from the user's preferences, item by popularity, launched by then."""
    cum_pref = np.cumsum(np.stack(users["_pref"].to_numpy()), axis=1)
    cat_codes = pd.Categorical(items["category"], categories=CATEGORY_NAMES).codes
    pop = items["_popularity"].to_numpy()
    launch = items["_launch_day"].to_numpy()
    members = [np.flatnonzero(cat_codes == c) for c in range(len(CATALOG))]
    cdfs = [np.cumsum(pop[m]) / pop[m].sum() for m in members]
    fallback = [m[np.argmax(np.where(launch[m] < _day(cfg.start_date), pop[m], -1.0))] for m in members]
    n = len(user_idx)
    cat = np.minimum((rng.random(n)[:, None] > cum_pref[user_idx]).sum(axis=1), len(CATALOG) - 1)
    item = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(12):
        draw = rng.random(len(todo))
        for c in range(len(CATALOG)):
            sel = cat[todo] == c
            pos = np.minimum(np.searchsorted(cdfs[c], draw[sel], "right"), len(members[c]) - 1)
            item[todo[sel]] = members[c][pos]
        todo = todo[launch[item[todo]] > day[todo]]
        if not len(todo):
            break
    for c in range(len(CATALOG)):
        item[todo[cat[todo] == c]] = fallback[c]
    return item


# --- funnel simulation ------------------------------------------------------------------------


def _logit(p: float) -> float:
    """log(p / (1 - p))."""
    return float(np.log(p / (1 - p)))


def _simulate_funnels(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, s: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Run each session's funnel in time order, tracking category purchase history per user."""
    n = len(s)
    u, i = s["user"].to_numpy(), s["item"].to_numpy()
    tier = users["membership_tier"].to_numpy()[u]
    premium_item = items["price_band"].to_numpy()[i] == "premium"
    eff_premium = (tier == "premium") & premium_item
    eff_basic = (tier == "basic") & premium_item
    eff_eco = (users["region"].to_numpy()[u] == cfg.eco_region) & items["_eco"].to_numpy()[i]
    in_hist_cat = items["category"].to_numpy()[i] == cfg.history_category
    prop = users["_propensity"].to_numpy()[u]
    qual = items["_quality"].to_numpy()[i]
    static = (
        eff_premium * cfg.premium_tier_effect[1]
        + eff_basic * cfg.basic_tier_effect[1]
        + eff_eco * cfg.eco_effect[1]
    )
    base_click = _logit(cfg.p_click) + prop + 0.5 * qual
    base_cart = _logit(cfg.p_cart) + prop + static
    base_buy = _logit(cfg.p_purchase) + prop + static
    u_click, u_cart, u_buy = rng.random(n), rng.random(n), rng.random(n)
    click = u_click < _sigmoid(base_click)
    hist = np.zeros(n, dtype=bool)
    cart = click & (u_cart < _sigmoid(base_cart))
    buy = cart & (u_buy < _sigmoid(base_buy))
    # Only sessions on the history category depend on earlier outcomes: replay them in per-user order.
    k_idx = np.flatnonzero(in_hist_cat)  # already sorted by (user, time)
    k_users = u[k_idx]
    k_starts = np.r_[0, np.flatnonzero(np.diff(k_users)) + 1]
    k_rank = np.arange(len(k_idx)) - np.repeat(k_starts, np.diff(np.r_[k_starts, len(k_idx)]))
    has_bought = np.zeros(len(users), dtype=bool)
    for r in range(int(k_rank.max()) + 1 if len(k_idx) else 0):
        j = k_idx[k_rank == r]
        h = has_bought[u[j]]
        hist[j] = h
        lift = h * cfg.history_effect[1]
        cart[j] = click[j] & (u_cart[j] < _sigmoid(base_cart[j] + lift))
        buy[j] = cart[j] & (u_buy[j] < _sigmoid(base_buy[j] + lift))
        has_bought[u[j][buy[j]]] = True
    return s.assign(
        click=click,
        cart=cart,
        buy=buy,
        eff_history=hist & in_hist_cat,
        eff_premium=eff_premium,
        eff_basic=eff_basic,
        eff_eco=eff_eco,
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x))."""
    return 1.0 / (1.0 + np.exp(-x))


def _build_events(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, s: pd.DataFrame, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Expand funnels to event rows, add ratings/revenue, truncate new users, sort by time."""
    n = len(s)
    u, i = s["user"].to_numpy(), s["item"].to_numpy()
    # Step delays (seconds): view->click 5-120, click->cart 10-600, cart->purchase 30-1800.
    d_click = rng.integers(5, 121, n)
    d_cart = d_click + rng.integers(10, 601, n)
    d_buy = d_cart + rng.integers(30, 1801, n)
    latent = (
        cfg.rating_mean
        + users["_generosity"].to_numpy()[u]
        + items["_quality"].to_numpy()[i]
        + s["eff_history"].to_numpy() * cfg.history_effect[0]
        + s["eff_premium"].to_numpy() * cfg.premium_tier_effect[0]
        + s["eff_basic"].to_numpy() * cfg.basic_tier_effect[0]
        + s["eff_eco"].to_numpy() * cfg.eco_effect[0]
        + rng.normal(0, cfg.rating_noise_sd, n)
    )
    stars = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    rated = rng.random(n) < cfg.p_rated
    qty = rng.choice(np.array([1, 2, 3]), n, p=[0.82, 0.13, 0.05])
    masks = [np.ones(n, bool), s["click"].to_numpy(), s["cart"].to_numpy(), s["buy"].to_numpy()]
    delays = [np.zeros(n, np.int64), d_click, d_cart, d_buy]
    sess = np.concatenate([np.flatnonzero(m) for m in masks])
    step = np.concatenate([np.full(m.sum(), k) for k, m in enumerate(masks)])
    ts = s["t"].to_numpy()[sess] + np.concatenate([d[m] for d, m in zip(delays, masks, strict=True)])
    ev_user = u[sess]
    # Per-user time order, then keep only the first k (1..5) events of each new user.
    order = np.lexsort((step, ts, ev_user))
    sess, step, ts, ev_user = sess[order], step[order], ts[order], ev_user[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ev_user)) + 1]
    pos = np.arange(len(ts)) - np.repeat(starts, np.diff(np.r_[starts, len(ts)]))
    cap = np.where(
        users["_is_new"].to_numpy(), rng.integers(1, cfg.new_user_max_events + 1, len(users)), 1 << 30
    )
    keep = pos < cap[ev_user]
    sess, step, ts, ev_user = sess[keep], step[keep], ts[keep], ev_user[keep]
    # Global order: time, then user, then funnel step.
    order = np.lexsort((step, ev_user, ts))
    sess, step, ts, ev_user = sess[order], step[order], ts[order], ev_user[order]
    is_buy = step == 3
    price = items["price"].to_numpy()[i[sess]]
    events = pd.DataFrame(
        {
            "user_id": users["user_id"].to_numpy()[ev_user],
            "item_id": items["item_id"].to_numpy()[i[sess]],
            "timestamp": ts,
            "event_type": np.asarray(EVENT_TYPES, dtype=object)[step],
            "rating": np.where(is_buy & rated[sess], stars[sess], 0),
            "revenue": np.where(is_buy, np.round(price * qty[sess], 2), np.nan),
            "quantity": np.where(is_buy, qty[sess], 0),
        }
    )
    effects = pd.DataFrame(
        {k: s[f"eff_{k}"].to_numpy()[sess] for k in ("history", "premium", "basic", "eco")}
    )
    events["timestamp"] = np.datetime_as_string(ts.astype("datetime64[s]"), unit="s").astype(object)
    events["timestamp"] = events["timestamp"] + "Z"
    events["rating"] = events["rating"].where(events["rating"] > 0).astype("Int64")
    events["quantity"] = events["quantity"].where(events["quantity"] > 0).astype("Int64")
    return events, effects


# --- ground truth -----------------------------------------------------------------------------


def _effect_specs(cfg: SampleConfig) -> list[dict]:
    """The planted effects, with their drivers and sizes, without measured data."""
    eco = {"text_pattern": ECO_PATTERN, "fields": ["title", "description"], "keywords": ["eco", "bamboo"]}
    premium = {"price_band": "premium"}
    return [
        {
            "id": "history_category_affinity",
            "statement": (
                f"Users who have already purchased a {cfg.history_category} item value further "
                f"{cfg.history_category} items more: about +{cfg.history_effect[0]:g} star and higher "
                "purchase odds after click and cart."
            ),
            "driver": {
                "kind": "history_category",
                "category": cfg.history_category,
                "event_type": "purchase",
                "min_count": 1,
                "item_filter": {"category": cfg.history_category},
            },
            "applies_when": (
                f"the item's category is {cfg.history_category} and the same user has a purchase event of a "
                f"{cfg.history_category} item with an earlier timestamp"
            ),
            "affected_users_rule": f"users with at least one purchase of a {cfg.history_category} item",
            "reference_rule": f"events on {cfg.history_category} items by users with no earlier such purchase",
            "rating_delta": cfg.history_effect[0],
            "purchase_logodds_delta": cfg.history_effect[1],
        },
        {
            "id": "premium_tier_x_premium_price",
            "statement": (
                "Premium members value premium-priced items more: about "
                f"+{cfg.premium_tier_effect[0]:g} star and higher purchase odds."
            ),
            "driver": {
                "kind": "user_attribute",
                "attribute": "membership_tier",
                "value": "premium",
                "item_filter": premium,
            },
            "applies_when": "users.membership_tier == 'premium' and the item's price band is premium",
            "affected_users_rule": "users with membership_tier == 'premium'",
            "reference_rule": "events on premium-band items by users with membership_tier == 'plus'",
            "rating_delta": cfg.premium_tier_effect[0],
            "purchase_logodds_delta": cfg.premium_tier_effect[1],
        },
        {
            "id": "basic_tier_x_premium_price",
            "statement": (
                "Basic members value premium-priced items less: about "
                f"{cfg.basic_tier_effect[0]:g} star and lower purchase odds."
            ),
            "driver": {
                "kind": "user_attribute",
                "attribute": "membership_tier",
                "value": "basic",
                "item_filter": premium,
            },
            "applies_when": "users.membership_tier == 'basic' and the item's price band is premium",
            "affected_users_rule": "users with membership_tier == 'basic'",
            "reference_rule": "events on premium-band items by users with membership_tier == 'plus'",
            "rating_delta": cfg.basic_tier_effect[0],
            "purchase_logodds_delta": cfg.basic_tier_effect[1],
        },
        {
            "id": "eco_text_x_region",
            "statement": (
                f"Users in the {cfg.eco_region} region value items described as eco-friendly or made of bamboo "
                f"more: about +{cfg.eco_effect[0]:g} star and higher purchase odds."
            ),
            "driver": {
                "kind": "item_text",
                **eco,
                "user_filter": {"attribute": "region", "value": cfg.eco_region},
            },
            "applies_when": (
                f"users.region == '{cfg.eco_region}' and the item's title or description matches {ECO_PATTERN}"
            ),
            "affected_users_rule": f"users with region == '{cfg.eco_region}'",
            "reference_rule": f"events on eco/bamboo items by users with region != '{cfg.eco_region}'",
            "rating_delta": cfg.eco_effect[0],
            "purchase_logodds_delta": cfg.eco_effect[1],
        },
    ]


def effect_masks(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, events: pd.DataFrame
) -> dict[str, dict[str, np.ndarray]]:
    """Per event, recomputed from the tables alone: each effect's (applies, reference) masks."""
    ev_items = items.set_index("item_id").loc[events["item_id"]]
    ev_users = users.set_index("user_id").loc[events["user_id"]]
    band = price_band(ev_items["price"].to_numpy(), cfg.price_cuts)
    tier = ev_users["membership_tier"].to_numpy()
    eco = eco_items(ev_items).to_numpy()
    west = ev_users["region"].to_numpy() == cfg.eco_region
    in_cat = ev_items["category"].to_numpy() == cfg.history_category
    hist = prior_category_purchase(events, items, cfg.history_category).to_numpy()
    prem = band == "premium"
    applies = {
        "history_category_affinity": in_cat & hist,
        "premium_tier_x_premium_price": prem & (tier == "premium"),
        "basic_tier_x_premium_price": prem & (tier == "basic"),
        "eco_text_x_region": eco & west,
    }
    reference = {
        "history_category_affinity": in_cat & ~hist,
        "premium_tier_x_premium_price": prem & (tier == "plus"),
        "basic_tier_x_premium_price": prem & (tier == "plus"),
        "eco_text_x_region": eco & ~west,
    }
    return {"applies": applies, "reference": reference}


def measure_effects(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, events: pd.DataFrame
) -> dict:
    """Each effect's size as visible in the raw tables (clean contrasts: no other effect involved)."""
    flags = effect_masks(cfg, users, items, events)
    applies = flags["applies"]
    # Funnel outcome per (user, item, session): a purchase row follows its cart row; pair them by time order.
    is_cart = events["event_type"].eq("cart").to_numpy()
    is_buy = events["event_type"].eq("purchase").to_numpy()
    converted = _cart_converted(events)
    rating = events["rating"].to_numpy(dtype=float, na_value=np.nan)
    out = {}
    for eid, eff in applies.items():
        others = np.zeros(len(events), bool)
        for other, mask in applies.items():
            if other != eid:
                others |= mask
        a = eff & ~others
        r = flags["reference"][eid] & ~others
        ra, rr = rating[a & is_buy], rating[r & is_buy]
        ra, rr = ra[~np.isnan(ra)], rr[~np.isnan(rr)]
        ca, cr = converted[a & is_cart], converted[r & is_cart]
        rated = (a | r) & is_buy & ~np.isnan(rating)
        out[eid] = {
            "rating_delta": _r4(ra.mean() - rr.mean()) if len(ra) and len(rr) else None,
            "rating_delta_within_item": _within_item_delta(
                rating[rated], a[rated], events["item_id"].to_numpy()[rated]
            ),
            "purchase_logodds_delta_given_cart": _r4(_logodds(ca) - _logodds(cr))
            if len(ca) and len(cr)
            else None,
            "n_rated_affected": int(len(ra)),
            "n_rated_reference": int(len(rr)),
            "n_cart_affected": int(len(ca)),
            "n_cart_reference": int(len(cr)),
            "n_events_affected": int(eff.sum()),
        }
    return out


def _within_item_delta(values: np.ndarray, flag: np.ndarray, item_ids: np.ndarray) -> float | None:
    """OLS slope of `values` on `flag` with item fixed effects (both demeaned within item)."""
    frame = pd.DataFrame({"v": values, "f": flag.astype(float), "i": item_ids})
    dev = frame[["v", "f"]] - frame.groupby("i")[["v", "f"]].transform("mean")
    denom = float((dev["f"] ** 2).sum())
    return _r4((dev["v"] * dev["f"]).sum() / denom) if denom > 0 else None


def _cart_converted(events: pd.DataFrame) -> np.ndarray:
    """Per row: for cart rows, whether the same user bought the same item within 45 minutes after it."""
    ts = _epoch_seconds(events["timestamp"])
    frame = pd.DataFrame(
        {
            "u": events["user_id"].to_numpy(),
            "i": events["item_id"].to_numpy(),
            "t": ts,
            "e": events["event_type"].to_numpy(),
            "row": np.arange(len(events)),
        }
    )
    carts = frame[frame["e"] == "cart"]
    buys = frame[frame["e"] == "purchase"][["u", "i", "t"]].rename(columns={"t": "tb"})
    merged = carts.merge(buys, on=["u", "i"], how="inner")
    ok = merged[(merged["tb"] > merged["t"]) & (merged["tb"] - merged["t"] <= 45 * 60)]
    out = np.zeros(len(events), bool)
    out[ok["row"].to_numpy()] = True
    return out


def _epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    """ISO 8601 UTC timestamps as int64 seconds since the epoch."""
    parsed = pd.to_datetime(timestamps, utc=True).dt.tz_localize(None)
    return parsed.to_numpy().astype("datetime64[s]").astype(np.int64)


def _logodds(x: np.ndarray) -> float:
    """Empirical log-odds of a boolean sample (with a 0.5 continuity correction)."""
    k = x.sum() + 0.5
    return float(np.log(k / (len(x) - x.sum() + 0.5)))


def _r4(x: float) -> float:
    """Round to 4 decimals for stable JSON."""
    return float(round(float(x), 4))


def _ground_truth(
    cfg: SampleConfig,
    users: pd.DataFrame,
    items: pd.DataFrame,
    events: pd.DataFrame,
    rng: np.random.Generator,
) -> dict:
    """The machine-readable description of the dataset and its planted effects."""
    measured = measure_effects(cfg, users, items, events)
    specs = _effect_specs(cfg)
    affected = _affected_users(cfg, users, items, events)
    probes = _probe_pairs(cfg, users, items, events, affected, rng)
    for spec in specs:
        spec["measured"] = measured[spec["id"]]
        spec["n_affected_users"] = len(affected[spec["id"]])
        spec["affected_users"] = affected[spec["id"]]
        spec["probe_pairs"] = probes[spec["id"]]
    ts = events["timestamp"]
    bands = price_band(items["price"].to_numpy(), cfg.price_cuts)
    counts = events["event_type"].value_counts()
    n_events_per_user = events.groupby("user_id").size()
    new_users = users["signup_date"] >= str(np.datetime64(_day(cfg.end_date) - cfg.new_user_days, "D"))
    return {
        "name": "UVP sample shop",
        "generator": "uvp_core.sample",
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
        "licence": "Synthetic data generated by uvp_core.sample; free to use for any purpose (CC0-1.0).",
        "counts": {
            "users": len(users),
            "items": len(items),
            "events": len(events),
            "events_by_type": {t: int(counts.get(t, 0)) for t in EVENT_TYPES},
            "ratings": int(events["rating"].notna().sum()),
            "new_users": int(new_users.sum()),
            "new_users_max_events": int(
                n_events_per_user.reindex(users["user_id"][new_users]).fillna(0).max()
            ),
            "items_by_price_band": {b: int((bands == b).sum()) for b in PRICE_BANDS},
            "items_eco": int(eco_items(items).sum()),
        },
        "time_span": {"first_event": ts.min(), "last_event": ts.max()},
        "price_bands": {
            "currency": "USD",
            "cut_points": list(cfg.price_cuts),
            "labels": list(PRICE_BANDS),
            "rule": f"budget: price < {cfg.price_cuts[0]:g}; mid: {cfg.price_cuts[0]:g} <= price < "
            f"{cfg.price_cuts[1]:g}; premium: price >= {cfg.price_cuts[1]:g}",
        },
        "new_users_rule": f"signup_date within the last {cfg.new_user_days} days before {cfg.end_date}; "
        f"1 to {cfg.new_user_max_events} events each",
        "rating_model": (
            "stars = clip(round(rating_mean + user generosity + item quality + sum of applicable rating_delta "
            "+ noise), 1, 5); ratings appear on a random share p_rated of purchases"
        ),
        "purchase_model": (
            "funnel view -> click -> cart -> purchase; logit P(click|view) = logit(p_click) + user propensity "
            "+ 0.5 item quality; logit P(cart|click) = logit(p_cart) + propensity + effects; "
            "logit P(purchase|cart) = logit(p_purchase) + propensity + effects; each effect adds its "
            "purchase_logodds_delta at both the click->cart and cart->purchase steps"
        ),
        "measured_note": (
            "measured.* compare affected events with the reference_rule events, both restricted to events where "
            "no other planted effect applies; ratings are rounded and clipped, so measured rating deltas "
            "are slightly smaller than the planted latent deltas"
        ),
        "probe_pairs_note": (
            "probe_pairs: one [user_id, item_id] per affected user where this effect, and no other, applies, "
            "and the user has no event on the item: use them to check explanations"
        ),
        "effects": specs,
    }


def _affected_users(
    cfg: SampleConfig, users: pd.DataFrame, items: pd.DataFrame, events: pd.DataFrame
) -> dict:
    """Per effect: the sorted ids of users who carry the driver."""
    cat = events["item_id"].map(items.set_index("item_id")["category"])
    bought = events.loc[events["event_type"].eq("purchase") & cat.eq(cfg.history_category), "user_id"]
    tier, region = users["membership_tier"], users["region"]
    return {
        "history_category_affinity": sorted(set(bought)),
        "premium_tier_x_premium_price": sorted(users.loc[tier.eq("premium"), "user_id"]),
        "basic_tier_x_premium_price": sorted(users.loc[tier.eq("basic"), "user_id"]),
        "eco_text_x_region": sorted(users.loc[region.eq(cfg.eco_region), "user_id"]),
    }


def _probe_pairs(
    cfg: SampleConfig,
    users: pd.DataFrame,
    items: pd.DataFrame,
    events: pd.DataFrame,
    affected: dict,
    rng: np.random.Generator,
) -> dict:
    """Per effect: for each affected user, an unseen item where only this effect applies."""
    popularity = events["item_id"].value_counts().reindex(items["item_id"]).fillna(0).to_numpy() + 1.0
    band = price_band(items["price"].to_numpy(), cfg.price_cuts)
    is_cat = (items["category"] == cfg.history_category).to_numpy()
    is_eco = eco_items(items).to_numpy()
    seen = events.groupby("user_id")["item_id"].agg(set)
    hist_users = set(affected["history_category_affinity"])
    user_info = users.set_index("user_id")
    targets = {
        "history_category_affinity": is_cat,
        "premium_tier_x_premium_price": band == "premium",
        "basic_tier_x_premium_price": band == "premium",
        "eco_text_x_region": is_eco,
    }
    item_ids = items["item_id"].to_numpy()
    out: dict[str, list[list[str]]] = {}
    for eid, target in targets.items():
        pairs = []
        for uid in affected[eid]:
            tier, region = user_info.at[uid, "membership_tier"], user_info.at[uid, "region"]
            ok = target.copy()
            if eid != "history_category_affinity" and uid in hist_users:
                ok &= ~is_cat
            if eid not in ("premium_tier_x_premium_price", "basic_tier_x_premium_price") and tier != "plus":
                ok &= band != "premium"
            if eid != "eco_text_x_region" and region == cfg.eco_region:
                ok &= ~is_eco
            ok &= ~np.isin(item_ids, list(seen.get(uid, set())))
            if ok.any():
                w = popularity * ok
                pairs.append([uid, str(item_ids[rng.choice(len(w), p=w / w.sum())])])
        out[eid] = pairs
    return out


# --- writing ----------------------------------------------------------------------------------


def _format_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events as text columns with fixed formatting (empty for missing)."""
    revenue = events["revenue"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "user_id": events["user_id"],
            "item_id": events["item_id"],
            "timestamp": events["timestamp"],
            "event_type": events["event_type"],
            "rating": events["rating"].astype(object).where(events["rating"].notna(), "").astype(str),
            "revenue": np.where(np.isnan(revenue), "", np.char.mod("%.2f", np.nan_to_num(revenue))),
            "quantity": events["quantity"].astype(object).where(events["quantity"].notna(), "").astype(str),
        }
    )


def _format_items(items: pd.DataFrame) -> pd.DataFrame:
    """Items with prices as fixed two-decimal text."""
    return items.assign(price=np.char.mod("%.2f", items["price"].to_numpy(dtype=float)))


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header, LF line ends and no index."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write bytes via a temporary file and an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def render_readme(truth: dict) -> str:
    """The sample_data/README.md text, filled from the ground truth."""
    c = truth["counts"]
    by_type = c["events_by_type"]
    bands = truth["price_bands"]
    lines = [
        "# UVP sample dataset",
        "",
        "A synthetic but realistic e-commerce shop, bundled with UVP so the dashboard can be tried without",
        "your own data, and with **planted effects of known size** so that models and SHAP explanations can",
        "be checked against the truth. Everything here is generated by `uvp_core/sample.py`; do not edit by",
        "hand, regenerate instead:",
        "",
        "```",
        f"python -m uvp_core.sample --out sample_data --seed {truth['seed']}",
        "```",
        "",
        f"Generator version {truth['generator_version']}, seed {truth['seed']}. Output is byte-for-byte "
        "deterministic; a test checks that this folder equals a fresh generation.",
        "",
        "## Contents",
        "",
        f"- {c['users']:,} users ({c['new_users']:,} new users who signed up in the last weeks, with 1 to "
        f"{c['new_users_max_events']} events each)",
        f"- {c['items']:,} items in {len(CATALOG)} categories ({', '.join(CATEGORY_NAMES)}), "
        f"{c['items_eco']} of them eco/bamboo",
        f"- {c['events']:,} events from {truth['time_span']['first_event'][:10]} to "
        f"{truth['time_span']['last_event'][:10]}: "
        + ", ".join(f"{by_type[t]:,} {t}" for t in EVENT_TYPES)
        + f"; {c['ratings']:,} purchases carry a star rating",
        "",
        "| file | columns |",
        "| --- | --- |",
        "| `events.csv.gz` | `user_id`, `item_id`, `timestamp` (ISO 8601 UTC), `event_type` "
        "(view, click, cart, purchase), `rating` (1-5 stars, on some purchases; empty otherwise), "
        "`revenue` (USD, purchases), `quantity` (purchases) |",
        "| `items.csv` | `item_id`, `title`, `description`, `category`, `price` (USD), `brand`, `launch_date` |",
        "| `users.csv` | `user_id`, `age_band` (18-24, 25-34, 35-44, 45-54, 55+), `gender`, `region`, "
        "`membership_tier` (basic, plus, premium), `signup_date` |",
        "| `ground_truth.json` | the planted effects, machine-readable (see below) |",
        "",
        "IDs are strings: user ids look like `U00042`, item ids like `000317` (leading zeros matter: "
        "read them as text). Rows of `events.csv.gz` are sorted by time, then user, then funnel step.",
        "",
        "## How it was generated",
        "",
        "- Each session is one funnel on one item: a view, then maybe a click, a cart and a purchase. Sessions "
        "of a user are at least an hour apart; a funnel takes under 45 minutes.",
        "- Users pick a category from their own preference mix, then an item by Zipf-like popularity, so a "
        "few head items get most traffic and many long-tail items only a handful of events. Some items launch "
        "during the window and have no events before their `launch_date`.",
        "- Each step's probability depends on a hidden user propensity and item quality, plus the planted "
        "effects below. Star ratings come from a hidden user generosity, item quality, the planted effects and "
        "noise, rounded and clipped to 1-5.",
        f"- Price bands (used by one effect): {bands['rule']} ({bands['currency']}).",
        "",
        "## Planted effects",
        "",
        "Everything else is noise plus item quality and user generosity. Measured sizes compare affected "
        "events with a reference group in these files, restricted to events no other effect touches.",
        "",
        "| id | effect | planted: stars / purchase log-odds | measured: stars / log-odds (cart to purchase) "
        "| affected users |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in truth["effects"]:
        m = e["measured"]
        lines.append(
            f"| `{e['id']}` | {e['statement']} | {e['rating_delta']:+g} / {e['purchase_logodds_delta']:+g} "
            f"| {m['rating_delta']:+.2f} / {m['purchase_logodds_delta_given_cart']:+.2f} "
            f"| {e['n_affected_users']:,} |"
        )
    lines += [
        "",
        "`ground_truth.json` gives, for each effect, the driver as a model sees it (`history_category`, "
        "`user_attribute` or `item_text`, with the item or user filter), the exact rule that decides when it "
        "applies, the affected user ids, and `probe_pairs`: for each affected user an unseen item where only "
        "that effect applies, for checking that explanations name the planted driver.",
        "",
        "## Licence",
        "",
        "Generated data, no real people or products. Free to use for any purpose (CC0-1.0).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
