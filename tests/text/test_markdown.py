"""plain_markdown: text from the data shown literally wherever Markdown is rendered."""

from __future__ import annotations

from markdown_it import MarkdownIt

from uvp_core.text.markdown import plain_markdown


def test_plain_markdown_renders_every_special_character_literally() -> None:
    text = "\\`*_{}[]()#+-.!|<>~$:& <img src=x onerror=alert(1)> [site](http://example.com) **loud** `code` # _x_ &lt;"
    html = MarkdownIt("commonmark").render(plain_markdown(text))
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert html.replace("\u2060", "") == f"<p>{escaped}</p>\n"  # literal, but for the invisible word joiner in "http://"


def test_bare_urls_and_addresses_are_not_turned_into_links() -> None:
    """Streamlit's Markdown (GFM) links http://…, www.… and e-mail addresses in plain text even after backslash
    escapes: a model named "… http://e.x" showed a live link in the Active model banner. A word joiner breaks them
    (checked in Chromium: no <a> left); the visible text is unchanged."""
    shown = plain_markdown("see http://e.x, https://a.b/c, WWW.site.com and a@b.co")
    assert shown.replace("\u2060", "").replace("\\", "") == "see http://e.x, https://a.b/c, WWW.site.com and a@b.co"
    assert "://" not in shown.replace("\\", "") and "www." not in shown.replace("\\", "").lower() and "a@" not in shown
