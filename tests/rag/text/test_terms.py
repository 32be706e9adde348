"""The words and weights of the server store's keyword half (`rag.text.terms`) are bm25s's: the
same stems as its tokenizer, and a chunk's score (its frequency part times the question's inverse
document frequencies) the score bm25s gives with the same K1 and B."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text.terms import (
    DIMENSIONS,
    MAX_TERMS,
    Terms,
    frequency_part,
    idf,
    parse_sparse,
    sparse_text,
    term_number,
)

CORPUS = [
    "title: Nato summit\n\nHegseth said there would be near consensus on a 5% commitment.",
    "title: Budget\n\nThe chancellor said spending on defence would rise to 2.5 percent.",
    "Starmer will host Rutte in London next Monday for talks on defence spending.",
    "Rutte said allies must spend more; spending, spending and more spending.",
    "",
]


def test_the_stems_are_bm25s_tokenizers() -> None:
    import Stemmer
    from bm25s.tokenization import Tokenizer

    theirs = Tokenizer(
        stopwords="en", stemmer=Stemmer.Stemmer("english"), splitter=r"(?u)\b\w\w+\b"
    ).tokenize(CORPUS, return_as="string", show_progress=False)
    ours = [Terms().stems(text) for text in CORPUS]
    assert ours[:4] == theirs[:4]
    assert ours[4] == []  # (bm25s gives an empty text one empty word)


def test_a_chunks_score_is_the_bm25_score_bm25s_gives() -> None:
    import bm25s
    import Stemmer

    from rag.text.terms import K1, B

    stemmer = Stemmer.Stemmer("english")
    docs = CORPUS[:4]
    index = bm25s.BM25(k1=K1, b=B)
    index.index(
        bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    question = "What did Hegseth say about defence spending?"
    words = bm25s.tokenize(
        question, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
    )[0]
    words = [w for w in words if w in index.vocab_dict]
    theirs = index.get_scores(words)
    assert (theirs > 0).sum() >= 3

    terms = Terms()
    counts = [terms.counts(d) for d in docs]
    lengths = [len(terms.stems(d)) for d in docs]
    average = sum(lengths) / len(lengths)
    documents = {t: sum(t in c for c in counts) for c in counts for t in c}
    asked = terms.counts(question)  # (words no chunk has are left out, as bm25s leaves them)
    query = {t: idf(len(docs), documents[t]) * n for t, n in asked.items() if t in documents}
    for i, c in enumerate(counts):
        part = frequency_part(c, lengths[i], average)
        ours = sum(query.get(t, 0.0) * w for t, w in part.items())
        assert ours == pytest.approx(float(theirs[i]), rel=1e-5), i


def test_a_stem_has_one_number_everywhere_and_a_vector_reads_back() -> None:
    assert term_number("spend") == term_number("spend") != term_number("defenc")
    assert 0 <= term_number("x" * 500) < DIMENSIONS
    weights = {0: 0.5, 12: 0.25, DIMENSIONS - 1: 1.0}
    text = sparse_text(weights)
    assert text.startswith("{1:0.5,13:0.25,") and text.endswith(f"}}/{DIMENSIONS}")
    assert parse_sparse(text) == weights
    assert parse_sparse(sparse_text({})) == {}


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.integers(0, 10**6), st.integers(1, 30), min_size=1, max_size=1500))
def test_a_chunk_keeps_its_heaviest_terms_and_its_weights_stay_below_one(
    counts: dict[int, int],
) -> None:
    part = frequency_part(counts, sum(counts.values()), 200.0)
    assert len(part) == min(len(counts), MAX_TERMS)
    assert all(0 < w < 1 for w in part.values())
    if len(counts) > MAX_TERMS:  # what is left out weighs no more than what is kept
        dropped = [counts[t] for t in counts if t not in part]
        assert max(dropped) <= min(counts[t] for t in part)


def test_a_term_in_every_chunk_weighs_little() -> None:
    assert idf(1000, 1000) < 0.001 < idf(1000, 10) and math.isfinite(idf(1, 0))
