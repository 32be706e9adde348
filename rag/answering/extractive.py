"""The offline answerer: no model, it picks the retrieved sentences that answer best and cites them.

Every sentence of the top passages is scored against the question: content-word overlap (stemmed,
weighted by rarity among the candidates), similarity by the store's embedding model, and cues for the kind of question
(a quote for "what did X say", a figure for "how much", a date for "when"), plus the sentence's
passage rank. The best few sentences (from one or several articles) are quoted verbatim, in reading
order, each with its citation; a relative date in a quoted sentence is resolved against the
article's date when the question asks when.

A question that asks for a thing (`rag.spans.asks.expected_type`: a person, place, organisation,
date, number…) is answered with that thing first: the spans of that type in the best sentences of
all passages given (RAG_RETRIEVAL__ANSWER_PASSAGES; only the first QUOTE_PASSAGES are quoted) are
mined and weighed (`rag.spans.candidates.mine`), and the winner opens the answer, verbatim and
cited ("Buffalo Bills [1][2]."), as `short_answer`; two answers each carried by two or more other
articles are named side by side with their dates. A question is declined when no sentence is a
good enough match and none carries a span of the asked-for type, or when the passages miss the
full name (or every name) it asks about. A decline points at the closest passage. It never
paraphrases, so every word of its answers is in the articles.

`evidence()` gives the LLM backends the same best sentences and candidates to read.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import accumulate
from typing import Any

import numpy as np

from rag.answering.answer import DECLINE_TEXT, Answer, Delta, ShortCandidate, citation_for
from rag.schema import Passage
from rag.spans.asks import (
    COUNT,
    DATE,
    MONEY,
    NUMBER,
    PERCENT,
    asked_words,
    asking_part,
    expected_type,
)
from rag.spans.candidates import mine, of_kind_asked, only_ahead
from rag.spans.names import full_name
from rag.spans.ranker import (
    RANKED,
    ShortAnswerModel,
    all_features,
    byline_features,
    passage_features,
    relative,
    similarity_features,
)
from rag.spans.tagging import EntityLookup, EntityTagger
from rag.spans.types import Candidate, Sentence
from rag.text.dates import DAYS, MONTHS, resolve
from rag.text.places import in_region, is_region
from rag.text.rules import (
    about_names,
    count_tokens,
    mentions,
    names,
    quotable,
    split_sentences,
    term_set,
    terms,
    unmentioned_names,
)

MODEL_NAME = "extractive-v1"
# what a question asking for a figure or a date lacks when no passage about it gives one
FIGURES = {
    NUMBER: "a number",
    COUNT: "a number",
    MONEY: "an amount",
    PERCENT: "a percentage",
    DATE: "a date",
}
MIN_SCORE = 0.42  # below this the best sentence does not answer the question (see tests)
KEEP_RATIO = 0.7  # further sentences must score this close to the best one
MAX_SENTENCES = 3
# what a sentence that carries a span of the kind asked for adds to its score when the quotes
# are chosen: a nudge, since a bigger one quoted more facts but picked the right choice less often
TYPED_BONUS = 0.03
EVIDENCE_SENTENCES = 6  # sentences an LLM reads (a few hundred tokens instead of whole chunks)
MINE_SENTENCES = 45  # the best-scoring sentences of all passages are searched for short answers
# (enough for 20 passages: fewer missed answers, more found no more and were slower)
# the best passages quoted; further ones (up to RAG_RETRIEVAL__ANSWER_PASSAGES) only feed the short
# answer: mining more passages than are quoted finds more answers without longer quotes
QUOTE_PASSAGES = 6
# a sentence of a passage below the quoted six is quoted when it scores this much above their best
# (only a clearly better sentence: a lower bar let in sentences that answered worse)
OUTSTANDING = 1.4
# re-ranking retrieved passages: the fusion's reciprocal-rank constant (llama-index's) and the
# weight of a passage's best sentence against its rank (equal: every weight tried helped alike)
FUSION_K = 60
RERANK_WEIGHT = 1.0
# an article's first sentences score a little more: news puts what happened first
LEAD_SENTENCES = 2
LEAD_BONUS = 0.03
MINE_MIN = 0.2  # a sentence this far from the question supports no short answer
FULL_NAMES = 5  # the first candidates whose names are made whole from the passages' other sentences
SPAN_MIN = 0.35  # a short answer needs one sentence at least this close to the question
RIVAL_RATIO = 0.9  # a runner-up this well supported, by two or more other articles: a disagreement
# a contender (a candidate of the best one's kind, supported this close to it) has its best
# sentence quoted too, up to CONTENDERS of them: the reader sees what else the articles name
# when the evidence is close (the right answer is often among them; a third added little)
CONTENDER_RATIO = 0.8
CONTENDERS = 2

_SAY = re.compile(
    r"\b(say|said|says|tell|told|quote|quoted|claim|claimed|warn|warned|add|added|describe|react|respond|comment)\b",
    re.I,
)
_NUMQ = re.compile(
    r"\b(how much|how many|what percentage|what share|what proportion|how large|figure|amount|cost|percent|per cent|target)\b|%|\d",
    re.I,
)
_WHENQ = re.compile(
    r"\b(when|(?:what|which)(?: \w+)? (?:dates?|days?)|what time|which month|what year)\b", re.I
)  # "on what two dates" too
_WHOQ = re.compile(r"^\s*(?:and\s+)?who\b|\bname of\b|\bwhich (?:person|official|minister)\b", re.I)
_QUOTE = re.compile(r"[“”\"]|\b(said|says|told|added|warned)\b")
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|half|billion|million)\b", re.I
)
_DATEISH = re.compile(
    r"\b("
    + "|".join((*DAYS, "today", "yesterday", "tomorrow", "week", "month", *MONTHS))
    + r"|\d{4})\b",
    re.I,
)


@dataclass
class Evidence:
    """The best sentences per passage (0-based passage index -> sentences, reading order) and
    the short-answer candidates with the (1-based) sources that carry them."""

    sentences: dict[int, list[str]]
    candidates: list[tuple[str, list[int]]]
    expected: str | None


@dataclass
class _Cand:
    text: str
    passage: Passage
    rank: int
    order: int
    score: float = 0.0


# an opening sentence: its text, and where citations go (the sentences each one points to)
Lead = list[str | tuple[_Cand, ...]]


class ExtractiveAnswerer:
    name = "extractive"
    model = MODEL_NAME
    reads_followup_context = False  # answers as asked: earlier words must not pick its sentences

    CACHE_SIZE = 50_000  # sentence vectors kept: the same passages come back for many questions

    def __init__(
        self,
        embed_model: Any | None = None,
        entities: EntityLookup | None = None,
        ranker: ShortAnswerModel | None = None,
    ) -> None:
        """`ranker`: the fitted model that orders the short-answer candidates and says how
        likely the first is right (none: the miner's order, and no confidence)."""
        self.embed_model = embed_model
        self.ranker = ranker
        self.tagger = EntityTagger(entities)  # the store's entity table, read before tagging
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _similarities(self, question: str, sentences: list[str]) -> np.ndarray:
        if self.embed_model is None or not sentences:
            return np.zeros(len(sentences))
        q = np.asarray(self.embed_model.get_query_embedding(question))
        with self._lock:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._vectors]
        if missing:
            embed = getattr(self.embed_model, "embed", None)  # a local model's array, at once
            fresh = embed(missing) if embed else self.embed_model.get_text_embedding_batch(missing)
            with self._lock:
                for s, v in zip(missing, fresh, strict=True):
                    self._vectors[s] = np.asarray(v, dtype=np.float32)
                while len(self._vectors) > self.CACHE_SIZE:
                    self._vectors.popitem(last=False)
        with self._lock:
            m = np.stack(
                [self._vectors.get(s, np.zeros_like(q, dtype=np.float32)) for s in sentences]
            )
        return np.asarray(m @ q)

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        t0 = time.perf_counter()
        answer = self._answer(question, passages)
        answer.timings["generate"] = time.perf_counter() - t0
        return answer

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[Delta | Answer]:
        """The answer, made at once, streamed a word at a time (the UI renders the same way)."""
        answer = self.answer(question, passages)
        for piece in re.findall(r"\S+\s*", answer.answer):
            yield Delta(piece)
        yield answer

    def close(self) -> None:
        """Nothing to stop."""

    def _answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        base: dict[str, Any] = {"question": question, "backend": self.name, "model": self.model}
        if not passages:
            return Answer(
                answer=DECLINE_TEXT + " Nothing in the index matches the question.",
                declined=True,
                **base,
            )

        # quotes (and whether to decline) come from the best passages; the short answer is
        # mined from all of them
        quotable = passages[:QUOTE_PASSAGES]
        # someone the question names but no passage mentions: the articles cannot say
        missing = unmentioned_names(question, (p.title + " " + p.text for p in quotable))
        # the further passages' sentences are scored among all, the quotable ones among themselves
        pool = self._scored(question, passages, first=len(quotable))
        cands = [c for c in pool if c.rank < len(quotable)]
        # a sentence of a further passage that answers better than any of the best passages'
        # is quoted too: the passage ranks low for its other sentences, not for this one
        top = max((c.score for c in cands), default=0.0)
        cands += [c for c in pool if c.rank >= len(quotable) and c.score > OUTSTANDING * top]
        if missing:
            return self._decline(
                question, passages, cands, f"The articles don't mention {', '.join(missing)}.", base
            )
        if not cands:
            return self._decline(question, passages, cands, DECLINE_TEXT, base)
        ahead = only_ahead(asking_part(question), (p.text for p in passages))
        if ahead:  # "what did he say in his speech": the articles only announce the speech
            text = f"{DECLINE_TEXT} They tell of {ahead} only as still to come."
            return self._decline(question, passages, cands, text, base)
        wants_quote = bool(_SAY.search(question))
        wants_date = bool(_WHENQ.search(question))
        wants_person = bool(_WHOQ.search(question))

        # a question that asks for a thing is answered with that thing first, or declined when
        # no sentence close enough to the question carries anything of its type
        expected = expected_type(question)
        spans, mined, named = self._spans(question, pool, expected) if expected else ([], [], [])
        base["candidates"] = [_shown(c) for c in mined]
        # a sentence that carries something of the kind asked for is worth more as a quote
        # than one that only shares the question's words (a name of that kind: most sentences
        # carry a noun phrase, which the model may choose as the short answer)
        carrying = {id(x.ref) for sp in named for x in sp.sentences}

        def worth(c: _Cand) -> float:
            return c.score + (TYPED_BONUS if id(c) in carrying else 0.0)

        # the sentences that answer best, of the type asked for: a date for "when", reported
        # speech for "what did X say", a name for "who"; sentences of another type cannot answer
        typed = [
            c
            for c in cands
            if (not wants_date or _DATEISH.search(c.text))
            and (not wants_quote or _QUOTE.search(c.text))
            and (not wants_person or _new_names(c.text, question))
        ]
        ranked = sorted(typed, key=lambda c: -worth(c))
        chosen: list[_Cand] = []
        if ranked and max(c.score for c in ranked) >= MIN_SCORE:
            chosen = [ranked[0]]
            for c in ranked[1:]:
                if len(chosen) >= MAX_SENTENCES or worth(c) < KEEP_RATIO * worth(ranked[0]):
                    break
                if not any(_same(c.text, o.text) for o in chosen):
                    chosen.append(c)
            if wants_quote:
                chosen += _goes_on(chosen[0], pool, question, chosen)

        # whether the articles answer at all is judged by the names of the kind asked, whatever
        # the model may choose: a noun phrase ("rise") is no sign that they name the Chancellor
        if not named and not chosen:
            return self._decline(question, passages, cands, DECLINE_TEXT, base)
        if not named and expected in FIGURES:
            # a figure or a date is known by its form (unlike a name, which the tagger may
            # miss): when no close sentence of a passage about it carries one, none is given
            what = FIGURES[expected]
            text = f"{DECLINE_TEXT} No passage about it gives {what}."
            return self._decline(question, passages, cands, text, base)
        lead: Lead = []
        quoted = list(chosen)
        if spans:  # the quotes as the miner's names choose them; the opening, the model's choice
            lead, quoted = self._lead(named or spans, chosen, spans[0])
        quoted.sort(key=lambda c: (c.rank, c.order))
        number = {id(c): n for n, c in enumerate(quoted, 1)}
        opening = "".join(
            part if isinstance(part, str) else "".join(f"[{number[id(c)]}]" for c in part)
            for part in lead
        )
        citations, parts = [], [opening] if opening else []
        for c in quoted:
            n = number[id(c)]
            note = _date_note(c) if wants_date or expected == DATE else ""
            citations.append(citation_for(n, c.passage, c.text, note))
            parts.append(_with_marker(c.text, n) + (f" ({note})" if note else ""))
        short = spans[0].text if spans else None
        if spans and spans[0].probability is not None and self.ranker is not None:
            sure = self.ranker.how_sure(spans[0].probability)
            base["confidence"] = round(sure, 3)
            base["confident"] = sure >= self.ranker.confident
        return Answer(answer=" ".join(parts), citations=citations, short_answer=short, **base)

    def _scored(
        self, question: str, passages: Sequence[Passage], first: int | None = None
    ) -> list[_Cand]:
        """Every sentence of the passages, scored against the question: content-word overlap
        (stemmed, weighted by rarity among them), MiniLM similarity, the passage's rank, and
        cues for the kind of question (a quote, a figure, a date, the person named), and an
        article's first sentences a little higher. With
        `first`, the sentences of the first passages are scored among themselves (rarity counted
        over them alone) and the others among all, as two calls would, in one pass."""
        cands = [
            _Cand(s, p, rank, i)
            for rank, p in enumerate(passages)
            for i, s in enumerate(split_sentences(p.text))
            if quotable(s)
        ]
        if not cands:
            return cands
        q_terms = set(terms(question))
        sent_terms = [term_set(c.text) for c in cands]
        sims = self._similarities(question, [c.text for c in cands])
        wants_quote = bool(_SAY.search(question))
        wants_number = bool(_NUMQ.search(question))
        wants_date = bool(_WHENQ.search(question))
        people = names(question)
        regions = [n for n in people if is_region(n)]  # "the Middle East"
        openings = {rank for rank, p in enumerate(passages) if p.position == 0}
        cues: list[tuple[float, float, list[float]]] = []  # similarity, rank, cue bonuses
        for c, sim in zip(cands, sims, strict=True):
            bonus = []
            if wants_quote and _QUOTE.search(c.text):
                bonus.append(0.08)
            if wants_number and _NUMBER.search(c.text):
                bonus.append(0.05)
            if wants_date and _DATEISH.search(c.text):
                bonus.append(0.08)
            if people and any(mentions(c.text, p) for p in people):
                bonus.append(0.08)
            if regions and any(in_region(c.text, r) for r in regions):
                bonus.append(0.08)  # the region asked about, by a place in it: "Doha"
            if c.order < LEAD_SENTENCES and c.rank in openings:
                bonus.append(LEAD_BONUS)  # a news story says what happened first
            cues.append((0.45 * max(float(sim), 0.0), 0.04 / (1 + c.rank), bonus))
        spans = [range(len(cands))]
        if first is not None:  # cands are in passage order
            spans.append(range(sum(1 for c in cands if c.rank < first)))
        for span in spans:  # rarity over all, then the first passages' over themselves
            df = Counter(t for i in span for t in sent_terms[i])
            n = len(span)

            def idf(t: str, df: Counter[str] = df, n: int = n) -> float:
                return math.log(1 + n / (1 + df.get(t, 0)))

            q_weight = sum(idf(t) for t in q_terms) or 1.0
            for i in span:
                similarity, rank, bonus = cues[i]
                score = 0.45 * (sum(idf(t) for t in q_terms & sent_terms[i]) / q_weight)
                score += similarity + rank
                for b in bonus:
                    score += b
                cands[i].score = score
        return cands

    def rerank(self, question: str, passages: Sequence[Passage]) -> list[Passage]:
        """The passages ordered by their place in the fusion and the score of their best
        sentence against the question: a passage whose one sentence says what is asked rises
        above one that only shares its words in many places."""
        best = [0.0] * len(passages)
        for c in self._scored(question, passages):
            best[c.rank] = max(best[c.rank], c.score)

        def worth(i: int) -> float:
            return FUSION_K / (FUSION_K + i) + RERANK_WEIGHT * best[i]

        return [passages[i] for i in sorted(range(len(passages)), key=lambda i: -worth(i))]

    def evidence(
        self, question: str, passages: Sequence[Passage], budget: int | None = None
    ) -> Evidence:
        """What a language model needs to read instead of whole passages: the sentences closest
        to the question (by passage, in reading order; with `budget`, the best ones up to about
        that many tokens, the best always) and the short-answer candidates."""
        cands = self._scored(question, passages)
        # a sentence two passages share (overlapping chunks, a syndicated copy) is read once
        unique: dict[str, _Cand] = {}
        for c in sorted(cands, key=lambda c: (-c.score, c.rank)):
            unique.setdefault(c.text, c)
        best = list(unique.values())[:EVIDENCE_SENTENCES]
        best = [c for c in best if c.score >= MINE_MIN] or best[:3]
        if budget is not None and best:
            read = accumulate(count_tokens(c.text) for c in best)
            best = [
                c
                for i, (c, upto) in enumerate(zip(best, read, strict=True))
                if i == 0 or upto <= budget
            ]
        by_passage: dict[int, list[str]] = {}
        for c in sorted(best, key=lambda c: (c.rank, c.order)):
            by_passage.setdefault(c.rank, []).append(c.text)
        expected = expected_type(question)
        spans = self._spans(question, cands, expected)[0] if expected else []
        candidates = [(s.text, sorted({s_.ref.rank + 1 for s_ in s.sentences})) for s in spans[:3]]
        return Evidence(sentences=by_passage, candidates=candidates, expected=expected)

    def _spans(
        self, question: str, cands: list[_Cand], expected: str
    ) -> tuple[list[Candidate], list[Candidate], list[Candidate]]:
        """Spans of the expected type in the best sentences of all passages, best first (the
        model's order, if it chooses), all that the miner found (before those too weakly
        supported are left out), and the names of the kind asked (the model's order, if it
        orders; else the miner's). Only passages that mention what the question names (all of
        it, or all but one of three or more names: a passage is a part of an article) can say
        who or what: a figure about America answers nothing about Canada."""
        named = names(question)
        about: dict[int, bool] = {}

        def on_topic(c: _Cand) -> bool:
            if c.rank not in about:
                about[c.rank] = about_names(f"{c.passage.title} {c.passage.text}", named)
            return about[c.rank]

        pool = sorted(cands, key=lambda c: -c.score)[:MINE_SENTENCES]
        sentences = [
            Sentence(c.text, c.score, c.passage.article_id, c.passage.date, ref=c)
            for c in pool
            if c.score >= MINE_MIN and on_topic(c)
        ]
        mined = mine(question, sentences, self.tagger, expected)
        for span, described in zip(mined, all_features(mined, expected), strict=True):
            span.features = described
        if mined:
            texts = [s.text for s in mined]
            kind = asked_words(question)
            similarity_features(
                mined,
                list(self._similarities(kind, texts)) if kind else None,
                list(self._similarities(question, texts)),
            )
        # each of the first candidates read against the others (the model weighs those)
        ranked = mined[:RANKED]
        read = [p for _, p in sorted({c.rank: c.passage for c in cands}.items())]  # best first
        passage_features(ranked, [p.title for p in read], [p.text for p in read])
        byline_features(ranked, [p.source for p in read], [p.author for p in read])
        for span, described in zip(ranked, relative([s.features for s in ranked]), strict=True):
            span.features = described
        if self.ranker is not None:  # how likely each is right (and, if it says so, its order)
            said = self.ranker.probabilities([s.features for s in ranked])
            for span, probability in zip(ranked, said, strict=True):
                span.probability = probability
        if self.ranker is not None and self.ranker.reorders:
            # the model chooses the first, and orders the names of the kind asked that choose
            # the quotes; rivals and contenders keep the miner's scores
            mined = sorted(ranked, key=lambda s: -(s.probability or 0.0)) + mined[RANKED:]
        # the names of the kind asked, in the model's order if it orders (else the miner's): what
        # the quotes are chosen by, and (unless the model chooses) the short answer
        of_kind = [s for s in mined if _best(s).score >= SPAN_MIN and of_kind_asked(s)]
        # Unless the model was fitted to choose among all, only a name of the kind asked answers
        # ("port authority" is no answer to "who", nor "rise" to "what is the Chancellor's
        # name"); noun phrases and other kinds stay candidates the reader and the ranker see
        any_kind = self.ranker is not None and self.ranker.any_kind
        found = [s for s in mined if _best(s).score >= SPAN_MIN and (any_kind or of_kind_asked(s))]

        later: list[Sentence] = []

        def rest() -> Iterator[Sentence]:  # read only for a partial name, best first
            if not later:
                mined_from = {id(s.ref) for s in sentences}
                later.extend(
                    Sentence(c.text, c.score, c.passage.article_id, c.passage.date, c)
                    for c in sorted(cands, key=lambda c: -c.score)
                    if id(c) not in mined_from and on_topic(c)
                )
            return iter(later)

        # 'Carroll': 'Jean Carroll', as another sentence writes the name; for the first few (a
        # reader sees them, and the short answer is one of them)
        for first in dict.fromkeys(id(s) for s in (*found[:FULL_NAMES], *of_kind[:1])):
            full_name(next(s for s in mined if id(s) == first), rest(), self.tagger)
        return found, mined, of_kind

    @staticmethod
    def _lead(
        spans: list[Candidate], chosen: list[_Cand], first: Candidate | None = None
    ) -> tuple[Lead, list[_Cand]]:
        """The opening sentence (its text, and the sentences each citation there points to, to
        be numbered once the quotes are ordered) and the sentences to quote: those chosen, plus
        the best one that carries the span verbatim if none does, and likewise for each close
        contender (a candidate of the same kind nearly as well supported). `first`: the short
        answer, when the model chose another than `spans[0]`: the opening names it, and the
        quotes stay as they are for `spans[0]`."""
        best = spans[0]
        rival = next(
            (
                s
                for s in spans[1:]
                if s.score >= RIVAL_RATIO * best.score
                and s.kind == best.kind  # a company is no rival to a person
                and of_kind_asked(s)  # nor a noun phrase
                and min(len(s.articles), len(best.articles)) >= 2
                and not set(s.articles) & set(best.articles)
            ),
            None,
        )
        quoted = list(chosen)

        def cite(span: Candidate) -> tuple[_Cand, ...]:
            carrying = sorted(
                (s for s in span.sentences if span.text in s.text), key=lambda s: -s.score
            ) or [_best(span)]  # (the miner shows a name as one of its sentences writes it)
            refs = [s.ref for s in carrying if s.ref in quoted][:2]
            if not refs:
                refs = [carrying[0].ref]
                quoted.append(carrying[0].ref)
            return tuple(refs)

        lead: Lead
        if first is not None and first is not best:
            for quoted_anyway in (best, rival):  # quoted as without the model
                if quoted_anyway is not None:
                    cite(quoted_anyway)
            lead = [f"{first.text} ", cite(first), "."]
        elif rival is None:
            lead = [f"{best.text} ", cite(best), "."]
        else:
            day = _best(best).date or "undated"
            other_day = _best(rival).date or "undated"
            lead = ["The articles disagree: ", f"{best.text} ", cite(best), f" ({day}); "]
            lead += [f"{rival.text} ", cite(rival), f" ({other_day})."]
        contenders = [
            s for s in spans[1:] if s.kind == best.kind and of_kind_asked(s) and s is not rival
        ]
        for other in contenders[:CONTENDERS]:
            if other.score >= CONTENDER_RATIO * best.score:
                cite(other)  # quotes the contender's best sentence unless one already is
        return lead, quoted

    def _decline(
        self,
        question: str,
        passages: Sequence[Passage],
        cands: list[_Cand],
        text: str,
        base: dict[str, Any],
    ) -> Answer:
        related = []
        if cands:
            top = max(cands, key=lambda c: c.score) if any(c.score for c in cands) else cands[0]
            related.append(citation_for(1, top.passage, top.text))
        else:
            first = next((s for p in passages for s in split_sentences(p.text)[:1]), None)
            if first is not None:
                related.append(citation_for(1, next(p for p in passages if first in p.text), first))
        return Answer(answer=text, declined=True, related=related, **base)


def _best(span: Candidate) -> Sentence:
    """The sentence that supports a span most closely."""
    return max(span.sentences, key=lambda s: s.score)


def _date_note(c: _Cand) -> str:
    """What the relative dates in a quoted sentence mean, read against its article's date."""
    if not c.passage.date:
        return ""
    found = resolve(c.text, date.fromisoformat(c.passage.date))
    if not found:
        return ""
    meanings = "; ".join(f"“{e}” = {meaning}" for e, meaning in found)
    return f"{meanings} (article dated {c.passage.date})"


# the next sentence carries on the words of someone just named ("A few countries are 'not quite
# there yet', he said")
_SAID = "said|added|told|warned|argued|insisted|noted|stressed"
_GOES_ON = re.compile(rf"\b(?:he|she|they)\s+(?:{_SAID}|says)\b|^(?:He|She|They)\s+(?:{_SAID})\b")


def _goes_on(first: _Cand, pool: list[_Cand], question: str, chosen: list[_Cand]) -> list[_Cand]:
    """The sentence after `first` in its passage, when `first` quotes someone the question names
    and the next one goes on with their words: the two are one quote."""
    if not any(mentions(first.text, n) for n in names(question)):
        return []
    nxt = next((c for c in pool if c.rank == first.rank and c.order == first.order + 1), None)
    if nxt is None or nxt in chosen or not _GOES_ON.search(nxt.text):
        return []
    return [nxt]


def _new_names(sentence: str, question: str) -> list[str]:
    """Names in the sentence that the question does not already contain (the answer to 'who')."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    return [n for n in names(sentence) if not all(w.lower() in asked for w in n.split())]


def _same(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    return bool(ta and tb) and len(ta & tb) / min(len(ta), len(tb)) > 0.7


def _with_marker(sentence: str, n: int) -> str:
    return f"{sentence} [{n}]"


def _shown(span: Candidate) -> ShortCandidate:
    """A mined span as a reader may see it: its text, kind, and the articles that name it."""
    dates = sorted({s.date for s in span.sentences if s.date}, reverse=True)
    return ShortCandidate(
        text=span.text,
        kind=span.kind,
        articles=len(span.articles),
        dates=dates,
        features=span.features,
    )
