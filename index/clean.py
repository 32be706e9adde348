"""Turn a raw article body into clean paragraphs, and read the metadata the text itself carries.

What goes: publisher boilerplate (donation appeals, "Read More: …" and "Listen to this article"
lines, picture credits and captions, "N min read", section labels, the lists of unrelated
headlines after "Explore" / "RECOMMENDED" / "Related…"), a repeated headline, and bylines/date
lines/`SOURCE:` lines, which become metadata instead. What stays: every sentence of the story.
The rules are line-based heuristics tuned on the seed articles' publishers; they never rewrite a
sentence, they only drop whole lines. Lines the source marks as structure, a markdown heading
("## Who loses", kept without its marks), a list item ("- …") or a table row ("| … |"), are the
story's own subheadings, lists and tables (`index.html` writes a page's so): they are never
taken for a stray headline. This module reads no files (that is `index.loaders`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from rag.text.dates import MONTHS, parse_date
from rag.text.rules import fold

_MONTHS = "|".join(MONTHS)
_DATE_LINE = re.compile(rf"^(?:{_MONTHS})\s+\d{{1,2}},\s+\d{{4}}$", re.I)
_SEED_DATE = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*")
_BYLINE = re.compile(r"^By\s+([A-Z][\w.'’-]+(?:\s+(?:[A-Z][\w.'’-]+|and|&|de|van|von))*)\s*$")
_SOURCE_LINE = re.compile(r"^SOURCE:\s*(.+)$")
_READ_TIME = re.compile(r"^\d+\s+min(?:ute)?s?\s+read$", re.I)
_PICTURE_CREDIT = re.compile(
    r"(?:\b(?:Picture|Photo|Image|Credit|Photograph)s?\s*:\s*[\w .&/-]{1,40}$)|(?:\s/\s[A-Z]{2,6}$)|"
    r"(?:\((?:Getty|AP|AFP|Reuters|PA|EPA)(?: Images?)?\)$)"
)
_CAPTION_WORDS = 60  # a caption is a sentence or two
_LINE_BOILERPLATE = re.compile(
    r"^(?:Read More:|Read more:|READ MORE:|Listen to this article|Sign up|Subscribe|"
    r"Follow (?:us|every)|Click here|Advertisement$|Share this article|Copy link)",
)
_DONATION_MARKERS = (
    "your support",
    "donation",
    "support now",
    "paywall",
    "paid for by those who can afford",
    "support our journalism",
    "become a member",
)
_LIST_LABELS = re.compile(
    r"^(?:Explore|RECOMMENDED|Recommended|Related(?:\s*(?:stories|articles|news|content))?|"
    r"More from .{1,40}|Most (?:read|popular)|Trending|Read next|You may also like|"
    r"Also read|Top stories|Latest news)\s*:?$"
)
_RELATED_PREFIX = re.compile(r"^Related(?=[A-Z])")  # "RelatedTRT World - …" (label glued on)
_SECTION_LABEL = re.compile(r"^[A-Z][A-Z &-]{1,30}$")  # "EUROPE", "WORLD NEWS"
_MD_HEADING = re.compile(r"^#{1,6}\s+")  # "## Who loses"
_STRUCTURE = re.compile(r"^(?:[-*•]\s|\|)(?=.*\w)")  # "- a list item", "| a | table row |"
_PUBLISHERS = (
    "The Independent",
    "The Guardian",
    "The Telegraph",
    "The Times",
    "LBC",
    "BBC",
    "CNN",
    "Reuters",
    "AFP",
    "Associated Press",
    "Anadolu",
    "TRT World",
)
_END = ".!?\"”’'):…"


@dataclass
class Cleaned:
    title: str | None = None
    paragraphs: list[str] = field(default_factory=list)
    date: date | None = None
    author: str | None = None
    source: str | None = None
    removed: list[str] = field(default_factory=list)  # what was dropped, for tests and --verbose


def _ends_sentence(line: str) -> bool:
    return line.rstrip().endswith(tuple(_END))


def _is_donation_appeal(line: str) -> bool:
    low = line.lower()
    return sum(marker in low for marker in _DONATION_MARKERS) >= 2


def split_paragraphs(text: str) -> list[str]:
    """Blank lines separate paragraphs; inside a block, a line that ends a sentence (or a short
    line: a headline) ends a paragraph, while hard-wrapped prose lines are joined back."""
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        current = ""
        for raw in block.split("\n"):
            line = " ".join(raw.split())
            if not line:
                continue
            if current and not _ends_sentence(current) and line[:1].islower():
                current += " " + line  # hard-wrapped sentence continues
                continue
            if current:
                paragraphs.append(current)
            current = line
        if current:
            paragraphs.append(current)
    return paragraphs


def clean(text: str, *, title: str | None = None) -> Cleaned:
    """Clean an article body. `title` is the known headline (from data), if any."""
    out = Cleaned(title=title)
    m = _SEED_DATE.match(text)
    if m:
        out.date = parse_date(m[1])
        text = text[m.end() :]
    lines = split_paragraphs(text)

    in_list = False
    kept: list[str] = []
    marked: set[int] = set()  # indexes in `kept` of the source's own headings, items and rows
    for i, line in enumerate(lines):
        heading = _MD_HEADING.match(line)
        if heading:
            line = line[heading.end() :]
        structure = bool(heading) or bool(_STRUCTURE.match(line))
        if in_list:
            # a headline list goes on until a real paragraph: a long line ending a sentence
            if _ends_sentence(line) and len(line.split()) > 12:
                in_list = False
            else:
                out.removed.append(line)
                continue
        if _LIST_LABELS.match(line):
            in_list = True
            out.removed.append(line)
            continue
        if _RELATED_PREFIX.match(line) or _LINE_BOILERPLATE.match(line) or _READ_TIME.match(line):
            out.removed.append(line)
            continue
        if _is_donation_appeal(line):
            out.removed.append(line)
            continue
        sm = _SOURCE_LINE.match(line)
        if sm:
            out.source = out.source or sm[1].strip()
            out.removed.append(line)
            continue
        bm = _BYLINE.match(line)
        if bm and len(line) < 80:
            out.author = out.author or bm[1].strip()
            out.removed.append(line)
            continue
        if _DATE_LINE.match(line):
            out.date = out.date or parse_date(line)
            out.removed.append(line)
            continue
        if _PICTURE_CREDIT.search(line) and len(line.split()) <= _CAPTION_WORDS:
            out.removed.append(line)  # a caption with its credit (not a story that ends in one)
            continue
        if i < 3 and _SECTION_LABEL.match(line) and len(lines) > 1:
            out.removed.append(line)  # "EUROPE" above the headline
            continue
        if structure:
            marked.add(len(kept))
        kept.append(line)

    # the headline: given, or the first short line that does not end like a sentence
    lede_titled = False  # the headline is made from the first paragraph, which stays
    if out.title is None and kept:
        first = kept[0]
        if len(first) <= 200 and not first.endswith("."):
            out.title = first
            kept = kept[1:]
            marked = {j - 1 for j in marked if j}
        else:
            out.title = _title_from_lede(first)
            lede_titled = True
    # a headline repeated further down (004 prints it twice) is dropped
    norm_title = fold(out.title or "")
    body: list[str] = []
    for j, line in enumerate(kept):
        if norm_title and fold(line) == norm_title and not (lede_titled and j == 0):
            out.removed.append(line)
            continue
        # an unrelated headline in the middle of the story: short, no final punctuation,
        # between two paragraphs (not the subtitle right under the headline, nor a line the
        # source marks as its own subheading, list item or table row)
        if j > 1 and j not in marked and not _ends_sentence(line) and len(line.split()) <= 20:
            out.removed.append(line)
            continue
        body.append(line)
    out.paragraphs = body

    if out.source is None:
        out.source = _publisher_from(out.removed)
    return out


def _title_from_lede(lede: str) -> str:
    """No headline: the lede's first sentence, without a 'LONDON:' dateline, cut to 120 chars."""
    lede = re.sub(r"^[A-Z][A-Z ]{2,30}(?:\s*\([A-Za-z]+\))?\s*[:—–-]\s*", "", lede)
    first = re.split(r"(?<=[.!?])\s", lede, maxsplit=1)[0]
    return first if len(first) <= 120 else first[:117].rsplit(" ", 1)[0] + "…"


def _publisher_from(removed: list[str]) -> str | None:
    """The publisher named in its own boilerplate ('The Independent is on the ground …')."""
    text = " ".join(removed)
    for name in _PUBLISHERS:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return name
    return None
