"""The answer object every interface returns, and the checks that keep its citations honest.

`Answer` carries the text with inline [n] markers, one `Citation` per marker (article, date,
source, chunk, and the exact sentence(s) quoted), whether the system declined, who answered,
per-stage timings and token counts. `check_citations` repairs what an LLM wrote: markers that
point at no source are dropped, and sentences without any marker are matched to the source
sentence that supports them best. Nothing here retrieves or calls a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, Field

from rag.schema import Passage
from rag.text.rules import split_sentences, terms

DECLINE_TEXT = "The articles don't say."


@dataclass
class Delta:
    """A piece of answer text as it is written (streaming); the final `Answer` follows."""

    text: str


class Citation(BaseModel):
    number: int
    article_id: str
    title: str
    date: str = ""
    source: str = ""
    chunk_id: str
    quote: str = Field(description="the exact sentence(s) of the article that support the claim")
    location: str = ""
    also_in: list[str] = Field(default_factory=list)
    note: str = ""


class ShortCandidate(BaseModel):
    """A span that could be the short answer, as the reader may be shown it."""

    text: str
    kind: str = Field(description="what kind of thing it is: person, place, number, date…")
    articles: int = Field(description="how many of the retrieved articles name it")
    dates: list[str] = Field(
        default_factory=list, description="the dates of those articles, newest first"
    )
    features: dict[str, float] | None = Field(None, exclude=True)  # `rag.spans.ranker`'s


class Answer(BaseModel):
    question: str
    short_answer: str | None = Field(
        None,
        description="the thing asked for, copied from a cited sentence (who, which, where, when, "
        "how many…); null for questions that ask for an explanation, and when declining",
    )
    confidence: float | None = Field(
        None,
        description="how likely the short answer is right, 0-1 (a model fitted on development "
        "questions; null without a short answer or without the model)",
    )
    confident: bool = Field(
        False, description="the confidence is above the product's threshold for a sure answer"
    )
    answer: str
    candidates: list[ShortCandidate] = Field(
        default_factory=list,
        description="every span of the asked-for kind found in the passages, best first (the "
        "short answer is the first one kept)",
    )
    citations: list[Citation] = Field(default_factory=list)
    declined: bool = False
    backend: str
    model: str
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    tokens: dict[str, int] | None = None
    notice: str | None = Field(None, description="e.g. that the LLM failed and extraction answered")
    related: list[Citation] = Field(
        default_factory=list, description="closest passages when declining"
    )
    standalone_question: str | None = None
    as_of: str | None = Field(None, description="no article published after this date was used")
    period: str | None = Field(
        None, description="a period the question names, read against as_of: “this week” = …"
    )

    def context(self) -> str:
        """'as of DATE; “this week” = …' when the question was asked as of another day than today
        or named a period; else ''."""
        parts = []
        if self.as_of and (self.period or self.as_of != date.today().isoformat()):
            parts.append(f"as of {self.as_of}")
        if self.period:
            parts.append(self.period)
        return "; ".join(parts)

    def how_sure(self) -> str:
        """The confidence in words ("sure, 0.91"), or '' when there is none."""
        if self.confidence is None or not self.short_answer:
            return ""
        word = "sure" if self.confident else "likely" if self.confidence >= 0.5 else "unsure"
        return f"{word}, {self.confidence:.2f}"

    def choices(self, most: int = 3) -> str:
        """When the short answer is not sure: the candidates a reader chooses among, with how
        many articles name each and their latest date; else ''."""
        if self.confident or self.confidence is None or len(self.candidates) < 2:
            return ""
        shown = []
        for c in self.candidates[:most]:
            n = f"{c.articles} article{'s' if c.articles != 1 else ''}"
            shown.append(f"{c.text} ({n}" + (f", latest {c.dates[0]})" if c.dates else ")"))
        return "Not sure; the articles name: " + "; ".join(shown)

    def markers(self) -> list[int]:
        return [int(n) for n in re.findall(r"\[(\d+)\]", self.answer)]

    def to_text(self) -> str:
        lines = [self.answer, ""]
        if self.how_sure():
            lines.insert(1, f"(short answer: {self.short_answer}; {self.how_sure()})")
        if self.choices():
            lines.insert(0, self.choices())
        if self.context():
            lines.insert(0, f"({self.context()})")
        if self.notice:
            lines.insert(0, f"({self.notice})")
        for c in self.citations:
            lines.append(
                f"[{c.number}] {c.title} — {c.date or 'undated'}, {c.source or 'unknown source'}"
            )
            lines.append(f"    “{c.quote}”" + (f"  ({c.note})" if c.note else ""))
        if self.declined and self.related:
            lines.append("Closest passage:")
            for c in self.related:
                lines.append(f"    {c.title} — {c.date or 'undated'}: “{c.quote}”")
        return "\n".join(lines).rstrip()


_MARKERS = re.compile(r"\s*\[\d+\]")


def without_markers(text: str) -> str:
    """The text with its citation markers ("[2]") taken out: what it claims, in its own words."""
    return _MARKERS.sub("", text)


def final_answer(events: Iterable[Delta | Answer]) -> Answer:
    """The `Answer` an answer stream ends with."""
    final = None
    for event in events:
        if isinstance(event, Answer):
            final = event
    if final is None:
        raise RuntimeError("the answer backend's stream ended without an answer")
    return final


_CITED = ("article_id", "title", "date", "source", "chunk_id", "location", "also_in")


def citation_for(number: int, p: Passage, quote: str, note: str = "") -> Citation:
    """Citation `number` of the passage `p`, quoting `quote` (its exact sentence or sentences)."""
    return Citation(number=number, quote=quote, note=note, **{k: getattr(p, k) for k in _CITED})


def overlap(a: str, b: str) -> float:
    """Share of `a`'s content words found in `b` (stemmed); the support heuristic."""
    ta = set(terms(a))
    if not ta:
        return 0.0
    return len(ta & set(terms(b))) / len(ta)


def best_support(claim: str, passage: Passage) -> tuple[str, float]:
    """The passage sentence that supports the claim best, and how well."""
    best, score = "", 0.0
    for s in split_sentences(passage.text):
        o = overlap(claim, s)
        if o > score:
            best, score = s, o
    return best, score


_DECLINE = re.compile(
    r"\b(?:articles?|sources?|passages?|context)\s+(?:do(?:es)?\s*n[o’']t|do(?:es)? not)\s+(?:say|mention|contain|"
    r"provide|state|specify|cover|include)|\bI (?:do not|don't|don’t) know\b|\bno information\b|"
    r"\bnot (?:mentioned|stated|specified|covered) in\b",
    re.I,
)


def is_decline(text: str) -> bool:
    return bool(_DECLINE.search(text))


@dataclass
class Checked:
    text: str
    citations: list[Citation]
    removed_markers: int
    added_markers: int
    moved_markers: int = 0
    dropped_sentences: int = 0  # claims no source supports, left out


SUPPORT_MIN = 0.5  # a claim is supported when half its content words are in the cited sentence
WEAK_SUPPORT = 0.25  # below this, the cited source hardly shares a word with the claim
WEAK_NOTE = "the model cited this source, but it does not clearly support the claim"


def check_citations(text: str, passages: Sequence[Passage]) -> Checked:
    """Leave out a claim no source supports (under WEAK_SUPPORT against every one); keep markers
    that resolve; re-point a marker whose source does not support its sentence
    (under WEAK_SUPPORT) to the source that does (at least SUPPORT_MIN), if one does; give uncited
    sentences the best-supporting source; renumber citations in order of first use (one entry per
    source used, quoting what supports the claims)."""
    removed = added = moved = 0

    def _strip_bad(m: re.Match[str]) -> str:
        nonlocal removed
        n = int(m.group(2))
        if 1 <= n <= len(passages):
            return m.group(0)
        removed += 1
        return ""

    # "as stated in Source [2]" / "(Source 2)" → "[2]"; a sentence of markers alone joins the one before
    text = re.sub(
        r"[,(]?\s*(?:\b(?:as\s+)?(?:stated|mentioned|reported|said|noted)\s+in\s+)?\b[Ss]ources?\s*"
        r"\[?(\d{1,2})(?!\d)\]?\)?",
        r" [\1]",
        text,
    )
    text = re.sub(r"\s+(\[\d+\])", r" \1", text)
    text = re.sub(r"([.!?][”\"’']?)\s+((?:\[\d+\]\s*)+?)\s*(?:[.!?](?=\s|$)|$)", r" \2\1", text)
    text = re.sub(r"(\s*)\[(\d+)\]", _strip_bad, text)
    text = re.sub(
        r"\[(\d+(?:\s*,\s*\d+)+)\]",
        lambda m: "".join(f"[{x.strip()}]" for x in m.group(1).split(",")),
        text,
    )
    sentences = split_sentences(text) if text.strip() else []
    out_sentences: list[str] = []
    dropped = 0
    for s in sentences:
        claim = without_markers(s)
        cited = [int(x) for x in re.findall(r"\[(\d+)\]", s)]
        if len(terms(claim)) >= 3 and passages:  # a claim no source supports is left out (what
            best = max(best_support(claim, p)[1] for p in passages)  # an article's injected
            if best < WEAK_SUPPORT:  # instructions make a model write is in none of them)
                dropped += 1
                continue
        if cited and len(terms(claim)) >= 3:
            for n in dict.fromkeys(cited):
                if best_support(claim, passages[n - 1])[1] >= WEAK_SUPPORT:
                    continue
                score, i = max((best_support(claim, p)[1], i) for i, p in enumerate(passages, 1))
                if score >= SUPPORT_MIN and i not in cited:
                    s = s.replace(f"[{n}]", f"[{i}]")
                    moved += 1
        if not cited and len(terms(s)) >= 3:
            scored = [(best_support(s, p)[1], i) for i, p in enumerate(passages, 1)]
            if scored:
                score, i = max(scored)
                if score >= SUPPORT_MIN:
                    s = _add_marker(s, i)
                    added += 1
        out_sentences.append(s)
    text = " ".join(out_sentences)

    # renumber by first use and build one citation per used source
    order: list[int] = []
    for n in (int(x) for x in re.findall(r"\[(\d+)\]", text)):
        if n not in order:
            order.append(n)
    mapping = {old: new for new, old in enumerate(order, 1)}
    claims: dict[int, list[str]] = {n: [] for n in order}
    for s in split_sentences(text):
        for n in {int(x) for x in re.findall(r"\[(\d+)\]", s)}:
            claims[n].append(without_markers(s))
    text = re.sub(r"\[(\d+)\]", lambda m: f"[{mapping[int(m.group(1))]}]", text)
    citations = []
    for old in order:
        p = passages[old - 1]
        quotes: list[str] = []
        support = 0.0
        for claim in claims[old]:
            q, score = best_support(claim, p)
            support = max(support, score)
            if q and q not in quotes:
                quotes.append(q)
        note = "" if support >= WEAK_SUPPORT else WEAK_NOTE
        citations.append(
            citation_for(mapping[old], p, " … ".join(quotes) or split_sentences(p.text)[0], note)
        )
    return Checked(
        text=text.strip(),
        citations=citations,
        removed_markers=removed,
        added_markers=added,
        moved_markers=moved,
        dropped_sentences=dropped,
    )


def _add_marker(sentence: str, n: int) -> str:
    m = re.search(r"([.!?][”\"’']?)$", sentence)
    if m:
        return sentence[: m.start()] + f" [{n}]" + m.group(1)
    return sentence + f" [{n}]"
