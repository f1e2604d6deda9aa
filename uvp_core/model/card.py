"""The model card: a human-readable README.md written into every model folder."""

from __future__ import annotations

from uvp_core.model.network import NO_FOLD_IN
from uvp_core.text.markdown import plain_markdown as md


def _code(value) -> str:
    """A Markdown code span of a value (backticks dropped, so it cannot end the span early)."""
    return "`" + str(value).replace("`", "") + "`"


METRIC_LABELS = {  # metrics_ key -> what the card calls it, by section; keys not listed go under "Other"
    "quality": {
        "val_rmse": "RMSE", "val_mae": "MAE", "val_auc": "AUC", "val_logloss": "log loss",
        "val_logloss_uncalibrated": "log loss before calibration", "val_brier": "Brier score",
        "val_base_rate": "share of positives", "baseline_rmse": "baseline RMSE", "baseline_auc": "baseline AUC",
        "baseline": "baseline model",
    },
    "examples": {
        "n_train": "training examples", "n_validation": "validation examples",
        "n_sampled_negatives": "sampled negatives (training and validation examples)",
        "n_sampled_per_positive": "sampled negatives per positive",
        "n_event_negatives": "negatives from the events, training and validation (no later positive of the pair)",
        "n_cold_users_validation": "validation examples of users unseen in training",
        "n_cold_items_validation": "validation examples of items unseen in training",
        "validation_split": "validation split", "validation_cutoff": "validation period starts",
    },
    "run": {
        "best_epoch": "best epoch (kept)", "epochs_run": "epochs run",
        "fold_prior": "fold-in prior (pseudo-events)", "fold_prior_source": "fold-in prior chosen on",
        "fold_prior_during_training": "fold-in prior of the training curves' validation (a bias-only fit's)",
        "fold_prior_of_validation_metrics": "fold-in prior of the validation metrics",
        "biases_refit_rows": "biases refitted after early stopping on (training + validation ratings)",
        "biases_refit_penalty": "penalty of that refit (5-fold cross-validation)",
        "train_seconds": "training seconds",
        "train_seconds_before_resume": "of which before the checkpoint the run resumed from",
    },
}
SHOWN_ELSEWHERE = {"batch_size"}  # on the card's "Mode ..." line


def _metric_lines(metrics: dict, section: str | None) -> list[str]:
    """Bulleted lines of one section's metrics (section None: the keys no section lists), numbers rounded, texts literal."""
    listed = {k for labels in METRIC_LABELS.values() for k in labels} | SHOWN_ELSEWHERE
    labels = METRIC_LABELS[section] if section else {k: k for k in metrics if k not in listed}
    lines = []
    for key, label in labels.items():
        if key not in metrics:
            continue
        value = metrics[key]
        if key.startswith("fold_prior") and isinstance(value, float) and value >= NO_FOLD_IN:
            value = "none (no fold-in predicted new users best)"  # the sentinel, not a count: it read "1e+09"
        value = f"{value:.4g}" if isinstance(value, float) else md(str(value))
        lines.append(f"- {md(label)}: {value}")
    return lines


def versus_baseline(metrics: dict) -> tuple[float, str] | None:
    """How far the validation metric is ahead of the baseline's on the same examples (negative: behind), in a sentence."""
    for ours, theirs, name, higher_is_better in (("val_rmse", "baseline_rmse", "RMSE", False), ("val_auc", "baseline_auc", "AUC", True)):
        a, b = metrics.get(ours), metrics.get(theirs)
        if isinstance(a, int | float) and isinstance(b, int | float):
            gain = float(a) - float(b) if higher_is_better else float(b) - float(a)
            baseline = md(str(metrics.get("baseline", "baseline")))
            verdict = (f"{gain:.4f} better" if round(gain, 4) > 0 else "no better" if round(gain, 4) == 0 else
                       f"**{-gain:.4f} worse**: on this data the text and ID factors add nothing to the baseline")  # fmt: skip
            return gain, f"Validation {name} {float(a):.4f} against {float(b):.4f} for the baseline ({baseline}) on the same validation rows: {verdict}."
    return None


def model_card(meta: dict) -> str:
    """Markdown describing what the model predicts, its data, metrics, how to load it and its limits.

    Every name that comes from the data or the analyst (target, columns, event kinds, encoder folder) is
    escaped, so the card renders it literally wherever Markdown is shown."""
    task = meta["task"]
    target = md(meta["target"])
    config = meta["config"]
    encoder = meta["encoder"]
    features = meta["features"]
    per_positive = meta["metrics"].get("n_sampled_per_positive", config["negatives_per_positive"])  # binary targets
    what = (
        f"the **{target}** a user would give an item (regression, in the data's units, clipped to "
        f"{meta['label_stats']['min']:g}-{meta['label_stats']['max']:g})"
        if task == "regression"
        else f"the probability that a user's interaction with an item is a **{target}** (binary, calibrated with "
        f"{'centred ' if meta['calibration'].get('centred') else ''}{meta['calibration'].get('method', 'none')} scaling on "
        "the validation split)"
    )
    encoder_text = (
        f"fine-tuned from {md(encoder['origin'])} (weights in `encoder/`)"
        if encoder["mode"] == "finetune"
        else f"frozen {md(encoder['origin'])} (sha256 {_code(encoder['origin_sha256'])}, checked on load)"
    )
    lines = [
        f"# UVP value model: {target}",
        "",
        f"Predicts {what}.",
        "",
        "## How it works",
        "",
        f"- Text encoder: {encoder_text}; {encoder['dim']}-dimensional mean-pooled embeddings, "
        f"{encoder['max_tokens']} tokens max."
        + (f" The embeddings of its {encoder['stored_embeddings']:,} training texts are saved with it "
           "(`embeddings.safetensors`), so loading it does not encode them again." if encoder.get("stored_embeddings") else ""),
        f"- Reads: the user's profile text, their {features['history_k']} most recent events before the prediction "
        "time (item text + event kind + recency), and the candidate item's text; plus user/item biases and ID "
        "embeddings learned from events, and numeric features (history length, item popularity, price).",
        *([f"- Also a numeric feature: how many times the user had the outcome ({', '.join(map(md, features['repeat_kinds']))}) "
           "on the candidate item before (all their earlier events, not only those read one by one)."]
          if features.get("repeat_kinds") else []),  # fmt: skip
        *([f"- Events of kind {', '.join(map(md, features['late_kinds']))} fill only the history places that the user's other "
           "events leave free."] if features.get("late_kinds") else []),  # fmt: skip
        f"- Categorical attributes also read as one-hot next to their text: "
        f"{', '.join(f'{md(c)} ({n} values)' for c, n in features.get('one_hot', {}).items()) or 'none'}.",
        *([_CROSS_LINE + (_FUNNEL_CROSS if meta["head"].get("match_funnel") else "")]
          if meta.get("head", {}).get("crosses") and features.get("one_hot") else []),  # fmt: skip
        *([f"- Item words read as indicators, crossed with each profile value: {', '.join(md(w) for w in features['item_words'])}."]
          if features.get("item_words") else []),  # fmt: skip
        *(["- The candidate's price band (the catalogue's four quartile bands) read as indicators, crossed with each profile "
           "value: a step from one band to the next, where the price itself can only draw a slope"
           + ("; the price's slope is crossed within the top band only." if meta["head"].get("top_band_slope") else ".")]
          if features.get("price_bands") else []),  # fmt: skip
        *([_fold_in_line(float(meta["head"].get("fold_prior", 5.0)), bool(meta["head"].get("fold_all_events")))]
          if meta.get("head", {}).get("fold_in") else []),  # fmt: skip
        *_curve_prior_line(meta.get("metrics", {})),
        f"- Templates: version {_code(meta['templates']['version'])} (rules in `uvp_model.json`).",
        "",
        "## Data",
        "",
        f"- Data fingerprint: {_code(meta['data_fingerprint'])}",
        f"- Known users: {features['n_users']}, known items: {features['n_items']}; event kinds: "
        f"{', '.join(map(md, features['kinds'][:20]))}{' …' if len(features['kinds']) > 20 else ''}",
        f"- User attributes used: {', '.join(map(md, features['user_columns'])) or 'none'}; item columns used: "
        f"{', '.join(map(md, features['item_columns'])) or 'none'}",
        *([f"- Event columns in the data that the model does not read: {', '.join(map(md, meta['unread_event_columns']))} "
           "(it reads each event's user, item, time and kind or rating"
           + ("; a review is written with its rating, so reading it would show the model the answer"
              if "review_text" in meta["unread_event_columns"] else "") + ")."] if meta.get("unread_event_columns") else []),  # fmt: skip
        f"- Validation: the most recent {config['val_fraction']:.0%} of examples by time."
        + (" After early stopping, the user and item biases were refitted on training and validation ratings together;"
           " the validation metrics below are from before that refit." if "biases_refit_rows" in meta["metrics"] else ""),
        "",
        "## Validation metrics",
        "",
        *_metric_lines(meta["metrics"], "quality"),
        *([f"- {comparison[1]}"] if (comparison := versus_baseline(meta["metrics"])) else []),
        *(["- These come from the validation period's training examples (its purchases or positives, non-converting "
           "events and sampled items); the diagnostics pages score that period's events against their own candidates, "
           "so their AUC and log loss differ."] if task == "binary" else []),
        *([_weighted_line(per_positive)] if meta["calibration"].get("sampled_weight") else []),
        "",
        "## Training",
        "",
        *_metric_lines(meta["metrics"], "examples"),
        *_metric_lines(meta["metrics"], "run"),
        *_metric_lines(meta["metrics"], None),
        f"- Mode {_code(config['mode'])}, seed {md(str(config['seed']))}, up to "
        f"{md(str(config['finetune_epochs'] if config['mode'] == 'finetune' else config['epochs']))} epochs with early "
        f"stopping (patience {md(str(config['patience']))}), batch "
        f"{md(str(meta['metrics'].get('batch_size', config['batch_size'])))}, learning rate {md(str(config['lr']))}.",
        f"- Libraries: {', '.join(md(f'{k} {v}') for k, v in meta['libraries'].items())}",
        "",
        "## How to load",
        "",
        "```python",
        "from uvp_core.model import load_model",
        "model = load_model('path/to/this/folder')",
        "scores = model.predict(dataset, pairs)  # pairs: user_id, item_id[, timestamp]",
        "```",
        "",
        "Loading checks every file's sha256 and uvp_model.json's own checksum, refuses pickles and custom code, and "
        "checks the encoder's weights.",
        "",
        "## Limits",
        "",
        "- Users and items unseen in training are scored from text, attributes and history only (shared "
        "'unknown' ID rows); expect lower accuracy for them.",
        "- Predictions reflect the behaviour in the training data and period; they are not causal effects.",
        "- Texts longer than the token limit are cut; descriptions are cut first.",
    ]
    if task == "binary":
        lines.append(
            "- Negatives include sampled items the user never interacted with "
            + (f"({per_positive} per positive), so probabilities are relative to that mix."
               if not meta["calibration"].get("sampled_weight") else
               f"({per_positive} per positive in training; calibration counts each as 1/{per_positive}), so probabilities "
               "are relative to one sampled item per positive.")
        )
        if meta["metrics"].get("n_event_negatives") == 0:  # a log of positives only (models saved before: no count)
            lines.append(
                "- Every negative is a sampled item: no event in the data says that a user did *not* take an item, so "
                "an item the user already had the outcome on reads as nearly certain, however often they really come "
                "back to it."
            )
    return "\n".join(lines) + "\n"


_CROSS_LINE = ("- Cross terms on those one-hot values: profile value x item value or numeric feature, and per event kind, "
               "whether one of the history events read is on an item sharing the candidate's value.")
_FUNNEL_CROSS = (" An event counts at its own kind and at the funnel steps before it (a purchase is also a view, a click "
                 "and a cart; a rating also a purchase).")


def _weighted_line(per_positive: int) -> str:
    """What the validation metrics of a model with several sampled items per positive are computed on."""
    return (f"- Each of the {per_positive} sampled items per positive counts as 1/{per_positive} in these metrics, as in "
            "the calibration, except the log loss before calibration, which is on the training mix (unweighted), as the "
            "training curves' validation log loss.")


def _fold_in_line(prior: float, all_events: bool = False) -> str:
    """The model card's line on how a user unseen in training is folded in."""
    if prior >= NO_FOLD_IN:  # training found that no fold-in predicts new users best
        return ("- A user unseen in training gets no folded-in bias: on known users shown as new, the model predicted "
                "their later ratings best without one.")
    every = (" Every earlier event counts, at the mean of the events read, so a user with hundreds of ratings is not shrunk "
             "as a newcomer; the training curves' validation counted only the events read.") if all_events else ""
    return (f"- A user unseen in training gets a bias folded in from how they rated so far, shrunk for short histories "
            f"(as if {prior:g} more average ratings had been seen; chosen on how well known users' first ratings predict "
            f"their later ones).{every}")


def _curve_prior_line(metrics: dict) -> list[str]:
    """Why the training curves' best validation value can differ from the validation metrics (another fold-in prior)."""
    during, chosen = metrics.get("fold_prior_during_training"), metrics.get("fold_prior_of_validation_metrics")
    if during is None or chosen is None or float(during) == float(chosen):
        return []
    chosen_text = "no fold-in" if float(chosen) >= NO_FOLD_IN else f"{float(chosen):g}"
    return [f"- The training curves' validation scored users unseen in training with the fold-in prior of a bias-only fit "
            f"({float(during):g}); the validation metrics (below) use the prior chosen after training ({chosen_text}), so the "
            "curves' best value and those metrics differ."]  # fmt: skip
