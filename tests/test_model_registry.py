"""Registry helpers that the pages use to name and offer models."""

from __future__ import annotations

from uvp_core.model_registry import comparison_choices
from uvp_core.workspace import ModelRecord


def _record(model_id: str, dataset_id: str | None, target: str = "rating", created: str = "2026-12-07T10:00:00Z") -> ModelRecord:
    return ModelRecord(id=model_id, name=f"model {model_id}", dataset_id=dataset_id, target=target, mode="frozen",
                       created_at=created, metrics={}, meta={})  # fmt: skip


def test_comparison_choices_offer_models_of_the_evaluated_dataset_first_and_name_the_others_data() -> None:
    """An audit noted that "Second model (B)" offered the models of every dataset alike, unmarked."""
    models = [_record("m5", "amazon"), _record("m4", "ml"), _record("m3", None), _record("m2", "ml", target="purchase"),
              _record("m1", "gone"), _record("m0", "ml")]  # fmt: skip
    choices = comparison_choices(models, models[1], "ml", {"ml": "MovieLens", "amazon": "Amazon reviews"})
    assert list(choices) == ["m0", "m5", "m3", "m1"]  # same target, not itself; the evaluated dataset's first, then newest first
    assert choices["m0"] == "model m0 · 2026-12-07T10:00:00Z · m0"
    assert choices["m5"].endswith(" · trained on another dataset (Amazon reviews)")
    assert choices["m3"].endswith(" · trained on data not in this workspace")
    assert choices["m1"].endswith(" · trained on data not in this workspace")  # its dataset was deleted


def test_both_models_of_a_comparison_are_named_alike() -> None:
    """An audit: "A = sample_data (m...)" against "B = name · created · id"."""
    from uvp_core.model_registry import comparison_label

    a = _record("m9", "ml")
    assert comparison_label(a, "ml", {}) == "model m9 · 2026-12-07T10:00:00Z · m9"
    assert comparison_label(a, "amazon", {"ml": "MovieLens"}).endswith(" · m9 · trained on another dataset (MovieLens)")
