"""Cohort filters, the AND mask, cohort vs rest, and the workspace cohort store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uvp_core.diagnostics import cohorts as C
from uvp_core.diagnostics.cold_start import count_bucket


def frame() -> pd.DataFrame:
    """Five evaluation rows with text, numeric, date, bool and derived columns."""
    return pd.DataFrame({
        "user.region": ["West", "West", "East", None, "West"],
        "item.price": [10.0, 30.0, 50.0, 20.0, np.nan],
        "user.signup_date": pd.to_datetime(["2024-01-01", "2024-06-01", "2023-01-01", "2024-03-01", None], utc=True),
        "new_user": [True, False, False, True, False],
        "history_bucket": count_bucket([0, 1, 5, 60, 3]),
        "item.title": ["Blue Mug", "Red Lamp", "blue chair", "Pot", "Mug stand"],
        "item.category": ["Horror|Thriller", "Horror", "Drama", None, "Crime|Thriller"],  # lists genres, as MovieLens
        "y": [1.0, 2.0, 3.0, 4.0, 5.0],
        "prediction": [1.0, 3.0, 3.0, 4.0, 8.0],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("column", "op", "value", "expected"),
    [
        ("user.region", "==", "West", [True, True, False, False, True]),
        ("user.region", "!=", "West", [False, False, True, True, False]),
        ("item.price", ">=", "30", [False, True, True, False, False]),
        ("item.price", "<", "30", [True, False, False, True, False]),
        ("user.signup_date", ">", "2024-02-01", [False, True, False, True, False]),
        ("new_user", "==", "true", [True, False, False, True, False]),
        ("history_bucket", "in", "0, 4–5", [True, False, True, False, False]),
        ("user.region", "not in", "West", [False, False, True, True, False]),
        ("item.title", "contains", "mug", [True, False, False, False, True]),
        ("item.category", "==", "Horror", [True, True, False, False, False]),  # one listed value, as Segments counts
        ("item.category", "==", "Crime|Thriller", [False, False, False, False, True]),  # or the whole value
        ("item.category", "!=", "Thriller", [False, True, True, True, False]),
        ("item.category", "in", "Drama, Crime", [False, False, True, False, True]),
        ("item.category", "not in", "Horror", [False, False, True, True, True]),
    ],
)
def test_filters(column: str, op: str, value: str, expected: list[bool]) -> None:
    assert C.filter_mask(frame(), C.CohortFilter(column, op, value)).tolist() == expected


def test_cohort_is_the_and_of_its_filters_and_rejects_bad_input() -> None:
    cohort = C.Cohort("West cheap", (C.CohortFilter("user.region", "==", "West"), C.CohortFilter("item.price", "<=", "30")))
    assert C.cohort_mask(frame(), cohort).tolist() == [True, True, False, False, False]
    assert cohort.describe() == "user.region == West AND item.price <= 30"
    with pytest.raises(ValueError):
        C.CohortFilter("user.region", "~=", "x")
    with pytest.raises(ValueError):
        C.Cohort(" ", (C.CohortFilter("user.region", "==", "x"),))
    with pytest.raises(ValueError):
        C.filter_mask(frame(), C.CohortFilter("item.price", ">", "cheap"))
    with pytest.raises(KeyError):
        C.filter_mask(frame(), C.CohortFilter("nope", "==", "x"))
    for column in ("user.region", "new_user", "history_bucket"):  # text compared as text: "> abc" matched nearly all
        with pytest.raises(ValueError, match="compares numbers and dates"):
            C.filter_mask(frame(), C.CohortFilter(column, ">", "abc"))


def test_a_cohort_naming_a_column_this_evaluation_lacks_says_so() -> None:
    """A browser audit: a cohort saved on the sample showed a red error quoting "No column 'user.region' to filter on"
    on another dataset's Segments page."""
    cohort = C.Cohort("north", (C.CohortFilter("user.region", "==", "North"),))
    assert "user.region, which this evaluation set does not have" in C.missing_columns_note(pd.DataFrame({"y": [1.0]}), cohort)
    assert C.missing_columns_note(pd.DataFrame({"user.region": ["North"]}), cohort) is None


def test_a_cohort_smaller_than_the_trust_threshold_is_flagged() -> None:
    """A browser audit compared a 10-row cohort with 380 rows and saw no caution (segments fade below 30 rows)."""
    assert "only 10 evaluation rows, fewer than the 30" in C.small_cohort_note(10, 30)
    assert C.small_cohort_note(30, 30) is None


def test_cohort_vs_rest_by_hand() -> None:
    cohort = C.Cohort("West", (C.CohortFilter("user.region", "==", "West"),))
    table = C.cohort_vs_rest(frame(), cohort, "regression").set_index("metric")
    # West rows: errors 0, 1, 3 -> MAE 4/3; rest: errors 0, 0 -> MAE 0
    assert table.loc["mae", "cohort"] == pytest.approx(4 / 3) and table.loc["mae", "rest"] == 0
    assert table.loc["mae", "difference"] == pytest.approx(4 / 3)
    assert (table.loc["mae", "n_cohort"], table.loc["mae", "n_rest"]) == (3, 2)
    with pytest.raises(ValueError):
        C.cohort_vs_rest(frame(), C.Cohort("none", (C.CohortFilter("user.region", "==", "Mars"),)), "regression")
    with pytest.raises(ValueError, match="no rest"):
        C.cohort_vs_rest(frame(), C.Cohort("all", (C.CohortFilter("y", ">", "0"),)), "regression")


def test_store_round_trip_with_unsafe_names(tmp_path) -> None:
    store = C.CohortStore(tmp_path)
    assert store.list() == []
    odd = C.Cohort("../../etc/passwd <b>", (C.CohortFilter("user.region", "==", "West"),))
    plain = C.Cohort("Buyers", (C.CohortFilter("item.price", ">", "10"), C.CohortFilter("new_user", "==", "false")))
    path = store.save(odd)
    store.save(plain)
    assert path.parent == tmp_path / "cohorts" and path.suffix == ".json"
    assert json.loads(path.read_text())["name"] == odd.name
    assert [c.name for c in store.list()] == [odd.name, "Buyers"]  # by name
    assert store.get("Buyers") == plain
    store.save(C.Cohort("Buyers", (C.CohortFilter("item.price", ">", "20"),)), replace=True)
    assert store.get("Buyers").filters[0].value == "20" and len(store.list()) == 2
    store.delete("Buyers")
    with pytest.raises(KeyError):
        store.get("Buyers")
    (tmp_path / "cohorts" / "broken.json").write_text("{not json")
    assert [c.name for c in store.list()] == [odd.name]
    assert not list((tmp_path / "cohorts").glob(".staging-*"))


def test_common_values_of_a_listing_column_are_single_values() -> None:
    """The hint shown when a cohort matches nothing names values that == can match (Horror, not Horror|Thriller)."""
    assert C.common_values(frame(), "item.category")[:2] == ["Horror", "Thriller"]
    assert C.common_values(frame(), "user.region")[0] == "West" and C.common_values(frame(), "no.such") == []


def test_saving_over_another_cohorts_name_is_refused_unless_replacing(tmp_path) -> None:
    """Cohorts are shared by the workspace: a name already taken by other filters is not silently overwritten."""
    store = C.CohortStore(tmp_path)
    west = C.Cohort("Target", (C.CohortFilter("user.region", "==", "West"),))
    store.save(west, dataset="shop events")
    assert store.origin("Target").startswith(" (on dataset 'shop events', at 20") and store.origin("Target").endswith(" UTC)")
    store.save(west, dataset="another")  # the same filters again: nothing to lose
    east = C.Cohort("Target", (C.CohortFilter("user.region", "==", "East"),))
    with pytest.raises(C.CohortExists, match=r"'Target' is already saved \(on dataset 'another'.*user.region == West.*Replace"):
        store.save(east, dataset="mine")
    assert store.get("Target") == west
    store.save(east, dataset="mine", replace=True)
    assert store.get("Target") == east and "'mine'" in store.origin("Target")
    assert store.origin("never saved") == ""
