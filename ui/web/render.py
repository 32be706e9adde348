"""The chat's HTML, as pure functions of answers, citations and article lists (tested directly).

An answer's [n] markers become links to its citations (`link_markers`), the assistant message
lists the numbered sources or says why it declined (`answer_markdown`), and the source panel
shows the cited passage with the quoted sentences in `<mark>` (`highlight`, `source_panel`).
Everything from the articles goes through `as_text` here: HTML-escaped, and its markdown
characters and bare web addresses made into entities, so that the chat's markdown renderer shows
them as they are (an article's `![x](http://...)` is no image fetched when the answer shows, its
`[here](http://...)` no link inside the answer; the only links are the product's citations).
No Gradio, no pipeline: callers pass in what to render.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rag.answering.answer import Answer, Citation

PANEL_EMPTY = (
    '<div class="source-empty">Click a citation such as <b>[1]</b> in an answer to read '
    "its source here.</div>"
)


# every character HTML or markdown gives a meaning to, as an entity, in one pass: escaping HTML
# first and markdown after wrote the "#" of "&#x27;" as "&#35;", and the chat showed "don&#x27;t"
_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
    | {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~:"}
)


def as_text(text: str) -> str:
    """`text` to show as it is inside the chat's markdown: HTML-escaped, with every character
    markdown gives a meaning to (links, images, emphasis, headings, tables, autolinked
    addresses) written as an HTML entity, which the renderer shows but never interprets."""
    return text.translate(_ENTITIES)


def link_markers(text: str, turn: int, citations: list[Citation]) -> str:
    """The answer as text (`as_text`), each [n] that has a citation made a link to it."""
    titles = {c.number: c.title for c in citations}

    def _link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in titles:
            return m.group(0)
        title = as_text(titles[n])
        return f'<a class="cite-link" href="#cite-{turn}-{n}" title="{title}">[{n}]</a>'

    return re.sub(r"&#91;(\d+)&#93;", _link, as_text(text))


def answer_markdown(answer: Answer, turn: int) -> str:
    """The assistant message: linked answer, a note if any, and the numbered sources."""
    text = link_markers(answer.answer, turn, answer.citations)
    short = as_text(answer.short_answer or "")
    if short and text.startswith(short):  # the thing asked for, first and in bold
        text = f"<strong class='short-answer'>{short}</strong>{text[len(short) :]}"
    parts = [text]
    if answer.choices():
        parts.insert(0, f"<em class='choices'>{as_text(answer.choices())}</em>")
    if answer.how_sure():
        parts.append(f"<em class='how-sure'>(how sure: {as_text(answer.how_sure())})</em>")
    if answer.context():
        parts.append(f"<em>({as_text(answer.context())})</em>")
    if answer.notice:
        parts.append(f"<em>Note: {as_text(answer.notice)}</em>")
    if answer.citations:
        rows = []
        for c in answer.citations:
            meta = as_text(f"{c.date or 'undated'}, {c.source or 'unknown source'}")
            rows.append(
                f'<a class="cite-link" href="#cite-{turn}-{c.number}">[{c.number}]</a> '
                f"{as_text(c.title)} ({meta})"
            )
        parts.append('<div class="sources-list">Sources:<br>' + "<br>".join(rows) + "</div>")
    elif answer.declined:
        parts.append(
            "<em>I could not find this in the indexed articles. Try rephrasing, widening the "
            "date range or source filters, or adding articles.</em>"
        )
        for r in answer.related[:1]:
            parts.append(
                f"Closest passage: {as_text(r.title)} ({as_text(r.date or 'undated')}): "
                f"“{as_text(r.quote)}”"
            )
    return "\n\n".join(parts)


def highlight(text: str, quote: str) -> str:
    """`text` as escaped HTML paragraphs (one per line) with each sentence of `quote` in <mark>.

    Quotes of several sentences are joined by " … "; each piece is found with any whitespace
    between its words, so a line break in the passage does not hide it (the mark is then closed
    and reopened at the paragraph boundary, keeping the HTML well formed)."""
    spans: list[tuple[int, int]] = []
    for piece in (p.strip() for p in quote.split(" … ")):
        words = piece.split()
        if not words:
            continue
        m = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if m:
            spans.append(m.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    out = []
    for line in re.finditer(r"[^\n]+", text):
        first, last = line.span()
        pieces, pos = [], first
        for start, end in merged:
            start, end = max(start, first), min(end, last)
            if start >= end:
                continue
            pieces.append(html.escape(text[pos:start]))
            pieces.append("<mark>" + html.escape(text[start:end]) + "</mark>")
            pos = end
        pieces.append(html.escape(text[pos:last]))
        paragraph = "".join(pieces).strip()
        if paragraph:
            out.append(f"<p>{paragraph}</p>")
    return "".join(out)


def source_panel(citation: Citation, passage: str | None) -> str:
    """The source card for one citation: title, date, source, a link to the original (or the
    file's name), and the cited passage with the quote marked (just the quote, when the passage
    is no longer indexed)."""
    body = (
        highlight(passage, citation.quote)
        if passage
        else f"<p><mark>{html.escape(citation.quote)}</mark></p>"
    )
    meta = [citation.date or "undated", citation.source or "unknown source"]
    link = ""
    if citation.location.startswith(("http://", "https://")):
        url = html.escape(citation.location, quote=True)
        link = f' · <a href="{url}" target="_blank" rel="noopener noreferrer">original</a>'
    elif citation.location:  # a file path: its name is enough
        meta.append(citation.location.replace("\\", "/").rsplit("/", 1)[-1])
    also = (
        f'<div class="source-meta">Also in: {html.escape(", ".join(citation.also_in))}</div>'
        if citation.also_in
        else ""
    )
    return (
        f'<div class="source-card" data-citation="{citation.number}">'
        f'<div class="source-title">[{citation.number}] {html.escape(citation.title)}</div>'
        f'<div class="source-meta">{html.escape(" · ".join(meta))}{link}</div>{also}'
        f'<div class="source-text">{body}</div></div>'
    )


ARTICLE_ROWS = 200  # rows of the article table: an archive of 100k articles is not one page


@dataclass(frozen=True)
class Shelf:
    """What the article list shows: the articles with every word of `query` in their title,
    source, id or date ("AA 2025-06"), from `source` alone when one is picked, dated within
    `since`..`until` (either may be open; an undated article is left out once a day is set),
    newest by date first, or the latest arrivals first (`order="arrival"`)."""

    query: str = ""
    source: str = ""
    since: date | None = None
    until: date | None = None
    order: str = "date"

    def keeps(self, article: dict[str, Any]) -> bool:
        if self.source and str(article.get("source") or "") != self.source:
            return False
        if self.since or self.until:
            day = str(article.get("date") or "")[:10]
            if not day:
                return False
            if self.since and day < self.since.isoformat():
                return False
            if self.until and day > self.until.isoformat():
                return False
        words = self.query.lower().split()
        if words:
            fields = ("title", "source", "article_id", "date")
            searched = " ".join(str(article.get(f) or "") for f in fields).lower()
            return all(w in searched for w in words)
        return True

    @property
    def narrows(self) -> bool:
        return bool(self.query.strip() or self.source or self.since or self.until)

    def said(self) -> str:
        """The filters in words, for 'no article matches ...'."""
        parts = [repr(self.query.strip())] if self.query.strip() else []
        if self.source:
            parts.append(f"from {self.source}")
        if self.since or self.until:
            parts.append(f"dated {self.since or '…'} to {self.until or '…'}")
        return " ".join(parts)


def articles_html(
    articles: Sequence[dict[str, Any]],
    arrived: dict[str, float] | None = None,
    limit: int = ARTICLE_ROWS,
    *,
    order: str = "arrival",
) -> str:
    """The table of indexed articles (title, date, source, chunks, when it arrived), `limit`
    rows: the latest arrivals first (`arrived`: article id -> Unix time it was indexed; then the
    newest by date), or with `order="date"` the newest by date first (undated ones last)."""
    if not articles:
        return "<p>No articles are indexed yet: run <code>rag ingest DIR</code>.</p>"
    arrived = arrived or {}

    def by_arrival(a: dict[str, Any]) -> tuple[float, str]:
        return arrived.get(str(a.get("article_id")), 0.0), str(a.get("date") or "")

    def by_date(a: dict[str, Any]) -> tuple[str, float]:
        return str(a.get("date") or ""), arrived.get(str(a.get("article_id")), 0.0)

    key = by_date if order == "date" else by_arrival
    ordered = sorted(articles, key=key, reverse=True)[:limit]
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>".format(
            html.escape(str(a.get("title", ""))),
            html.escape(str(a.get("date") or "undated")),
            html.escape(str(a.get("source") or "—")),
            a.get("chunks", 0),
            _when(arrived.get(str(a.get("article_id")))),
            html.escape(str(a.get("article_id", ""))),
        )
        for a in ordered
    )
    first = "the newest first" if order == "date" else "the latest arrivals first"
    return (
        f"<p>{len(articles):,} articles, {first}"
        + (f" (the first {limit} shown)" if len(articles) > limit else "")
        + "</p>"
        "<table class='articles-table'><tr><th>Title</th><th>Date</th><th>Source</th>"
        f"<th>Chunks</th><th>Arrived</th><th>Id</th></tr>{rows}</table>"
    )


def _when(at: float | None) -> str:
    if at is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def chat_messages(turns: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The conversation as Gradio chat messages: each turn's question (escaped) and what is
    shown for its answer so far."""
    messages = []
    for t in turns:
        messages.append({"role": "user", "content": as_text(t["question"])})
        messages.append({"role": "assistant", "content": t["shown"]})
    return messages
