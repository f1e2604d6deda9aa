"""Training both modes and targets, cold starts, editable inputs, reproducibility, cancel and resume."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from uvp_core.data.contract import Dataset
from uvp_core.model import (
    HistoryEvent,
    Progress,
    TrainConfig,
    TrainingCancelled,
    estimate_training_time,
    train,
)

pytestmark = pytest.mark.slow

SMALL = TrainConfig(epochs=3, batch_size=64, patience=10)


def _pairs(dataset: Dataset, n: int = 30) -> pd.DataFrame:
    return dataset.events[["user_id", "item_id", "timestamp"]].tail(n).reset_index(drop=True)


def test_rating_model_learns_and_predicts_in_range(rating_model, rating_dataset):
    losses = [h["train_loss"] for h in rating_model.history_]
    assert losses[-1] < losses[0]
    assert rating_model.target == "rating" and rating_model.task == "regression"
    assert np.isfinite(rating_model.metrics_["val_rmse"]) and "baseline_rmse" in rating_model.metrics_
    pred = rating_model.predict(rating_dataset, _pairs(rating_dataset))
    assert pred.shape == (30,) and np.all((pred >= 1) & (pred <= 5))


def test_purchase_model_gives_calibrated_probabilities(purchase_model, binary_dataset):
    losses = [h["train_loss"] for h in purchase_model.history_]
    assert losses[-1] < losses[0]
    assert purchase_model.task == "binary" and purchase_model.calibration_["method"] in ("platt", "isotonic")
    assert 0.0 <= purchase_model.metrics_["val_auc"] <= 1.0
    p = purchase_model.predict(binary_dataset, _pairs(binary_dataset))
    assert np.all((p >= 0) & (p <= 1))


def test_label_target(binary_dataset, tiny_bert_dir):
    events = binary_dataset.events.copy()
    events["label"] = (events["event_type"] == "purchase").astype("int8")
    events = events.drop(columns="event_type")
    dataset = Dataset(events=events, items=binary_dataset.items, users=binary_dataset.users)
    model = train(dataset, TrainConfig(epochs=2, batch_size=64, target="auto"), encoder_dir=tiny_bert_dir)
    assert model.target == "label"
    assert np.all(np.isfinite(model.predict(dataset, _pairs(dataset))))


def test_a_transaction_log_is_named_by_its_event_type_not_label(binary_dataset) -> None:
    """The transactions importer marks every purchase line label 1 and event_type purchase: "auto" and the Model page
    used to pick "label", so every chart read "probability of label"."""
    from uvp_core.model.examples import resolve_target
    from uvp_core.model_registry import target_choices

    purchases = binary_dataset.events.loc[binary_dataset.events["event_type"] == "purchase"]
    log = Dataset(events=purchases.assign(label=np.int8(1)), items=binary_dataset.items)
    assert resolve_target(log.events, "auto") == ("purchase", "binary") and target_choices(log) == ["purchase", "label"]
    assert resolve_target(log.events, "label") == ("label", "binary")  # still there when asked for
    mixed = binary_dataset.events.assign(label=(binary_dataset.events["event_type"] == "purchase").astype("int8"))
    assert resolve_target(mixed, "auto") == ("label", "binary") and target_choices(Dataset(events=mixed))[0] == "label"


def test_unknown_target_is_refused(rating_dataset, tiny_bert_dir):
    with pytest.raises(ValueError, match="purchase"):
        train(rating_dataset, TrainConfig(target="purchase"), encoder_dir=tiny_bert_dir)


def test_cold_users_and_items_get_finite_predictions(rating_model, rating_dataset):
    pairs = pd.DataFrame({"user_id": ["brand-new", "u001", "brand-new"], "item_id": ["i001", "not-in-catalogue", "nope"]})
    pred = rating_model.predict(rating_dataset, pairs)
    assert np.all(np.isfinite(pred))
    assert rating_model.texts(rating_dataset, "brand-new", "nope").item == "item nope"


def test_predict_without_timestamps_and_in_input_order(rating_model, rating_dataset):
    pairs = _pairs(rating_dataset, 10)[["user_id", "item_id"]]
    forward = rating_model.predict(rating_dataset, pairs)
    backward = rating_model.predict(rating_dataset, pairs.iloc[::-1])
    assert np.array_equal(forward, backward[::-1])  # fixed-shape blocks: independent of order


def test_recommend_excludes_seen_items(rating_model, rating_dataset):
    top = rating_model.recommend(rating_dataset, "u001", k=5)
    seen = set(rating_dataset.events.loc[rating_dataset.events["user_id"] == "u001", "item_id"])
    assert len(top) == 5 and not set(top["item_id"]) & seen
    assert list(top["rank"]) == [1, 2, 3, 4, 5] and top["score"].is_monotonic_decreasing


def test_score_inputs_match_predict_and_respond_to_edits(rating_model, rating_dataset):
    time = rating_dataset.events["timestamp"].iloc[-1]
    inputs = rating_model.pair_inputs(rating_dataset, "u001", "i002", time)
    expected = rating_model.predict(rating_dataset, pd.DataFrame({"user_id": ["u001"], "item_id": ["i002"], "timestamp": [time]}))
    assert rating_model.score_inputs([inputs]) == pytest.approx(expected, abs=1e-5)
    masked = rating_model.pair_inputs(rating_dataset, "u001", "i002", time)
    masked.profile["region"] = "Atlantis"
    fewer = rating_model.pair_inputs(rating_dataset, "u001", "i002", time)
    fewer.history = fewer.history[1:]
    anonymous = rating_model.pair_inputs(rating_dataset, "u001", "i002", time)
    anonymous.user_id = anonymous.item_id = None
    anonymous.history.append(HistoryEvent("i003", rating_model.kinds_[-1], time - pd.Timedelta(hours=1)))
    scores = rating_model.score_inputs([inputs, masked, fewer, anonymous])
    assert scores.shape == (4,) and np.all(np.isfinite(scores))
    assert len({round(float(s), 9) for s in scores}) == 4


def test_finetune_mode_trains_the_encoder(rating_dataset, tiny_bert_dir):
    reports: list[Progress] = []
    config = TrainConfig(mode="finetune", finetune_epochs=2, finetune_batch_size=32, max_samples=256, patience=10)
    model = train(rating_dataset, config, encoder_dir=tiny_bert_dir, progress=reports.append)
    assert model.fine_tuned and model.encoder_.weights_id.startswith("ft-")
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]
    assert any(r.phase == "estimate" and r.eta_seconds > 0 for r in reports)
    assert np.all(np.isfinite(model.predict(rating_dataset, _pairs(rating_dataset))))


def test_progress_phases_and_time_estimate(rating_dataset, tiny_bert_dir, monkeypatch):
    from uvp_core.model import encoder

    monkeypatch.setattr(encoder, "_embedding_cache", type(encoder._embedding_cache)())  # texts other tests encoded: again
    reports: list[Progress] = []
    train(rating_dataset, SMALL, encoder_dir=tiny_bert_dir, progress=reports.append)
    phases = [r.phase for r in reports]
    assert phases[0] == "preparing" and phases[-1] == "done"
    assert {"training", "validating"} <= set(phases)
    assert any(r.val_metric is not None for r in reports if r.phase == "training")
    assert estimate_training_time(rating_dataset, SMALL, encoder_dir=tiny_bert_dir) > 0
    encoding = [(r.step, r.total_steps) for r in reports if r.phase == "encoding"]
    assert encoding and len({total for _, total in encoding}) == 1  # one bar over the items and the profiles
    assert [step for step, _ in encoding] == sorted(step for step, _ in encoding) and encoding[-1][0] == encoding[-1][1]


def test_the_catalogue_is_encoded_after_the_epochs_in_a_phase_of_its_own(rating_dataset, tiny_bert_dir, monkeypatch):
    """Items without events are encoded once training ends (so the saved model scores them); reported as "encoding",
    that sent the Model page's bar back to 0 after the last epoch."""
    from uvp_core.model import encoder

    monkeypatch.setattr(encoder, "_embedding_cache", type(encoder._embedding_cache)())
    extra = pd.DataFrame({"item_id": pd.array(["new1", "new2"], dtype="str"), "title": ["Spare Lamp", "Spare Mug"]})
    items = pd.concat([rating_dataset.items, extra], ignore_index=True)
    reports: list[Progress] = []
    train(replace(rating_dataset, items=items), SMALL, encoder_dir=tiny_bert_dir, progress=reports.append)
    phases = [r.phase for r in reports]
    first_epoch = phases.index("training")
    assert "encoding" not in phases[first_epoch:] and "catalogue" in phases[first_epoch:]
    catalogue = [r for r in reports if r.phase == "catalogue"]
    assert catalogue[-1].step == catalogue[-1].total_steps > 0 and phases.index("catalogue") < phases.index("calibrating")


def test_one_bar_counts_consecutive_phases_as_one():
    """The encoding bar reached its end on the item texts, then restarted at 0 for the profiles."""
    from uvp_core.model.training import one_bar

    seen: list[tuple[int, int]] = []
    items, profiles = one_bar(lambda done, total: seen.append((done, total)), [3, 5])
    for bar, total in ((items, 3), (profiles, 5)):
        bar(0, total)
        bar(total, total)
    assert seen == [(0, 8), (3, 8), (3, 8), (8, 8)] and one_bar(None, [1, 2]) == [None, None]


def test_same_seed_same_predictions(rating_dataset, tiny_bert_dir):
    pairs = _pairs(rating_dataset)
    first = train(rating_dataset, SMALL, encoder_dir=tiny_bert_dir).predict(rating_dataset, pairs)
    again = train(rating_dataset, SMALL, encoder_dir=tiny_bert_dir).predict(rating_dataset, pairs)
    other = train(rating_dataset, TrainConfig(epochs=3, batch_size=64, patience=10, seed=1), encoder_dir=tiny_bert_dir)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other.predict(rating_dataset, pairs))


def test_cancel_then_resume_equals_uninterrupted(binary_dataset, tiny_bert_dir, tmp_path):
    config = TrainConfig(epochs=4, batch_size=64, patience=10, target="purchase")
    pairs = _pairs(binary_dataset)
    reference = train(binary_dataset, config, encoder_dir=tiny_bert_dir).predict(binary_dataset, pairs)

    calls = {"n": 0}

    def stop_in_epoch_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 2 * 17 + 5  # 17 steps per epoch (1067 examples / 64): mid epoch 3

    checkpoints = tmp_path / "ckpt"
    with pytest.raises(TrainingCancelled) as info:
        train(binary_dataset, config, encoder_dir=tiny_bert_dir, should_stop=stop_in_epoch_three, checkpoint_dir=checkpoints)
    assert info.value.epoch == 3
    from uvp_core.model.persistence import load_checkpoint

    tensors_file = json.loads((checkpoints / "checkpoint.json").read_text())["tensors_file"]
    assert {p.name for p in checkpoints.iterdir()} == {tensors_file, "checkpoint.json"}  # the older epochs' tensors are gone

    before = load_checkpoint(checkpoints)[2]["seconds"]  # the cancelled run's seconds up to its epoch-2 checkpoint
    resumed = train(binary_dataset, config, encoder_dir=tiny_bert_dir, checkpoint_dir=checkpoints)
    assert np.array_equal(resumed.predict(binary_dataset, pairs), reference)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    # the card's training seconds count the epochs before the checkpoint too (they counted only the resumed process's)
    assert before > 0 and resumed.metrics_["train_seconds_before_resume"] == round(before, 2)
    assert resumed.metrics_["train_seconds"] > before


def test_a_checkpoint_whose_tensors_do_not_match_starts_afresh(binary_dataset, tiny_bert_dir, tmp_path, caplog):
    """A kill between the tensors and checkpoint.json (older UVPs) left a pair that made every rerun fail: it starts afresh."""
    config = TrainConfig(epochs=2, batch_size=64, patience=10, target="purchase")
    pairs = _pairs(binary_dataset)
    checkpoints = tmp_path / "ckpt"
    reference = train(binary_dataset, config, encoder_dir=tiny_bert_dir, checkpoint_dir=checkpoints)
    record = json.loads((checkpoints / "checkpoint.json").read_text())
    (checkpoints / record["tensors_file"]).write_bytes(b"the tensors of another epoch")
    with caplog.at_level("WARNING"):
        again = train(binary_dataset, config, encoder_dir=tiny_bert_dir, checkpoint_dir=checkpoints)
    assert "does not match" in caplog.text and "starts afresh" in caplog.text
    assert [h["epoch"] for h in again.history_] == [1, 2]
    assert np.array_equal(again.predict(binary_dataset, pairs), reference.predict(binary_dataset, pairs))


def test_events_only_dataset_with_one_timestamp(tiny_bert_dir):
    events = pd.DataFrame(
        {
            "user_id": [f"u{i % 7}" for i in range(120)],
            "item_id": [f"i{i % 11}" for i in range(120)],
            "timestamp": pd.Series(pd.to_datetime(["2024-01-01"] * 120, utc=True)).astype("datetime64[ms, UTC]"),
            "event_type": ["purchase" if i % 3 == 0 else "view" for i in range(120)],
        }
    )
    dataset = Dataset(events=events)
    model = train(dataset, TrainConfig(epochs=2, batch_size=32), encoder_dir=tiny_bert_dir)
    assert model.target == "purchase" and model.metrics_["n_validation"] > 0  # random split fallback
    assert model.texts(dataset, "u1", "i3").item == "item i3"
    top = model.recommend(dataset, "new-user", k=3)
    assert len(top) == 3 and top["score"].between(0, 1).all()


def test_training_leaves_torch_threads_alone(rating_dataset, tiny_bert_dir):
    import torch

    before = torch.get_num_threads()
    train(rating_dataset, TrainConfig(epochs=1, batch_size=128, threads=2), encoder_dir=tiny_bert_dir)
    assert torch.get_num_threads() == before


def test_checkpoint_of_another_run_is_not_resumed(rating_dataset, tiny_bert_dir, tmp_path, caplog):
    train(rating_dataset, TrainConfig(epochs=1, batch_size=128), encoder_dir=tiny_bert_dir, checkpoint_dir=tmp_path)
    other = TrainConfig(epochs=2, batch_size=128, seed=5)
    model = train(rating_dataset, other, encoder_dir=tiny_bert_dir, checkpoint_dir=tmp_path)
    assert "different run" in caplog.text
    assert [h["epoch"] for h in model.history_] == [1, 2]


def test_isotonic_calibration_keeps_the_ranking_inside_a_step() -> None:
    from uvp_core.model.value_model import apply_calibration

    calibration = {"method": "isotonic", "x": [-1.0, 1.0], "y": [1e-4, 0.9]}
    raw = np.array([-5.0, -3.0, -2.0, 0.0, 4.0])  # the first three fall on the same clipped step
    probabilities = apply_calibration(calibration, raw)
    assert np.all(np.diff(probabilities) > 0)
    assert np.allclose(probabilities, [1e-4, 1e-4, 1e-4, 0.45005, 0.9], atol=1e-5)


def test_centred_isotonic_calibration_does_not_tie_whole_steps() -> None:
    from sklearn.isotonic import IsotonicRegression

    from uvp_core.model.value_model import apply_calibration, calibrate

    rng = np.random.default_rng(0)
    raw = rng.normal(0, 2, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-raw))).astype(float)
    calibration = calibrate(raw, y)
    assert calibration["method"] == "isotonic" and calibration["centred"]
    grid = np.linspace(np.min(calibration["x"]), np.max(calibration["x"]), 2000)
    centred = apply_calibration(calibration, grid)
    steps = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(raw, y).predict(grid)
    assert len(np.unique(np.round(steps, 4))) < 100  # plain isotonic: a few dozen values, whole ranges tied
    assert len(np.unique(np.round(centred, 4))) > 1500 and np.all(np.diff(centred) > 0)
    assert np.max(np.abs(centred - 1 / (1 + np.exp(-grid)))) < 0.08  # still calibrated: close to the true probability


@pytest.mark.parametrize("n", [400, 5000])  # Platt below 1,000 rows, centred isotonic above
def test_weighted_calibration_reads_one_sampled_negative_per_positive(n) -> None:
    """Three copies of every negative, each weighted 1/3, calibrate as the 1:1 rows do; unweighted they read lower."""
    from uvp_core.model.value_model import apply_calibration, calibrate

    rng = np.random.default_rng(0)
    raw = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-raw))).astype(float)
    tripled_raw = np.r_[raw, raw[y == 0], raw[y == 0]]
    tripled_y = np.r_[y, y[y == 0], y[y == 0]]
    weight = np.where(tripled_y == 0, 1 / 3, 1.0)
    grid = np.linspace(-3, 3, 61)
    one_to_one = apply_calibration(calibrate(raw, y), grid)
    weighted = apply_calibration(calibrate(tripled_raw, tripled_y, weight), grid)
    unweighted = apply_calibration(calibrate(tripled_raw, tripled_y), grid)
    assert np.max(np.abs(weighted - one_to_one)) < 1e-3
    assert np.mean(one_to_one - unweighted) > 0.1


def test_more_sampled_negatives_keep_probabilities_relative_to_one_per_positive(binary_dataset, tiny_bert_dir, tmp_path):
    """negatives_per_positive=3: validation weighs each sampled negative 1/3 (calibration and metrics), the card says so."""
    import torch

    from uvp_core.model.training import prepare

    config = TrainConfig(epochs=2, batch_size=64, target="purchase", negatives_per_positive=3)
    prep = prepare(binary_dataset, config, torch.device("cpu"))
    sampled = prep.n_examples["sampled_negatives"]
    assert sampled > 0 and prep.val_weight is not None
    y = prep.val_y.numpy()
    assert set(np.unique(prep.val_weight)) == {1 / 3, 1.0} and np.all(prep.val_weight[y == 1] == 1.0)
    assert prepare(binary_dataset, replace(config, negatives_per_positive=1), torch.device("cpu")).val_weight is None
    model = train(binary_dataset, config, encoder_dir=tiny_bert_dir)
    assert model.calibration_["sampled_weight"] == pytest.approx(1 / 3)
    assert model.metrics_["val_base_rate"] == pytest.approx(np.average(y, weights=prep.val_weight))
    card = (model.save(tmp_path / "model") / "README.md").read_text()
    assert "3 per positive in training; calibration counts each as 1/3" in card
    assert "Each of the 3 sampled items per positive counts as 1/3 in these metrics" in card


def test_head_starts_at_the_ridge_bias_model(rating_dataset):
    """bias_init: user and item biases start at regularised mean residuals, unknown rows at zero, the cross
    terms at their ridge fit, the rest of the content part at zero."""
    import torch

    from uvp_core.model.training import _cross_design, build_head, init_biases, prepare

    prep = prepare(rating_dataset, TrainConfig(), torch.device("cpu"))
    head = build_head(prep, 8, TrainConfig())
    init_biases(head, prep)
    users, items = prep.train_x.user.numpy(), prep.train_x.item.numpy()
    y = pd.Series(prep.train_y.numpy())
    for codes, table in ((items, head.item_bias), (users, head.user_bias)):
        bias = table.weight.detach().numpy()[:, 0]
        means = y.groupby(codes).mean()
        assert np.corrcoef(means.to_numpy(), bias[means.index])[0, 1] > 0.8  # better-rated items / generous users start higher
        assert bias[0] == 0.0
    design = _cross_design(head, prep, np.arange(len(prep.train_y)))
    assert design.shape[1] > 0 and np.abs(head.cross.detach().numpy()).max() > 0
    assert abs(head.global_bias.item() - (y.to_numpy() - design @ head.cross.detach().numpy()).mean()) < 1e-5
    head.eval()
    with torch.no_grad():  # the whole head starts as the bias + cross model: the rest of the content part scores zero
        x = prep.train_x.take(slice(0, 50))
        items = torch.cat([torch.randn(len(prep.context.items.texts), 8), torch.as_tensor(np.stack(prep.context.items.extra_rows))], 1)
        profiles = torch.cat([torch.randn(len(prep.context.profiles.texts), 8), torch.as_tensor(np.stack(prep.context.profiles.extra_rows))], 1)
        raw = head(items, profiles, x)
        cross = torch.as_tensor(design[:50], dtype=torch.float32) @ head.cross
    expected = head.global_bias + head.user_bias(x.user)[:, 0] + head.item_bias(x.item)[:, 0] + (head.user_id(x.user) * head.item_id(x.item)).sum(-1)
    assert torch.allclose(raw, expected + cross, atol=1e-5)


def test_small_datasets_get_smaller_batches_and_ratings_stronger_id_regularisation():
    config = TrainConfig()
    assert config.step_batch_size(100_000) == 1024  # large data: the batch as configured
    assert config.step_batch_size(3_505) == 128  # the sample's ratings: 28 steps an epoch instead of 4
    assert config.step_batch_size(500) == 64  # never below 64
    assert TrainConfig(mode="finetune").step_batch_size(3_505) == TrainConfig().finetune_batch_size
    assert config.id_settings("regression") == (0.03, 0.3)
    assert config.id_settings("binary") == (1e-3, 0.1)
    assert TrainConfig(id_l2=0.5, id_dropout=0.0).id_settings("binary") == (0.5, 0.0)  # explicit values win


def test_validation_ratings_refit_the_biases_after_early_stopping(rating_dataset, tiny_bert_dir, tmp_path):
    """refit_biases: the same run with and without the refit differs only in the global/user/item biases, reports
    the same (held-out) validation metrics, and the refit model fits the validation ratings better."""
    import torch

    from uvp_core.model.training import prepare

    on = train(rating_dataset, SMALL, encoder_dir=tiny_bert_dir)
    off = train(rating_dataset, replace(SMALL, refit_biases=False), encoder_dir=tiny_bert_dir)
    assert on.metrics_["val_rmse"] == off.metrics_["val_rmse"]
    assert on.metrics_["biases_refit_rows"] > on.metrics_["n_train"] and "biases_refit_rows" not in off.metrics_
    a, b = on.head_.state_dict(), off.head_.state_dict()
    changed = {k for k in a if not torch.equal(a[k], b[k])}
    assert changed == {"global_bias", "user_bias.weight", "item_bias.weight"}
    assert torch.equal(a["user_bias.weight"][0], b["user_bias.weight"][0])  # the unknown user keeps its trained bias
    prep = prepare(rating_dataset, SMALL, torch.device("cpu"))
    cutoff = pd.Timestamp(prep.validation_cutoff_ms, unit="ms", tz="UTC")
    val = rating_dataset.events[rating_dataset.events["timestamp"] >= cutoff]
    assert len(val) > 50

    def rmse(model) -> float:
        return float(np.sqrt(np.mean((model.predict(rating_dataset, val[["user_id", "item_id", "timestamp"]]) - val["rating"]) ** 2)))

    assert rmse(on) < rmse(off)
    # as validated (held-out diagnostics score it): the biases before the refit, as the reported metrics measured
    assert rmse(on.as_validated()) == pytest.approx(on.metrics_["val_rmse"], rel=1e-5) and off.as_validated() is off
    assert torch.equal(on.as_validated().head_.item_bias.weight, off.head_.item_bias.weight)
    from uvp_core.model import load_model

    loaded = load_model(on.save(tmp_path / "m"))
    assert loaded.validated_.keys() == on.validated_.keys()
    pairs = val[["user_id", "item_id", "timestamp"]]
    np.testing.assert_allclose(loaded.as_validated().predict(rating_dataset, pairs), on.as_validated().predict(rating_dataset, pairs), atol=1e-6)
    np.testing.assert_allclose(loaded.predict(rating_dataset, pairs), on.predict(rating_dataset, pairs), atol=1e-6)
