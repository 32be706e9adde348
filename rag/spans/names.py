"""Names and figures made whole: "of" phrases and states kept with a span, variants folded into
their longest form ("Bills" into "Buffalo Bills"), and a name's full form looked for in more
sentences. Nothing here decides which span answers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import islice

from rag.spans.asks import (
    FACILITY_NOUNS,
    OF_STOP,
    ORG,
    ORG_NOUNS,
    PERSON,
    PERSON_NOUNS,
    PLACE,
    PLACE_NOUNS,
)
from rag.spans.features import ARTICLE, clean_span, span_words
from rag.spans.tagging import EntityTagger, written_whole
from rag.spans.types import Candidate, Sentence
from rag.text import places
from rag.text.rules import (
    common_word,
    stands_for,
)


def with_of(span: str, sentence: str) -> str:
    """A share or sum with what it is of, as the sentence says it: '2.5% of gross domestic
    product', '$2 billion of aid' (up to four words, stopping at a preposition or a comma)."""
    at = sentence.find(span)
    rest = sentence[at + len(span) :]
    m = re.match(r"\s+of\s+((?:the\s+)?[^\s,.;:()]+(?:\s+[^\s,.;:()]+){0,3})", rest)
    if not m:
        return span
    words: list[str] = []
    for w in m.group(1).split():
        if w.lower() in OF_STOP and words and words != ["the"]:
            break
        words.append(w)
    if not words or words == ["the"]:
        return span
    return sentence[at : at + len(span) + rest.find(words[-1]) + len(words[-1])]


# a currency sign written before a figure ("$500", "US$ 2 million", "£17m"); a score or range's
# other half ("63-7", "18-24")
_SIGN_BEFORE = re.compile(r"(?:(?<![A-Za-z])(?:US|C|A|NZ|HK|S))?[$£€¥₹]\s?$")
_OTHER_HALF_AFTER = re.compile(r"[-–]\d+(?![\d.,]?\w)")
_OTHER_HALF_BEFORE = re.compile(r"(?<![\w.,-])\d+[-–]$")


def with_sign(span: str, sentence: str) -> str:
    """A figure with what the sentence writes beside it that belongs to it: the currency sign
    spaCy's tagger leaves out ("$500", not "500") and a score's or range's other half ("63-7",
    not "63"). Anything else is left as it is."""
    at = sentence.find(span)
    if at < 0:
        return span
    start, end = at, at + len(span)
    sign = _SIGN_BEFORE.search(sentence[:start])
    if sign and span[:1].isdigit():
        start = sign.start()
    elif span.isdigit():
        after = _OTHER_HALF_AFTER.match(sentence, end)
        before = _OTHER_HALF_BEFORE.search(sentence[:start])
        if after:
            end = after.end()
        elif before:
            start = before.start()
    return sentence[start:end]


_AFTER_COMMA = re.compile(r",\s+([A-Z][\w.]*(?:\s+[A-Z][\w.]*)?)")


def with_state(span: str, sentence: str) -> str:
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


# what follows a person's name as part of it: "Carlos Sainz Jr.", "Pope Benedict XVI"
_NAME_SUFFIX = re.compile(
    r",?\s+(?:Jr\.?|Sr\.?|II|III|IV|VI{0,3}|IX|XI{0,3}|XIV|XVI{0,3}|XIX|XX)(?![\w'’-])"
)


def with_suffix(span: str, sentence: str) -> str:
    """A person's name with the generation or regnal number written after it, which the tagger
    often leaves out ("Carlos Sainz Jr.", "Pope Benedict XVI")."""
    at = sentence.find(span)
    m = _NAME_SUFFIX.match(sentence, at + len(span)) if at >= 0 else None
    return sentence[at : m.end()] if m else span


# nouns that name an organisation, a person or a place by their kind: "Apple company" and "Texas
# state" are no names; "Yellowstone National Park" and "Lyme disease" are
_KIND_NOUNS = ORG_NOUNS | PERSON_NOUNS | PLACE_NOUNS | FACILITY_NOUNS


def with_asked_noun(span: str, sentence: str, asked: str) -> str:
    """A name with the words of the question's "which X" that the sentence writes right after it,
    or capitalised right before it ("Hurricane Fiona" for "which hurricane"), as part of what is
    asked for: "Lyme disease" for "which disease", "Christchurch variant",
    "Yellowstone National Park" for "which national park" (words of a kind of organisation,
    person or place only when capitalised as part of the name: not "Apple company")."""
    words = asked.split()
    at = sentence.find(span)
    if not words or at < 0:
        return span
    # written before it as part of the name: "Hurricane Fiona" for "which hurricane"
    before = re.search(
        r"\b(" + r"\s+".join(rf"{re.escape(w)}\w{{0,2}}" for w in words[-1:]) + r")\s+$",
        sentence[:at],
        re.I,
    )
    if before and before.group(1)[:1].isupper():
        return sentence[before.start(1) : at + len(span)]
    rest = sentence[at + len(span) :]
    for k in range(len(words), 0, -1):
        tail = words[-k:]
        m = re.match(
            r"\s+" + r"\s+".join(rf"({re.escape(w)}\w{{0,2}})" for w in tail) + r"\b", rest, re.I
        )
        if not m:
            continue
        written = [m.group(i + 1) for i in range(k)]
        capitalised = all(w[:1].isupper() for w in written)
        if capitalised or not any(w.lower().rstrip("s") in _KIND_NOUNS for w in tail):
            return sentence[at : at + len(span) + m.end()]
        return span
    return span


# a name's words joined by hyphens to a capitalised end: "Mar-a-Lago" (the tagger gives "Mar"),
# "Stratford-upon-Avon"; not "Biden-era" nor "Israel-Hamas"
_HYPHENED_ON = re.compile(r"(?:-[a-z]+)+-[A-Z][\w']*")


def with_hyphened(span: str, sentence: str) -> str:
    """A name not cut inside the hyphened word it begins: "Mar-a-Lago", not "Mar"."""
    at = sentence.find(span)
    m = _HYPHENED_ON.match(sentence, at + len(span)) if at >= 0 else None
    return sentence[at : m.end()] if m else span


def with_home(sentence: str, ents: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """An organisation named after its home, which the tagger cut in two ("Cleveland" a place,
    "Browns" an organisation, of "Cleveland Browns quarterback Deshaun Watson"): the name whole,
    where the sentence writes the place right before it; the place stays a name of its own."""
    homes = [raw for raw, kind in ents if kind == PLACE and len(raw.split()) <= _HOME_WORDS]
    out = []
    for raw, kind in ents:
        if kind == ORG and raw[:1].isupper():
            raw = next(
                (
                    joined
                    for home in homes
                    if (joined := f"{home} {raw}") in sentence
                    and written_whole(joined).search(sentence)
                ),
                raw,
            )
        out.append((raw, kind))
    return out


_HOME_WORDS = 3  # "New York", "Tampa Bay", "Salt Lake City"


def possessive_name(name: str, sentence: str, texts: Iterable[str]) -> str | None:
    """A name that every sentence naming it writes with a possessive ("Wendy's", "McDonald's": a
    brand, never "Wendy" alone), in the form `sentence` writes it (the caller asks only of a name
    the tagger took with its possessive: it leaves a genitive's out, "Apple" of "Apple's iPhone");
    None when any sentence names it without one ("Apple's iPhone" beside "Apple said": the name
    is Apple) or `sentence` does not name it so."""
    found = re.compile(r"(?<![\w'’-])" + re.escape(name) + r"(?![\w-])(['’]s\b)?")
    if not all(m.group(1) for t in texts for m in found.finditer(t)):
        return None
    here = found.search(sentence)
    return here.group(0) if here and here.group(1) else None


# "Bills-Bengals" (a game between two teams) is no longer form of "Bills"
_MATCHUP = re.compile(r"\b[A-Z][\w.]*-[A-Z][\w.]*")


def fold_variants(cands: list[Candidate]) -> list[Candidate]:
    """'Bills' and 'Buffalo Bills', 'Hamlin' and 'Damar Hamlin', 'GM' and 'General Motors': one
    candidate in the longest form (the one a reader can act on), carrying the sentences of
    both."""
    out: list[Candidate] = []
    for c in sorted(cands, key=lambda c: -len(span_words(c.text))):
        words = set(span_words(c.text))
        home = next(
            (
                o
                for o in out
                if o.kind == c.kind
                and (
                    (
                        words <= set(span_words(o.text))
                        and (not _MATCHUP.search(o.text) or _MATCHUP.search(c.text))
                    )
                    or stands_for(c.text, o.text)
                )
            ),
            None,
        )
        if home is None:
            out.append(c)
        else:
            home.sentences.extend(s for s in c.sentences if s not in home.sentences)
            for key, weight in c.support.items():
                home.support[key] = max(weight, home.support.get(key, 0.0))
            for key, said in c.said.items():
                home.said.setdefault(key, said)
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
    pattern = written_whole(cand.text)
    have = {s.text for s in cand.sentences}
    writing = (s for s in sentences if s.text not in have and pattern.search(s.text))
    more = list(islice(writing, FULL_NAME_SENTENCES))
    forms: dict[str, list[Sentence]] = {}
    for sent, ents in zip(more, tagger.entities([s.text for s in more]), strict=True):
        for raw, kind in ents:
            text = ARTICLE.sub("", clean_span(raw))  # "The Milwaukee Bucks" opening one
            if kind == cand.kind and text in sent.text and _completes(cand.text, text, kind):
                forms.setdefault(text, []).append(sent)
    # 'Jean Carroll' and 'E. Jean Carroll' are one form: the longest holds the others
    longest = [f for f in forms if not any(f != g and g.endswith(" " + f) for g in forms)]
    if len(longest) == 1:
        cand.text = longest[0]
        cand.sentences.extend(s for f in forms for s in forms[f] if longest[0] in s.text)
