"""A browser reload keeps the analyst's dataset, model and user (they live in the page URL too).

Session state ends with the browser tab's connection; without the URL a reload reopened the bundled
sample with the newest model, whatever the analyst had been looking at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uvp_core import model_registry
from uvp_core.workspace import Workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reload_keeps_dataset_model_and_user(app_server, analyst, tmp_path: Path, rating_dataset, rating_model) -> None:
    ws = Workspace(tmp_path / "ws")  # the app server's workspace
    dataset_id = ws.save_dataset(rating_dataset).id
    model_registry.save_to_registry(ws, rating_model, name="tiny ratings", dataset_id=dataset_id)
    a = analyst("analyst")
    expect, page = a.expect, a.page
    page.goto(app_server)
    expect(page.get_by_role("heading", name="Active dataset")).to_be_visible()
    a.settle()
    a.goto("Data")
    page.locator('[data-testid="stRadio"]').get_by_text("Stored dataset", exact=True).click()
    a.settle()
    a.choose("Stored dataset", next(o for o in a.options("Stored dataset") if dataset_id in o))
    expect(page.get_by_text(re.compile(r"^Summary · ratings"))).to_be_visible()

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
    a.goto("Data")
    expect(page.get_by_text(re.compile(r"^Summary · ratings"))).to_be_visible()  # not the bundled sample
    a.check("reload-02-after")
