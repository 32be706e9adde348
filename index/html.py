"""The main text and metadata of a web page: `extract_page(html, url=...)` -> `Page`.

The default extractor is trafilatura, made for news pages, set to favour precision (a menu line
in an answer costs more than a missed sentence): it finds the article among menus, teasers,
captions and footers, and reads the page's own metadata (JSON-LD, OpenGraph, `<meta>`, `<time>`,
bylines; dates through htmldate). Its precise setting also drops real text, so it is read beside
trafilatura's default ("balanced") setting, and the balanced reading decides two things:

- what lies between two paragraphs the precise reading kept is the article too: the precise
  setting deletes a short paragraph with a link in it when the paragraph has a `<div>` of its
  own (one per paragraph, as many sites render them), a subheading or quote holding a link, a
  block styled with a border; the balanced reading's blocks between two kept ones come back;
- when the precise reading is an under-extraction by trafilatura's own measure (under 3,000
  characters and a fifth of the page's text: one post of a live blog made of `<article>`s, a
  photo story's captions), the balanced one is taken, which escalates such a page to a recall
  pass where the precise setting never does.

The text keeps the page's structure for `index.clean`, which would otherwise take a short line
without a full stop for a stray headline: subheadings (and paragraphs set wholly in bold, as
many sites set them) are written as "## Subheading", list items as "- item", table rows as
"| cell | cell |", and blocks are separated by blank lines.

"trafilatura-balanced" is trafilatura's default setting alone, which keeps more of a small page's
surroundings (a navigation line, say). When trafilatura finds no article, the plain reader takes
over: every text block outside scripts, navigation, headers, footers, asides and forms, with the
headline from `og:title`, the first `<h1>` or `<title>`. `extractor="plain"` asks for the plain
reader alone (the loader before trafilatura, kept as the fallback and as the baseline
`python -m evals.pages` compares against).

This module reads HTML; it does not fetch pages (`index.fetch`) or clean text (`index.clean`,
which the loaders apply to what comes out of here, as to every text format).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from typing import TYPE_CHECKING, ClassVar

from rag.text.dates import parse_date

if TYPE_CHECKING:
    from lxml.etree import _Element
    from trafilatura.settings import Document

EXTRACTORS = ("trafilatura", "trafilatura-balanced", "plain")
# trafilatura's own measure of an under-extraction (trafilatura.core.ESCALATION_MAX_LENGTH and
# ESCALATION_PAGE_SHARE): a text this short that covers this little of the page's text
_UNDER_CHARS = 3000
_UNDER_SHARE = 0.2
_BOLD = "#b"  # trafilatura's mark of <b> and <strong>
_SPACES = re.compile(r"\s+")


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
    balanced = _bare(html, url, precision=False)
    doc, blocks = balanced, _blocks(balanced)
    if precision:
        precise = _bare(html, url, precision=True)
        kept = _blocks(precise)
        if kept and not _under_extracted(kept, blocks, html):
            doc, blocks = precise, _within(kept, blocks)
    if doc is None:
        return None
    sitename = doc.sitename or None
    if sitename and sitename == doc.hostname:
        sitename = None  # trafilatura's stand-in for a name the page does not give
    return Page(
        text="\n\n".join(blocks),
        title=(doc.title or "").strip() or None,
        date=parse_date(doc.date) if doc.date else None,
        author=(doc.author or "").strip() or None,
        site=sitename,
        canonical=doc.url or None,
    )


def _bare(html: str, url: str | None, *, precision: bool) -> Document | None:
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
        include_formatting=True,  # to see a paragraph set wholly in bold; the text is plain
        deduplicate=False,
    )
    return doc if isinstance(doc, Document) else None


def _blocks(doc: Document | None) -> list[str]:
    """The extracted body's blocks as text, structure marked for `index.clean`: "## heading",
    "- item" (as trafilatura writes items), "| cell | cell |"."""
    if doc is None or doc.body is None:
        return []
    from trafilatura.xml import xmltotxt

    out = []
    for element in doc.body:
        element = deepcopy(element)
        element.tail = None
        if element.tag == "table":
            text = "\n".join(_rows(element))
        elif element.tag == "head" or _bold_only(element):
            text = _SPACES.sub(" ", xmltotxt(element, False)).strip()
            text = f"## {text}" if text else ""
        else:
            text = xmltotxt(element, False).strip()
        if text:
            out.append(text)
    return out


def _rows(table: _Element) -> list[str]:
    """A table's rows as "| cell | cell |". A row with one filled cell, or a cell of several
    lines, is a layout table's (a page laid out in a table, a caption): its cells' text is
    written as it is, which is no table row."""
    from trafilatura.xml import xmltotxt

    lines = []
    for row in table.iter("row"):
        cells = []
        for cell in row.iterchildren("cell"):
            cell = deepcopy(cell)
            cell.tag, cell.tail = "div", None  # its text, without the markdown of a lone cell
            cells.append(xmltotxt(cell, False).strip())
        filled = [c for c in cells if c]
        if len(filled) > 1 and not any("\n" in c for c in filled):
            lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.extend(filled)
    return lines


def _bold_only(element: _Element) -> bool:
    """A paragraph that is one bold run and nothing else: a subheading set in bold."""
    if element.tag != "p" or (element.text or "").strip() or len(element) != 1:
        return False
    run = element[0]
    return run.tag == "hi" and run.get("rend") == _BOLD and not (run.tail or "").strip()


def _under_extracted(kept: Sequence[str], wider: Sequence[str], html: str) -> bool:
    """The precise reading `kept` misses the article by trafilatura's own measure, and the
    balanced reading `wider` found more."""
    import trafilatura

    length = sum(map(len, kept))
    if length >= _UNDER_CHARS or sum(map(len, wider)) <= length:
        return False
    return length < _UNDER_SHARE * len(trafilatura.html2txt(html))


def _within(kept: Sequence[str], wider: Sequence[str]) -> list[str]:
    """`kept`, with the blocks of `wider` that lie between two of its blocks (in page order)."""
    where: dict[str, list[int]] = {}
    for i, block in enumerate(wider):
        where.setdefault(block, []).append(i)
    out: list[str] = []
    last = -1  # where in `wider` the previous kept block was found
    for block in kept:
        at = next((i for i in where.get(block, ()) if i > last), None)
        if at is None:
            out.append(block)
            continue
        if last >= 0:
            out.extend(wider[last + 1 : at])
        out.append(block)
        last = at
    return out


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
