"""Fixtures for the real-browser tests: the dashboard on a free port, Debian Chromium, page helpers.

`app_server` runs `streamlit run app.py` with a temporary workspace; `browser` launches Debian's
Chromium through Playwright (never a downloaded one) and skips when it is missing or cannot start;
`browser_page` is one page in a fresh context; `new_context` opens more contexts (separate cookies
and storage, so separate Streamlit sessions: separate analysts); `analyst` opens one wrapped in `Ui`,
which holds the waits and checks every step needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LONG = 120_000  # ms: the machine is slow and Streamlit renders asynchronously


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_workers(workspace: Path) -> None:
    """Kill any process (the detached training worker) whose command line names this workspace."""
    import psutil

    needle = str(workspace.resolve())
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["pid"] != os.getpid() and needle in " ".join(proc.info["cmdline"] or ()):
                proc.kill()
                proc.wait(10)


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[str]:
    """The dashboard on a free local port with a temporary workspace; yields its base URL."""
    port = _free_port()
    workspace = tmp_path / "ws"
    env = {**os.environ, "UVP_WORKSPACE": str(workspace), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"streamlit exited: {(tmp_path / 'streamlit.log').read_text(errors='replace')[-3000:]}"
                )
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().decode().strip() == "ok":
                        break
            if time.monotonic() > deadline:
                pytest.fail("streamlit did not report healthy within 90 s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()
        _kill_workers(workspace)


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's binary, never downloaded); skips when it cannot start."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium package")
    with sync_api.sync_playwright() as p:
        try:
            launched = p.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - any launch failure means: no usable browser here
            pytest.skip(f"Chromium at {CHROMIUM} could not be launched: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_context(browser) -> Iterator[Callable[[], Any]]:
    """Open a fresh browser context (its own cookies and storage: its own Streamlit session) with one page."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(LONG)
        return page

    try:
        yield make
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()


@pytest.fixture
def browser_page(new_context) -> Any:
    """A Chromium page in its own context."""
    return new_context()


class Ui:
    """One analyst's page: waits for Streamlit to settle, navigates, reads metrics, checks and screenshots."""

    def __init__(self, page: Any, name: str) -> None:
        from playwright.sync_api import expect

        self.page, self.name, self.expect = page, name, expect
        expect.set_options(timeout=LONG)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def settle(self) -> None:
        """Wait until Streamlit has finished the current run (no running indicator, no stale element)."""
        self.page.wait_for_timeout(300)
        self.expect(self.page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=LONG)
        self.expect(self.page.locator('[data-stale="true"]')).to_have_count(0, timeout=LONG)

    def check(self, step: str) -> None:
        """Common checks after a step (no exception box, no dialog, no HTML from data), and a screenshot."""
        self.settle()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)
        boxes = self.page.locator('[data-testid="stException"]')
        assert boxes.count() == 0, f"{self.name} {step}: exception box: {boxes.first.inner_text()}"
        assert self.page.locator("img[src=x]").count() == 0, (
            f"{self.name} {step}: an <img> from the data reached the DOM"
        )
        assert not self.dialogs, f"{self.name} {step}: dialogs fired: {self.dialogs}"
        assert not self.errors, f"{self.name} {step}: page errors: {self.errors}"

    def goto(self, label: str, title: str | None = None) -> None:
        """Open a page from the sidebar and wait for its title."""
        self.page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
        self.expect(self.page.locator("h1", has_text=title or label).first).to_be_visible()
        self.settle()

    def metric(self, label: str) -> str:
        """The shown value of the first metric whose label starts with `label`."""
        label_box = self.page.locator(
            '[data-testid="stMetricLabel"]', has_text=re.compile("^" + re.escape(label))
        )
        box = self.page.locator('[data-testid="stMetric"]', has=label_box)
        return box.first.locator('[data-testid="stMetricValue"]').inner_text().strip()

    def choose(self, label: str, option: str) -> None:
        """Pick an option of a selectbox by its label."""
        self.page.get_by_role("combobox", name=label, exact=True).first.click()
        self.page.get_by_role("option", name=option, exact=True).first.click()
        self.settle()

    def options(self, label: str) -> list[str]:
        """The options a selectbox offers (opens and closes its list)."""
        box = self.page.get_by_role("combobox", name=label, exact=True).first
        box.click()
        names = [o.inner_text().strip() for o in self.page.get_by_role("option").all()]
        box.press("Escape")
        self.settle()
        return names


@pytest.fixture
def tiny_ratings_open(app_server, analyst, tmp_path: Path, rating_dataset, rating_model) -> tuple[Ui, str]:
    """The ratings dataset and a tiny model registered in the server's workspace (no training in the browser),
    and an analyst who opened the app and made that dataset active on the Data page: (ui, dataset id)."""
    from uvp_core import model_registry
    from uvp_core.workspace import Workspace

    ws = Workspace(tmp_path / "ws")  # the app server's workspace
    dataset_id = ws.save_dataset(rating_dataset).id
    model_registry.save_to_registry(ws, rating_model, name="tiny ratings", dataset_id=dataset_id)
    ui = analyst("analyst")
    ui.page.goto(app_server)
    ui.expect(ui.page.get_by_role("heading", name="Active dataset")).to_be_visible()
    ui.settle()
    ui.goto("Data")
    ui.page.locator('[data-testid="stRadio"]').get_by_text("Stored dataset", exact=True).click()
    ui.settle()
    ui.choose("Stored dataset", next(o for o in ui.options("Stored dataset") if dataset_id in o))
    ui.expect(ui.page.get_by_text(re.compile(r"^Summary · ratings"))).to_be_visible()
    return ui, dataset_id


@pytest.fixture
def analyst(new_context) -> Callable[[str], Ui]:
    """Open a new analyst: analyst(name) -> Ui on a page in its own browser context (its own session)."""
    return lambda name: Ui(new_context(), name)
