"""Cold start & long tail page: accuracy against history length and item popularity, top-K and exposure."""

from __future__ import annotations

import streamlit as st

from uvp_core import diagnostic_figures as figures
from uvp_core.diagnostics import cold_start, long_tail, metrics, ranking, report, segments
from uvp_ui import state, widgets

state.ensure_navigation()  # a link opened on a fresh server: run through app.py

st.set_page_config(page_title="UVP · Cold start & long tail", layout="wide")
st.title("Cold start & long tail")

ws = state.workspace()
root = str(ws.root.resolve())
choice, page = state.evaluation_or_stop(ws)

frame, task, evalset = page.frame, page.task, page.evalset
boot = metrics.Bootstrap()
metric_choices = list(metrics.metric_names(task))
dataset = state.load_dataset(root, choice.dataset_id)


# --- cold start -------------------------------------------------------------------------------------
st.header("Cold start")
st.text(
    "History length = the user's events before the prediction time; item training count = the item's events before "
    "the cutoff. The bias baseline (user + item bias, fitted on the training events) shows what the text buys."
)
metric = st.selectbox("Metric", metric_choices, key=state.setting("uvp.cold_metric"))
curves = state.memo(choice, "cold-start", (), lambda: cold_start.cold_start_curves(frame, task, boot))
users, items = curves["users"], curves["items"]
left, right = st.columns(2)
left.plotly_chart(figures.cold_start_curve(users, metric, bucket="history_bucket", title="Users: by history length",
                                           x_title="the user's events before the prediction"), key="cold-users")  # fmt: skip
right.plotly_chart(figures.cold_start_curve(items, metric, bucket="item_count_bucket", title="Items: by training count",
                                            x_title="the item's events before the cutoff"), key="cold-items")  # fmt: skip
for side, table, bucket in ((left, users, "history_bucket"), (right, items, "item_count_bucket")):
    if note := cold_start.undefined_auc_note(table, metric, bucket):
        side.caption(state.plain_markdown(note))
st.caption(f"Hollow markers: buckets with {segments.trust_rule(30, task)}, too few to trust (the count is under each bucket).")
with st.expander("Tables", expanded=False):
    widgets.table(users)
    widgets.csv_download(users, "cold_start_users.csv", "dl-cold-users")
    widgets.table(items)
    widgets.csv_download(items, "cold_start_items.csv", "dl-cold-items")
st.subheader("New users and new items")
st.caption("Here a new user has no event of any kind before this evaluation set's cutoff, and a new item no event "
           "before it. The model card's \"validation examples of users unseen in training\" counts examples of users "
           "without a training example (for a rating model: without a rating), so it is larger: a user who only browsed "
           "before is returning here but has no ID row in the model.")  # fmt: skip
new = state.memo(choice, "new-entities", (), lambda: cold_start.new_entity_table(frame, task, boot))
widgets.table(new)
widgets.csv_download(new, "new_users_items.csv", "dl-new")

# --- long tail ----------------------------------------------------------------------------------------
st.header("Long tail")
left, right = st.columns(2)
head = left.number_input("Head: share of interactions held by the most popular items", 0.01, 0.99, step=0.05, key=state.setting("uvp.tail_head"))
tail = right.number_input("Tail: share of interactions held by the least popular items", 0.0, 0.99, step=0.05, key=state.setting("uvp.tail_tail"))
try:
    cuts = long_tail.TailCuts(head=float(head), tail=float(tail))
except ValueError as exc:
    st.error("Invalid cut points:")
    st.text(str(exc))
    st.stop()
popularity = state.memo(choice, "popularity", (cuts,), lambda: long_tail.popularity_table(evalset.train_events, long_tail.catalogue_items(dataset), cuts))
bucketed = frame.assign(popularity_bucket=long_tail.item_buckets(frame["item_id"], popularity))
st.plotly_chart(figures.popularity_curve(report.popularity_curve_points(popularity)), key="popularity")
st.text(long_tail.describe(cuts))
widgets.table(long_tail.bucket_sizes(popularity))
buckets = state.memo(choice, "tail-buckets", (cuts,), lambda: long_tail.bucket_metrics(bucketed, task, boot))
st.plotly_chart(figures.metric_by_segment(buckets, metric, segment="popularity_bucket", title="Accuracy per popularity bucket",
                                          x_title="popularity bucket of the evaluated item"), key="bucket-metrics")  # fmt: skip
if note := cold_start.undefined_auc_note(buckets, metric, "popularity_bucket"):
    st.caption(state.plain_markdown(note))
widgets.table(buckets)
widgets.csv_download(buckets, "long_tail_buckets.csv", "dl-buckets")
with st.expander("Most popular items"):
    widgets.table(report.head_items(popularity, dataset.items))

# --- top-K ------------------------------------------------------------------------------------------------
st.header("Top-K ranking and exposure")
a, b, c, d = st.columns(4)
k = int(a.number_input("K", 1, 100, key=state.setting("uvp.rank_k")))
mode = b.selectbox("Candidates", ranking.CANDIDATE_MODES, key=state.setting("uvp.rank_mode"),
                   help="full: every item the user never interacted with; sampled: N random ones; auto: full when small")
negatives = int(c.number_input("Sampled negatives", 10, 1000, key=state.setting("uvp.rank_negatives")))
max_users = int(d.number_input("Users (sample)", 10, 5000, key=state.setting("uvp.rank_users")))
candidates, info = state.candidates(choice, mode, negatives, max_users)
if not len(candidates) or not candidates["relevant"].any():
    st.info("No evaluation user has a relevant held-out item, so top-K metrics cannot be computed.")
    st.stop()
rank_key = (mode, negatives, max_users, k)
per_user = state.memo(choice, "per-user-ranking", rank_key, lambda: ranking.user_ranking_metrics(candidates, k))
ranks = state.memo(choice, "ranking", rank_key, lambda: ranking.ranking_metrics(per_user, k, boot))
st.text(f"Candidate set: {info['mode']} · {info['users']:,} users · {info.get('candidates', 0):,} scored pairs "
        f"(users with a relevant held-out item, at most {max_users:,} sampled)")  # fmt: skip
left, right = st.columns(2)
left.plotly_chart(figures.ranking_metrics(ranks), key="ranking")
widgets.table(ranks, where=left)
lists = state.memo(choice, "lists", rank_key, lambda: ranking.top_k_lists(candidates, k))
extra = state.memo(choice, "beyond", rank_key, lambda: ranking.beyond_accuracy(lists, evalset.train_events, long_tail.catalogue_items(dataset)))
widgets.csv_download(ranks, "ranking.csv", "dl-ranking")
widgets.metric_table(extra, ranking.BEYOND_ACCURACY_HELP)  # full width: the meanings are long
exposure = long_tail.exposure_table(lists, popularity)
left, right = st.columns(2)
left.plotly_chart(figures.exposure_shares(exposure), key="exposure")
widgets.table(exposure, where=left)
bias_users = state.memo(choice, "popularity-bias", (*rank_key, cuts), lambda: long_tail.user_popularity_bias(lists, evalset.train_events, popularity))
right.plotly_chart(figures.popularity_bias(bias_users), key="popularity-bias")
widgets.metric_table(long_tail.popularity_bias_summary(bias_users), long_tail.POPULARITY_BIAS_HELP)
widgets.csv_download(bias_users, "popularity_bias_users.csv", "dl-bias")
