"""What is measured of a candidate span in its sentence: its words, its closeness to the
question's words, whether it stands beside the asked-for noun or name, whether the question
already names it, whether its kind fits, years, titles, superseded figures, lengths of time and
recency. Each is a function of the span, its sentence and the question; none tags or ranks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from rag.spans.asks import (
    COUNT,
    DATE,
    FACILITY,
    FACILITY_NOUNS,
    GROUP,
    MONEY,
    NAMED,
    NUMBER,
    ORG_NOUNS,
    PERCENT,
    PERSON_NOUNS,
    PLACE,
    PLACE_NOUNS,
    THING,
)
from rag.text.dates import DAYS
from rag.text.rules import (
    percent_signs,
    term_set,
    terms,
)


def span_words(text: str) -> list[str]:
    """Lower-case words for comparing spans ('U.S.' and 'US' are both 'us')."""
    found = re.findall(r"[a-z0-9%$£€.]*[a-z0-9%$£€]", percent_signs(text.lower()))
    return [w if re.search(r"\d", w) else w.replace(".", "") for w in found]


_TOKEN = re.compile(r"[\w$£€%][\w'’%.,-]*[\w%]|[\w$£€%]")


def proximity(span: str, sentence: str, q_terms: set[str]) -> float:
    """How close the span stands to the question's words in the sentence: 1 beside them all,
    towards 0 far from them (1 when the sentence shares no word with the question)."""
    at = sentence.find(span)
    tokens = _tokens(sentence)
    first = next((i for i, (start, _, _) in enumerate(tokens) if start >= at), len(tokens))
    last = next(
        (i for i, (start, _, _) in enumerate(tokens) if start >= at + len(span)), len(tokens)
    )
    distance = [
        first - i if i < first else i - last + 1
        for i, (_, _, stems) in enumerate(tokens)
        if stems & q_terms and not first <= i < last
    ]
    if not distance:
        return 1.0
    return sum(1 / (1 + d / PROXIMITY_SCALE) for d in distance) / len(distance)


@lru_cache(maxsize=4096)
def _tokens(sentence: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """(start, end, stemmed content words) of each word of the sentence."""
    return tuple((m.start(), m.end(), term_set(m.group())) for m in _TOKEN.finditer(sentence))


def beside_noun(span: str, sentence: str, heads: frozenset[str]) -> bool:
    """The span stands within two words of the asked-for noun, or contains it."""
    if not heads:
        return False
    at = sentence.find(span)
    before = sentence[:at].split()[-2:]
    after = sentence[at + len(span) :].split()[:2]
    return any(heads & _stems(w) for w in (*before, span, *after))


@lru_cache(maxsize=65_536)
def _stems(words: str) -> frozenset[str]:
    """`terms` of a word or a span, remembered: the same words come back in every sentence."""
    return frozenset(terms(words))


NamePatterns = list[tuple[re.Pattern[str], re.Pattern[str]]]


@lru_cache(maxsize=256)
def _name_patterns(named: tuple[str, ...]) -> NamePatterns:
    """For each name the question asks about (and its last word): what follows a span that
    stands right before it, and what precedes a span right after it."""
    out: NamePatterns = []
    for name in named:
        for form in dict.fromkeys((name, name.split()[-1])):
            f = re.escape(form)
            out.append(
                (
                    re.compile(r"[\s,]*(?:[\w.'’-]+\s+)?" + f + r"\b"),
                    re.compile(
                        r"\b" + f + r"(?:['’]s)?[\s,]+(?:(?:of|for|with|from|at|the)\s+){0,2}$"
                    ),
                )
            )
    return out


def beside_name(span: str, sentence: str, named: Sequence[str]) -> bool:
    """The span stands right before a name the question asks about, at most one word between
    ("Bills safety Damar Hamlin"), or right after it joined by "of the", "for" or a comma
    ("Damar Hamlin of the Bills"): it says what that one is or belongs to."""
    at = sentence.find(span)
    before, after = sentence[:at], sentence[at + len(span) :]
    patterns = _name_patterns(tuple(named))  # made once per question
    return any(ahead.match(after) or behind.search(before) for ahead, behind in patterns)


def counts_noun(span: str, sentence: str, noun: str | None) -> bool:
    """'22 full seasons' for 'how many seasons': the counted noun ends the span or follows it
    within three words ('six centuries' for 'how many centuries')."""
    if not noun:
        return False
    rest = sentence[sentence.find(span) + len(span) :]
    return any(noun in terms(w) for w in span.split()[-1:] + rest.split()[:3])


_KIND_NOUNS = PERSON_NOUNS | PLACE_NOUNS | FACILITY_NOUNS | ORG_NOUNS


ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


_POSSESSIVE = re.compile(r"['’]s$")


_TRAILING = re.compile(r"(?:\s+(?:to|and|or|of|in|on|at|for|from|by|with|the|a|an))+$", re.I)


WEEKDAYS = frozenset(d.title() for d in DAYS)


_GENERIC = frozenset("the of and new us u.s. uk united".split())


def in_question(span: str, kind: str, question_words: set[str]) -> bool:
    """The question names it already: all of a figure's words, or any distinctive word of a
    name ('Keir Starmer' answers nothing about 'Starmer')."""
    words = [w for w in span_words(ARTICLE.sub("", span)) if w not in _GENERIC]
    if not words:
        return True
    if kind in NAMED:
        # "Hawaiian Airlines" is not the question's "Alaska Airlines": a kind of thing shared
        # by two names does not make them one
        own = [w for w in words if len(w) > 2 and w.removesuffix("s") not in _KIND_NOUNS]
        return any(w in question_words for w in own or words if len(w) > 2)
    return all(w in question_words for w in words)


def clean_span(text: str) -> str:
    """spaCy's span without a dangling preposition or article ('2.3 percent to'), a possessive
    ending ("Port Ellery's": the answer is the place, not what belongs to it) or what stands
    before a spaced dash (a dateline, "HELSINKI − Vladimir Putin", or the sentence before it)."""
    text = without_dateline(text)
    return _TRAILING.sub("", _POSSESSIVE.sub("", text.strip(" ,;:'\"“”‘’()")))


# a dash with a space on each side ends a dateline ("HELSINKI − ") or a clause: no name holds one
_SPACED_DASH = re.compile(r"\s[−—–-]+\s")


def without_dateline(text: str) -> str:
    """A span across a spaced dash, as the tagger joins a dateline or a clause to the name after
    it ("HELSINKI − Vladimir Putin", "forces − Memorial Day"): only the part after the last dash."""
    parts = _SPACED_DASH.split(text)
    return parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else text


def kind_fits(kind: str, expected: str, where: bool = False, duration: bool = False) -> bool:
    if kind == expected:
        return True
    if expected == THING:
        return kind in NAMED and kind != GROUP  # "Chinese" is no answer to "which app"
    if expected == PLACE:
        return kind == FACILITY and where
    if expected == FACILITY:
        return kind == PLACE
    if expected == COUNT:
        return kind == NUMBER or (duration and kind == DATE)
    if expected == NUMBER:
        return kind in (NUMBER, MONEY, PERCENT)
    return expected == MONEY and kind in (NUMBER, PERCENT)


YEARS = re.compile(r"\b(?:19|20)\d\d\b")


_YEAR_WORDS = {"this": 0, "last": -1, "next": 1}


_RELATIVE_YEAR = re.compile(r"\b(this|last|next) year\b", re.I)


def years_in(text: str, day: str = "") -> set[str]:
    """The years a text names, "this year" in an article of 2022 being 2022."""
    years = set(YEARS.findall(text))
    if day[:4].isdigit():
        for word in _RELATIVE_YEAR.findall(text):
            years.add(str(int(day[:4]) + _YEAR_WORDS[word.lower()]))
    return years


_QUOTED = re.compile(r"[“\"‘']([A-Z0-9][^“”\"]{0,80}?)[,.]?[”\"’'](?!\w)")


def quoted_titles(sentence: str) -> list[str]:
    """Titles quoted in a sentence: up to ten words in quotes, most of them capitalised
    ("Everything Everywhere All at Once", "Barbie"); not a quoted remark."""
    out = []
    for m in _QUOTED.finditer(sentence):
        words = m.group(1).split()
        capitals = sum(w[0].isupper() or w[0].isdigit() for w in words)
        if len(words) <= 10 and capitals * 2 > len(words) and not re.search(r"[.!?;]", m.group(1)):
            out.append(m.group(1))
    return out


NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"


_HOW_MUCH = (
    r"(?:(?:about|around|nearly|almost|more than|over|under|some|just|only|roughly)\s+)?"
    rf"(?:\d[\d,.]*|{NUMBER_WORDS}|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|a few|several|a dozen)"
)


_FROM = re.compile(
    r"\bfrom\s+(?:(?:about|around|nearly|roughly|almost|some|just|over|under|more than|less "
    r"than|an estimated)\s+)?$",
    re.I,
)


_TO_FIGURE = re.compile(
    rf"^[^.;]{{0,30}}?\bto\s+(?:[^\s.;]+\s+){{0,4}}?(?:[$£€]?\d|(?:{NUMBER_WORDS})\b)", re.I
)


def superseded(span: str, sentence: str) -> bool:
    """The figure a change is told from: "from" before it and "to" another figure after."""
    at = sentence.find(span)
    return (
        at >= 0
        and _FROM.search(sentence[:at]) is not None
        and _TO_FIGURE.match(sentence[at + len(span) :]) is not None
    )


def modifies(span: str, sentence: str, noun: str | None) -> bool:
    """A number made into "N-time" ("the seven-time Super Bowl winner") says how often someone
    did something, and counts no seasons or games (only "how many times")."""
    rest = sentence[sentence.find(span) + len(span) :]
    return re.match(r"-time\b", rest, re.I) is not None and noun != "time"


def length_in(span: str, unit: str) -> str | None:
    """The length of time in `unit` a date span gives ("90 seconds" of "midnight to 90
    seconds", "nearly 600 years"), or None ("1947", "Thursday", "two minutes" for seconds; "10
    day" of "a 10 day shelf-life", which describes something else: a count says "10 days")."""
    plural = "centuries" if unit.lower() == "centuries" else unit.lower()
    found = re.search(rf"\b{_HOW_MUCH}\s+{plural}\b", span, re.I)
    return found.group(0) if found else None


PROXIMITY_SCALE = 6  # words away from a question word at which a span's closeness halves


# support from an article this much older than the newest retrieved halves (a season: longer let
# old news in, shorter let an undated article's figure beat dated ones), and for a question about
# what is new ('this week', 'recently') sooner: news of a week or two ago is another story
RECENCY_DAYS = 90


def recency(day: str, newest: str, days: float = RECENCY_DAYS) -> float:
    """1 for the newest retrieved articles, less the older a sentence's article is than them
    (half at `days` older)."""
    if not day or not newest or days <= 0:
        return 1.0
    age = (date.fromisoformat(newest) - date.fromisoformat(day)).days
    return 1 / (1 + max(age, 0) / days)
