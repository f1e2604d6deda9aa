"""AppTest of the What-if page on a dataset with no users table (issue #5).

- "Apply attribute" used to do nothing without a users table: now the analyst names an attribute, it is
  written into the profile text the model reads, and the page says why the model never saw one.
- "Remove event" after an item-field edit registers: two edits, and the prediction moves again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from uvp_core import model_registry
from uvp_core.data.contract import Dataset
from uvp_core.explain import whatif
from uvp_core.model import TrainConfig, train
from uvp_core.workspace import Workspace
from uvp_ui import state

REPO = Path(__file__).resolve().parents[2]



def value_box(widgets, prefix: str):
    """A What-if value box by its key's stem (the page adds the pair's round to the key, so each pair gets new boxes)."""
    return next(w for w in widgets if w.key and w.key.startswith(prefix + "."))

@pytest.fixture(scope="module")
def no_users_dataset(rating_dataset) -> Dataset:
    """The synthetic ratings with events and items only."""
    return Dataset(
        events=rating_dataset.events, items=rating_dataset.items, users=None, name="ratings-no-users"
    )


@pytest.fixture(scope="module")
def no_users_model(no_users_dataset, tiny_bert_dir):
    """A tiny model trained on a dataset without a users table (its profile text is always empty)."""
    torch.set_num_threads(1)
    return train(
        no_users_dataset, TrainConfig(epochs=3, batch_size=64, patience=10), encoder_dir=tiny_bert_dir
    )


def open_page(root: Path, monkeypatch: pytest.MonkeyPatch, dataset: Dataset, model, name: str) -> AppTest:
    """The What-if page opened on a model and its dataset, registered in a new workspace at root."""
    monkeypatch.setenv("UVP_WORKSPACE", str(root))
    ws = Workspace(root)
    dataset_id = ws.save_dataset(dataset).id
    model_id = model_registry.save_to_registry(ws, model, name=name, dataset_id=dataset_id)
    at = AppTest.from_file(str(REPO / "pages" / "6_What_if.py"), default_timeout=120)
    at.session_state[state.ACTIVE_MODEL] = model_id
    at.session_state[state.ACTIVE_DATASET] = dataset_id
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_users_dataset, no_users_model) -> AppTest:
    """The What-if page opened on the no-users model and dataset in an empty workspace."""
    return open_page(tmp_path / "ws", monkeypatch, no_users_dataset, no_users_model, "no users")


def _metrics(at: AppTest) -> tuple[float, float, str]:
    """(prediction before, prediction after the edits, number of edits) as shown."""
    values = {m.label: m.value for m in at.metric}
    return float(values["Prediction before"]), float(values["Prediction after the edits"]), values["Edits"]


def _edits(at: AppTest) -> list[str]:
    """The edit descriptions listed in the edits table."""
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["edit"])["edit"].tolist()


def test_apply_attribute_without_users_table_adds_it_to_the_profile(page: AppTest, no_users_model) -> None:
    at = page
    assert whatif.attribute_names(no_users_model) == []
    assert any(whatif.NO_USERS_NOTE == i.value for i in at.info), (
        "the tab does not say why there is no attribute list"
    )
    before, after, count = _metrics(at)
    assert (after, count) == (before, "0")

    at.button(key="uvp.whatif_apply_attr").click().run()  # no name yet: a clear error, no edit
    assert not at.exception, at.exception
    assert any("Name the attribute" in e.value for e in at.error)
    assert _metrics(at)[2] == "0"

    at.text_input(key="uvp.whatif_attr_name").input("region").run()
    value_box(at.text_input, "uvp.whatif_attr_value.region").input("East")
    at.button(key="uvp.whatif_apply_attr").click().run()
    assert not at.exception, at.exception
    assert not at.error
    before2, after2, count2 = _metrics(at)
    assert count2 == "1" and before2 == before
    assert _edits(at) == ["set region to East"]
    contributions = next(d.value for d in at.dataframe if "contribution" in d.value.columns)
    profile_features = contributions.loc[contributions["group"] == "profile", "feature"].tolist()
    assert profile_features == ["region = East"], profile_features  # the model read the new attribute
    assert after2 != before, "the profile text changed but the prediction did not move"


def test_remove_event_after_item_field_edit_registers(page: AppTest) -> None:
    at = page
    before, _, _ = _metrics(at)
    at.selectbox(key="uvp.whatif_field").set_value("price").run()
    value_box(at.text_input, "uvp.whatif_field_value.price").input("79.0")
    at.button(key="uvp.whatif_apply_field").click().run()
    assert not at.exception, at.exception
    _, after_field, count = _metrics(at)
    assert count == "1" and after_field != before

    position = value_box(at.selectbox, "uvp.whatif_remove").value  # the most recent event the model reads
    at.button(key="uvp.whatif_apply_remove").click().run()
    assert not at.exception, at.exception
    again, after_remove, count = _metrics(at)
    assert count == "2", "Remove event after an item-field edit did not register"
    assert again == before
    assert after_remove != after_field, "removing a history event did not move the prediction"
    edits = _edits(at)
    assert edits[0] == "set item price to 79.0" and edits[1].startswith(f"remove history event {position} ("), edits

    moved = value_box(at.selectbox, "uvp.whatif_move_from")
    assert moved.options[-1].startswith(f"{len(moved.options)}. ")  # places are counted from the oldest, 1-based
    at.button(key="uvp.whatif_apply_move").click().run()  # the most recent event to place 1
    assert not at.exception, at.exception
    assert _edits(at)[2] == f"move {moved.options[-1].split('. ', 1)[1]} to place 1 (1 = the oldest)", _edits(at)


def test_after_an_edit_the_history_pickers_start_afresh_and_remove_what_they_show(page: AppTest) -> None:
    """A review found Remove keeping its picked position across an edit: positions renumber, so the box went on
    showing the removed event while the next Remove took another (a purchase). Each edit list now gets new boxes."""
    at = page
    box = value_box(at.selectbox, "uvp.whatif_remove")
    picked = box.options[1]
    box.select_index(1).run()
    at.button(key="uvp.whatif_apply_remove").click().run()
    assert not at.exception, at.exception
    assert _edits(at) == [f"remove history event {at.session_state[state.WHATIF_EDITS][0].index} ({picked})"]
    fresh = value_box(at.selectbox, "uvp.whatif_remove")
    assert fresh.key != box.key and fresh.index == 0
    assert value_box(at.selectbox, "uvp.whatif_move_from").key.endswith(fresh.key.rsplit(".", 1)[1])
    shown = fresh.options[0]
    at.button(key="uvp.whatif_apply_remove").click().run()
    assert not at.exception, at.exception
    assert _edits(at)[1].endswith(f" ({shown})"), "Remove took another event than the one its box showed"


def test_the_edits_are_kept_in_the_page_link_and_a_reload_reopens_them(page: AppTest) -> None:
    """A reload used to lose every edit (session state ends with the tab's connection); the edits now live
    in the URL too. AppTest runs app.py (where the URL is written and read) on its first run only."""
    at = page
    dataset_id, model_id = at.session_state[state.ACTIVE_DATASET], at.session_state[state.ACTIVE_MODEL]
    at.selectbox(key="uvp.whatif_field").set_value("price").run()
    value_box(at.text_input, "uvp.whatif_field_value.price").input("79.0")
    at.button(key="uvp.whatif_apply_field").click().run()
    at.button(key="uvp.whatif_apply_remove").click().run()
    assert not at.exception, at.exception
    edits, (before, after, count) = _edits(at), _metrics(at)
    assert count == "2" and any("kept in this page's link" in c.value for c in at.caption)

    writer = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)  # the session's state, written into its URL
    for key in (state.ACTIVE_DATASET, state.ACTIVE_MODEL, state.WHATIF_PAIR, state.WHATIF_EDITS):
        writer.session_state[key] = at.session_state[key]
    writer.run()
    assert not writer.exception, writer.exception
    link = writer.query_params["whatif"]
    link = link[0] if isinstance(link, list) else link
    assert json.loads(link)["edits"][0] == {"op": "set_item_field", "name": "price", "value": 79.0}

    reloaded = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)  # a fresh session opened on that URL
    reloaded.query_params.update({"dataset": dataset_id, "model": model_id, "whatif": link})
    reloaded.run()
    reloaded.switch_page("pages/6_What_if.py").run()
    assert not reloaded.exception, reloaded.exception
    assert _edits(reloaded) == edits and _metrics(reloaded) == (before, after, "2")


def test_a_link_whose_edits_no_longer_apply_opens_without_them(page: AppTest) -> None:
    at = page
    dataset_id, model_id = at.session_state[state.ACTIVE_DATASET], at.session_state[state.ACTIVE_MODEL]
    user_id, item_id = at.selectbox(key=state.EXPLAIN_USER).value, at.selectbox(key="uvp.whatif_item").value
    stale = {"dataset": dataset_id, "user": user_id, "item": item_id, "edits": [{"op": "move_event", "source": 999, "target": 0}]}
    reloaded = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    reloaded.query_params.update({"dataset": dataset_id, "model": model_id, "user": user_id, "whatif": json.dumps(stale)})
    reloaded.run()
    reloaded.switch_page("pages/6_What_if.py").run()
    assert not reloaded.exception, reloaded.exception
    assert any("no longer apply" in w.value for w in reloaded.warning)
    assert _metrics(reloaded)[2] == "0"


def test_the_item_explained_on_the_explain_page_opens_here(tmp_path, monkeypatch, no_users_dataset, no_users_model) -> None:
    """Going from Explain to What-if used to drop the explained item (the picker opened on the user's top item)."""
    first = open_page(tmp_path / "ws", monkeypatch, no_users_dataset, no_users_model, "no users")
    user_id = first.selectbox(key=state.EXPLAIN_USER).value
    item_id = next(i for i in no_users_dataset.items["item_id"].astype(str) if i != first.selectbox(key=state.WHATIF_ITEM).value)
    at = AppTest.from_file(str(REPO / "pages" / "6_What_if.py"), default_timeout=120)
    for key in (state.ACTIVE_MODEL, state.ACTIVE_DATASET):
        at.session_state[key] = first.session_state[key]
    at.session_state[state.EXPLAIN_USER] = at.session_state[state.EXPLAIN_ITEM_USER] = user_id
    at.session_state[state.EXPLAIN_ITEM] = item_id
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.WHATIF_ITEM).value == item_id


def test_a_price_that_is_not_a_number_is_refused(page: AppTest) -> None:
    at = page
    at.selectbox(key="uvp.whatif_field").set_value("price").run()
    value_box(at.text_input, "uvp.whatif_field_value.price").input("abc")
    at.button(key="uvp.whatif_apply_field").click().run()
    assert not at.exception, at.exception
    assert any("price must be a number" in e.value for e in at.error) and _metrics(at)[2] == "0"
    value_box(at.text_input, "uvp.whatif_field_value.price").input("-5")  # a browser audit: applied without a word
    at.button(key="uvp.whatif_apply_field").click().run()
    assert any("price must be 0 or more" in e.value for e in at.error) and _metrics(at)[2] == "0"
    value_box(at.text_input, "uvp.whatif_field_value.price").input("1000000000")  # accepted, with a note
    at.button(key="uvp.whatif_apply_field").click().run()
    assert _metrics(at)[2] == "1" and any("lies outside the data's range" in c.value for c in at.caption)


def test_an_edit_that_changes_nothing_is_not_recorded(page: AppTest) -> None:
    """Applying an item field at its current value used to add a do-nothing line to the edit log."""
    at = page
    at.selectbox(key="uvp.whatif_field").set_value("price").run()
    at.button(key="uvp.whatif_apply_field").click().run()  # the box holds the item's own price
    assert not at.exception, at.exception
    assert any(i.value.startswith("Nothing to change: set item price to") for i in at.info)
    assert _metrics(at)[2] == "0"
    moved = value_box(at.selectbox, "uvp.whatif_move_to")
    moved.set_value(value_box(at.selectbox, "uvp.whatif_move_from").value).run()  # an event to its own place
    at.button(key="uvp.whatif_apply_move").click().run()
    assert _metrics(at)[2] == "0"


def test_cohort_what_if_without_item_categories_offers_no_category_edit(tmp_path, monkeypatch, rating_dataset, tiny_bert_dir) -> None:
    """A purchase log's items have no category: the cohort form used to offer "one more event in a category" with
    "(none)" and crash (KeyError) when run. The attribute edit also shows each user's value before it."""
    dataset = Dataset(events=rating_dataset.events, items=rating_dataset.items.drop(columns=["category"]),
                      users=rating_dataset.users, name="no categories")  # fmt: skip
    torch.set_num_threads(1)
    model = train(dataset, TrainConfig(epochs=1, batch_size=64), encoder_dir=tiny_bert_dir)
    at = open_page(tmp_path / "ws", monkeypatch, dataset, model, "no categories")
    edit = at.radio(key="uvp.cohort_edit")
    assert list(edit.options) == ["attribute → value", "drop the last N events"] and edit.value == "attribute → value"
    attribute = at.selectbox(key="uvp.cohort_set_attr")
    at.text_input(key="uvp.cohort_set_value").input(str(rating_dataset.users[attribute.value].iloc[0]))
    next(b for b in at.button if b.label == "Run the cohort what-if").click().run()
    assert not at.exception, at.exception
    frame = next(d.value for d in at.dataframe if "delta" in d.value.columns)
    assert f"{attribute.value} before" in frame.columns and len(frame) == rating_dataset.users["user_id"].nunique()
    assert any(t.value.startswith("Edit: set ") and f"all users: {len(frame)} users" in t.value for t in at.text)
    assert not at.warning  # a value of the data: no caution
    at.text_input(key="uvp.cohort_set_value").input("gold")  # a value the model never saw (an audit's +0.75 read as real)
    next(b for b in at.button if b.label == "Run the cohort what-if").click().run()
    assert any(w.value.startswith(f"gold is not a value of {attribute.value} in this dataset") and "removing" in w.value
               for w in at.warning)  # fmt: skip
    at.selectbox(key="uvp.cohort_attr").set_value(attribute.value)  # a value no user has ("germany"): say which they have
    at.text_input(key="uvp.cohort_attr_value").input("no such " + str(rating_dataset.users[attribute.value].iloc[0]))
    next(b for b in at.button if b.label == "Run the cohort what-if").click().run()
    assert any(i.value == "No user in this cohort." for i in at.info)
    assert any(t.value.startswith(f"{attribute.value}: values here include ") for t in at.text)
