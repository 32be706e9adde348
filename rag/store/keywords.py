"""The keyword half of search on the server store (`RAG_STORE__URL`): every chunk of a collection
with its BM25 term weights in a PostgreSQL table beside the ledger, searched by pgvector.

Each chunk is a row: its metadata and text (what a passage and a citation show, what the
catalogue lists) and its term-frequency part of BM25 as a sparse vector (`rag.text.terms`); the
number of chunks that hold each term is kept in `term_documents`. A writer changes both in the
ledger's own transaction (`PgLedger.record`, `remove`, `clear`), under the writers' advisory lock,
so that every machine reads the chunks the ledger records, and nothing else. A question's inverse
document frequencies are read when it is asked, so a score is BM25 over the archive as it is now;
the length normalisation uses the average chunk length when the chunk was written. The rows are
ordered by inner product through an HNSW index (pgvector's `hnsw.ef_search` candidates; filters
by date or source scan on, `hnsw.iterative_scan`), measured against bm25s in
`bench/keyword_postgres.py`.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rag.schema import ChunkMeta
from rag.store import postgres
from rag.store.record import indexed_text, record_text, slim
from rag.text.terms import Terms, frequency_part, idf, parse_sparse, sparse_text

# the chunks and their terms, in a collection's schema (made with the ledger's tables)
TABLES = """
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    article TEXT NOT NULL,
    date_num INTEGER NOT NULL,
    source TEXT NOT NULL,
    length INTEGER NOT NULL,
    terms sparsevec(1000000000) NOT NULL,
    written BIGINT NOT NULL,
    words BIGINT[] NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article);
CREATE INDEX IF NOT EXISTS chunks_written ON chunks (written);
CREATE INDEX IF NOT EXISTS chunks_words ON chunks USING gin (words);
CREATE TABLE IF NOT EXISTS chunk_texts (
    id TEXT PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
    meta TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS term_documents (term BIGINT PRIMARY KEY, documents INTEGER NOT NULL);
INSERT INTO state (key, value) VALUES ('keyword_chunks', '0') ON CONFLICT DO NOTHING;
INSERT INTO state (key, value) VALUES ('keyword_tokens', '0') ON CONFLICT DO NOTHING;
INSERT INTO state (key, value) SELECT 'keywords', '1' WHERE NOT EXISTS (SELECT 1 FROM articles)
    ON CONFLICT DO NOTHING;
"""

# the HNSW index a search through it needs (RAG_STORE__KEYWORD_EF_SEARCH above 0), made by the
# first writer or reader that asks for it; kept up by every write once it is there
HNSW = "CREATE INDEX IF NOT EXISTS chunks_terms ON chunks USING hnsw (terms sparsevec_ip_ops);\n"

# a question's words held by at most this share of the chunks are its rare ones: the chunks
# that hold one are scored first (`KeywordReader._rare_first`; exact whatever the share, which
# only sets how often the scan of every chunk is spared: 74 of 80 RealTimeQA questions at 10%)
RARE_SHARE = 0.1

_terms = Terms()


def chunk_rows(chunks: Iterable[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """(id, article, date_num, source, meta, content, length, counts) of chunk records as read
    from the store (flat metadata with the text under `_text`)."""
    rows = []
    for chunk_id, record in chunks:
        chunk = ChunkMeta.from_metadata(record)
        stems = _terms.stems(indexed_text(record))
        counts = Counter(_terms.numbers(stems))
        rows.append(
            (
                chunk_id,
                chunk.article_id,
                chunk.date_num,
                chunk.source,
                json.dumps(slim(record), ensure_ascii=False),
                json.dumps({"text": record_text(record)}, ensure_ascii=False),
                len(stems),
                counts,
            )
        )
    return rows


def write(conn: Any, articles: Sequence[str], chunks: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Within the caller's transaction on `conn` (search path on the collection's schema): the
    chunks of `articles` replaced by `chunks`."""
    remove(conn, articles)
    rows = chunk_rows(chunks)
    if not rows:
        return
    count, tokens = _totals(conn)
    count += len(rows)
    tokens += sum(r[6] for r in rows)
    average = tokens / count
    # the ledger's version this transaction makes: a reader's catalogue takes what came since
    (version,) = conn.execute("SELECT value FROM state WHERE key = 'version'").fetchone()
    documents: Counter[int] = Counter()
    # the vectors a search scans in a narrow table, the texts it shows beside it (a scan over
    # rows that held both took twice as long)
    columns = "id, article, date_num, source, length, terms, written, words"
    with conn.cursor() as cur, cur.copy(f"COPY chunks ({columns}) FROM STDIN") as copy:
        for chunk_id, article, day, source, _, _, length, counts in rows:
            documents.update(counts.keys())
            weights = frequency_part(counts, length, average)
            words = "{" + ",".join(map(str, sorted(weights))) + "}"
            row = (chunk_id, article, day, source, length, sparse_text(weights))
            copy.write_row((*row, int(version) + 1, words))
    with conn.cursor() as cur, cur.copy("COPY chunk_texts (id, meta, content) FROM STDIN") as copy:
        for chunk_id, _, _, _, meta, content, _, _ in rows:
            copy.write_row((chunk_id, meta, content))
    _count_documents(conn, documents, +1)
    _set_totals(conn, count, tokens)


def remove(conn: Any, articles: Sequence[str]) -> None:
    """Within the caller's transaction: the chunks of `articles` gone, with their terms' counts."""
    if not articles:
        return
    gone = conn.execute(
        "DELETE FROM chunks WHERE article = ANY(%s) RETURNING terms::text, length",
        (list(articles),),
    ).fetchall()
    if not gone:
        return
    documents: Counter[int] = Counter()
    for terms, _ in gone:
        documents.update(parse_sparse(terms).keys())
    _count_documents(conn, documents, -1)
    count, tokens = _totals(conn)
    _set_totals(conn, count - len(gone), tokens - sum(length for _, length in gone))


def clear(conn: Any) -> None:
    """Within the caller's transaction: no chunk left."""
    conn.execute("DELETE FROM chunk_texts")
    conn.execute("DELETE FROM chunks")
    conn.execute("DELETE FROM term_documents")
    _set_totals(conn, 0, 0)


def complete(conn: Any) -> bool:
    """False for a server store written before it kept the keyword half (filled by the next
    ingest from the store: `PgLedger.fill_keywords`)."""
    return conn.execute("SELECT 1 FROM state WHERE key = 'keywords'").fetchone() is not None


def mark_complete(conn: Any) -> None:
    conn.execute("INSERT INTO state (key, value) VALUES ('keywords', '1') ON CONFLICT DO NOTHING")


def _totals(conn: Any) -> tuple[int, int]:
    rows = dict(
        conn.execute(
            "SELECT key, value FROM state WHERE key IN ('keyword_chunks', 'keyword_tokens')"
        ).fetchall()
    )
    return int(rows.get("keyword_chunks", 0)), int(rows.get("keyword_tokens", 0))


def _set_totals(conn: Any, count: int, tokens: int) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE state SET value = %s WHERE key = %s",
            [(str(max(count, 0)), "keyword_chunks"), (str(max(tokens, 0)), "keyword_tokens")],
        )


def _count_documents(conn: Any, documents: Counter[int], sign: int) -> None:
    rows = sorted(documents.items())  # in one order: two writers never wait on each other's rows
    with conn.cursor() as cur:
        if sign > 0:
            cur.executemany(
                "INSERT INTO term_documents (term, documents) VALUES (%s, %s) ON CONFLICT (term) "
                "DO UPDATE SET documents = term_documents.documents + excluded.documents",
                rows,
            )
        else:
            cur.executemany(
                "UPDATE term_documents SET documents = documents - %s WHERE term = %s",
                [(n, t) for t, n in rows],
            )
            cur.execute("DELETE FROM term_documents WHERE documents <= 0")


class KeywordReader:
    """The reading side, for the processes that answer: a small pool of connections on the
    collection's schema (psycopg_pool), shared by every question and by the catalogue."""

    def __init__(
        self,
        url: str,
        collection: str,
        *,
        ef_search: int = 0,
        connections: int = 4,
        rare_share: float = RARE_SHARE,
    ) -> None:
        """`ef_search`: the candidates the HNSW index weighs (RAG_STORE__KEYWORD_EF_SEARCH);
        0: every chunk scored, exactly."""
        from psycopg import sql
        from psycopg_pool import ConnectionPool

        self.url, self.collection, self.ef_search = url, collection, ef_search
        self.rare_share = rare_share
        self.shortcuts = 0  # exact searches answered from the chunks with a rare word alone
        path = sql.SQL("SET search_path TO {}, public").format(
            sql.Identifier(postgres.schema_of(collection))
        )

        def configure(conn: Any) -> None:
            conn.execute(path)

        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=connections,
            kwargs={"autocommit": True, "connect_timeout": 10},
            configure=configure,
            open=False,
            name=f"keywords-{collection}",
        )
        self._opened = threading.Lock()
        self._open = False

    def _connection(self) -> Any:
        with self._opened:
            if not self._open:
                try:
                    self._pool.open(wait=True, timeout=15)
                except Exception as exc:
                    raise postgres.unreachable(self.url, exc) from None
                self._open = True
        return self._pool.connection()

    def close(self) -> None:
        with self._opened:
            if self._open:
                self._pool.close()
                self._open = False

    def search(
        self, question: str, k: int, where: str = "TRUE", params: Sequence[Any] = ()
    ) -> list[tuple[str, dict[str, Any], float]]:
        """The `k` chunks of best BM25 score for `question` among those `where` (SQL over
        date_num and source) accepts: (id, record, score), best first."""
        counts = _terms.counts(question)
        if not counts or k <= 0:
            return []
        with self._connection() as conn, conn.transaction():
            documents = dict(
                conn.execute(
                    "SELECT term, documents FROM term_documents WHERE term = ANY(%s)",
                    (list(counts),),
                ).fetchall()
            )
            if not documents:
                return []
            total = int(
                conn.execute("SELECT value FROM state WHERE key = 'keyword_chunks'").fetchone()[0]
            )
            weights = {t: idf(total, documents[t]) * n for t, n in counts.items() if t in documents}
            query = sparse_text(weights)
            select = (
                "SELECT c.id, t.meta, t.content, c.score FROM (SELECT id, "
                "(terms <#> %s::sparsevec) * -1 AS score FROM chunks WHERE {} "
                "ORDER BY terms <#> %s::sparsevec LIMIT %s) c JOIN chunk_texts t USING (id) "
                "ORDER BY c.score DESC"
            )
            if self.ef_search:
                conn.execute(f"SET LOCAL hnsw.ef_search = {int(self.ef_search)}")
                conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                rows = conn.execute(select.format(where), (query, *params, query, k)).fetchall()
            else:  # exact: the HNSW index not used
                conn.execute("SET LOCAL enable_indexscan = off")
                rows = self._rare_first(
                    conn, select, where, params, weights, query, documents, total, k
                )
                if rows is None:
                    rows = conn.execute(select.format(where), (query, *params, query, k)).fetchall()
        found = [(i, record_of(i, m, c), float(s)) for i, m, c, s in rows if s > 0]
        return sorted(found, key=lambda hit: (-hit[2], hit[0]))  # relaxed order: put right

    def _rare_first(
        self,
        conn: Any,
        select: str,
        where: str,
        params: Sequence[Any],
        weights: dict[int, float],
        query: str,
        documents: dict[int, int],
        total: int,
        k: int,
    ) -> list[Any] | None:
        """The exact top `k` found among the chunks that hold one of the question's rare words
        (in at most `rare_share` of the chunks: the GIN index on `words` finds them), when that
        is provably the top `k` of all: a chunk without a rare word scores at most the sum of
        the common words' weights (a chunk's weight of a word is below 1), so the `k`-th found
        scoring at least that sum settles it. None: scan every chunk."""
        rare = [t for t in weights if documents[t] <= self.rare_share * total]
        if not rare:
            return None
        bound = sum(w for t, w in weights.items() if t not in rare)
        rows = conn.execute(
            select.format(f"words && %s::bigint[] AND ({where})"),
            (query, rare, *params, query, k),
        ).fetchall()
        positive = [r for r in rows if r[3] > 0]
        if (len(positive) == k and positive[-1][3] >= bound) or bound == 0:
            self.shortcuts += 1
            return rows
        return None

    def records(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of these chunks (those still there)."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id, meta, content FROM chunk_texts WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        return {i: record_of(i, m, c) for i, m, c in rows}

    def listing(self, since: int = -1) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, metadata without the text) of every chunk written after the ledger's version
        `since` (all by default), in id order, read in pages."""
        with self._connection() as conn, conn.transaction(), conn.cursor(name="listing") as cur:
            cur.itersize = 5000
            cur.execute(
                "SELECT c.id, t.meta FROM chunks c JOIN chunk_texts t USING (id) "
                "WHERE c.written > %s ORDER BY c.id",
                (since,),
            )
            for chunk_id, meta in cur:
                yield chunk_id, json.loads(meta)


def record_of(chunk_id: str, meta: str, content: str) -> dict[str, Any]:
    """A chunk's record from its row: the text inside `content`, JSON under `text` (as
    `_node_content`, the whole llama-index node in rows written before 2026-12-07)."""
    return json.loads(meta) | {"_node_content": content, "node_id": chunk_id}
