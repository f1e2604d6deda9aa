"""The model card: names from the data or the analyst render literally wherever the card's Markdown is shown."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from uvp_core.model.card import model_card

pytestmark = pytest.mark.slow

HOSTILE = "<img src=x onerror=alert(1)> [site](http://example.com) **loud** `code` # _x_ &lt;"


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_card_shows_hostile_names_as_text(rating_model, tmp_path) -> None:
    meta = json.loads((rating_model.save(tmp_path / "model") / "uvp_model.json").read_text())
    meta["target"] = HOSTILE
    meta["features"]["kinds"] = [HOSTILE, "rated 4"]
    meta["features"]["user_columns"] = [HOSTILE]
    meta["features"]["item_columns"] = ["title", HOSTILE]
    meta["features"]["one_hot"] = {HOSTILE: 3}
    meta["features"]["item_words"] = [HOSTILE, "eco"]
    meta["encoder"]["origin"] = HOSTILE
    meta["metrics"][HOSTILE] = HOSTILE
    html = MarkdownIt("commonmark").render(model_card(meta))
    for made in ("<img", "<a ", "<strong>loud", "<em>x", "<code>code", "<h1>_x"):  # what the names would make unescaped
        assert made not in html, made
    assert html.replace("\u2060", "").count(_escape_html(HOSTILE)) >= 9  # (a word joiner breaks bare URLs) title, what it predicts, kinds, columns (2), one-hot, item words, encoder, metric
    assert "<h1>UVP value model: " in html and "<h2>Validation metrics</h2>" in html


def test_validation_metrics_section_holds_quality_only(rating_model, tmp_path) -> None:
    meta = json.loads((rating_model.save(tmp_path / "model") / "uvp_model.json").read_text())
    card = model_card(meta)
    quality = card.split("## Validation metrics")[1].split("## Training")[0]
    training = card.split("## Training")[1].split("## How to load")[0]
    assert "- RMSE: " in quality and "- baseline RMSE: " in quality
    assert "examples" not in quality and "seconds" not in quality and "epoch" not in quality  # counts and settings moved
    assert f"- training examples: {meta['metrics']['n_train']}" in training and "- best epoch \\(kept\\): " in training
    assert "batch_size" not in card  # shown once, on the Mode line
    words = rating_model.space_.item_words
    assert words and f"- Item words read as indicators, crossed with each profile value: {', '.join(words)}." in card
    assert "the price's slope is crossed within the top band only." in card  # top_band_slope
    meta["head"].pop("top_band_slope")  # a model saved before it
    assert "the price itself can only draw a slope." in model_card(meta) and "top band only" not in model_card(meta)


def test_no_fold_in_reads_as_none_not_as_its_sentinel(rating_model, tmp_path) -> None:
    """A model that chose no fold-in showed "fold-in prior (pseudo-events): 1e+09" under the prose saying so."""
    from uvp_core.model.network import NO_FOLD_IN

    meta = json.loads((rating_model.save(tmp_path / "model") / "uvp_model.json").read_text())
    meta["metrics"]["fold_prior"] = float(NO_FOLD_IN)
    card = MarkdownIt("commonmark").render(model_card(meta))
    assert "1e+09" not in card and "fold-in prior (pseudo-events): none (no fold-in predicted new users best)" in card
    meta["metrics"]["fold_prior"] = 15.0
    assert "fold-in prior (pseudo-events): 15<" in MarkdownIt("commonmark").render(model_card(meta))


def test_the_card_says_why_the_curves_best_validation_differs_from_its_metrics(rating_model, tmp_path) -> None:
    """A scale audit: MovieLens curves peaked at RMSE 0.7913 for the kept epoch, the card said 0.8117 (fold-in prior 10 in
    training, 15 chosen after it)."""
    meta = json.loads((rating_model.save(tmp_path / "model") / "uvp_model.json").read_text())
    assert meta["metrics"]["fold_prior_of_validation_metrics"] and meta["metrics"]["fold_prior_during_training"]
    meta["metrics"] |= {"fold_prior_during_training": 10.0, "fold_prior_of_validation_metrics": 15.0}
    card = model_card(meta)
    assert "validation scored users unseen in training with the fold-in prior of a bias-only fit (10)" in card
    assert "use the prior chosen after training (15)" in card
    meta["metrics"]["fold_prior_of_validation_metrics"] = 10.0
    assert "curves' best value" not in model_card(meta)


def test_the_card_says_whether_the_model_beats_its_baseline(rating_model, tmp_path) -> None:
    """A browser audit (Amazon reviews, no item text): validation RMSE 0.9219 against the bias baseline's 0.9181, and
    nothing on the Model page said so."""
    from uvp_core.model.card import versus_baseline

    meta = json.loads((rating_model.save(tmp_path / "model") / "uvp_model.json").read_text())
    meta["metrics"] |= {"val_rmse": 0.9219, "baseline_rmse": 0.9181}
    gain, sentence = versus_baseline(meta["metrics"])
    assert gain == pytest.approx(-0.0038) and "**0.0038 worse**" in sentence
    assert f"- {sentence}" in model_card(meta).split("## Validation metrics")[1].split("## Training")[0]
    assert versus_baseline({"val_rmse": 0.80, "baseline_rmse": 0.85})[1].endswith("0.0500 better.")
    auc = versus_baseline({"val_auc": 0.70, "baseline_auc": 0.75, "baseline": "item popularity"})
    assert auc[0] == pytest.approx(-0.05) and "AUC 0.7000 against 0.7500 for the baseline (item popularity)" in auc[1]
    assert versus_baseline({"val_rmse": 0.8}) is None


def test_the_card_names_the_event_columns_the_model_does_not_read(rating_model, tmp_path) -> None:
    """A browser audit: Amazon's reviews were mapped to review_text on the Data page, and nothing said the model never
    reads them."""
    from uvp_core.model import load_model
    from uvp_core.model.training import unread_event_columns

    assert unread_event_columns(["user_id", "item_id", "timestamp", "rating", "review_text", "helpful"]) == ["review_text", "helpful"]
    folder = rating_model.save(tmp_path / "model")
    meta = json.loads((folder / "uvp_model.json").read_text())
    assert meta["unread_event_columns"] == rating_model.meta_["unread_event_columns"]
    meta["unread_event_columns"] = ["review_text", "helpful"]
    card = model_card(meta)
    assert "- Event columns in the data that the model does not read: review\\_text, helpful (it reads" in card
    assert "would show the model the answer" in card
    assert load_model(folder).save(tmp_path / "again").joinpath("uvp_model.json").read_text().count("unread_event_columns") == 1
