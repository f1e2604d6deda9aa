"""AppTest of the Explain a user and What-if pages on a tiny-BERT model registered in a temporary workspace."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from uvp_core import model_registry
from uvp_core.explain import whatif
from uvp_core.model import TrainConfig, train
from uvp_core.workspace import Workspace
from uvp_ui import state, widgets

REPO = Path(__file__).resolve().parents[2]



def value_box(widgets, prefix: str):
    """A What-if value box by its key's stem (the page adds the pair's round to the key, so each pair gets new boxes)."""
    return next(w for w in widgets if w.key and w.key.startswith(prefix + "."))

@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rating_dataset, tiny_bert_dir) -> tuple[str, str]:
    """An empty workspace holding the ratings dataset and a tiny model trained on it: (model_id, dataset_id)."""
    root = tmp_path / "ws"
    monkeypatch.setenv("UVP_WORKSPACE", str(root))
    torch.set_num_threads(1)
    ws = Workspace(root)
    dataset_id = ws.save_dataset(rating_dataset).id
    # enough epochs for the content part, which starts at zero on top of the bias model, to react to an edit
    model = train(rating_dataset, TrainConfig(epochs=10, batch_size=64, patience=10), encoder_dir=tiny_bert_dir)
    return model_registry.save_to_registry(ws, model, name="tiny ratings", dataset_id=dataset_id), dataset_id


def _open(page: str, model_id: str, dataset_id: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=120)
    at.session_state[state.ACTIVE_MODEL] = model_id
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    return at.run()


def _sum_line(at: AppTest) -> tuple[float, float, float]:
    """(base, contributions, prediction) from the 'base value ... = ...' text."""
    line = next(t.value for t in at.text if t.value.startswith("base value"))
    base, total, prediction = (float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)[:3])
    return base, total, prediction


@pytest.fixture
def json_downloads(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The documents the pages offer as JSON downloads, by button key (the real button is still drawn)."""
    offered: dict = {}
    real = widgets.json_download

    def record(document, name: str, key: str) -> None:
        offered[key] = (name, json.loads(json.dumps(document)))
        real(document, name, key)

    monkeypatch.setattr(widgets, "json_download", record)
    return offered


def test_explain_a_user_page(registered, rating_dataset, json_downloads) -> None:
    model_id, dataset_id = registered
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    assert not at.exception, at.exception
    at.text_input(key="uvp.explain_query").input("u007").run()
    assert at.selectbox(key=state.EXPLAIN_USER).value == "u007"
    assert not at.exception, at.exception
    base, total, prediction = _sum_line(at)
    assert abs(base + total - prediction) < 2e-4
    top = at.dataframe[2].value  # profile, history, top items
    assert top["item_id"].iloc[0] == at.selectbox(key=state.EXPLAIN_ITEM).value
    first = top["item_id"].iloc[0]
    title = str(rating_dataset.items.set_index("item_id").loc[first, "title"])
    assert at.selectbox(key=state.EXPLAIN_ITEM).options[0] == f"{first} · {title}"  # picked by id and title
    assert abs(float(top["score"].iloc[0]) - prediction) < 1e-3
    contributions = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    assert set(contributions["group"]) == {"profile", "history", "item", "collaborative"}
    name, document = json_downloads["dl-explanation"]  # the explain CLI's JSON, for the pair and choices on screen
    assert name == f"explanation_u007_{first}.json"
    assert {k: document[k] for k in ("user_id", "item_id", "background", "item_fields", "history")} == {
        "user_id": "u007", "item_id": first, "background": "mode", "item_fields": "mode", "history": "item"}
    assert document["prediction"] == pytest.approx(prediction, abs=1e-4)
    assert document["base_value"] + sum(c["value"] for c in document["contributions"]) == pytest.approx(document["prediction"], abs=1e-4)
    assert len(document["contributions"]) == len(contributions)
    assert {b.key for b in at.download_button} >= {"dl-explanation", "dl-contributions"}
    assert at.radio(key=state.EXPLAIN_BACKGROUND).value == "mode"
    at.radio(key=state.EXPLAIN_BACKGROUND).set_value("population").run()  # a sample of users as the background
    assert not at.exception, at.exception
    base_pop, total_pop, prediction_pop = _sum_line(at)
    assert abs(base_pop + total_pop - prediction_pop) < 2e-4 and prediction_pop == pytest.approx(prediction, abs=1e-9)
    assert base_pop != pytest.approx(base, abs=1e-9)  # the base value is now the population's average, not the typical user's
    assert at.radio(key=state.EXPLAIN_ITEM_BACKGROUND).value == "mode"
    at.radio(key=state.EXPLAIN_ITEM_BACKGROUND).set_value("absent").run()  # masked item fields left out
    assert not at.exception, at.exception
    base_out, total_out, prediction_out = _sum_line(at)
    assert abs(base_out + total_out - prediction_out) < 2e-4 and prediction_out == pytest.approx(prediction, abs=1e-9)
    assert base_out != pytest.approx(base_pop, abs=1e-9)  # every item field is masked to nothing in the base value now
    history = [c for c in contributions["group"] if c == "history"]
    at.radio(key=state.EXPLAIN_HISTORY).set_value("event").run()  # one feature per event
    assert not at.exception, at.exception
    per_event = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    assert (per_event["group"] == "history").sum() > len(history)
    assert abs(sum(_sum_line(at)[:2]) - prediction_pop) < 2e-4
    at.radio(key=state.EXPLAIN_HISTORY).set_value("item").run()
    at.button(key="uvp.explain_global").click().run()
    assert not at.exception, at.exception
    groups = next(d.value for d in at.dataframe if "mean_abs_shap" in d.value.columns)
    assert {"all", "active"} <= set(groups["segment"])
    at.slider(key="uvp.explain_k").set_value(5).run()  # another widget: the result stays
    assert any("mean_abs_shap" in d.value.columns for d in at.dataframe)


def test_what_if_page_edit_changes_prediction(registered, json_downloads) -> None:
    model_id, dataset_id = registered
    at = _open("6_What_if.py", model_id, dataset_id)
    assert not at.exception, at.exception
    assert at.metric[2].value == "0"
    before = float(at.metric[0].value)
    at.selectbox(key="uvp.whatif_field").set_value("price").run()
    value_box(at.text_input, "uvp.whatif_field_value.price").input("79.0")
    at.button(key="uvp.whatif_apply_field").click().run()
    at.selectbox(key="uvp.whatif_attr").set_value("region").run()
    region = value_box(at.selectbox, "uvp.whatif_attr_value.region")
    assert region.options == ["North", "South", "Another value…"]  # the data's regions, starting on the user's own
    region.set_value("Another value…").run()
    assert any("Not a value of region" in c.value for c in at.caption)
    value_box(at.text_input, "uvp.whatif_attr_other.region").input("East")
    at.button(key="uvp.whatif_apply_attr").click().run()
    assert not at.exception, at.exception
    assert at.metric[2].value == "2"
    assert float(at.metric[0].value) == before
    after = float(at.metric[1].value)
    assert after != before and at.metric[1].delta.strip("+-") != "0.0000"
    base, total, prediction = _sum_line(at)
    assert abs(prediction - after) < 1e-4 and abs(base + total - prediction) < 2e-4
    _, document = json_downloads["dl-whatif"]  # the edited pair's explanation, with its edits and the prediction before them
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["edit"])
    assert document["edits"] == shown["edit"].tolist() and len(document["edits"]) == 2
    assert document["prediction_before"] == pytest.approx(before, abs=1e-4) and document["prediction"] == pytest.approx(after, abs=1e-4)
    per_item = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    at.radio(key=state.EXPLAIN_HISTORY).set_value("event").run()  # the edited prediction, one feature per event
    per_event = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    assert (per_event["group"] == "history").sum() > (per_item["group"] == "history").sum()
    assert abs(sum(_sum_line(at)[:2]) - after) < 2e-4 and at.metric[2].value == "2"
    at.radio(key=state.EXPLAIN_HISTORY).set_value("item").run()
    at.button(key="uvp.whatif_reset").click().run()
    assert at.metric[2].value == "0" and float(at.metric[1].value) == before

    at.selectbox(key="uvp.cohort_segment").set_value("active users (more than 5 events)")
    at.radio(key="uvp.cohort_edit").set_value("drop the last N events").run()
    assert [n.key for n in at.number_input if n.key.startswith("uvp.cohort")] == ["uvp.cohort_drop"]  # only this edit's fields
    assert not any(sb.key == "uvp.cohort_category" for sb in at.selectbox)
    next(b for b in at.button if b.label == "Run the cohort what-if").click().run()
    assert not at.exception, at.exception
    assert any(t.value.startswith("Edit: drop the last 3 events") for t in at.text)
    assert "bootstrap" in at.metric[-1].label
    assert "dl-cohort-whatif" in {b.key for b in at.download_button}
    at.selectbox(key="uvp.cohort_segment").set_value("all users").run()  # another widget
    assert any(t.value.startswith("Edit: drop the last 3 events") for t in at.text)  # the result stays


def test_an_item_the_user_already_rated_can_be_explained(registered, rating_dataset) -> None:
    """A review found only the top-K items (at most 30) explainable, never an item the user had actually rated."""
    model_id, dataset_id = registered
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    user_id = at.selectbox(key=state.EXPLAIN_USER).value
    events = rating_dataset.events
    rated = str(events.loc[events["user_id"].astype(str) == user_id, "item_id"].iloc[0])
    assert rated not in set(at.dataframe[2].value["item_id"].astype(str))  # not among the top predicted items
    assert any(c.value.startswith("Items the user has already interacted with are left out") for c in at.caption)  # and it says so
    at.selectbox(key=state.EXPLAIN_ITEM).set_value(rated).run()
    assert not at.exception, at.exception
    base, total, prediction = _sum_line(at)
    assert abs(base + total - prediction) < 2e-4
    assert any(c.value.startswith("This user already has events on this item") for c in at.caption)


def test_another_user_opens_on_their_own_top_item(registered) -> None:
    """An item picked for one user gives way to the next user's top item, even when it is among theirs too."""
    model_id, dataset_id = registered
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    at.slider(key="uvp.explain_k").set_value(30).run()  # long lists: the picked item is among the next user's too
    first_user = at.selectbox(key=state.EXPLAIN_USER).value
    picked = at.dataframe[2].value["item_id"].iloc[-1]
    at.selectbox(key=state.EXPLAIN_ITEM).set_value(picked).run()
    assert at.selectbox(key=state.EXPLAIN_ITEM).value == picked
    for other in at.selectbox(key=state.EXPLAIN_USER).options[1:6]:
        at.selectbox(key=state.EXPLAIN_USER).set_value(other).run()
        assert not at.exception, at.exception
        top = at.dataframe[2].value["item_id"].tolist()
        assert at.selectbox(key=state.EXPLAIN_ITEM).value == top[0]
        if picked in top[1:]:
            break
    else:
        pytest.fail(f"{picked} is in none of five other users' top 30 (the check needs one)")
    at.selectbox(key=state.EXPLAIN_USER).set_value(first_user).run()
    assert at.selectbox(key=state.EXPLAIN_ITEM).value == at.dataframe[2].value["item_id"].iloc[0]


def test_a_user_without_events_is_found_and_explained_as_a_cold_user(registered, rating_dataset) -> None:
    """A walk-through found a user of the users table without events unsearchable ("No user matches this search")."""
    from dataclasses import replace

    import pandas as pd

    model_id, _ = registered
    cold = pd.DataFrame({"user_id": pd.array(["u900"], dtype="str"), "age_band": ["25-34"], "region": ["North"]})
    users = pd.concat([rating_dataset.users, cold], ignore_index=True)
    dataset_id = Workspace(Path(state.default_root())).save_dataset(replace(rating_dataset, users=users, name="a cold user")).id
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    at.text_input(key="uvp.explain_query").input("u900").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EXPLAIN_USER).value == "u900"
    assert any(i.value.startswith("u900 has no events in this dataset") for i in at.info)
    assert at.dataframe[1].value.empty and len(at.dataframe[2].value)  # no history; top items from the profile
    assert any(c.value.startswith("u900 was not in the model's training data") for c in at.caption)
    base, total, prediction = _sum_line(at)
    assert abs(base + total - prediction) < 2e-4
    at.text_input(key="uvp.explain_query").input("north 25-34").run()  # every word must match
    found = at.selectbox(key=state.EXPLAIN_USER).options
    assert "u900" in found and set(found) <= set(users.loc[(users["region"] == "North") & (users["age_band"] == "25-34"), "user_id"])
    what_if = _open("6_What_if.py", model_id, dataset_id)  # the What-if page lists the same users
    what_if.selectbox(key=state.EXPLAIN_USER).set_value("u900").run()
    assert not what_if.exception, what_if.exception
    assert any(c.value.startswith("u900 has no events in this dataset") for c in what_if.caption)


def test_explain_page_token_drill_down(registered) -> None:
    model_id, dataset_id = registered
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    at.button(key="uvp.explain_tokens").click().run()
    assert not at.exception, at.exception
    line = next(t.value for t in at.text if "token contributions" in t.value)
    base, total, prediction = (float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)[:3])
    assert abs(base + total - prediction) < 2e-4
    _, _, pair_prediction = _sum_line(at)
    assert prediction == pair_prediction  # the same pair, unmasked
    tokens = next(d.value for d in at.dataframe if "token" in d.value.columns)
    assert len(tokens) > 3 and abs(tokens["contribution"].sum() - total) < 1e-3
    at.selectbox(key="uvp.explain_token_field").set_value("profile").run()  # another text: asked for again
    assert not any("token contributions" in t.value for t in at.text)


def test_a_reload_keeps_the_dataset_model_and_user_named_in_the_url(registered) -> None:
    """AppTest runs app.py (where the URL is read and written) on its first run only; the browser test
    tests/e2e/test_reload_browser.py reloads a real page."""
    model_id, dataset_id = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params.update({"dataset": dataset_id, "model": model_id, "user": "u007"})  # a fresh session: a reload
    at.run()  # the home page, opened from the link
    assert not at.exception, at.exception
    assert at.session_state[state.ACTIVE_DATASET] == dataset_id and at.session_state[state.ACTIVE_MODEL] == model_id
    at.switch_page("pages/5_Explain_a_user.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EXPLAIN_USER).value == "u007" and at.selectbox(key="uvp.explain_model").value == model_id


def test_a_what_if_link_naming_an_item_opens_on_that_item(registered, rating_dataset) -> None:
    """An audit opened /What_if?...&user=U&item=I in a fresh browser: the page took the user's top item instead."""
    model_id, dataset_id = registered
    item = str(rating_dataset.items["item_id"].iloc[-1])
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params.update({"dataset": dataset_id, "model": model_id, "user": "u007", "item": item})
    at.run()
    at.switch_page("pages/6_What_if.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EXPLAIN_USER).value == "u007" and at.selectbox(key=state.WHATIF_ITEM).value == item
    top = state.top_items(str(Workspace(os.environ["UVP_WORKSPACE"]).root), model_id, dataset_id, "u007", 1)
    assert str(top["item_id"].iloc[0]) != item  # not the item the page opens on without the link


def test_the_explained_item_and_the_evaluation_set_survive_a_visit_to_another_page(registered, rating_dataset) -> None:
    """A scale audit picked an item on Explain, went Home and came back: the page was on the user's top item again (and
    Segments back on its default evaluation set)."""
    model_id, dataset_id = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params.update({"dataset": dataset_id, "model": model_id, "user": "u007"})
    at.run()
    at.switch_page("pages/5_Explain_a_user.py").run()
    picker = at.selectbox(key=state.EXPLAIN_ITEM)
    other = picker.options[-1].split(" · ")[0]
    picker.set_value(other).run()
    at.switch_page("pages/3_Segments.py").run()
    at.radio(key=state.EVAL_SOURCE).set_value(state.ALL_EVENTS).run()
    at.switch_page("pages/0_Home.py").run()
    at.switch_page("pages/5_Explain_a_user.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EXPLAIN_ITEM).value == other
    at.switch_page("pages/3_Segments.py").run()
    assert at.radio(key=state.EVAL_SOURCE).value == state.ALL_EVENTS


def test_a_reload_keeps_the_explanations_background_and_history_unit(registered) -> None:
    """A review found a reload resetting these radios, so the same link showed other numbers (base 3.4423 -> 3.5901)."""
    model_id, dataset_id = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params.update({"dataset": dataset_id, "model": model_id, "background": "population", "item_background": "absent",
                            "history": "event"})  # fmt: skip
    at.run()
    at.switch_page("pages/5_Explain_a_user.py").run()
    assert not at.exception, at.exception
    assert at.radio(key=state.EXPLAIN_BACKGROUND).value == "population"
    assert at.radio(key=state.EXPLAIN_ITEM_BACKGROUND).value == "absent"
    assert at.radio(key=state.EXPLAIN_HISTORY).value == "event"
    ignored = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    ignored.query_params.update({"dataset": dataset_id, "model": model_id, "background": "<script>"})  # not an option
    ignored.run()
    ignored.switch_page("pages/5_Explain_a_user.py").run()
    assert not ignored.exception and ignored.radio(key=state.EXPLAIN_BACKGROUND).value == "mode"


def test_the_session_choices_are_written_into_the_url(registered) -> None:
    model_id, dataset_id = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    at.session_state[state.ACTIVE_MODEL] = model_id
    at.session_state[state.EXPLAIN_USER] = "u003"
    at.run()
    assert not at.exception, at.exception
    assert dict(at.query_params) == {"dataset": dataset_id, "model": model_id, "user": "u003"}


def test_a_stale_url_falls_back_to_the_defaults(registered) -> None:
    model_id, dataset_id = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.query_params.update({"dataset": "no-such-dataset", "model": "../escape", "user": "nobody"})
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    at.run()
    shown = [w.value.replace("\\", "") for w in at.warning]  # Markdown escapes dropped
    assert any(w.startswith("This link names the model ../escape, which this workspace does not hold") for w in shown), shown
    assert at.query_params.get("model") != ["../escape"]  # the stale id leaves the link (it used to stay, silently)
    at.switch_page("pages/5_Explain_a_user.py").run()
    assert not at.exception, at.exception
    assert at.session_state[state.ACTIVE_DATASET] == dataset_id and at.session_state[state.ACTIVE_MODEL] == model_id
    assert at.selectbox(key=state.EXPLAIN_USER).value != "nobody"
    shown = [w.value.replace("\\", "") for w in at.warning]  # a browser audit: the link opened another user, silently
    assert any(w.startswith("User nobody is not in this dataset") for w in shown), shown


def test_a_user_picked_on_another_dataset_gives_way_without_a_warning(registered, rating_dataset) -> None:
    """A browser audit switched datasets and read "User 1 is not in this dataset (a link from another dataset, or a
    typo)": the user had been picked on the previous dataset, by the analyst, in this session."""
    model_id, dataset_id = registered
    renamed = type(rating_dataset)(
        events=rating_dataset.events.assign(user_id=("x" + rating_dataset.events["user_id"]).astype("str")),
        items=rating_dataset.items, users=rating_dataset.users.assign(user_id=("x" + rating_dataset.users["user_id"]).astype("str")),
        name="renamed users")  # fmt: skip
    other_id = Workspace(Path(state.default_root())).save_dataset(renamed).id
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    at.selectbox(key=state.EXPLAIN_USER).set_value("u003").run()
    at.session_state[state.ACTIVE_DATASET] = other_id  # as the Data page, or a finished run on that dataset, sets it
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.EXPLAIN_USER).value.startswith("x")
    assert not any("is not in this dataset" in w.value for w in at.warning)


def test_pickers_prefer_a_model_of_the_active_dataset_and_warn_about_another(registered, rating_dataset) -> None:
    model_id, dataset_id = registered
    ws = Workspace(Path(state.default_root()))
    smaller = rating_dataset.events.iloc[: len(rating_dataset.events) // 2].reset_index(drop=True)
    other_id = ws.save_dataset(type(rating_dataset)(events=smaller, items=rating_dataset.items, users=rating_dataset.users,
                                                    name="half of the ratings")).id  # fmt: skip
    time.sleep(1.1)  # registry times have one-second resolution: the second model must be the newer one
    newer = model_registry.save_to_registry(ws, app_state_model(ws, model_id), name="newer, other data", dataset_id=other_id)
    assert ws.list_models()[0].id == newer  # the newest model was trained (so its record says) on the other dataset
    at = AppTest.from_file(str(REPO / "pages/5_Explain_a_user.py"), default_timeout=120)
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="uvp.explain_model").value == model_id and not at.warning
    options = at.selectbox(key="uvp.explain_model").options  # an audit: the picker did not say which models are of other data
    assert sum(o.endswith(" · trained on another dataset (half of the ratings)") for o in options) == 1
    assert sum("trained on another dataset" in o for o in options) == 1
    at = AppTest.from_file(str(REPO / "pages/5_Explain_a_user.py"), default_timeout=120)
    at.session_state[state.ACTIVE_DATASET] = other_id
    at.session_state[state.ACTIVE_MODEL] = model_id  # trained on the full ratings, explained on half of them
    at.run()
    assert not at.exception, at.exception
    assert any("not on the active dataset (half of the ratings)" in w.value for w in at.warning)


def app_state_model(ws: Workspace, model_id: str):
    """A registered model loaded from its folder."""
    from uvp_core.model import load_model

    return load_model(ws.model_dir(model_id))


def test_what_if_value_boxes_start_from_the_new_users_values(registered, rating_dataset) -> None:
    model_id, dataset_id = registered
    at = _open("6_What_if.py", model_id, dataset_id)
    at.selectbox(key="uvp.whatif_attr").set_value("region").run()
    first = at.selectbox(key=state.EXPLAIN_USER).value
    regions = rating_dataset.users.set_index("user_id")["region"]
    other = next(u for u in at.selectbox(key=state.EXPLAIN_USER).options if regions.get(u) not in (None, regions[first]))
    value_box(at.selectbox, "uvp.whatif_attr_value.region").set_value(regions[other]).run()  # typed-in for the first user
    at.selectbox(key=state.EXPLAIN_USER).set_value(other).run()
    assert not at.exception, at.exception
    assert value_box(at.selectbox, "uvp.whatif_attr_value.region").value == regions[other]  # the new user's own region
    at.selectbox(key=state.EXPLAIN_USER).set_value(first).run()
    assert value_box(at.selectbox, "uvp.whatif_attr_value.region").value == regions[first]


def test_what_if_runs_on_a_cohort_saved_on_the_segments_page(registered, rating_dataset) -> None:
    from uvp_core.diagnostics.cohorts import Cohort, CohortFilter, CohortStore

    model_id, dataset_id = registered
    store = CohortStore(Path(state.default_root()))
    store.save(Cohort("northerners", (CohortFilter("user.region", "==", "North"),)))
    store.save(Cohort("kitchen buyers", (CohortFilter("item.category", "==", "Kitchen"),)))  # not user-level: not offered
    at = _open("6_What_if.py", model_id, dataset_id)
    at.radio(key="uvp.cohort_edit").set_value("drop the last N events").run()
    users = at.selectbox(key="uvp.cohort_saved")
    assert [o.split(" (")[0] for o in users.options] == ["the segment and attribute below", "saved cohort: northerners"]
    assert any(c.value.startswith("Saved cohort not offered here: kitchen buyers.") for c in at.caption)  # and why
    users.set_value("northerners")
    next(b for b in at.button if b.label == "Run the cohort what-if").click().run()
    assert not at.exception, at.exception
    north = int(whatif.user_table(rating_dataset)["region"].eq("North").sum())
    assert any(t.value.startswith(f"Edit: drop the last 3 events · northerners: {north:,} users · candidate item ") for t in at.text), [
        t.value for t in at.text]  # fmt: skip


def test_a_new_session_loads_its_model_in_the_background(registered, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a MiniLM model (checks, encoder tracing) takes ~13 s on 2 cores; the first visit to a diagnostics
    page used to wait for all of it. app.py now starts the load when a session opens, once."""
    import threading

    import uvp_core.model

    model_id, _ = registered
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state[state.PRELOADED]
    for thread in threading.enumerate():
        if thread.name == f"uvp-preload-{model_id}":
            thread.join(120)
    root = str(Path(state.default_root()).resolve())
    monkeypatch.setattr(uvp_core.model, "load_model", lambda *a, **k: pytest.fail("loaded again: the preload did not fill the cache"))
    assert state.load_model(root, model_id).target == "rating"  # from the cache the background load filled
    release = threading.Event()
    monkeypatch.setattr(state, "load_model", lambda *a: release.wait(60))  # a load still running
    ws = Workspace(root)
    first = state.preload_model(ws, model_id)
    assert first is not None and state.preload_model(ws, model_id) is None  # a second request starts no second load
    release.set()
    first.join(60)
    assert not first.is_alive()


def test_pages_say_when_a_training_run_shares_the_cores(registered) -> None:
    """While a run trained, Segments took 95 s and Explain 42 s to load (3-15 s idle), and neither said why."""
    model_id, dataset_id = registered
    ws = Workspace(Path(state.default_root()))
    at = _open("5_Explain_a_user.py", model_id, dataset_id)
    assert not any("training run is running" in c.value for c in at.caption)
    run_id = ws.create_run("train", {"dataset_id": dataset_id}, "someone")
    ws.update_run(run_id, status="running")
    at.run()
    assert any(c.value.startswith("A training run is running on this machine") for c in at.caption)
