"""One real-browser journey through the dashboard: upload, train, diagnose, explain, what-if, download.

Starts `streamlit run app.py` on a free port with a temporary workspace, drives Debian Chromium with
Playwright (fixtures in tests/e2e/conftest.py), and checks what each page shows. Skips when Chromium
is missing or cannot start.
Screenshots of every step go to test-artifacts/e2e/ (kept by CI).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
LONG = 120_000  # ms: the machine is slow and Streamlit renders asynchronously
XSS_TITLES = ("<script>alert(1)</script> Mug", "<img src=x onerror=alert(2)> Lamp")


def _write_dataset(folder: Path) -> tuple[Path, Path]:
    """Small events.csv (rating column named `appreciation`, so a mapping override is needed) and items.csv."""
    rng = np.random.default_rng(0)
    n_users, n_items, n = 30, 20, 500
    taste = rng.normal(0, 1, (n_users, 2))
    traits = rng.normal(0, 1, (n_items, 2))
    u = rng.integers(0, n_users, n)
    i = rng.integers(0, n_items, n)
    raw = 3.2 + (taste[u] * traits[i]).sum(1) * 0.8 + rng.normal(0, 0.4, n)
    start = 1_704_067_200  # 2024-01-01
    events = pd.DataFrame(
        {
            "user_id": [f"u{x:03d}" for x in u],
            "item_id": [f"i{x:03d}" for x in i],
            "timestamp": np.sort(rng.integers(0, 120 * 86_400, n)) + start,
            "appreciation": np.clip(np.round(raw), 1, 5).astype(int),
        }
    )
    titles = [f"Blue Chair {j}" for j in range(n_items)]
    titles[0], titles[1] = XSS_TITLES
    items = pd.DataFrame(
        {
            "item_id": [f"i{j:03d}" for j in range(n_items)],
            "title": titles,
            "category": [("Kitchen", "Garden", "Toys", "Books")[j % 4] for j in range(n_items)],
            "price": rng.uniform(2, 80, n_items).round(2),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    events.to_csv(folder / "events.csv", index=False)
    items.to_csv(folder / "items.csv", index=False)
    return folder / "events.csv", folder / "items.csv"


def test_browser_journey(app_server, browser_page, tiny_bert_dir, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    expect.set_options(timeout=LONG)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))

    def settle() -> None:
        """Wait until Streamlit has finished the current run (no running indicator)."""
        page.wait_for_timeout(300)
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=LONG)
        expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=LONG)  # no element left from an earlier run

    def check(step: str) -> None:
        """Common checks after every step, and a screenshot."""
        settle()
        page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, (
            f"{step}: exception box: {page.locator('[data-testid=stException]').first.inner_text()}"
        )
        assert page.locator("img[src=x]").count() == 0, f"{step}: an <img> from the data reached the DOM"
        assert page.locator("script", has_text="alert(1)").count() == 0, f"{step}: a <script> from the data reached the DOM"
        assert not dialogs, f"{step}: dialogs fired: {dialogs}"

    def goto(label: str, title: str | None = None) -> None:
        page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
        expect(page.locator("h1", has_text=title or label).first).to_be_visible()
        settle()

    def metric(label: str) -> str:
        box = page.locator('[data-testid="stMetric"]', has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^" + re.escape(label))))
        return box.first.locator('[data-testid="stMetricValue"]').inner_text().strip()

    def choose(label: str, option: str) -> None:
        """Pick an option of a selectbox by its label."""
        page.get_by_role("combobox", name=label, exact=True).first.click()
        page.get_by_role("option", name=option, exact=True).first.click()
        settle()

    # --- home: the sample dataset -----------------------------------------------------------------------
    page.goto(app_server)
    expect(page.get_by_role("heading", name="Active dataset")).to_be_visible()
    expect(page.locator('[data-testid="stMetricLabel"]', has_text="Events")).to_be_visible()
    assert int(metric("Events").replace(",", "")) > 0
    assert int(metric("Users").replace(",", "")) > 0
    check("01-home")

    # --- data: upload, map, validate, save, summary ----------------------------------------------------
    events_csv, items_csv = _write_dataset(tmp_path / "upload")
    goto("Data")
    page.get_by_text("Upload files", exact=True).click()
    mapping = page.locator('[data-testid="stTextArea"] textarea').first
    mapping.fill("events.rating=appreciation")
    mapping.press("Control+Enter")
    settle()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files([str(events_csv), str(items_csv)])
    expect(page.get_by_text(re.compile(r"^Valid, with \d+ warning"))).to_be_visible()
    check("02-data-valid")
    page.get_by_role("button", name="Save to workspace").click()
    expect(page.get_by_text(re.compile(r"Stored as dataset"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Summary · "))).to_be_visible()
    assert metric("Events") == "500"
    assert metric("Items") == "20"
    expect(page.get_by_text("Labels: rating", exact=True)).to_be_visible()
    check("03-data-saved")

    # --- model: train on the tiny BERT, then use it ----------------------------------------------------
    goto("Model")
    expect(page.get_by_role("heading", name="Train a value model")).to_be_visible()
    expect(page.get_by_role("combobox", name="Target")).to_have_value("rating")
    encoder = page.get_by_role("textbox", name="Encoder folder", exact=True)
    encoder.fill(str(tiny_bert_dir))
    epochs = page.get_by_role("spinbutton", name="Max epochs", exact=True)
    epochs.fill("2")
    epochs.press("Tab")
    page.get_by_role("button", name="Queue training").click()
    expect(page.get_by_text(re.compile(r"Queued run"))).to_be_visible()
    check("04-model-queued")
    runs = page.locator('[data-testid="stDataFrame"]').first
    expect(runs).to_be_visible()
    # the runs panel redraws itself (a fragment run every 2 s) and the page once the run succeeds: no click, no reload
    expect(page.get_by_role("button", name="Use this model")).to_be_visible(timeout=120_000)
    deadline = time.monotonic() + 150
    while page.get_by_role("button", name="Use this model").count() == 0:  # the registry shows on a full rerun
        assert time.monotonic() < deadline, "the model did not reach the registry in 150 s"
        assert page.get_by_text(re.compile(r"· (failed|interrupted)$")).count() == 0, "the training run failed"
        page.wait_for_timeout(3000)
        goto("Model")
    check("05-model-trained")
    page.get_by_role("button", name="Use this model").click()
    expect(page.get_by_text(re.compile(r"^Active model: "))).to_be_visible()
    check("06-model-active")

    # --- segments --------------------------------------------------------------------------------------
    goto("Segments")
    expect(page.get_by_text(re.compile(r"evaluation pairs · target rating"))).to_be_visible()
    expect(page.locator('[data-testid="stPlotlyChart"]:visible').first).to_be_visible()
    expect(page.get_by_role("button", name="Download CSV").first).to_be_visible()
    check("07-segments")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").first.click()
    download = info.value
    assert download.suggested_filename == "overall.csv"
    saved = tmp_path / "overall.csv"
    download.save_as(saved)
    header = saved.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert "n" in header and "rmse" in [h.lower() for h in header], header

    # --- cold start & long tail ------------------------------------------------------------------------
    goto("Cold start")
    expect(page.locator('[data-testid="stPlotlyChart"]:visible').first).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]:visible').first).to_be_visible()
    check("08-cold-start")

    # --- explain a user --------------------------------------------------------------------------------
    goto("Explain a user")
    expect(page.get_by_role("heading", name="Why this prediction")).to_be_visible()
    choose("User", "u001")
    expect(page.get_by_role("heading", name="Why this prediction")).to_be_visible()
    additivity = page.get_by_text(re.compile(r"^base value -?\d+\.\d{4} \+ contributions [+-]\d+\.\d{4} = -?\d+\.\d{4}"))
    expect(additivity).to_be_visible()
    # one element, so all three numbers come from the same script run (metrics may be mid-rerun)
    base, total, prediction = (float(x) for x in re.findall(r"[+-]?\d+\.\d{4}", additivity.first.inner_text())[:3])
    assert abs(base + total - prediction) < 2e-4, (base, total, prediction)
    assert float(metric("Prediction")) == prediction
    expect(page.locator('[data-testid="stPlotlyChart"]:visible').first).to_be_visible()
    check("09-explain")

    # --- what-if ---------------------------------------------------------------------------------------
    goto("What if", "What-if")
    expect(page.get_by_role("heading", name="One user")).to_be_visible()
    before = metric("Prediction before")
    page.get_by_role("tab", name="Item field").click()  # the uploaded data has no users table: edit the item
    choose("Field", "price")  # a numeric feature: moves even the tiny test model's prediction
    value = page.locator('input[aria-label="New value"]:visible').first
    value.fill("5000")
    value.press("Tab")
    settle()
    page.get_by_role("button", name="Apply item field").click()
    edits = page.locator('[data-testid="stMetric"]', has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^Edits")))
    expect(edits.locator('[data-testid="stMetricValue"]')).to_have_text("1")
    settle()
    after = metric("Prediction after the edits")
    assert metric("Prediction before") == before
    assert after != before, f"the edit did not move the prediction ({before} -> {after})"
    check("10-what-if")

    assert not dialogs, dialogs
    assert not page_errors, page_errors
