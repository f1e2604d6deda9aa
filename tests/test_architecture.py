"""The layering rules of the developers' guide, checked on the source: uvp_core holds the logic and never imports
Streamlit (nor the dashboard layer); uvp_ui.state is the one place for Streamlit caches and session-state keys."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = sorted((REPO / "uvp_core").rglob("*.py"))
DASHBOARD = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "uvp_ui").glob("*.py"))]
STATE = REPO / "uvp_ui" / "state.py"


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _literal_session_keys(path: Path) -> list[str]:
    """String literals used to index or read st.session_state directly (session_state["…"], .get("…"), .pop("…"))."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        target, key = None, None
        if isinstance(node, ast.Subscript):
            target, key = node.value, node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "setdefault"):
                target, key = node.func.value, node.args[0]
        if isinstance(target, ast.Attribute) and target.attr == "session_state" and isinstance(key, ast.Constant):
            found.append(f"{path.name}:{node.lineno} {key.value!r}")
    return found


def test_the_sources_this_checks_exist() -> None:
    assert len(CORE) > 40 and STATE in DASHBOARD and len(DASHBOARD) >= 10


def test_uvp_core_never_imports_streamlit_or_the_dashboard() -> None:
    offenders = [f"{p.relative_to(REPO)}: {m}" for p in CORE for m in _imported_modules(p)
                 if m.split(".")[0] in ("streamlit", "uvp_ui")]  # fmt: skip
    assert not offenders


def test_streamlit_caches_live_only_in_the_state_module() -> None:
    cached = [p.name for p in DASHBOARD if p != STATE and ("cache_data" in p.read_text(encoding="utf-8") or "cache_resource" in p.read_text(encoding="utf-8"))]
    assert not cached
    assert "st.cache_resource" in STATE.read_text(encoding="utf-8") and "st.cache_data" in STATE.read_text(encoding="utf-8")


def test_pages_read_session_state_through_named_keys() -> None:
    literal = [k for p in DASHBOARD if p != STATE for k in _literal_session_keys(p)]
    assert not literal


def test_the_session_key_check_finds_a_literal_key(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text('import streamlit as st\nst.session_state["uvp.x"] = 1\nst.session_state.get("uvp.y")\n')
    assert _literal_session_keys(page) == ["page.py:2 'uvp.x'", "page.py:3 'uvp.y'"]
