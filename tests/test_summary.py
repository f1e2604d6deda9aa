"""Dataset summaries checked against values counted by hand on a tiny dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from uvp_core import figures, summary
from uvp_core.data.contract import Dataset


@pytest.fixture
def tiny() -> Dataset:
    """u1 has 3 events, u2 has 1; item a has 3 events, b has 1."""
    stamps = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-09", "2024-02-01"], utc=True)
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2"],
            "item_id": ["a", "a", "b", "a"],
            "timestamp": stamps.astype("datetime64[ms, UTC]"),
            "event_type": ["view", "purchase", "view", "click"],
            "rating": [None, 4.0, None, None],
        }
    )
    return Dataset(events=events, items=pd.DataFrame({"item_id": ["a", "b", "c"]}))


def test_overview_counts_and_density(tiny: Dataset) -> None:
    result = summary.overview(tiny)
    assert (result.n_events, result.n_users, result.n_items) == (4, 2, 2)
    assert result.density == pytest.approx(3 / 4)  # pairs (u1,a) (u1,b) (u2,a) of 2x2
    assert result.n_catalogue_items == 3 and result.n_profiled_users == 0
    assert result.label_roles == ("rating", "event_type")
    assert summary.table_counts_note(result) == "Users and items are counted by their events; the items table lists 3."
    assert summary.table_counts_note(summary.overview(Dataset(events=tiny.events))) == ""  # no other tables: nothing to say


def test_events_over_time_counts_per_day_and_type(tiny: Dataset) -> None:
    table = summary.events_over_time(tiny.events)
    assert table["events"].sum() == 4
    assert set(table["series"]) == {"view", "purchase", "click"}
    first_day = table[table["period"] == pd.Timestamp("2024-01-01")]
    assert first_day.to_dict("records") == [{"period": pd.Timestamp("2024-01-01"), "series": "view", "events": 1}]


def test_label_distribution_orders_funnel_and_skips_missing(tiny: Dataset) -> None:
    types = summary.label_distribution(tiny.events, "event_type")
    assert list(types["value"]) == ["view", "click", "purchase"]
    assert list(types["events"]) == [2, 1, 1]
    ratings = summary.label_distribution(tiny.events, "rating")
    assert ratings.to_dict("records") == [{"value": 4.0, "events": 1, "share": 1.0}]
    with pytest.raises(KeyError, match="label"):
        summary.label_distribution(tiny.events, "label")


def test_item_popularity_and_head_share(tiny: Dataset) -> None:
    table = summary.item_popularity(tiny.events)
    assert list(table["item_id"]) == ["a", "b"]
    assert list(table["cumulative_share"]) == [0.75, 1.0]
    assert summary.head_share(table, 0.5) == 0.75


def test_history_length_buckets(tiny: Dataset) -> None:
    table = summary.history_length_distribution(tiny.events).set_index("history_length")
    assert table.loc["1", "users"] == 1 and table.loc["2–3", "users"] == 1
    assert table["users"].sum() == 2 and list(table.index)[-1] == "101+"


def test_figures_build_from_summaries(tiny: Dataset) -> None:
    assert figures.events_over_time(summary.events_over_time(tiny.events)).data
    weekly = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-15"]))
    assert figures.period_name(weekly) == "week" and figures.period_name(weekly.iloc[:1]) == "day"
    assert figures.period_name(pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))) == "month"
    ratings = figures.label_distribution(summary.label_distribution(tiny.events, "rating"), "rating")
    assert list(ratings.data[0].x) == ["4"]  # a rating reads 4 on the axis, not 4.0
    assert len(figures.popularity_curve(summary.item_popularity(tiny.events)).data) == 2
    assert figures.history_lengths(summary.history_length_distribution(tiny.events)).data


def test_preview_blanks_missing_text_and_keeps_numbers() -> None:
    import pandas as pd

    from uvp_core.summary import preview

    frame = pd.DataFrame({"title": ["a", None], "price": [1.5, float("nan")], "n": [1, 2]})
    shown = preview(frame, rows=5)
    assert list(shown["title"]) == ["a", ""] and shown["price"].isna().tolist() == [False, True]
    assert frame["title"].isna().tolist() == [False, True]  # the data itself is unchanged


def test_training_curves_name_their_validation_metric() -> None:
    import pandas as pd

    from uvp_core import figures, model_registry

    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.9, 0.8], "val_metric": [0.87, 0.86]})
    fig = figures.training_curves(history, model_registry.validation_metric_name("rating"))
    assert fig.data[1].name == "validation RMSE" and fig.layout.yaxis2.title.text == "validation RMSE (lower is better)"
    assert model_registry.validation_metric_name("purchase") == "validation log loss"
    named = figures.training_curves(history, "validation RMSE", loss_name=model_registry.training_loss_name("rating"))
    assert named.layout.yaxis.title.text == "training loss (MSE of standardised ratings)"  # a browser audit: in what units?
    assert named.layout.yaxis.tickformat == named.layout.yaxis2.tickformat == ".4g"  # the ticks read 0.82728, 0.82898
