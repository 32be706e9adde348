"""Candidate short answers: the named entities and figures of the expected kind in many scored
sentences, with their support added up.

`mine(question, sentences, tagger)` keeps the spans of the kind the question asks for
(`rag.spans.asks`) among those tagged in the sentences (`rag.spans.tagging`), filters those that
cannot answer (the question's own names, ages for "when", a city for "which country"…), and
scores each: a span that several articles carry, in sentences that match the question well,
outranks one a single passage mentions; within a sentence the features of `rag.spans.features`
(closeness to the question's words, beside the asked-for noun or name, the counted noun) weigh
its support; support from articles much older than the newest retrieved one counts less.
Variants fold into the longest form (`rag.spans.names`). After the names of the kind asked come,
in their own order, the sentences' noun phrases ("vinyl chloride", `noun_phrases`) and names the
tagger gave another kind (it often calls a company a person): candidates the learned ranker
(`rag.spans.ranker`) can weigh, which the quotes do not treat as contenders. `only_ahead` finds a
question about something the articles only announce.

Nothing here retrieves, scores sentences or writes the answer text (`rag.answering.extractive`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.spans.asks import (
    COUNT,
    CURRENCY,
    DATE,
    MONEY,
    NAMED,
    NUMBER,
    ORG,
    PERCENT,
    PERSON,
    PLACE,
    THING,
    WORK_NOUNS,
    asked_head,
    asked_nouns,
    asked_place,
    asked_words,
    expected_type,
)
from rag.spans.features import (
    ARTICLE,
    NUMBER_WORDS,
    RECENCY_DAYS,
    WEEKDAYS,
    YEARS,
    beside_name,
    beside_noun,
    clean_span,
    counts_noun,
    in_question,
    kind_fits,
    length_in,
    modifies,
    proximity,
    quoted_titles,
    recency,
    span_words,
    superseded,
    years_in,
)
from rag.spans.names import (
    fold_variants,
    possessive_name,
    with_asked_noun,
    with_home,
    with_hyphened,
    with_of,
    with_sign,
    with_state,
    with_suffix,
)
from rag.spans.tagging import (
    MODIFIER_TAGS,
    NOUN_TAGS,
    EntityTagger,
    consistent_kinds,
    pos_tag_many,
    pos_tags,
)
from rag.spans.types import Candidate, Sentence
from rag.text.dates import AHEAD, DAYS
from rag.text.rules import (
    names,
    places,
    split_sentences,
    spoken_of,
    term_set,
    terms,
)


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
    q_words = set(span_words(question))
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
    currency = expected == MONEY and CURRENCY.search(question) is not None
    # "what type of incidents", "which seed": the answer may be no name ("mental health
    # incidents", "sesame seeds"), found as the words before that noun in a sentence
    head = asked_head(question) if expected == THING and not work else None
    named = names(question) if expected in NAMED else []
    asked = asked_kind(question) if expected in NAMED else ""
    texts = [s.text for s in sentences]
    found: dict[str, Candidate] = {}
    forms: dict[str, Counter[str]] = {}
    newest = max((s.date for s in sentences if s.date), default="")
    # the year asked about: the question's own ("the 2023 Masters"), else the news's
    asked_years = set(YEARS.findall(question)) or ({newest[:4]} if newest else set())
    tagged = consistent_kinds(
        [s.text for s in sentences], tagger.entities([s.text for s in sentences])
    )
    phrasing = expected in PHRASE_KINDS
    if phrasing:  # in one batch, for the noun phrases
        pos_tag_many([s.text for s in sentences[:PHRASE_SENTENCES]], tagger.table)
    for at, (sent, ents) in enumerate(zip(sentences, tagged, strict=True)):
        ents = with_home(sent.text, ents)  # "Cleveland Browns", not "Browns"
        # the people the question names, as this sentence's tags say ("Bills safety Damar
        # Hamlin"), not an organisation ("Keir Starmer hosted NATO" says nothing of NATO's chief)
        people = [n for n in named if any(k == PERSON and n in raw for raw, k in ents)]
        years = years_in(sent.text, sent.date) if asked_years else set()
        titles = quoted_titles(sent.text) if work else []
        kinds_of_head = _compounds(sent.text, head, q_terms, ents) if head and not colour else []
        colours = _COLOURS.findall(sent.text) if colour else []
        phrasing_here = phrasing and at < PHRASE_SENTENCES
        phrases = noun_phrases(sent.text, ents, q_words) if phrasing_here else []
        extra = [(t, THING) for t in (*titles, *kinds_of_head, *colours, *phrases)]
        for raw, kind in dict.fromkeys([*ents, *extra]):
            if work and kind != THING:
                continue  # the film's star or studio is no film
            if colour and raw not in colours:
                continue  # no name is a colour
            text = clean_span(raw)
            if kind == PERSON and len(text.split()) > 2 and text.split()[-1] in WEEKDAYS:
                text = text.rsplit(" ", 1)[0]  # "Tucker Carlson Wednesday" (not "Jeff Saturday")
            if not text or text not in sent.text:
                continue
            if kind in NAMED:
                text = with_hyphened(text, sent.text)  # "Mar-a-Lago", not "Mar"
            if kind == PERSON:
                text = with_suffix(text, sent.text)  # "Carlos Sainz Jr."
            if kind == ORG and _BRAND.fullmatch(raw):
                # the tagger keeps a brand's possessive ("Wendy's"), not a genitive's ("Apple");
                # a brand is one word ("McDonald's"): not "the University of Virginia's"
                text = possessive_name(text, sent.text, texts) or text
            if kind in (NUMBER, PERCENT, MONEY):
                text = with_sign(text, sent.text)  # "$500", "63-7"
            if kind in (PERCENT, MONEY):
                text = with_of(text, sent.text)
            if kind == PLACE and expected == PLACE and place in (None, places.CITY):
                text = with_state(text, sent.text)  # (a state is no answer to "which state")
            length = False
            if expected == COUNT and kind == DATE and unit is not None:
                in_unit = length_in(text, unit)  # "1947": no length of time
                if not in_unit:
                    continue
                text, length = in_unit, True
            if expected == COUNT and kind == NUMBER and modifies(text, sent.text, noun):
                continue  # "the seven-time Super Bowl winner" played no seven seasons
            if (
                kind == NUMBER
                and text.lower() == "one"
                and not (noun and counts_noun(text, sent.text, noun))
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
            phrase = raw in phrases and (raw, kind) not in ents and not compound
            fits = kind_fits(kind, expected, where, length) or national
            if not (fits or phrase or (OTHER_NAMED and expected in NAMED and kind in NAMED)) or (
                not compound and in_question(text, kind, q_words)
            ):
                continue  # (a national side is named by its country: "Germany" for "which team")
            if expected == DATE and (_AGE.search(text) or _SPAN_OF_TIME.match(text)):
                continue  # "42-year-old" is an age, "11 weeks" a length of time: not a date
            if expected == DATE and (
                _HOW_OFTEN.fullmatch(text) or (year and not _YEAR.search(text))
            ):
                continue  # "annual" says how often; "what year" is answered by a year
            if place and (kind == PLACE or not fits) and not places.fits(text, place):
                continue  # (a noun phrase or a name of another kind: only a place that fits)
            if kind == PERSON and _OWNED.search(text):
                continue  # "Steven Spielberg's West Side Story" is his film, not a person
            if countries and places.country_code(text) in countries:
                continue
            # as it is shown: with the kind of thing asked for that the sentence writes after it
            # ("Lyme disease" for "which disease"); what the sentence says of it is read of the
            # name as tagged
            shown = with_asked_noun(text, sent.text, asked) if asked and kind in NAMED else text
            full = places.full_name(text) if kind == PLACE else shown  # "S.C.": South Carolina
            # "JPMorgan Chase" and "JP Morgan Chase": one name, however the words are spaced
            key = "".join(span_words(ARTICLE.sub("", full)))
            # "Britain", "the U.K." and "the United Kingdom": one country, however it is called
            code = places.country_code(text) if kind == PLACE else None
            if code is not None:
                key = f"country:{code}"
            if not key:
                continue
            if not fits:  # a phrase, another kind: kept apart from the names, dropped below
                key = f"{_OTHER}{key}"  # where the same words are a name of the kind asked
            cand = found.setdefault(key, Candidate(text=shown, kind=kind))
            if full == shown:
                cand.text = shown  # the name in full where an article writes it so
                forms.setdefault(key, Counter())[ARTICLE.sub("", shown)] += 1
            # what the sentence says of the span, by name (the learned ranker's features)
            other = years - years_in(text, sent.date) if years else years
            said = {
                "sentence": sent.score,
                "proximity": proximity(text, sent.text, q_terms),
                "counted": float(counts_noun(text, sent.text, noun)),
                "head": float(beside_noun(text, sent.text, heads)),
                "name": float(bool(people) and beside_name(text, sent.text, people)),
                "title": float(work and text in titles),
                "compound": float(compound),
                "phrase": float(phrase),
                "kind_fits": float(fits),
                # "Norway won the 1995 World Cup": another year's news (the year answered aside)
                "other_year": float(bool(other) and not other & asked_years),
                # "moved from 100 seconds to 90 seconds": no longer so
                "superseded": float(
                    (kind in (NUMBER, MONEY, PERCENT) or length) and superseded(text, sent.text)
                ),
            }
            # a sentence supports each span it carries by its closeness to the question; what
            # else it says of the span is for the learned ranker to weigh, not a hand-set bonus
            weight = sent.score
            if sent not in cand.sentences:
                cand.sentences.append(sent)
            if weight >= cand.support.get(id(sent), 0.0):
                cand.said[id(sent)] = said
            cand.support[id(sent)] = max(weight, cand.support.get(id(sent), 0.0))
    for key, written in forms.items():  # spelt as most sentences spell it
        spelling = written.most_common(1)[0][0]
        if ARTICLE.sub("", found[key].text) != spelling:
            found[key].text = spelling
    # a noun phrase that is also a name of the kind asked ("Road" for "The Road") is that name
    found = {
        k: c for k, c in found.items() if not k.startswith(_OTHER) or k[len(_OTHER) :] not in found
    }
    cands = fold_variants(list(found.values()))
    days = RECENT_DAYS if _RECENT.search(question) else RECENCY_DAYS
    for c in cands:
        # the best-supporting sentence, more for each further article that carries it (its
        # best sentence), less for what is old news beside the newest retrieved articles and for
        # relative dates. (What most sentences name is not made less: the passages are about
        # the answer as often as about the question's subject, which the question names and
        # is set aside above; halving it lost "Israel" to "Lebanon" for the Hamas attack.)
        best: dict[str, float] = {}
        for sent in c.sentences:
            weight = c.support[id(sent)] * recency(sent.date, newest, days)
            best[sent.article_id] = max(weight, best.get(sent.article_id, 0.0))
        weights = sorted(best.values(), reverse=True)
        c.score = (
            weights[0]
            + AGGREGATION * sum(weights[1 : 1 + AGGREGATE_ARTICLES])
            + CORROBORATION * min(len(weights) - 1, 3)
        )
        if c.kind == DATE and _RELATIVE.fullmatch(ARTICLE.sub("", c.text.lower())):
            c.score *= 0.7
    # what the question asks for comes first: a name of the kind asked, then the noun phrases
    # and names of other kinds (the tagger often calls a company a person) in their own order
    return sorted(cands, key=lambda c: (not of_kind_asked(c), -c.score))


def asked_kind(question: str) -> str:
    """The nouns and adjectives of the question's "which X" that say what kind of thing is asked
    for, as written ("national park" of "at which national park", "bank" of "which bank bought
    First Republic"): '' when it names none."""
    tags = {word: tag for _, _, word, tag in pos_tags(question)}
    kept: list[str] = []
    named = _NAME_OF.search(question)  # "what is the name of the rare genetic variant"
    for word in (named.group(1) if named else asked_words(question)).split():
        if tags.get(word) not in MODIFIER_TAGS:
            break
        kept.append(word)
    return " ".join(kept)


_NAME_OF = re.compile(
    r"\b(?:what|which) (?:is|was|are|were) (?:the )?name of (?:the |a |an |this |its )?"
    r"((?:[\w-]+ ){0,3}[\w-]+)",
    re.I,
)


def of_kind_asked(span: Candidate) -> bool:
    """A name of the kind the question asks for (not only a noun phrase, or another kind)."""
    return any(s.get("kind_fits") and not s.get("phrase") for s in span.said.values())


_DURATION = re.compile(
    r"\bhow many (?:more |other |total |full )?"
    r"(years|months|weeks|days|hours|minutes|seconds|decades|centuries)\b",
    re.I,
)


_WORK_STEMS = frozenset(terms(" ".join(WORK_NOUNS)))
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
    tokens = pos_tags(sentence)
    named = " ".join(raw for raw, _ in ents)
    out = []
    for k, (_, end, word, tag) in enumerate(tokens):
        if tag not in NOUN_TAGS or head not in terms(word):
            continue
        first = k
        while first > 0 and k - first < 2:
            _, b_end, before, b_tag = tokens[first - 1]
            if (
                b_tag not in MODIFIER_TAGS
                or sentence[b_end : tokens[first][0]].strip()  # "sesame, seeds"
                or not terms(before)
                or set(terms(before)) & q_terms
                or before.lower() in _NOT_MODIFIERS
                or before in named
            ):
                break
            first -= 1
        if any(tag in NOUN_TAGS for *_, tag in tokens[first:k]):  # "national holiday": no kind
            out.append(sentence[tokens[first][0] : end])
    return out


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
    tags = pos_tags(sentence)
    before = [tag for start, _, _, tag in tags if start < at][-4:]
    after = [tag for start, _, _, tag in tags if start >= at + len(name)][:2]
    return "VBD" in before + after  # "as allies met in Brussels", "Hegseth said there would be"


# candidates beyond the names of the kind asked, after them in the miner's order and never the
# short answer themselves: noun phrases for things ("vinyl chloride"), and names the tagger
# called another kind (it often calls a company a person: "Rite Aid"). Noun phrases for people,
# organisations and places too found the right answer for 0.015 more of the questions mined,
# but their part-of-speech tags doubled the answer's p50 (docs/results.md, bench/README.md).
PHRASE_KINDS = frozenset({THING})
# noun phrases are read in the best sentences only: their part-of-speech tags are made while the
# question waits (names come from the entity table), and 45 sentences rather than 30 added 80 ms
# to the answer's p95 over the 2023 store
PHRASE_SENTENCES = 30
OTHER_NAMED = True
_PHRASE_MAX = 4
_OTHER = "other:"


def noun_phrases(
    sentence: str, ents: Sequence[tuple[str, str]], asked: Iterable[str] = ()
) -> list[str]:
    """The sentence's noun phrases by its part-of-speech tags: each run of adjectives and nouns
    that ends in a noun ("giant African land snails", "vinyl chloride"), at most four words,
    and its last one and two words ("snails", "land snails"); names the tagger found are
    candidates already. A present participle that opens a noun ("the first skateboarding world
    champion") is a modifier too. With `asked`, the question's words: a phrase that ends in
    them also gives the words before them ("skateboarding" for "world champion in which
    sport"), which the question does not name."""
    tokens = pos_tags(sentence)
    named = {raw for raw, _ in ents}
    asked = set(asked)

    def modifier(i: int) -> bool:
        tag = tokens[i][3]
        if tag in MODIFIER_TAGS:
            return True
        return (
            tag == "VBG"
            and i + 1 < len(tokens)
            and tokens[i + 1][3] in NOUN_TAGS
            and (i == 0 or tokens[i - 1][3] in _OPENS_NOUN)
        )

    out: list[str] = []
    k = 0
    while k < len(tokens):
        if not modifier(k):
            k += 1
            continue
        end = k
        while (
            end + 1 < len(tokens)
            and modifier(end + 1)
            and not sentence[tokens[end][1] : tokens[end + 1][0]].strip()
        ):
            end += 1
        last = end
        while last >= k and tokens[last][3] not in NOUN_TAGS:
            last -= 1
        if last >= k:
            first = max(k, last - _PHRASE_MAX + 1)
            spans = [(start, last) for start in dict.fromkeys((first, max(first, last - 1), last))]
            # the words before those the question names: "skateboarding" (world champion)
            told = last
            while told >= first and set(span_words(tokens[told][2])) <= asked:
                told -= 1
            if asked and first <= told < last and tokens[told][3] not in _ONLY_MODIFIES:
                start = told
                while start > first and not set(span_words(tokens[start - 1][2])) <= asked:
                    start -= 1
                spans.append((start, told))
            for start, stop in spans:
                text = sentence[tokens[start][0] : tokens[stop][1]]
                if len(text) > 2 and not any(text in raw for raw in named):
                    out.append(text)
        k = end + 1
    return list(dict.fromkeys(out))


_ONLY_MODIFIES = frozenset({"JJ", "RB"})  # "national" of "national holiday": no thing alone


# what stands before a noun phrase's opening: an article, a possessive, an ordinal or a number
_OPENS_NOUN = frozenset({"DT", "POS", "PRP$", "JJ", "RB", "CD"})


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


_VENUE = re.compile(
    r"\b(?:in|at|to|from|into|across|near|outside|inside|throughout)\s+(?:the\s+)?$", re.I
)
_BRAND = re.compile(r"[A-Z][\w-]*['’]s")
_OWNED = re.compile(r"\w['’]s\s+\w")  # a possessive inside a name: "Spielberg's West Side Story"
_ASKS_YEAR = re.compile(r"\b(?:what|which) year\b", re.I)
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d(?:s|\b)|['’]\d\d\b")
_HOW_OFTEN = re.compile(r"(?:bi-?)?(?:annual|annually|daily|weekly|monthly|yearly|quarterly)", re.I)


_COUNTED = re.compile(r"\bhow many\s+(?:\w+\s+)??(\w+)", re.I)
_AGE = re.compile(r"^\d+-year(?:-old)?$|\byears? old\b", re.I)
_SPAN_OF_TIME = re.compile(  # a length of time, which answers "how long", never "when"
    r"^(?:the\s+)?(?:about|around|nearly|almost|more than|over|under|some|just|only|another)?\s*"
    rf"(?:\d[\d,.]*|a|an|{NUMBER_WORDS}|several|"
    r"a few|many)[\s-]+(?:\w+[\s-]+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|"
    r"decades?|centuries)(?:\s+(?:long|later|earlier))?$"
    r"|^(?:(?:many|several|recent|coming|past|few|the)\s+)*"
    r"(?:seconds|minutes|hours|days|weeks|months|years|decades|centuries)$",
    re.I,
)
AGGREGATION = 0.1  # share of each further article's best support that adds up
AGGREGATE_ARTICLES = 3
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
