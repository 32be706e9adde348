"""The keyword half on the server store (`rag.store.keywords`, `rag.retrieval.keywords`) on a real
PostgreSQL with pgvector: written and removed in the ledger's transactions, the counts BM25 needs
kept exact, a search ranking as bm25s ranks the same chunks, within the date and source filters."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest

from rag.schema import Filters
from rag.store.keywords import KeywordReader
from rag.store.ledger import PgLedger, Recorded
from rag.text.terms import Terms, parse_sparse

pytestmark = [pytest.mark.slow, pytest.mark.server]

ARTICLES = {
    "nato": (
        "2025-06-05",
        "BBC",
        ["Hegseth said there would be near consensus on a 5% commitment."],
    ),
    "budget": (
        "2025-06-20",
        "Reuters",
        ["The chancellor said spending on defence would rise.", "Defence spending grows."],
    ),
    "visit": ("", "BBC", ["Starmer will host Rutte in London next Monday for talks on defence."]),
    "allies": ("2025-09-01", "AP", ["Rutte said allies must spend more: spending, spending."]),
}


def chunks_of(article: str) -> list[tuple[str, dict[str, Any]]]:
    day, source, texts = ARTICLES[article]
    meta = {"article_id": article, "document_id": article, "title": "", "date": day}
    return [
        (f"{article}:00000000:{i}", meta | {"source": source, "_text": text})
        for i, text in enumerate(texts)
    ]


def record(ledger: PgLedger, *articles: str) -> None:
    chunks = [c for a in articles for c in chunks_of(a)]
    rows = [Recorded(a, "00000000", len(ARTICLES[a][2]), "t", "i") for a in articles]
    ledger.record(rows, chunks)


@pytest.fixture
def ledger(postgres: str) -> PgLedger:
    book = PgLedger(str(postgres), "k" + uuid.uuid4().hex[:10])
    yield book
    book.close()


def counts_on_server(ledger: PgLedger) -> tuple[dict[int, int], int, int]:
    db = ledger._db.conn  # type: ignore[attr-defined]
    documents = dict(db.execute("SELECT term, documents FROM term_documents").fetchall())
    state = dict(db.execute("SELECT key, value FROM state WHERE key LIKE 'keyword_%'").fetchall())
    return documents, int(state["keyword_chunks"]), int(state["keyword_tokens"])


def expected_counts(*articles: str) -> tuple[dict[int, int], int, int]:
    terms = Terms()
    texts = [r["_text"] for a in articles for _, r in chunks_of(a)]
    documents: Counter[int] = Counter()
    for text in texts:
        documents.update(set(terms.counts(text)))
    return dict(documents), len(texts), sum(len(terms.stems(t)) for t in texts)


def test_writes_removals_and_a_clear_keep_the_counts_exact(ledger: PgLedger) -> None:
    assert ledger.keeps_keywords and ledger.keywords_complete()  # a new collection: complete
    record(ledger, "nato", "budget", "visit")
    assert counts_on_server(ledger) == expected_counts("nato", "budget", "visit")
    assert ledger.keyword_counts() == {"nato": 1, "budget": 2, "visit": 1}
    record(ledger, "budget", "allies")  # an article written again replaces its rows
    assert counts_on_server(ledger) == expected_counts("nato", "budget", "visit", "allies")
    ledger.remove(["budget"])
    assert counts_on_server(ledger) == expected_counts("nato", "visit", "allies")
    assert ledger.keyword_counts() == {"nato": 1, "visit": 1, "allies": 1}
    ledger.clear()
    assert counts_on_server(ledger) == ({}, 0, 0) and ledger.keyword_counts() == {}


def test_a_search_ranks_as_bm25s_and_keeps_to_the_filters(ledger: PgLedger) -> None:
    import bm25s
    import Stemmer

    from rag.text.terms import K1, B

    record(ledger, *ARTICLES)
    reader = KeywordReader(ledger.url, ledger.collection)
    try:
        question = "What did Rutte say about defence spending?"
        hits = reader.search(question, 10)
        chunks = [c for a in ARTICLES for c in chunks_of(a)]
        stemmer = Stemmer.Stemmer("english")
        index = bm25s.BM25(k1=K1, b=B)
        texts = [r["_text"] for _, r in chunks]
        index.index(
            bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
            show_progress=False,
        )
        words = bm25s.tokenize(
            question, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        scores = index.get_scores([w for w in words if w in index.vocab_dict])
        theirs = sorted(
            ((cid, float(s)) for (cid, _), s in zip(chunks, scores, strict=True) if s > 0),
            key=lambda x: (-x[1], x[0]),
        )
        assert [h[0] for h in hits] == [cid for cid, _ in theirs]
        assert [h[2] for h in hits] == pytest.approx([s for _, s in theirs], rel=1e-4)
        assert hits[0][1]["_node_content"] and hits[0][1]["node_id"] == hits[0][0]

        def found(filters: Filters) -> set[str]:
            where, params = filters.to_sql()
            return {h[1]["article_id"] for h in reader.search(question, 10, where, params)}

        assert found(Filters(sources=["BBC"])) == {"visit"}  # (nato has no word asked)
        assert found(Filters(date_from=date(2025, 6, 10))) == {"budget", "allies"}
        assert found(Filters(date_to=date(2025, 6, 30))) == {"budget"}  # undated: outside
        assert found(Filters(as_of=date(2025, 6, 30))) == {"budget", "visit"}  # undated: kept
        assert reader.search("the and of", 10) == []  # stop words alone
        assert reader.search("zzyzx", 10) == []  # a word no chunk has
        assert set(reader.records(["nato:00000000:0", "gone:0:0"])) == {"nato:00000000:0"}
    finally:
        reader.close()


def test_a_store_from_before_the_keyword_half_is_filled_once(ledger: PgLedger) -> None:
    record(ledger, "nato", "visit")
    db = ledger._db.conn  # type: ignore[attr-defined]
    db.execute("DELETE FROM chunks")
    db.execute("DELETE FROM term_documents")
    db.execute("DELETE FROM state WHERE key = 'keywords'")
    assert not ledger.keywords_complete() and ledger.keyword_counts() == {}
    version = ledger.version()
    ledger.fill_keywords(chunks_of("nato") + chunks_of("visit"))
    assert ledger.keywords_complete() and ledger.version() == version + 1
    assert counts_on_server(ledger) == expected_counts("nato", "visit")


def test_the_vectors_kept_are_the_terms_of_each_chunk(ledger: PgLedger) -> None:
    record(ledger, "allies")
    db = ledger._db.conn  # type: ignore[attr-defined]
    (terms,) = db.execute("SELECT terms::text FROM chunks").fetchone()
    assert set(parse_sparse(terms)) == set(Terms().counts(chunks_of("allies")[0][1]["_text"]))


def test_a_catalogue_taken_again_reads_only_what_changed_and_equals_one_read_whole(
    ledger: PgLedger,
) -> None:
    from rag.retrieval.keywords import ServerKeywords
    from rag.store.catalogue import Summary

    record(ledger, "nato", "visit", "budget")
    reader = KeywordReader(ledger.url, ledger.collection)
    try:
        _, first = ServerKeywords.open(reader, "one", ledger)
        assert sorted(first.summary.articles) == ["budget", "nato", "visit"]
        record(ledger, "allies", "budget")  # one new, one written again
        ledger.remove(["visit"])
        read: list[int] = []
        listing = reader.listing

        def counted(since: int = -1):  # type: ignore[no-untyped-def]
            rows = list(listing(since))
            read.append(len(rows))
            return iter(rows)

        reader.listing = counted  # type: ignore[method-assign]
        catalogue, second = ServerKeywords.open(reader, "two", ledger, first)
        assert read == [3]  # allies' chunk and budget's two, not the rest
        whole = Summary.of(listing())

        def by_chunk(s: Summary) -> dict[str, tuple[str, int, str]]:
            return {
                c: (a, d, src)
                for c, a, d, src in zip(s.ids, s.article_ids, s.dates, s.sources, strict=True)
            }

        assert by_chunk(second.summary) == by_chunk(whole)
        assert second.summary.articles == whole.articles
        assert second.version == ledger.version() and catalogue.size == 4
        assert catalogue.chunk_text("allies:00000000:0") == ARTICLES["allies"][2][0]
        assert catalogue.chunk_text("visit:00000000:0") is None
    finally:
        reader.close()


def test_through_the_hnsw_index_a_search_finds_what_the_exact_one_finds(postgres: str) -> None:
    """RAG_STORE__KEYWORD_EF_SEARCH above 0: the index is made when a ledger asks for it, and
    a search goes through it (on a few chunks, it finds them all)."""
    name = "k" + uuid.uuid4().hex[:10]
    plain = PgLedger(str(postgres), name)
    record(plain, *ARTICLES)
    indexed = PgLedger(str(postgres), name, keyword_index=True)
    db = indexed._db.conn  # type: ignore[attr-defined]
    assert db.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'chunks_terms'").fetchone()
    exact = KeywordReader(str(postgres), name)
    fast = KeywordReader(str(postgres), name, ef_search=1000)
    try:
        question = "What did Rutte say about defence spending?"
        assert fast.search(question, 10) == exact.search(question, 10) != []
    finally:
        exact.close()
        fast.close()
        plain.close()
        indexed.close()


def test_the_chunks_with_a_rare_word_first_give_exactly_what_the_scan_gives(
    ledger: PgLedger,
) -> None:
    """The exact search scores the chunks holding one of the question's rare words first, and
    keeps their top k only when the common words' weights prove no other chunk can beat it."""
    record(ledger, *ARTICLES)
    scan = KeywordReader(ledger.url, ledger.collection, rare_share=0.0)  # no word is rare
    first = KeywordReader(ledger.url, ledger.collection, rare_share=0.5)
    try:
        questions = [
            "What did Rutte say about defence spending?",
            "Hegseth consensus commitment",
            "Where will Starmer host Rutte?",
            "chancellor spending",
        ]
        for k in (1, 2, 5):
            for question in questions:
                assert first.search(question, k) == scan.search(question, k), (question, k)
                where, params = Filters(sources=["BBC"]).to_sql()
                assert first.search(question, k, where, params) == scan.search(
                    question, k, where, params
                )
        assert scan.shortcuts == 0 and first.shortcuts > 0
    finally:
        scan.close()
        first.close()
