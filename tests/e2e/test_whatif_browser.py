"""What-if in a real browser (issue #5): "Remove event" after an item-field edit registers, and a reload keeps both.

A tiny model trained on the synthetic ratings is registered in the server's workspace before the
analyst opens the app (no training in the browser). Screenshots go to test-artifacts/e2e/whatif-*.png.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_remove_event_after_item_field_edit(tiny_ratings_open) -> None:
    a, _ = tiny_ratings_open
    expect, page = a.expect, a.page
    a.goto("What if", "What-if")
    expect(page.get_by_role("heading", name="One user")).to_be_visible()
    edits = page.locator(
        '[data-testid="stMetric"]',
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^Edits")),
    )
    before = a.metric("Prediction before")
    page.get_by_role("tab", name="Item field").click()
    a.choose("Field", "price")
    value = page.locator('input[aria-label="New value"]:visible').first
    value.fill("79")
    value.press("Tab")
    a.settle()
    page.get_by_role("button", name="Apply item field").click()
    expect(edits.locator('[data-testid="stMetricValue"]')).to_have_text("1")
    a.settle()
    after_field = a.metric("Prediction after the edits")
    a.check("whatif-01-item-field")

    page.get_by_role("tab", name="Remove event").click()
    page.get_by_role("button", name="Remove event").click()
    expect(edits.locator('[data-testid="stMetricValue"]')).to_have_text("2")
    a.settle()
    assert a.metric("Prediction before") == before
    # Whether one removed event moves this tiny model's prediction at 4 decimals depends on its training;
    # that it does move is checked with a sensitive model in tests/pages/test_whatif_page.py. Here: the
    # browser registers the second edit (count above, both edits listed below) and shows a prediction.
    assert re.fullmatch(r"-?\d+\.\d{4}", a.metric("Prediction after the edits")), after_field
    cells = page.locator(
        '[role="gridcell"]', has_text=re.compile(r"^(set item price to 79\.0|remove history event \d+ \(.+\))$")
    )
    expect(cells).to_have_count(2)  # the edits table (a canvas grid: its cells are in the DOM, not visible)
    a.check("whatif-02-removed")
    after_remove = a.metric("Prediction after the edits")

    assert "whatif=" in page.url, page.url  # the edits are kept in the link: a reload reopens them
    page.reload()
    expect(page.get_by_role("heading", name="One user")).to_be_visible()
    a.settle()
    expect(edits.locator('[data-testid="stMetricValue"]')).to_have_text("2")
    expect(cells).to_have_count(2)
    assert (a.metric("Prediction before"), a.metric("Prediction after the edits")) == (before, after_remove)
    a.check("whatif-02b-reloaded")


def test_value_box_starts_from_the_new_users_value(tiny_ratings_open, rating_dataset) -> None:
    a, _ = tiny_ratings_open
    expect, page = a.expect, a.page
    a.goto("What if", "What-if")
    expect(page.get_by_role("heading", name="One user")).to_be_visible()
    a.choose("Attribute", "region")
    regions = rating_dataset.users.set_index("user_id")["region"]
    users = a.options("User")
    first = page.get_by_role("combobox", name="User", exact=True).first.input_value()
    other = next(u for u in users if u in regions.index and regions[u] != regions[first])
    a.choose("New value", regions[other])  # a value typed in for the first user
    a.choose("User", other)
    a.choose("User", first)
    expect(page.get_by_role("combobox", name="New value", exact=True).first).to_have_value(regions[first])
    a.check("whatif-03-value-reset")
