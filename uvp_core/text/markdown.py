"""Markdown that shows text from data literally (no emphasis, links, headings or HTML from a name)."""

from __future__ import annotations

_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>~$:&")


def plain_markdown(text: str) -> str:
    """Text (a file, column or event name from the user's data) escaped so that Markdown shows it literally."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in str(text))
