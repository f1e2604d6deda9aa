"""The shipped Streamlit configuration keeps its protections, and no page renders data as HTML."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_shipped_config_keeps_xsrf_and_an_upload_limit() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    server = config["server"]
    assert server["enableXsrfProtection"] is True
    assert 1 <= server["maxUploadSize"] <= 4096
    assert config["browser"]["gatherUsageStats"] is False
    assert ".venv" in server["folderWatchBlacklist"]
    assert server["fileWatcherType"] == "none"  # watching the folder (with .venv) cost tens of seconds of CPU per page load


def test_no_page_turns_on_unsafe_html() -> None:
    sources = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "uvp_core").rglob("*.py"))]
    offenders = [str(p.relative_to(REPO)) for p in sources if "unsafe_allow_html" in p.read_text(encoding="utf-8")]
    assert offenders == []
