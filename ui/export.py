"""An answer, or a whole conversation, as Markdown to paste into a draft: the text with numbered
citations, then one source list (title, date, source, URL or file, and the quoted sentence of
each). In a conversation the citations are numbered across all its answers, in the order they
first appear, and a passage cited by two answers is listed once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from rag.answering.answer import Answer, Citation

_MARK = re.compile(r"\[(\d+)\]")


def _where(c: Citation) -> str:
    """The article's URL as a link, or the file it came from."""
    location = c.location.strip()
    if location.startswith(("http://", "https://")):
        return f"<{location}>"
    return f"`{location}`" if location else ""


def _source_line(number: int, c: Citation) -> str:
    parts = [f"**{_inline(c.title) or c.article_id}**", c.date or "undated", c.source or ""]
    where = _where(c)
    head = ", ".join(p for p in parts if p) + (f", {where}" if where else "")
    quote = " ".join(c.quote.split())
    return f"{number}. {head}\n   > {_inline(quote)}"


def _inline(text: str) -> str:
    """Text from an article kept as text in Markdown (no links, emphasis or headings made)."""
    return re.sub(r"([\\`*_{}\[\]<>#|])", r"\\\1", text)


def _renumbered(text: str, own: dict[int, int]) -> str:
    """The answer's text kept as text, its citation marks [n] numbered as in the export."""
    parts = _MARK.split(text)  # text, number, text, number, ..., text
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(_inline(part))
        else:
            n = int(part)
            out.append(f"[{own[n]}]" if n in own else f"\\[{n}\\]")
    return "".join(out)


def conversation_markdown(
    answers: Sequence[Answer], *, collection: str = "", day: date | None = None
) -> str:
    """The answers (a conversation's, in order; one for a single answer) as Markdown."""
    numbers: dict[tuple[str, str], int] = {}  # (chunk, quote) -> number in the export
    sources: list[Citation] = []
    lines: list[str] = []
    where = f" ({collection})" if collection else ""
    lines.append(f"# News Q&A{where}, exported {(day or date.today()).isoformat()}")
    for turn, answer in enumerate(answers, 1):
        own: dict[int, int] = {}
        for c in answer.citations:
            key = (c.chunk_id, c.quote)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                sources.append(c)
            own[c.number] = numbers[key]

        lines.append(f"\n## {turn}. {_inline(answer.question)}\n")
        if answer.short_answer and not answer.declined:
            lines.append(f"**{_inline(answer.short_answer)}**\n")
        lines.append(_renumbered(answer.answer.strip(), own))
        if answer.as_of:
            lines.append(f"\n_As of {answer.as_of}._")
    if sources:
        lines.append("\n## Sources\n")
        lines.extend(_source_line(i, c) for i, c in enumerate(sources, 1))
    return "\n".join(lines) + "\n"
