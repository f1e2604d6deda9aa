"""Explanation benchmark on the bundled sample shop with the real MiniLM (frozen mode).

Measures: time of one explanation (all features, and at most 20 features), a cohort what-if over
1,000 users, the deletion check (masking the top-3 features by |SHAP| moves the prediction more than
masking 3 random ones) and planted-driver recovery on ground_truth.json's probe pairs, under the default
background and with categorical item fields masked as left out instead (background_for(item_fields="absent")). Prints a
Markdown table stamped with the machine.

    python benchmarks/explain.py [--target purchase] [--model DIR | --save DIR] [--pairs 30] [--probes 60]

Not part of the test suite (trains a MiniLM model: minutes of CPU).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import stamp  # noqa: E402
from uvp_core.data import load_path  # noqa: E402
from uvp_core.explain import ExplainConfig, background_for, explain_inputs, masked_inputs, pair_features, warm_up, whatif  # noqa: E402
from uvp_core.model import TrainConfig, load_model, train  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
FAR_FROM_BASE = 0.25  # the deletion check is also broken down for predictions at least this far from the base value:
# near it, SHAP values sum to about 0, so the top three have mixed signs and masking them together moves little
BACKGROUND_NAMES = ("mode", "absent", "population")  # the backgrounds the recovery check and its ceiling are computed for
log = logging.getLogger("explain_bench")


def get_model(args, dataset):
    """Load --model, or train a frozen MiniLM model on the sample (saved to --save when given)."""
    if args.model and Path(args.model).exists():
        return load_model(args.model), 0.0
    started = time.perf_counter()
    model = train(dataset, TrainConfig(mode="frozen", target=args.target, seed=0))
    seconds = time.perf_counter() - started
    if args.save:
        model.save(args.save)
    return model, seconds


def sample_pairs(dataset, n: int, seed: int) -> pd.DataFrame:
    """n (user with events, random item) pairs, seeded."""
    rng = np.random.default_rng(seed)
    users = dataset.events["user_id"].astype(str).unique()
    items = dataset.items["item_id"].astype(str).to_numpy()
    return pd.DataFrame({"user_id": rng.choice(users, n, replace=False), "item_id": rng.choice(items, n)})


def trimmed(inputs, model, max_features: int):
    """The inputs with the oldest history events dropped until at most max_features features remain."""
    while len(pair_features(inputs, model.history_k, late=model.late_kinds)) > max_features and inputs.history:
        oldest = min(range(len(inputs.history)), key=lambda j: inputs.history[j].timestamp)
        inputs = replace(inputs, history=[e for j, e in enumerate(inputs.history) if j != oldest])
    return inputs


def time_explanations(model, dataset, pairs, background, max_features: int | None) -> dict:
    """Seconds per explanation (median, p90, max) and the largest additivity error."""
    seconds, errors, sizes = [], [], []
    for row in pairs.itertuples(index=False):
        inputs = model.pair_inputs(dataset, row.user_id, row.item_id)
        if max_features:
            inputs = trimmed(inputs, model, max_features)
        started = time.perf_counter()
        exp = explain_inputs(model, inputs, background)
        seconds.append(time.perf_counter() - started)
        errors.append(abs(float(exp.base_values) + float(exp.values.sum()) - exp.prediction))
        sizes.append(len(exp.values))
    s = np.asarray(seconds)
    return {"median_s": float(np.median(s)), "p90_s": float(np.quantile(s, 0.9)), "max_s": float(s.max()),
            "max_additivity_error": float(max(errors)), "features_median": float(np.median(sizes)), "n": len(s)}  # fmt: skip


def deletion_check(model, dataset, pairs, background, seed: int, draws: int = 10, history: str = "item") -> dict:
    """Share of predictions where masking the top-3 |SHAP| features moves the prediction more than 3 random ones
    (history: a history feature is one item with its events, the default, or one event)."""
    rng = np.random.default_rng(seed)
    wins_mean, wins_single, ties, far = [], [], [], []
    for row in pairs.itertuples(index=False):
        inputs = model.pair_inputs(dataset, row.user_id, row.item_id)
        exp = explain_inputs(model, inputs, background, ExplainConfig(history=history))
        features, m = exp.features, len(exp.values)
        if m < 4:
            continue
        top = np.argsort(-np.abs(exp.values))[:3]
        masks = [np.ones(m, bool)]
        masks[0][top] = False
        for _ in range(draws):
            keep = np.ones(m, bool)
            keep[rng.choice(m, 3, replace=False)] = False
            masks.append(keep)
        scores = model.score_inputs([inputs] + [masked_inputs(inputs, features, k, background) for k in masks])
        moves = np.abs(scores[1:] - scores[0])
        wins_mean.append(moves[0] > moves[1:].mean())
        wins_single.append(moves[0] > moves[1])
        ties.append(moves[0] == moves[1])
        far.append(abs(exp.prediction - float(exp.base_values)) >= FAR_FROM_BASE)
    wins, far = np.asarray(wins_mean), np.asarray(far, bool)
    return {"vs_mean_of_10_random": float(np.mean(wins_mean)), "vs_one_random": float(np.mean(wins_single)),
            "ties_with_one_random": float(np.mean(ties)), "n": len(wins_mean),
            "vs_mean_of_10_random_far_from_base": float(wins[far].mean()) if far.any() else float("nan"), "n_far_from_base": int(far.sum())}  # fmt: skip


def _is_event_type(kind: str, event_type: str) -> bool:
    """Whether a history event of this model kind is an event of this type: a rated event is a purchase in the
    sample (its ratings are given on purchases only; the model names such an event by its rating, "rated 4")."""
    return kind == event_type or (event_type == "purchase" and kind.startswith("rated "))


def driver_sets(effect: dict, exp, inputs) -> tuple[set[int], set[int]]:
    """Indices of the planted driver's features, and of the driver plus its interaction partner."""
    driver, partner = set(), set()
    kind = effect["driver"]["kind"]
    for j, f in enumerate(exp.features):
        if kind == "history_category" and f.kind in ("event", "item_events"):  # an event, or an item with its events
            events = [inputs.history[int(f.key)]] if f.kind == "event" else [e for e in inputs.history if e.item_id == f.key]
            fields = inputs.history_fields.get(events[0].item_id, {})
            if str(fields.get("category")) == effect["driver"]["category"] and any(
                _is_event_type(e.kind, effect["driver"]["event_type"]) for e in events
            ):
                driver.add(j)
        if kind == "history_category" and f.kind == "item_field" and f.key == "category":
            partner.add(j)
        if kind == "user_attribute" and f.kind == "attribute" and f.key == effect["driver"]["attribute"]:
            driver.add(j)
        if kind == "user_attribute" and f.kind == "item_field" and f.key == "price":
            partner.add(j)
        if kind == "item_text" and f.kind == "item_field" and f.key in effect["driver"]["fields"]:
            driver.add(j)
        if kind == "item_text" and f.kind == "attribute" and f.key == effect["driver"]["user_filter"]["attribute"]:
            partner.add(j)
    return driver, driver | partner


def ranked_first(values: np.ndarray, chosen: set[int]) -> bool:
    """Whether |sum of SHAP over the chosen features| exceeds |SHAP| of every other feature."""
    if not chosen:
        return False
    others = [abs(v) for j, v in enumerate(values) if j not in chosen]
    return abs(float(np.sum(values[list(chosen)]))) > (max(others) if others else 0.0)


def driver_recovery(model, dataset, truth: dict, backgrounds: dict, n: int, seed: int, history: str = "item") -> list[dict]:
    """Per planted effect and background: share of probe pairs whose planted driver is ranked first (history:
    a history feature is one item with its events, the default, or one event)."""
    rng = np.random.default_rng(seed)
    out = []
    for effect in truth["effects"]:
        probes = effect["probe_pairs"]
        chosen = [probes[i] for i in rng.choice(len(probes), min(n, len(probes)), replace=False)]
        for name, background in backgrounds.items():
            alone, paired, shifts = [], [], []
            for user_id, item_id in chosen:
                inputs = model.pair_inputs(dataset, user_id, item_id)
                exp = explain_inputs(model, inputs, background, ExplainConfig(history=history))
                driver, with_partner = driver_sets(effect, exp, inputs)
                alone.append(ranked_first(exp.values, driver))
                paired.append(ranked_first(exp.values, with_partner))
                shifts.append(float(np.sum(exp.values[list(driver)])) if driver else 0.0)
            out.append({"effect": effect["id"], "background": name if history == "item" else f"{name}, one feature per event", "n": len(chosen), "driver_first": float(np.mean(alone)),
                        "driver_or_partner_first": float(np.mean(paired)), "mean_driver_shap": float(np.mean(shifts))})  # fmt: skip
    return out


def rule_shapley(rule, on: tuple, off: tuple) -> tuple[float, float]:
    """Exact Shapley values of (driver, partner) for a two-input rule: each input at its value (on) or masked (off)."""
    (d1, p1), (d0, p0) = on, off
    driver = 0.5 * ((rule(d1, p1) - rule(d0, p1)) + (rule(d1, p0) - rule(d0, p0)))
    partner = 0.5 * ((rule(d1, p1) - rule(d1, p0)) + (rule(d0, p1) - rule(d0, p0)))
    return driver, partner


def _planted_rules(truth: dict, dataset) -> dict[str, tuple]:
    """Per effect: the sample's rating rule as (rule(driver, partner), per-pair values on, masked values off(background))."""
    deltas = {e["id"]: float(e["rating_delta"]) for e in truth["effects"]}
    cuts, labels = truth["price_bands"]["cut_points"], truth["price_bands"]["labels"]
    band = lambda price: None if price is None else labels[int(np.searchsorted(cuts, float(price), side="right"))]  # noqa: E731
    users, items = dataset.users.set_index("user_id"), dataset.items.set_index("item_id")

    def tier_rule(tier, price_band) -> float:  # both tier effects: one rule of tier x price band
        premium_item = price_band == "premium"
        return (deltas["premium_tier_x_premium_price"] * (tier == "premium" and premium_item)
                + deltas["basic_tier_x_premium_price"] * (tier == "basic" and premium_item))  # fmt: skip

    tier = (tier_rule, lambda u, i: (users.at[u, "membership_tier"], band(items.at[i, "price"])),
            lambda bg: (bg.profile.get("membership_tier"), band(bg.item.get("price"))))  # fmt: skip
    return {
        "history_category_affinity": (  # driver: the user's earlier Kitchen purchases (masked: removed); partner: the category
            lambda bought, category: deltas["history_category_affinity"] * bought * (category == "Kitchen"),
            lambda u, i: (1.0, items.at[i, "category"]), lambda bg: (0.0, bg.item.get("category"))),
        "premium_tier_x_premium_price": tier,
        "basic_tier_x_premium_price": tier,
        "eco_text_x_region": (  # driver: the eco words in the item text (free text: masked = left out); partner: region
            lambda eco, region: deltas["eco_text_x_region"] * eco * (region == "West"),
            lambda u, i: (1.0, users.at[u, "region"]), lambda bg: (0.0, bg.profile.get("region"))),
    }


def perfect_rule_ceiling(truth: dict, dataset, backgrounds: dict) -> list[dict]:
    """Per planted effect and background: share of probe pairs whose driver an exact Shapley explanation of the
    sample's own rating rule ranks first (and driver + partner), with the user and item as features of their own.

    The rule is stars = mean + user generosity + item quality + planted delta (rounding, clipping and noise
    aside). The user feature gets the user's generosity and the item feature the item's quality (against the
    unknown user/item at 0). The delta is an interaction of driver and partner; its Shapley split depends on
    what a masked input becomes (rule_shapley): against the most common value, an input equal to it gets no
    credit (a basic member, when basic is the most common tier), while a partner equal to it hands its share
    to the driver (a Kitchen candidate, when Kitchen is the most common category). A population background
    averages the split over its profiles. Ties between driver and partner count half.
    """
    from uvp_core.sample import config_from_truth, hidden_biases

    generosity, quality = hidden_biases(config_from_truth(truth))
    rules = _planted_rules(truth, dataset)
    out = []
    for effect in truth["effects"]:
        rule, on_values, off_values = rules[effect["id"]]
        for name, background in backgrounds.items():
            first, paired = [], []
            masked = [off_values(bg) for bg in background.rows()]  # the same for every probe pair
            for u, i in effect["probe_pairs"]:
                on = on_values(u, i)
                splits = np.array([rule_shapley(rule, on, off) for off in masked])
                driver, partner = splits.mean(0)
                biggest = max(abs(generosity[u]), abs(quality[i]))
                if abs(driver) > biggest and abs(driver) != abs(partner):
                    first.append(float(abs(driver) > abs(partner)))
                else:
                    first.append(0.5 if abs(driver) > biggest else 0.0)  # a tie with the partner: first half the time
                paired.append(float(abs(driver + partner) > biggest))
            out.append({"effect": effect["id"], "background": name, "rating_delta": float(effect["rating_delta"]),
                        "n": len(first), "driver_first": float(np.mean(first)), "driver_or_partner_first": float(np.mean(paired))})  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="rating", help="rating (default: predictions for any pair) or purchase")
    parser.add_argument("--model", default=None, help="a saved model folder to load instead of training")
    parser.add_argument("--save", default=None, help="save the trained model here")
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--probes", type=int, default=60, help="probe pairs per planted effect")
    parser.add_argument("--deletion-pairs", type=int, default=100, help="sampled predictions of the deletion check (30 before session 10)")
    parser.add_argument("--cohort", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)

    dataset = load_path(SAMPLE).dataset
    truth = json.loads((SAMPLE / "ground_truth.json").read_text())
    model, train_s = get_model(args, dataset)
    log.info("model ready (%.0f s): %r", train_s, model)
    background = background_for(model, dataset)
    pairs = sample_pairs(dataset, args.pairs, args.seed)

    warm_s = warm_up()  # what the app does once per process, in a background thread (uvp_ui.state.start_warm_up)
    started = time.perf_counter()
    first = explain_inputs(model, model.pair_inputs(dataset, pairs.user_id[0], pairs.item_id[0]), background)
    cold_s = time.perf_counter() - started
    full = time_explanations(model, dataset, pairs, background, None)
    capped = time_explanations(model, dataset, pairs, background, 20)
    population = time_explanations(model, dataset, pairs, background_for(model, dataset, attributes="population"), 20)
    log.info("explanations: cold %.2f s, full %s, <=20 %s, <=20 population background %s", cold_s, full, capped, population)

    table = whatif.user_table(dataset)
    users = whatif.cohort_users(table, max_users=args.cohort, seed=args.seed)
    cohort_pairs = pd.DataFrame({"user_id": users, "item_id": pairs.item_id[0]})
    edit = whatif.add_event_in_category(dataset, "Kitchen", "purchase", model.space_.item_columns)
    cohort_runs = []
    for _ in range(2):  # cold caches (the cohort's profile and history texts encoded), then warm
        started = time.perf_counter()
        cohort = whatif.cohort_what_if(model, dataset, cohort_pairs, edit)
        cohort_runs.append(time.perf_counter() - started)
    cohort_s = cohort_runs[-1]
    log.info("cohort what-if over %d users: cold %.2f s, warm %.2f s, %s", len(users), cohort_runs[0], cohort_s, cohort.summary())

    deletion_pairs = sample_pairs(dataset, args.deletion_pairs, args.seed + 1)
    deletion = deletion_check(model, dataset, deletion_pairs, background, args.seed)
    deletion_events = deletion_check(model, dataset, deletion_pairs, background, args.seed, history="event")
    items_out = background_for(model, dataset, item_fields="absent")  # a masked category is not the most common one
    deletion_items_out = deletion_check(model, dataset, deletion_pairs, items_out, args.seed)
    log.info("deletion: %s; item fields left out: %s", deletion, deletion_items_out)
    backgrounds = {name: background_for(model, dataset, attributes=name) for name in BACKGROUND_NAMES}
    recovery = driver_recovery(model, dataset, truth, backgrounds, args.probes, args.seed)
    recovery += driver_recovery(model, dataset, truth, {"mode": backgrounds["mode"]}, args.probes, args.seed, history="event")
    recovery += driver_recovery(model, dataset, truth, {"mode, categorical item fields left out": items_out}, args.probes, args.seed)
    log.info("recovery: %s", recovery)
    ceiling = perfect_rule_ceiling(truth, dataset, backgrounds)

    lines = [
        "# Explanation benchmark (sample shop, all-MiniLM-L6-v2 frozen)", "", stamp(), "",
        f"Model: target {model.target} ({model.task}), trained {train_s:.0f} s; metrics {model.metrics_}", "",
        "| measure | value |", "|---|---:|",
        f"| shap warm-up (numba compilation; once per process, in the background at app start) | {warm_s:.2f} s |",
        f"| first explanation after the warm-up (this user's texts not yet encoded) | {cold_s:.2f} s ({len(first.values)} features, {first.algorithm}) |",
        f"| one explanation, all features (median {full['features_median']:.0f}) | median {full['median_s']:.2f} s · p90 {full['p90_s']:.2f} s · max {full['max_s']:.2f} s (n={full['n']}) |",
        f"| one explanation, at most 20 features | median {capped['median_s']:.2f} s · p90 {capped['p90_s']:.2f} s · max {capped['max_s']:.2f} s (n={capped['n']}) |",
        f"| one explanation, at most 20 features, population background (8 users) | median {population['median_s']:.2f} s · p90 {population['p90_s']:.2f} s · max {population['max_s']:.2f} s (n={population['n']}) |",
        f"| largest additivity error | {max(full['max_additivity_error'], capped['max_additivity_error'], population['max_additivity_error']):.2e} |",
        f"| cohort what-if, {len(users):,} users ({edit.describe()}) | cold {cohort_runs[0]:.2f} s · warm {cohort_s:.2f} s; mean shift {cohort.mean_shift:+.4f} [{cohort.ci_low:+.4f}, {cohort.ci_high:+.4f}] |",
        f"| deletion check: top-3 moves more than 3 random (mean of 10 draws) | {deletion['vs_mean_of_10_random']:.0%} of {deletion['n']} |",
        f"| deletion check: top-3 moves more than one random draw of 3 | {deletion['vs_one_random']:.0%} of {deletion['n']} (ties {deletion['ties_with_one_random']:.0%}) |",
        f"| deletion check, only predictions ≥ {FAR_FROM_BASE} from the base value: top-3 vs the mean of 10 random draws | {deletion['vs_mean_of_10_random_far_from_base']:.0%} of {deletion['n_far_from_base']} |",
        f"| deletion check, one feature per event: top-3 vs the mean of 10 random draws / vs one draw | {deletion_events['vs_mean_of_10_random']:.0%} / {deletion_events['vs_one_random']:.0%} of {deletion_events['n']} |",
        f"| deletion check, categorical item fields masked as left out: top-3 vs the mean of 10 random draws / vs one draw | {deletion_items_out['vs_mean_of_10_random']:.0%} / {deletion_items_out['vs_one_random']:.0%} of {deletion_items_out['n']} |",
        "", "Planted-driver recovery on probe pairs (driver ranked first: |sum of SHAP over the driver's features| above every other feature's |SHAP|):", "",
        "| effect | background | n | driver first | driver + partner first | mean SHAP of driver |", "|---|---|---:|---:|---:|---:|",
        *[f"| {r['effect']} | {r['background']} | {r['n']} | {r['driver_first']:.0%} | {r['driver_or_partner_first']:.0%} | {r['mean_driver_shap']:+.4f} |" for r in recovery],
        "", "Ceiling: the same shares for an exact Shapley explanation of the sample's own rating rule (all probe pairs; perfect_rule_ceiling):", "",
        "| effect | background | planted delta | n | driver first | driver + partner first |", "|---|---|---:|---:|---:|---:|",
        *[f"| {r['effect']} | {r['background']} | {r['rating_delta']:+.1f} | {r['n']} | {r['driver_first']:.0%} | {r['driver_or_partner_first']:.0%} |" for r in ceiling],
    ]  # fmt: skip
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"train_s": train_s, "warm_up_s": warm_s, "cold_s": cold_s, "full": full, "capped": capped, "population": population, "cohort_s": cohort_runs,
                                               "cohort": cohort.summary(), "deletion": deletion, "deletion_events": deletion_events,
                                               "deletion_item_fields_absent": deletion_items_out, "recovery": recovery, "ceiling": ceiling}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
