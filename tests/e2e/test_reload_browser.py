"""A browser reload keeps the analyst's dataset, model and user (they live in the page URL too), and the
user picked on one page is the user on the next.

Session state ends with the browser tab's connection; without the URL a reload reopened the bundled
sample with the newest model, whatever the analyst had been looking at.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reload_keeps_dataset_model_and_user(tiny_ratings_open) -> None:
    a, dataset_id = tiny_ratings_open
    expect, page = a.expect, a.page
    a.goto("Explain a user")
    search = page.get_by_label("Search users by id or attribute")
    search.fill("u007")
    search.press("Enter")
    a.settle()
    user_box = page.get_by_role("combobox", name="User", exact=True).first
    expect(user_box).to_have_value("u007")
    search.fill("")
    search.press("Enter")
    a.settle()
    a.check("reload-01-before")
    assert re.search(rf"[?&]dataset={dataset_id}\b", page.url) and "user=u007" in page.url, page.url

    page.reload()
    expect(page.locator("h1", has_text="Explain a user").first).to_be_visible()
    a.settle()
    expect(user_box).to_have_value("u007")
    expect(page.get_by_role("combobox", name="Model", exact=True).first).to_have_value(re.compile("^tiny ratings"))
    a.goto("What if", "What-if")  # another page with a user picker: the same user
    expect(page.get_by_role("combobox", name="User", exact=True).first).to_have_value("u007")
    a.goto("Data")
    expect(page.get_by_text(re.compile(r"^Summary · ratings"))).to_be_visible()  # not the bundled sample
    a.check("reload-02-after")
