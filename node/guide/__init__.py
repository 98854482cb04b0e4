"""The user guide, served at /guide in the reader's language.

The guide is Markdown (vi.md and en.md beside this file), because a text of
this length reads and changes better as one document per language than as
hundreds of catalogue entries. It is rendered once per language and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Blueprint, render_template
from flask_babel import get_locale
from markdown_it import MarkdownIt

GUIDE_DIR = Path(__file__).resolve().parent
DEFAULT_LANGUAGE = "vi"

guide = Blueprint("guide", __name__)


@dataclass(frozen=True)
class RenderedGuide:
    title: str
    # (anchor id, heading text) of each second-level heading, for the contents list.
    sections: tuple[tuple[str, str], ...]
    html: str


def guide_path(language: str) -> Path:
    """Return the guide file of `language`, or the Vietnamese one when there is none."""
    path = GUIDE_DIR / f"{language}.md"
    return path if path.is_file() else GUIDE_DIR / f"{DEFAULT_LANGUAGE}.md"


@cache
def render_guide(language: str) -> RenderedGuide:
    """Render the guide of `language` to HTML, with an id on each section heading.

    Raw HTML in the Markdown is escaped, not passed through.
    """
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = markdown.parse(guide_path(language).read_text(encoding="utf-8"))
    title, title_at = "", None
    sections: list[tuple[str, str]] = []
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = tokens[index + 1].content
        if token.tag == "h1" and not title:
            title = text
            title_at = index
        elif token.tag == "h2":
            anchor = f"section-{len(sections) + 1}"
            token.attrSet("id", anchor)
            sections.append((anchor, text))
    if title_at is not None:
        # The page template shows the title above the contents list.
        del tokens[title_at:title_at + 3]
    html = markdown.renderer.render(tokens, markdown.options, {})
    return RenderedGuide(title=title, sections=tuple(sections), html=html)


@guide.get("/guide")
def guide_page():  # noqa: ANN201
    rendered = render_guide(str(get_locale() or DEFAULT_LANGUAGE))
    return render_template("guide.html", guide=rendered)
