"""Explain a user: pick a user, see their profile, history and top items, and why the model values an item."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from uvp_core import export
from uvp_core.explain import (
    CAPPED_NOTE,
    ExplainConfig,
    capped_at,
    compare_explanations,
    contributions_frame,
    figures,
    group_importance,
    pair_record,
    tokens,
    whatif,
)
from uvp_core.explain.features import GROUP_LABELS, uniform_sample_note
from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.set_page_config(page_title="UVP · Explain a user", layout="wide")
st.title("Explain a user")

ws = state.workspace()
context = state.explain_context_or_stop(ws)
root, model_id, dataset_id = context.root, context.model_id, context.dataset_id
model, dataset, users = context.model, context.dataset, context.users

# --- pick a user -------------------------------------------------------------------------------------
st.header("User")
query = st.text_input("Search users by id or attribute", key="uvp.explain_query",
                      help="Words separated by spaces must all match (premium North): each one part of a user id, or a "
                           "whole attribute value or word (male does not match female).")  # fmt: skip
found = whatif.search_users(users, query, keep=st.session_state.get(state.EXPLAIN_USER))  # a linked user stays listed
if found.empty:
    st.info("No user matches every word of this search: each word must be part of a user id, or a whole attribute "
            "value or word.")  # fmt: skip
    st.stop()
user_ids = found["user_id"].tolist()
state.pick_listed_user(users["user_id"].tolist(), user_ids, dataset_id)
user_id = st.selectbox("User", user_ids, key=state.EXPLAIN_USER)
if listed := whatif.listed_note(found, len(users), query):
    st.caption(listed)
if cold := whatif.cold_user_note(users, user_id):
    st.info(state.plain_markdown(cold))
left, right = st.columns([1, 2])
left.subheader("Profile")
row = users.loc[users["user_id"] == user_id]
left.dataframe(row.drop(columns=["events", "segment"]).T.rename(columns=lambda _: "value").astype(str))  # the data's attributes
left.caption(whatif.activity_note(int(row["events"].iloc[0])))
inputs = model.pair_inputs(dataset, user_id, "")  # the history is the same for every candidate item
right.subheader(f"History the model reads (most recent {model.history_k})")
right.dataframe(whatif.history_table(inputs, model.history_k, model.late_kinds), hide_index=True)
if model.late_kinds:
    right.caption(f"Views fill only the places the user's other events leave free among the {model.history_k}; "
                  "the others, and older events, count in the history length.")  # fmt: skip
if same_time := whatif.same_time_note(dataset.events, inputs, model.history_k, model.late_kinds):
    right.caption(state.plain_markdown(same_time))
if inputs.time is not None:
    right.caption(f"Predicted as of {pd.Timestamp(inputs.time):%Y-%m-%d %H:%M} UTC, the time of the latest event in the data: "
                  "the explanation's \"… days before\" count back from then.")  # fmt: skip

# --- top items ---------------------------------------------------------------------------------------
st.header("Top predicted items")
k = st.slider("How many", 3, 30, key=state.setting("uvp.explain_k"))
top = state.top_items(root, model_id, dataset_id, user_id, k)
widgets.table(top)
st.caption("Items the user has already interacted with are left out of this list; the item picker below lists them too.")
if scale := figures.probability_note(model):
    st.caption(state.plain_markdown(scale))
cap = capped_at(model, float(top["score"].max())) if len(top) else None
if cap is not None and (top["score"] == cap).sum() > 1:
    st.caption(f"Predictions are capped at the end of the rating scale ({cap:g}); the items shown at {cap:g} are ranked "
               "by the model's score before the cap.")  # fmt: skip
ranked = top["item_id"].astype(str).tolist()
candidates = whatif.catalogue(dataset, first=ranked)  # also items the user already knows
state.default_explain_item(user_id, candidates)
item_label = state.item_label(root, dataset_id)
item_id = st.selectbox("Item to explain (top predicted first, then the whole catalogue)", candidates, format_func=item_label,
                       key=state.EXPLAIN_ITEM)  # fmt: skip
if item_id not in ranked and whatif.has_events(dataset, user_id, item_id):
    st.caption("This user already has events on this item; the prediction is as of the latest event in the data, and "
               "the history it reads may hold them.")  # fmt: skip

# --- the explanation ---------------------------------------------------------------------------------
st.header("Why this prediction")
attributes = widgets.background_picker()
item_fields = widgets.item_background_picker()
if uniform := uniform_sample_note(state.explain_background(root, model_id, dataset_id, attributes, item_fields)):
    st.caption(state.plain_markdown(uniform))
history = widgets.history_unit_picker()
exp = state.pair_explanation(root, model_id, dataset_id, user_id, item_id, attributes, history, item_fields)
a, b, c = st.columns(3)
a.metric("Prediction", f"{exp.prediction:.4f}")
b.metric("Base value (every feature masked)", f"{float(exp.base_values):.4f}")
c.metric("Sum of contributions", f"{float(exp.values.sum()):+.4f}")
st.text(f"base value {float(exp.base_values):.4f} + contributions {float(exp.values.sum()):+.4f} = {exp.prediction:.4f} "
        f"({exp.algorithm} SHAP over {len(exp.values)} features, {exp.evaluations:,} model evaluations)")  # fmt: skip
st.plotly_chart(figures.waterfall(exp, top=12, x_title=figures.output_title(model)), key="waterfall")
if not exp.known_user:
    st.caption(f"{state.plain_markdown(user_id)} was not in the model's training data: the model has no learned bias for "
               "this user and predicts from their profile, history and the item alone, as for a new user.")  # fmt: skip
if (cap := capped_at(model, exp.prediction)) is not None:
    st.caption(CAPPED_NOTE.format(cap=cap))
if shared := whatif.shared_credit_note(model, exp):
    st.caption(shared)
contributions = contributions_frame(exp)
st.dataframe(contributions, hide_index=True, key="contributions", column_config=widgets.four_decimals(contributions))
left, right = st.columns(2)
with left:  # the JSON `python -m uvp_core explain` writes for the same choices
    widgets.json_download(pair_record(exp, user_id, item_id, model.target, background=attributes, item_fields=item_fields,
                                        history=history), export.file_name("explanation", user_id, item_id, suffix=".json"),
                            "dl-explanation")  # fmt: skip
with right:
    widgets.csv_download(contributions, export.file_name("contributions", user_id, item_id, suffix=".csv"), "dl-contributions")
typical = [name for name, mode in (("a user attribute", attributes == "mode"), ("an item field", item_fields == "mode")) if mode]
if typical:
    st.caption(f"{' or '.join(typical).capitalize()} whose value is the one it is masked to (the dataset's most common value "
               "or median) gets exactly 0: against a typical profile and item, the typical value changes nothing. Choose "
               "another background above (\"a sample of 8 users\", or \"left out\") to credit it.")  # fmt: skip
left, right = st.columns(2)
left.plotly_chart(figures.history_timeline(exp, model.pair_inputs(dataset, user_id, item_id), figures.output_title(model)), key="timeline")
if (exp.groups == "item").any():
    right.plotly_chart(figures.item_fields(exp, figures.output_title(model)), key="item_fields")
else:
    right.caption("The candidate item has no fields to explain: this dataset has no items table.")

# --- inside one text: tokens --------------------------------------------------------------------------
st.header("Inside a text: which words")
st.caption("Token-level SHAP (shap's text masker, partition algorithm): each masked token is replaced by the "
           "encoder's mask token, the text re-encoded and the pair re-scored. Most telling for a fine-tuned model.")  # fmt: skip
texts = [f for f in tokens.TEXT_FIELDS if f != "profile" or model.space_.user_columns]  # no users table: no profile to read
field = st.selectbox("Text", texts, format_func=tokens.TEXT_FIELDS.get, key="uvp.explain_token_field")
if st.button("Explain the words", key="uvp.explain_tokens"):
    st.session_state[state.TOKEN_REQUEST] = (model_id, dataset_id, user_id, item_id, field)
if st.session_state.get(state.TOKEN_REQUEST) == (model_id, dataset_id, user_id, item_id, field):
    words = state.token_explanation(root, model_id, dataset_id, user_id, item_id, field)
    st.text(f"base value {float(words.base_values):.4f} + token contributions {float(words.values.sum()):+.4f} "
            f"= {words.prediction:.4f} (all tokens masked → this text)")  # fmt: skip
    st.caption("This base value is the prediction with every word of this one text masked and the rest of the input as "
               "it is, so it differs from the base value above, where every feature is masked.")  # fmt: skip
    if unmasked := tokens.unmasked_note(model, field):
        st.caption(state.plain_markdown(unmasked))
    table = tokens.word_frame(words)  # a word's tokens ("62", ".", "94") summed: SHAP values add up
    st.plotly_chart(figures.token_bars(table, top=20, unit="words"), key="token_bars")
    st.dataframe(table, hide_index=True, key="token_table", column_config=widgets.four_decimals(table))

# --- compare two items -------------------------------------------------------------------------------
st.header("Compare two items")
others = [i for i in candidates if i != item_id]
if others:
    second = st.selectbox("Second item", others, format_func=item_label, key="uvp.explain_second")
    other = state.pair_explanation(root, model_id, dataset_id, user_id, second, attributes, history, item_fields)
    st.text(f"first item {item_label(item_id)}: {exp.prediction:.4f} · second item {item_label(second)}: {other.prediction:.4f} · "
            f"difference {exp.prediction - other.prediction:+.4f} (the sum of the differences below)")  # fmt: skip
    if cap is not None and capped_at(model, other.prediction) == cap:  # cap: where the first prediction sits (above)
        st.info("Both predictions are capped at the same end of the rating scale, so the difference is 0 whatever the "
                "features say; the items above are still ranked by the model's score before the cap.")  # fmt: skip
    comparison = compare_explanations(exp, other)
    st.plotly_chart(figures.compare_items(comparison), key="compare")
    st.dataframe(comparison, hide_index=True, key="compare_table", column_config=widgets.four_decimals(comparison))

# --- global and by segment ---------------------------------------------------------------------------
st.header("Global and by segment")
st.caption("Mean |SHAP| by feature group over a sample of users and each one's top item, overall and for new users "
           f"(at most {whatif.NEW_USER_EVENTS} events) and active ones.")  # fmt: skip
n_users = st.number_input("Users in the sample", 4, 200, key=state.setting("uvp.explain_sample"))
if st.button("Compute group importance", key="uvp.explain_global"):
    progress = st.progress(0.0, text="Finding each user's top item…")
    pairs = whatif.top_item_pairs(users, int(n_users), lambda user: state.top_items(root, model_id, dataset_id, user, 1)["item_id"].astype(str).iloc[0],
                                  progress=lambda done, total: progress.progress(done / total / 2, text=f"Found the top item of {done} of {total} users"))  # fmt: skip
    table = group_importance(model, dataset, pairs, "segment", config=ExplainConfig(permutations=4),
                             progress=lambda done, total: progress.progress(0.5 + done / total / 2, text=f"Explained {done} of {total}"))  # fmt: skip
    st.session_state[state.GROUP_TABLE] = ((model_id, dataset_id, int(n_users)), table)  # kept while other widgets change
kept = st.session_state.get(state.GROUP_TABLE)
if kept and kept[0] == (model_id, dataset_id, int(n_users)):
    st.dataframe(kept[1].assign(group=kept[1]["group"].map(GROUP_LABELS).fillna(kept[1]["group"])), hide_index=True,
                 key="group_table")  # the chart's group names  # fmt: skip
    st.plotly_chart(figures.group_importance(kept[1]), key="group_figure")
    if missing := whatif.segments_left_out(users, kept[1]["segment"]):
        st.caption(state.plain_markdown(missing))
elif kept:
    st.caption("The last result was for another model, dataset or sample size: compute it again.")
