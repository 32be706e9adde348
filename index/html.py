"""The main text and metadata of a web page: `extract_page(html, url=...)` -> `Page`.

The default extractor is trafilatura, made for news pages, set to favour precision (a menu line
in an answer costs more than a missed sentence): it finds the article among menus, teasers,
captions and footers, and reads the page's own metadata (JSON-LD, OpenGraph, `<meta>`, `<time>`,
bylines; dates through htmldate). "trafilatura-balanced" is its default setting, which keeps more
of a small page's surroundings (a navigation line, say). When trafilatura finds no article, the
plain reader takes over: every text block outside scripts, navigation, headers, footers, asides
and forms, with the headline from `og:title`, the first `<h1>` or `<title>`. `extractor="plain"`
asks for the plain reader alone (the loader before trafilatura, kept as the fallback and as the
baseline `python -m evals.pages` compares against).

This module reads HTML; it does not fetch pages (`index.fetch`) or clean text (`index.clean`,
which the loaders apply to what comes out of here, as to every text format).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from typing import ClassVar

from rag.text.dates import parse_date

EXTRACTORS = ("trafilatura", "trafilatura-balanced", "plain")


@dataclass
class Page:
    """What a page says it is: main text (paragraphs separated by newlines), headline, date,
    author, site name, and its canonical URL when it names one."""

    text: str
    title: str | None = None
    date: date | None = None
    author: str | None = None
    site: str | None = None
    canonical: str | None = None


def extract_page(html: str, *, url: str | None = None, extractor: str = "trafilatura") -> Page:
    """The page's article and metadata (`url`: where it was fetched, for relative links)."""
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown extractor {extractor!r}; use one of {', '.join(EXTRACTORS)}")
    if extractor == "plain":
        return _plain(html)
    found = _trafilatura(html, url, precision=extractor == "trafilatura")
    if found is None or not found.text.strip():
        return _plain(html)
    if found.title and found.date and found.author and found.site:
        return found
    # what trafilatura's metadata lacks, the plain reader's <meta> may have
    plain = _plain(html)
    found.title = found.title or plain.title
    found.date = found.date or plain.date
    found.author = found.author or plain.author
    found.site = found.site or plain.site
    return found


def _trafilatura(html: str, url: str | None, *, precision: bool) -> Page | None:
    import trafilatura
    from trafilatura.settings import Document

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        favor_precision=precision,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        deduplicate=False,
    )
    if not isinstance(doc, Document):
        return None
    sitename = doc.sitename or None
    if sitename and sitename == doc.hostname:
        sitename = None  # trafilatura's stand-in for a name the page does not give
    return Page(
        text=doc.text or "",
        title=(doc.title or "").strip() or None,
        date=parse_date(doc.date) if doc.date else None,
        author=(doc.author or "").strip() or None,
        site=sitename,
        canonical=doc.url or None,
    )


def _plain(html: str) -> Page:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    m = parser.meta
    return Page(
        text="".join(parser.parts),
        title=(m.get("og:title") or parser.h1 or parser.title).strip() or None,
        date=parse_date(m.get("article:published_time") or m.get("date")),
        author=m.get("author") or None,
        site=m.get("og:site_name") or None,
        canonical=parser.canonical,
    )


class _HTMLText(HTMLParser):
    """Text blocks outside `_SKIP` elements, `<meta>` values, `<title>`, the first `<h1>`."""

    _SKIP: ClassVar[set[str]] = {
        "script",
        "style",
        "nav",
        "footer",
        "aside",
        "form",
        "noscript",
        "header",
        "svg",
    }
    _BLOCK: ClassVar[set[str]] = {
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "li",
        "blockquote",
        "div",
        "br",
        "figcaption",
        "section",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self.h1 = ""
        self.canonical: str | None = None
        self._skip = 0
        self._in_title = False
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta":
            key = (a.get("name") or a.get("property") or "").lower()
            if key and a.get("content"):
                self.meta[key] = a["content"]
        if tag == "link" and a.get("rel", "").lower() == "canonical" and a.get("href"):
            self.canonical = a["href"]
        if tag in self._SKIP:
            self._skip += 1
        if tag == "title":
            self._in_title = True
        if tag == "h1":
            self._in_h1 = True
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag == "h1":
            self._in_h1 = False
        if tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        if self._in_h1:
            self.h1 += data
            return
        self.parts.append(data)
