"""plain_markdown: text from the data shown literally wherever Markdown is rendered."""

from __future__ import annotations

from markdown_it import MarkdownIt

from uvp_core.text.markdown import plain_markdown


def test_plain_markdown_renders_every_special_character_literally() -> None:
    text = "\\`*_{}[]()#+-.!|<>~$:& <img src=x onerror=alert(1)> [site](http://example.com) **loud** `code` # _x_ &lt;"
    html = MarkdownIt("commonmark").render(plain_markdown(text))
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    assert html == f"<p>{escaped}</p>\n"
