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
    search = page.get_by_role("textbox", name="Search users by id or attribute", exact=True)
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


def test_a_link_opened_first_on_a_fresh_server_restores_its_dataset(app_server, analyst, tmp_path, rating_dataset, rating_model) -> None:
    """On a server where no session had run app.py yet, a link straight to a page ran that page alone (Streamlit's
    pages/-folder mode): the sidebar listed an extra "app" entry and the link's dataset and model were ignored, so a
    colleague's link opened the bundled sample."""
    from uvp_core import model_registry
    from uvp_core.workspace import Workspace

    ws = Workspace(tmp_path / "ws")  # the app server's workspace
    dataset_id = ws.save_dataset(rating_dataset).id
    model_id = model_registry.save_to_registry(ws, rating_model, name="tiny ratings", dataset_id=dataset_id)
    a = analyst("colleague")
    a.page.goto(f"{app_server}/Segments?dataset={dataset_id}&model={model_id}")  # the first visit of this server
    a.expect(a.page.locator("h1", has_text="Segments").first).to_be_visible()
    a.settle()
    a.expect(a.page.get_by_text("evaluation pairs", exact=False).first).to_be_visible()
    a.check("deep-link-01-fresh-server")
    nav = [t.strip() for t in a.page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
    assert "app" not in nav and "Segments" in nav, nav
    assert a.page.get_by_text("not on the active dataset").count() == 0  # the link's dataset, not the sample
    assert re.search(rf"[?&]dataset={dataset_id}\b", a.page.url), a.page.url
