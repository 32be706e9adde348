"""What a question asks for: the kind of span that answers it (a person, a place, a number…),
the sentence that asks, the kind of place, and the nouns that name what is asked for. Pure
functions of the question; nothing here reads passages."""

from __future__ import annotations

import re

from rag.text import places
from rag.text.rules import (
    terms,
)

FACILITY = "facility"  # a building, street, airport or stadium: a place for "where", not a country


COUNT = "count"  # "how many": a number of things, not a sum of money or a share


# spaCy's OntoNotes labels, grouped by what a question asks for
PERSON, ORG, PLACE, DATE, NUMBER, MONEY, PERCENT, THING = (
    "person", "organisation", "place", "date", "number", "amount", "percentage", "thing",
)  # fmt: skip


GROUP = "group"


NAMED = frozenset({PERSON, ORG, PLACE, FACILITY, THING, GROUP})


# the noun after "which"/"what" says what kind of thing is asked for
PERSON_NOUNS = frozenset(
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


PLACE_NOUNS = frozenset(
    """
    country nation state city town village county province region island islands continent
    capital territory district neighborhood neighbourhood borough river lake sea ocean mountain
    volcano place location area destination
    """.split()
)


# a title is asked for: news quotes it ("Everything Everywhere All at Once"); no person answers
WORK_NOUNS = frozenset(
    """
    film movie show series song album book novel play comedy drama musical sitcom documentary
    podcast opera ballet painting anthem single track franchise sequel
    """.split()
)


FACILITY_NOUNS = frozenset("port airport park stadium arena venue street building bridge".split())


ORG_NOUNS = frozenset(
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
    (PERSON_NOUNS, PERSON),
    (PLACE_NOUNS, PLACE),
    (FACILITY_NOUNS, FACILITY),
    (ORG_NOUNS, ORG),
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
CURRENCY = re.compile(
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
        (CURRENCY.pattern, MONEY),
        (r"\bhow many\b", COUNT),
        (r"\bhow (?:much|old|long|far|big|large|tall|high)\b|\b(?:what|which)\s+(?:[\w'’-]+\s+){0,4}?"
         r"(?:" + "|".join(_QUANTITY_NOUNS) + r")\b", NUMBER),
        (r"(?:^|[,;:]\s*|\b(?:and|but|so)\s+)when\b|\b(?:what date|what day|which day|"
         r"what time|which month|what year|which year|by when|since when|until when)\b", DATE),
        (r"\bwhere\b", PLACE),
        (r"^\s*(?:and\s+)?(?:who|whom|whose)\b|\bwho\b(?!\s*'s\b)|"
         r"\b(?:for|to|by|with|from|of|about) whom\b", PERSON),
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
            if at and word in _AUXILIARIES:
                break  # "which virus is making officials…": the noun asked is before the verb
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
    if _IN_PLACE.search(q):
        return THING  # "Elon Musk has rebranded Twitter as what?": the thing, where it stands
    return None


# "what" where the thing it asks for stands in the sentence, its last word or before a comma
# ("banning the sale of what?", "stealing what, according to reports?")
_IN_PLACE = re.compile(
    r"\b(?:of|as|for|from|against|to|into|with|about|in|on|by|[a-z]+ed|[a-z]+s|"
    r"[a-z]+ing)\s+what\s*(?:\?|,)",
    re.I,
)


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
        if word.strip("?") in _NAME_NOUNS:
            return THING  # "what is the nickname of…": a name, not an explanation
    return None


# the nouns of a name something goes by: "what is the nickname / slogan / motto of…"
_NAME_NOUNS = frozenset("nickname slogan motto acronym codename moniker word title".split())


_FIGURES_OF_NOTE = frozenset(
    "public political famous controversial prominent notable historical religious royal "
    "cultural literary sports media business key".split()
)


def _names_a_kind(asked: str) -> bool:
    """'which streaming platform announced new price': a kind of organisation (or person or
    place) is asked for before the quantity noun, which belongs to the rest of the question."""
    words = asked.split()[1:-1]
    return any(w in nouns for w in words for nouns, _ in _NOUN_KINDS)


_THIS = re.compile(
    r"\b(?:this|these)\s+(?!(?:week|weekend|year|month|season|summer|winter|spring|fall|autumn|"
    r"morning|afternoon|evening|night|time|week's|year's)\b)((?:[\w-]+\s+){0,3}[\w-]+)",
    re.I,
)


_ONE_OF = re.compile(r"^\w+\s+of\s+(?:these|those|the following|the)\b", re.I)  # one of several


def _asked_which(question: str) -> re.Match[str] | None:
    """The "which/what X" of the question, not a relative clause's ("a balloon, which officials
    said…, was shot down off which state"), unless it is the only one ("After the attack,
    which author…")."""
    found = list(_WHICH.finditer(question))
    if not found and not _WH.search(question):
        # a quiz's clue names what it asks for as "this X": "This former Japanese prime minister
        # was assassinated…", "Elon Musk purchased this company for $44 billion."
        return _THIS.search(question)
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


def asked_words(question: str) -> str:
    """The words naming what a "which/what X" question asks for, as written ('which Ivy League
    school announced' -> 'Ivy League school', up to a verb in -ed as `asked_head` reads it;
    '' when it names none)."""
    kept = []
    for word in _asked_words(question):
        if len(word) > 4 and word.endswith("ed") and word[0].islower():  # not "United"
            break
        kept.append(word)
    return " ".join(kept)


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
        if low in _AUXILIARIES or low in OF_STOP or low in _NOT_HEADS or low in _NAMING:
            break
        words.append(word)
    return words


def asked_head(question: str) -> str | None:
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


OF_STOP = frozenset(
    "on in by from to for and or with at over this that which who a an its their his her is are "
    "was were will would as than".split()
)
