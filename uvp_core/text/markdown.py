"""Markdown that shows text from data literally (no emphasis, links, headings or HTML from a name)."""

from __future__ import annotations

import re

_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>~$:&")
_NO_BREAK = "\u2060"  # WORD JOINER: invisible, and breaks what GFM would turn into a link by itself
_BARE_LINKS = re.compile(r"(?<=:)(?=//)|(?i:(?<=www))(?=\.)|(?=@)")  # "http://", "www.", "name@host"


def plain_markdown(text: str) -> str:
    """Text (a file, column or event name from the user's data) escaped so that Markdown shows it literally.

    Backslash escapes stop emphasis, links and HTML, but not GFM's bare-URL links (Streamlit's Markdown links
    `http://…`, `www.…` and e-mail addresses after escapes are resolved), so those get an invisible word joiner.
    """
    text = _BARE_LINKS.sub(_NO_BREAK, str(text))
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)
