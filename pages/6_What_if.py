"""What-if: edit one user's attributes, history or the candidate item and re-predict; apply one edit to a cohort."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from uvp_core import export
from uvp_core.diagnostics import cohorts
from uvp_core.explain import ExplainConfig, capped_at, contributions_frame, figures, pair_record, whatif
from uvp_core.explain.features import uniform_sample_note
from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.set_page_config(page_title="UVP · What-if", layout="wide")
st.title("What-if")

ws = state.workspace()
context = state.explain_context_or_stop(ws)
root, model_id, dataset_id = context.root, context.model_id, context.dataset_id
model, dataset, users = context.model, context.dataset, context.users
attribute_background, item_background = widgets.background_picker(), widgets.item_background_picker()
background = state.explain_background(root, model_id, dataset_id, attribute_background, item_background)
if uniform := uniform_sample_note(background):
    st.caption(state.plain_markdown(uniform))
history = widgets.history_unit_picker()
catalogue = whatif.catalogue(dataset)

OTHER_VALUE = "Another value…"

# --- one user ----------------------------------------------------------------------------------------
st.header("One user")
user_ids = users["user_id"].tolist()
state.pick_listed_user(user_ids, user_ids, dataset_id)  # every user of the table is listed here
left, right = st.columns(2)
user_id = left.selectbox("User", user_ids, key=state.EXPLAIN_USER)
if cold := whatif.cold_user_note(users, user_id):
    left.caption(state.plain_markdown(cold))
choices = whatif.catalogue(dataset, first=state.top_items(root, model_id, dataset_id, user_id, 10)["item_id"].astype(str).tolist())
item_label = state.item_label(root, dataset_id)
state.whatif_restored_item(dataset_id, user_id, choices)  # a reloaded link reopens its item; else the one explained
item_id = right.selectbox("Candidate item (top predicted first)", choices, format_func=item_label, key=state.WHATIF_ITEM)
if st.session_state.get(state.WHATIF_PAIR) != (dataset_id, user_id, item_id):  # a new pair starts without edits
    st.session_state[state.WHATIF_PAIR] = (dataset_id, user_id, item_id)
    st.session_state[state.WHATIF_EDITS] = state.whatif_restored(model, dataset, dataset_id, user_id, item_id)  # or a link's
    st.session_state[state.WHATIF_ROUND] = st.session_state.get(state.WHATIF_ROUND, 0) + 1
    state.count_whatif_version()
    state.forget_widgets("uvp.whatif_attr_value.", "uvp.whatif_attr_other.", "uvp.whatif_field_value.")  # the old pair's boxes
box_round = st.session_state[state.WHATIF_ROUND]  # in the value boxes' keys: new boxes, holding this pair's values
edits: list = st.session_state[state.WHATIF_EDITS]


def add_edit(edit) -> None:
    """Record an edit and redraw, so every tab lists the edited history (an edit that changes nothing is not recorded)."""
    if not whatif.changes(current, edit):
        st.info(f"Nothing to change: {edit.describe()} leaves the inputs as they are.")
        return
    edits.append(edit)
    state.count_whatif_version()
    st.rerun()

inputs = model.pair_inputs(dataset, user_id, item_id)
current = whatif.apply_edits(inputs, edits, model.history_k, model.late_kinds)  # the history as the model reads it

tabs = st.tabs(["User attribute", "Add event", "Remove event", "Reorder history", "Item field"])
attribute_names = whatif.attribute_names(model)
with tabs[0]:
    if attribute_names:
        name = st.selectbox("Attribute", attribute_names, key="uvp.whatif_attr")
    else:
        st.info(whatif.NO_USERS_NOTE)
        name = st.text_input("Attribute name", key="uvp.whatif_attr_name", placeholder="region")
    current_value = str(inputs.profile.get(name, ""))
    known = whatif.attribute_values(users, name)
    if known:  # pick one of the values in the data; another value is allowed, with a note
        options = [*known, OTHER_VALUE]
        picked = st.selectbox("New value", options, index=options.index(current_value if current_value in known else OTHER_VALUE),
                              key=f"uvp.whatif_attr_value.{name}.{box_round}")  # fmt: skip
        value = picked
        if picked == OTHER_VALUE:
            value = st.text_input("Another value", key=f"uvp.whatif_attr_other.{name}.{box_round}")
            st.caption(f"Not a value of {name} in this dataset: the model has never seen it, so read the change with care.")
    else:
        value = st.text_input("New value", value=current_value, key=f"uvp.whatif_attr_value.{name}.{box_round}")
    if st.button("Apply attribute", key="uvp.whatif_apply_attr"):
        try:
            add_edit(whatif.set_attribute(name, value, inputs.profile.get(name)))
        except ValueError as exc:
            st.error(state.plain_markdown(str(exc)))
with tabs[1]:
    added = st.selectbox("Catalogue item", catalogue, format_func=item_label, key="uvp.whatif_add_item")
    kind = st.selectbox("Event", model.kinds_, key="uvp.whatif_add_kind")
    days = st.number_input("Days before the prediction", 0.0, 3650.0, 0.0, key="uvp.whatif_add_days")
    if st.button("Add event", key="uvp.whatif_apply_add"):
        add_edit(whatif.add_event(dataset, added, kind, days, model.space_.item_columns))
table = whatif.history_table(current, model.history_k, model.late_kinds)
with tabs[2]:
    if len(table):
        position = st.selectbox("Event (most recent first)", table["position"].tolist(), key=state.history_picker_key(state.WHATIF_REMOVE),
                                format_func=lambda j: whatif.event_label(current, j))  # fmt: skip
        if st.button("Remove event", key="uvp.whatif_apply_remove"):
            add_edit(whatif.RemoveEvent(int(position), whatif.event_label(current, int(position))))
with tabs[3]:
    order = whatif.chronological(current)
    n = len(order)
    if n > 1:
        places = list(range(n))
        source = st.selectbox("Event to move", places, index=n - 1, key=state.history_picker_key(state.WHATIF_MOVE_FROM),
                              format_func=lambda p: f"{p + 1}. {whatif.event_label(current, order[p])}")  # fmt: skip
        target = st.selectbox("to place (1 = the oldest)", places, index=0, key=state.history_picker_key(state.WHATIF_MOVE_TO),
                              format_func=lambda p: f"{p + 1}" + (" (the oldest)" if p == 0 else " (the most recent)" if p == n - 1 else ""))  # fmt: skip
        st.caption("The events keep their dates: moving one gives it the date of the place it moves to, and shifts the others.")
        if st.button("Reorder", key="uvp.whatif_apply_move"):
            add_edit(whatif.MoveEvent(int(source), int(target), whatif.event_label(current, order[int(source)])))
with tabs[4]:
    fields = [c for c in model.space_.item_columns if c != "item_id"] or ["title"]
    field = st.selectbox("Field", fields, key="uvp.whatif_field")
    text = st.text_input("New value", value=str(inputs.item.get(field, "")), key=f"uvp.whatif_field_value.{field}.{box_round}")
    if st.button("Apply item field", key="uvp.whatif_apply_field"):
        try:
            add_edit(whatif.SetItemField(field, whatif.parse_value(text, inputs.item.get(field), f"item {field}",
                                                                   non_negative=field == "price")))  # the contract's rule
        except ValueError as exc:
            st.error(state.plain_markdown(str(exc)))
if st.button("Reset", key="uvp.whatif_reset"):
    edits.clear()
    state.count_whatif_version()
    st.rerun()

result = whatif.what_if(model, inputs, edits, background, config=ExplainConfig(history=history))
st.dataframe(pd.DataFrame({"edit": [e.describe() for e in edits]}), hide_index=True, key="edits")
for edit in edits:  # a price of 1e9 predicted 5.0 without a word
    if isinstance(edit, whatif.SetItemField) and dataset.items is not None and edit.name in dataset.items.columns:
        if note := whatif.outside_range_note(dataset.items[edit.name], edit.value, f"item {edit.name}"):
            st.caption(state.plain_markdown(note))
if edits:
    link = state.whatif_link() or ""
    st.caption("The edits are kept in this page's link: a reload, or the link sent to a colleague with the same workspace, reopens them."
               if len(link) <= state.WHATIF_URL_MAX else
               "These edits are too long to keep in this page's link: a reload would lose them.")  # fmt: skip
a, b, c = st.columns(3)
a.metric("Prediction before", f"{result.before:.4f}")
b.metric("Prediction after the edits", f"{result.after:.4f}",
         delta=f"{result.delta:+.4f}" if round(result.delta, 4) else None, delta_color="off")  # a move, not good or bad; no arrow for no change
c.metric("Edits", len(edits))
if scale := figures.probability_note(model):
    st.caption(state.plain_markdown(scale))
if edits and (edge := whatif.edge_note(model.task, result.before, result.after, capped_at(model, result.after))):
    st.caption(edge)
exp = result.explanation
st.text(f"base value {float(exp.base_values):.4f} + contributions {float(exp.values.sum()):+.4f} = {exp.prediction:.4f}")
st.plotly_chart(figures.waterfall(exp, top=12, title="Why the edited prediction", x_title=figures.output_title(model)), key="whatif_waterfall")
if shared := whatif.shared_credit_note(model, exp):
    st.caption(shared)
contributions = contributions_frame(exp)
st.dataframe(contributions, hide_index=True, key="whatif_contributions", column_config=widgets.four_decimals(contributions))
record = pair_record(exp, user_id, item_id, model.target, background=attribute_background, item_fields=item_background,
                     history=history, edits=[e.describe() for e in edits], prediction_before=result.before)  # fmt: skip
widgets.json_download(record, export.file_name("what_if", user_id, item_id, suffix=".json"), "dl-whatif")

# --- a cohort ----------------------------------------------------------------------------------------
st.header("A cohort")
EDIT_KINDS = ("one more event in a category", "attribute → value", "drop the last N events")
categories = whatif.category_values(dataset.items)  # single categories, also from "Crime|Thriller"
edit_kinds = EDIT_KINDS if categories else EDIT_KINDS[1:]  # no item categories in this dataset: nothing to add by category
if st.session_state.get(state.COHORT_EDIT) not in edit_kinds:
    st.session_state.pop(state.COHORT_EDIT, None)
edit_kind = st.radio("Edit", edit_kinds, horizontal=True, key=state.setting(state.COHORT_EDIT))
if not categories:
    st.caption("\"One more event in a category\" needs a category column in the items table; this dataset has none.")
BY_SEGMENT = "the segment and attribute below"
all_saved = cohorts.CohortStore(ws.root).list()
saved_cohorts = {c.name: c for c in all_saved if whatif.user_level(c)}
if skipped := [c.name for c in all_saved if c.name not in saved_cohorts]:
    st.caption(f"Saved cohort{'s' if len(skipped) > 1 else ''} not offered here: {state.plain_markdown(', '.join(skipped))}. An edit applies to users, so "
               "only cohorts whose every filter is on a user attribute (user.…) can be used; a dataset without a users table "
               "has none.")  # fmt: skip
with st.form("cohort", enter_to_submit=False):  # Enter in a value box must not save a half-filled cohort
    saved_choice = st.selectbox("Users", [BY_SEGMENT, *saved_cohorts], key=state.setting("uvp.cohort_saved"),
                                format_func=lambda n: n if n == BY_SEGMENT else f"saved cohort: {n} ({saved_cohorts[n].describe()})",
                                help="Cohorts saved on the Segments page are offered when every filter is on a user attribute.")  # fmt: skip
    a, b, c = st.columns(3)
    segment = a.selectbox("Segment", whatif.SEGMENTS, format_func=partial(whatif.segment_label, users), key=state.setting("uvp.cohort_segment"))
    attributes = ["(any)", *[col for col in users.columns if col not in ("user_id", "events", "segment")]]
    attribute = b.selectbox("and attribute", attributes, key=state.setting("uvp.cohort_attr"))
    attr_value = c.text_input("equals", key=state.setting("uvp.cohort_attr_value"))
    cohort_item = st.selectbox("Candidate item for every user", catalogue, format_func=item_label, key="uvp.cohort_item")
    a, b = st.columns(2)
    if edit_kind == EDIT_KINDS[0]:
        category = a.selectbox("Category", categories, key=state.setting("uvp.cohort_category"))
        event_kind = b.selectbox("Event", model.kinds_, index=len(model.kinds_) - 1, key="uvp.cohort_kind")
    elif edit_kind == EDIT_KINDS[1]:
        if attribute_names:
            set_attr = a.selectbox("Attribute", attribute_names, key=state.setting("uvp.cohort_set_attr"))
        else:
            set_attr = a.text_input("Attribute name", key="uvp.cohort_set_attr_name", placeholder="region",
                                    help=whatif.NO_USERS_NOTE)  # fmt: skip
        set_value = b.text_input("Value", key=state.setting("uvp.cohort_set_value"))
    else:
        drop_n = a.number_input("N", 1, 50, key=state.setting("uvp.cohort_drop"))
    run = st.form_submit_button("Run the cohort what-if", type="primary")
if run:
    if saved_choice == BY_SEGMENT:
        pick = partial(whatif.cohort_users, users, segment, None if attribute == "(any)" else attribute, attr_value)
    else:
        pick = partial(whatif.saved_cohort_users, users, saved_cohorts[saved_choice])
    chosen, in_cohort = pick(), len(pick(max_users=len(users)))
    if not chosen:
        st.info("No user in this cohort.")
        if saved_choice == BY_SEGMENT and attribute != "(any)":  # values match exactly, case included ("germany")
            st.text(f"{attribute}: values here include {', '.join(cohorts.common_values(users, attribute))}")
        st.stop()
    if edit_kind == EDIT_KINDS[0]:
        edit = whatif.add_event_in_category(dataset, category, event_kind, model.space_.item_columns)
    elif edit_kind == EDIT_KINDS[1]:
        try:
            edit = whatif.set_attribute(set_attr, set_value, whatif.typical_value(users, set_attr))
        except ValueError as exc:
            st.error(state.plain_markdown(str(exc)))
            st.stop()
    else:
        edit = whatif.DropLastEvents(int(drop_n))
    with st.spinner(f"Scoring {len(chosen):,} users before and after…"):
        cohort = whatif.cohort_what_if(model, dataset, pd.DataFrame({"user_id": chosen, "item_id": cohort_item}), edit)
    who = saved_choice if saved_choice != BY_SEGMENT else segment + (f", {attribute} = {attr_value}" if attribute != "(any)" else "")
    sampled = f"a seeded sample of {len(chosen):,} of its {in_cohort:,} users" if in_cohort > len(chosen) else f"{len(chosen):,} user{'' if len(chosen) == 1 else 's'}"
    described, caution = f"Edit: {edit.describe()} · {who}: {sampled} · candidate item {item_label(cohort_item)}", None
    if edit_kind == EDIT_KINDS[1]:
        cohort = whatif.with_value_before(cohort, users, set_attr)
        caution = whatif.unseen_value_note(users, set_attr, edit.value)
    st.session_state[state.COHORT_RESULT] = ((model_id, dataset_id), described, cohort, caution)
kept = st.session_state.get(state.COHORT_RESULT)
if kept and kept[0] == (model_id, dataset_id):  # kept while other widgets change
    _, described, cohort, caution = kept
    st.text(described)
    if caution:  # an audit read "gold" (an unseen tier) +0.75 with a tight interval as a real effect
        st.warning(caution)
    summary = cohort.summary()
    a, b, c = st.columns(3)
    a.metric("Mean before", f"{summary['mean_before']:.4f}")
    b.metric("Mean after", f"{summary['mean_after']:.4f}", delta=f"{cohort.mean_shift:+.4f}", delta_color="off")  # not red for lower
    c.metric(f"{cohort.level:.0%} bootstrap interval of the shift",
             f"[{cohort.ci_low:+.4f}, {cohort.ci_high:+.4f}]" if len(cohort.frame) > 1 else "none for one user")
    st.caption("The interval resamples the users: it says how precisely this model's mean shift over such users is known, "
               "not how sure the model is of the effect it learned, nor that the edit would cause it.")
    left, right = st.columns(2)
    left.plotly_chart(figures.cohort_shift(cohort.frame, figures.output_title(model)), key="cohort_shift")
    right.plotly_chart(figures.cohort_deltas(cohort.frame, cohort.ci_low, cohort.ci_high, figures.output_title(model)), key="cohort_deltas")
    st.dataframe(cohort.frame, hide_index=True, key="cohort_frame", column_config=widgets.four_decimals(cohort.frame))
    widgets.csv_download(cohort.frame, "cohort_what_if.csv", "dl-cohort-whatif")
