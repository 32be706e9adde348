"""The ingestion ledger: which articles are indexed, under which content hash, with how many
chunks. One SQLite file beside the store is the record every writer keeps (`rag ingest`, uploads
through the API), and one lock file serialises them across processes, so two writers never
interleave and neither forgets what the other wrote. Readers (a running server) watch `version()`
to notice new articles without a restart.

Each batch of articles is written to the vector store first and recorded here after, in one
transaction: a crash (even kill -9) between the two leaves articles unrecorded, and the next run
deletes their partial chunks and writes them again. Replaces llama-index's `SimpleDocumentStore`
JSON file, which was rewritten whole after every batch (quadratic in the archive's size); an
existing one is imported once.

Each chunk's record (metadata and text) is kept once, in a second SQLite file beside the ledger
(`Layout.chunk_records`), written just before the batch is recorded: a ledger lost or damaged is
rebuilt from the store and that file, and that file from the ledger's copy of each article. On
the server store (`PgLedger`) the records are the keyword half's rows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from filelock import FileLock, Timeout
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from rag.errors import BusyError, StoreReadOnlyError, StoreUnavailableError
from rag.schema import PARA_HASHES, chunk_article, chunk_id
from rag.settings import Settings, StoreSettings
from rag.store import keywords, postgres
from rag.store.layout import Layout, records_beside
from rag.store.migrations import docstore_hashes, ledger_columns
from rag.store.postgres import server_url
from rag.store.record import TEXT, record_text, slim

log = logging.getLogger(__name__)
_CHUNK = 900  # parameters per IN (...) query, under SQLite's limit
DECODED = 4096  # articles whose chunks' shared metadata is kept decoded once read (about 2 MB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    text_hash TEXT NOT NULL DEFAULT '',
    input_hash TEXT NOT NULL DEFAULT ''
);
-- what names every chunk (`chunk_ids`, `fingerprint`), read without the rows' article bodies
CREATE INDEX IF NOT EXISTS articles_chunks ON articles (id, hash, chunks);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO state (key, value) VALUES ('version', '0') ON CONFLICT DO NOTHING;
-- the article that indexes each paragraph (the first to bring it)
CREATE TABLE IF NOT EXISTS paragraphs (hash TEXT PRIMARY KEY, owner TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paragraphs_owner ON paragraphs (owner);
-- paragraphs an article carries but does not index, because another article indexes them
CREATE TABLE IF NOT EXISTS copies (
    article TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (article, hash)
);
CREATE INDEX IF NOT EXISTS copies_hash ON copies (hash);
-- pages fetched from the web: each URL asked for or redirected to -> its article
CREATE TABLE IF NOT EXISTS urls (url TEXT PRIMARY KEY, article TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS urls_article ON urls (article);
-- URLs whose fetch failed, and when: not tried again for a while (RAG_FETCH__RETRY_AFTER)
CREATE TABLE IF NOT EXISTS failed_urls (url TEXT PRIMARY KEY, message TEXT NOT NULL, at REAL);
"""


# the books keep paragraph owners from here on (a ledger from before them is filled once)
PARAGRAPHS_KEPT = "INSERT INTO state (key, value) VALUES ('paragraphs', '1') ON CONFLICT DO NOTHING"
# the records file keeps every chunk's record (one beside an older store is filled from it once)
RECORDS_KEPT = "INSERT INTO state (key, value) VALUES ('chunks', '1') ON CONFLICT DO NOTHING"
# what every chunk of an article shares (its metadata) once, and each chunk's own part (its text,
# the paragraphs it carries) compressed, found by its id; an article's chunks are the ids that
# begin with "ARTICLE:" (`rag.schema.chunk_id`), so no index on the article is needed
_RECORDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS shared (article TEXT PRIMARY KEY, meta BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY, own BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Entry(NamedTuple):
    """What the ledger knows of one article ('' where unknown: records imported from a docstore)."""

    hash: str  # of the document as indexed (after duplicate paragraphs were dropped)
    text_hash: str  # of its title and text, wherever it came from: what a 409 compares
    input_hash: str  # of everything read for it: unchanged means no work at all


class Recorded(NamedTuple):
    """One article as written to the vector store."""

    id: str
    hash: str
    chunks: int
    text_hash: str
    input_hash: str
    body: dict[str, Any] | None = None  # the article as read, to index it again without its file
    kept: tuple[str, ...] = ()  # hashes of the paragraphs it indexes
    copied: tuple[str, ...] = ()  # hashes of those it leaves to another article


def _pack(body: dict[str, Any] | None) -> bytes | None:
    if body is None:
        return None
    return zlib.compress(json.dumps(body, ensure_ascii=False, default=str).encode(), 6)


def _unpack(blob: bytes) -> dict[str, Any]:
    return dict(json.loads(zlib.decompress(blob)))


def _by_article(
    chunks: Iterable[tuple[str, dict[str, Any]]],
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Chunk records grouped by their article, each record slimmed (`rag.store.record`)."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for cid, record in chunks:
        entry = slim(record) | {TEXT: record_text(record)}
        out.setdefault(chunk_article(cid), []).append((cid, entry))
    return out


def _split(
    found: list[tuple[str, dict[str, Any]]],
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """An article's chunk records as what they share (the first one's metadata but its
    paragraphs) and each one's own part (what differs from that, with its text), compressed."""
    first = found[0][1]
    shared = {k: v for k, v in first.items() if k not in (TEXT, PARA_HASHES)}
    own = [
        (
            cid,
            zlib.compress(orjson.dumps({k: v for k, v in r.items() if shared.get(k, _NONE) != v})),
        )
        for cid, r in found
    ]
    return orjson.dumps(shared), own


_NONE = object()


def _version(chunk: str) -> str:
    """The "ARTICLE:HASH" part of a chunk id: its article as written in one version."""
    return chunk.rsplit(":", 1)[0]


def _article_range(article: str) -> tuple[str, str]:
    """The ids of an article's chunks lie in [ARTICLE + ":", ARTICLE + ";") (with those of an
    article whose id begins with ARTICLE + ":", if any)."""
    return f"{article}:", f"{article};"


def where_in(db: sqlite3.Connection, sql: str, keys: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of `sql` (whose one `{marks}` is an IN list) for all `keys`, in batches of
    parameters SQLite accepts."""
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        yield from db.execute(sql.format(marks=",".join("?" * len(part))), part)


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


@retry(
    retry=retry_if_exception(_locked),
    stop=stop_after_delay(30),
    wait=wait_random(0.02, 0.2),
    reraise=True,
)
def _prepare(db: sqlite3.Connection) -> None:
    """WAL mode, the tables, and the columns older ledgers lack. SQLite refuses some of this at
    once, without waiting out the busy timeout, while another process is opening the same new
    file (two writers starting on a new store together: the switch to WAL), so it is tried again
    for up to 30 s; each step can run twice."""
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        # the columns are looked at and added under the write lock (waited for): two processes
        # must not both find one missing and both add it
        db.execute("BEGIN IMMEDIATE")
        ledger_columns(db)
        if not db.execute("SELECT 1 FROM articles LIMIT 1").fetchone():
            # a new (or empty) ledger keeps the paragraph books from its first article on
            db.execute(PARAGRAPHS_KEPT)
        db.commit()
    except sqlite3.OperationalError:
        db.rollback()
        raise


@retry(
    retry=retry_if_exception(_locked),
    stop=stop_after_delay(30),
    wait=wait_random(0.02, 0.2),
    reraise=True,
)
def _prepare_records(db: sqlite3.Connection, *, complete: bool) -> None:
    """WAL mode and the tables of a records file; `complete`: a new one beside a ledger that
    records nothing yet, which keeps every chunk's record from the first on."""
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_RECORDS_SCHEMA)
        if complete:
            with db:
                db.execute(RECORDS_KEPT)
    except sqlite3.OperationalError:
        db.rollback()
        raise


class LedgerDamagedError(StoreUnavailableError):
    """The ledger file is no readable SQLite database (truncated, overwritten)."""


DAMAGED = (
    "the ingestion ledger {path} is damaged ({why}): `rag check --repair` sets it aside and "
    "rebuilds it from the store"
)


class _Cursor(sqlite3.Cursor):
    """A cursor that says a damaged file is a damaged ledger, whichever query meets it first
    (a truncated file opens, and fails on the first page read that is gone)."""

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        with _damage_named(self.connection):
            return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        with _damage_named(self.connection):
            return super().executemany(*args, **kwargs)

    def executescript(self, *args: Any, **kwargs: Any) -> Any:
        with _damage_named(self.connection):
            return super().executescript(*args, **kwargs)

    def fetchone(self) -> Any:
        with _damage_named(self.connection):
            return super().fetchone()

    def fetchall(self) -> Any:
        with _damage_named(self.connection):
            return super().fetchall()

    def __next__(self) -> Any:
        with _damage_named(self.connection):
            return super().__next__()


class _Connection(sqlite3.Connection):
    """A connection whose every query runs on a `_Cursor`."""

    path = ""

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().executemany(*args, **kwargs)

    def executescript(self, *args: Any, **kwargs: Any) -> Any:
        return self.cursor().executescript(*args, **kwargs)


@contextmanager
def _damage_named(db: sqlite3.Connection) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError | sqlite3.IntegrityError):
            raise
        path = getattr(db, "path", "") or "(the ledger)"
        raise LedgerDamagedError(DAMAGED.format(path=path, why=exc)) from None


class LedgerBusyError(BusyError):
    """Another process is writing to the same index."""


def _read_only_uri(path: Path) -> str:
    """How a reader opens a ledger file: through the write-ahead log, where the writers' latest
    commits are until SQLite copies them into the file; as the file alone (immutable) only in a
    folder it cannot write, where SQLite cannot make the log's index and nobody writes."""
    frozen = not os.access(path.resolve().parent, os.W_OK)
    return f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if frozen else "")


class Ledger:
    """Article id -> content hash and chunk count, with a version that grows on every write."""

    keeps_keywords = False  # the chunks' keyword half is kept with it (`record`'s `chunks`)

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._mutex = threading.Lock()
        if read_only:
            uri = _read_only_uri(self.path)
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_Connection)
            self._db.path = str(self.path)
            self._open_records(read_only=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, factory=_Connection
        )
        self._db.path = str(self.path)
        with self._mutex:
            _prepare(self._db)
            self._open_records(read_only=False)

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            if getattr(self, "_rdb", None) is not None:
                self._rdb.close()  # type: ignore[union-attr]

    @contextmanager
    def writing(self, timeout: float = -1) -> Iterator[Ledger]:
        """Hold the writers' lock (another process's ingest waits, or fails after `timeout` s)."""
        lock = FileLock(lock_path(self.path))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LedgerBusyError(
                f"another ingest is writing to this index ({self.path}); try again when it ends"
            ) from None
        try:
            yield self
        finally:
            lock.release()

    def hashes(self) -> dict[str, str]:
        with self._mutex:
            return dict(self._db.execute("SELECT id, hash FROM articles"))

    def entries(self) -> dict[str, Entry]:
        """Every recorded article, read once."""
        with self._mutex:
            rows = self._db.execute("SELECT id, hash, text_hash, input_hash FROM articles")
            return {i: Entry(h, t, n) for i, h, t, n in rows}

    def __len__(self) -> int:
        with self._mutex:
            return int(self._db.execute("SELECT count(*) FROM articles").fetchone()[0])

    def version(self) -> int:
        with self._mutex:
            return int(
                self._db.execute("SELECT value FROM state WHERE key='version'").fetchone()[0]
            )

    def record(
        self,
        rows: Iterable[Recorded],
        chunks: Iterable[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """Articles now fully in the vector store, with the paragraphs each indexes and those it
        leaves to other articles (replacing what was recorded for them before). `chunks`: their
        chunks' (id, record), which replace the records kept of them (and, on the server store,
        their keyword rows); None: their records are left as they are (articles recorded
        from what the store already holds)."""
        rows = list(rows)
        ids = [(r.id,) for r in rows]
        now = time.time()
        given = None if chunks is None else list(chunks)
        if given is not None:
            with self._mutex:
                self._records_written([r.id for r in rows], given)
        with self._mutex, self._db:
            self._chunks_written([r.id for r in rows], given or [])
            self._db.executemany(
                "INSERT INTO articles (id, hash, chunks, text_hash, input_hash, body, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, chunks=excluded.chunks, "
                "text_hash=excluded.text_hash, input_hash=excluded.input_hash, "
                "body=excluded.body, indexed_at=excluded.indexed_at",
                [
                    (r.id, r.hash, r.chunks, r.text_hash, r.input_hash, _pack(r.body), now)
                    for r in rows
                ],
            )
            self._db.executemany("DELETE FROM paragraphs WHERE owner=?", ids)
            self._db.executemany("DELETE FROM copies WHERE article=?", ids)
            self._db.executemany(
                "INSERT INTO paragraphs (hash, owner) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(h, r.id) for r in rows for h in r.kept],
            )
            self._db.executemany(
                "INSERT INTO copies (article, hash) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(r.id, h) for r in rows for h in r.copied],
            )
            self._bump()

    # --- the chunks' records (metadata and text: `rag.store.record`) -------------------------
    # kept in a file of their own beside the ledger (`Layout.chunk_records`): a ledger lost or
    # damaged is rebuilt from the store and this file, and this file from the ledger's articles
    def _open_records(self, *, read_only: bool) -> None:
        """Open (or make) the records file; a new one beside a ledger that records articles
        (an older store, or the file lost) is not complete until filled."""
        path = records_beside(self.path)
        self._rdb: sqlite3.Connection | None = None
        self._shared: dict[str, dict[str, Any]] = {}  # "ARTICLE:HASH" -> what its chunks share
        if read_only:
            if path.exists():
                uri = _read_only_uri(path)
                self._rdb = sqlite3.connect(
                    uri, uri=True, check_same_thread=False, factory=_Connection
                )
                self._rdb.path = str(path)
            return
        new = not path.exists()
        rdb = sqlite3.connect(path, timeout=30, check_same_thread=False, factory=_Connection)
        rdb.path = str(path)
        _prepare_records(
            rdb, complete=new and not self._db.execute("SELECT 1 FROM articles LIMIT 1").fetchone()
        )
        self._rdb = rdb

    def _records_written(
        self, articles: list[str], chunks: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """The records of `articles`' chunks are now `chunks` (committed before the ledger's
        rows: a write cut between the two is written again by the next ingest)."""
        if self._rdb is None:
            return
        with self._rdb:
            gone = [
                (cid,)
                for a in articles
                for (cid,) in self._rdb.execute(
                    "SELECT id FROM chunks WHERE id >= ? AND id < ?", _article_range(a)
                ).fetchall()
                if chunk_article(cid) == a  # not another article's whose id begins with "a:"
            ]
            self._rdb.executemany("DELETE FROM chunks WHERE id=?", gone)
            self._rdb.executemany("DELETE FROM shared WHERE article=?", [(a,) for a in articles])
            self._write_records(_by_article(chunks), "INSERT OR REPLACE")

    def _write_records(
        self, grouped: dict[str, list[tuple[str, dict[str, Any]]]], verb: str
    ) -> None:
        for article, found in grouped.items():
            shared, own = _split(found)
            self._rdb.execute(  # type: ignore[union-attr]
                f"{verb} INTO shared (article, meta) VALUES (?, ?)", (article, shared)
            )
            self._rdb.executemany(  # type: ignore[union-attr]
                f"{verb} INTO chunks (id, own) VALUES (?, ?)", own
            )

    def records_complete(self) -> bool:
        """True when the ledger keeps the record of every chunk in the store (one beside an
        older store is filled from the store's chunks at the next ingest)."""
        if self._rdb is None:
            return False
        with self._mutex:
            row = self._rdb.execute("SELECT value FROM state WHERE key='chunks'").fetchone()
            return row is not None

    def fill_records(
        self, chunks: Iterable[tuple[str, dict[str, Any]]], *, replace: bool = True
    ) -> None:
        """The records of every chunk the store holds (read from it once); `replace=False`:
        added only for articles the file has no records of."""
        if self._rdb is None:
            return
        grouped = _by_article(chunks)
        with self._mutex, self._rdb:
            if replace:
                self._rdb.execute("DELETE FROM chunks")
                self._rdb.execute("DELETE FROM shared")
            else:
                held = {a for (a,) in self._rdb.execute("SELECT article FROM shared")}
                grouped = {a: f for a, f in grouped.items() if a not in held}
            self._write_records(grouped, "INSERT OR REPLACE")
            self._rdb.execute(RECORDS_KEPT)

    def chunk_records(self, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(chunk id, record) of those of these chunks the ledger keeps, in the order asked,
        read a page at a time: each chunk's own part, and what its article's chunks share
        (kept decoded for the `DECODED` articles last read)."""
        if self._rdb is None:
            return
        for at in range(0, len(ids), _CHUNK):
            part = ids[at : at + _CHUNK]
            with self._mutex:
                sql = "SELECT id, own FROM chunks WHERE id IN ({marks})"
                own = dict(where_in(self._rdb, sql, part))
                # kept by article and version (a chunk id's "ARTICLE:HASH" part): an article
                # written again, here or by another process, is read afresh
                wanted = {_version(cid): chunk_article(cid) for cid in own}
                wanted = {v: a for v, a in wanted.items() if v not in self._shared}
                sql = "SELECT article, meta FROM shared WHERE article IN ({marks})"
                read = dict(where_in(self._rdb, sql, set(wanted.values())))
                for version, article in wanted.items():
                    if article in read:
                        self._shared[version] = orjson.loads(read[article])
                found = {
                    cid: self._shared.get(_version(cid), {}) | orjson.loads(zlib.decompress(blob))
                    for cid, blob in own.items()
                }
                while len(self._shared) > DECODED:
                    self._shared.pop(next(iter(self._shared)))
            yield from ((cid, found[cid]) for cid in part if cid in found)

    # --- the paragraph books ----------------------------------------------------------------
    def paragraphs_complete(self) -> bool:
        """False for a ledger written before it kept paragraph owners (filled from the store)."""
        with self._mutex:
            row = self._db.execute("SELECT value FROM state WHERE key='paragraphs'").fetchone()
            return row is not None

    def fill_paragraphs(self, owners: dict[str, str], copies: Iterable[tuple[str, str]]) -> None:
        """Take the paragraph owners and copies of an older ledger's store (once)."""
        with self._mutex, self._db:
            self._db.executemany(
                "INSERT INTO paragraphs (hash, owner) VALUES (?, ?) ON CONFLICT DO NOTHING",
                owners.items(),
            )
            self._db.executemany(
                "INSERT INTO copies (article, hash) VALUES (?, ?) ON CONFLICT DO NOTHING",
                list(copies),
            )
            self._db.execute(PARAGRAPHS_KEPT)

    def _where_in(self, sql: str, keys: Iterable[str]) -> Iterator[tuple[Any, ...]]:
        with self._mutex:
            yield from where_in(self._db, sql, keys)

    def owners(self, hashes: Iterable[str]) -> dict[str, str]:
        """Paragraph hash -> the article indexing it, for those of `hashes` that are indexed."""
        sql = "SELECT hash, owner FROM paragraphs WHERE hash IN ({marks})"
        return {h: o for h, o in self._where_in(sql, hashes)}

    def owned_by(self, article_id: str) -> set[str]:
        with self._mutex:
            rows = self._db.execute("SELECT hash FROM paragraphs WHERE owner=?", (article_id,))
            return {h for (h,) in rows}

    def stranded(self) -> set[str]:
        """Articles with a paragraph they left to another article that no longer indexes it:
        until they are indexed again, that paragraph of theirs is not searchable."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT DISTINCT c.article FROM copies c "
                "LEFT JOIN paragraphs p ON p.hash = c.hash WHERE p.hash IS NULL"
            )
            return {a for (a,) in rows}

    def copies_map(self) -> dict[str, set[str]]:
        """Paragraph hash -> the articles that carry it but leave it to its owner."""
        out: dict[str, set[str]] = {}
        with self._mutex:
            for article, h in self._db.execute("SELECT article, hash FROM copies"):
                out.setdefault(h, set()).add(article)
        return out

    def bodies(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The articles as they were read (fields of `index.loaders.Article`), where kept."""
        sql = "SELECT id, body FROM articles WHERE id IN ({marks}) AND body IS NOT NULL"
        return {i: _unpack(b) for i, b in self._where_in(sql, ids)}

    def versions(self, ids: Iterable[str]) -> dict[str, str]:
        """Article id -> the content hash it is recorded under, for those of `ids` recorded."""
        sql = "SELECT id, hash FROM articles WHERE id IN ({marks})"
        return {i: h for i, h in self._where_in(sql, ids)}

    def chunk_counts(self) -> dict[str, int]:
        with self._mutex:
            return dict(self._db.execute("SELECT id, chunks FROM articles"))

    def _chunk_rows(self) -> list[tuple[str, str, int]] | None:
        """(article, content hash, chunks) of every article with chunks, by id; None when one
        lacks its hash (imported from a docstore): its chunk ids cannot be named."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT id, hash, chunks FROM articles WHERE chunks > 0 ORDER BY id"
            ).fetchall()
        return None if any(not h for _, h, _ in rows) else rows

    def chunk_ids(self) -> list[str] | None:
        """Every chunk id the recorded articles have in the store, derived from their rows
        (`rag.passages.chunk_id`) without reading the store; None when they cannot be named.
        `rag check` confirms they are the store's."""
        rows = self._chunk_rows()
        if rows is None:
            return None
        return [chunk_id(a, h, i) for a, h, n in rows for i in range(n)]

    def fingerprint(self) -> str | None:
        """A name for the set of chunks the ledger records, which changes whenever one is added
        or removed (a tenth of a second at 100k articles, where naming all 1.5M chunks takes
        two): what a saved BM25 index is kept under. None when the chunks cannot be named."""
        rows = self._chunk_rows()
        if rows is None:
            return None
        digest = hashlib.sha1("".join(f"{a}:{h[:8]}:{n}\n" for a, h, n in rows).encode())
        return f"{sum(n for _, _, n in rows)}-{digest.hexdigest()[:16]}"

    def note_inputs(self, rows: Iterable[tuple[str, str]]) -> None:
        """(article id, input hash) for recorded articles found unchanged by their document hash
        (so the next run can skip them without reading the store)."""
        with self._mutex, self._db:
            self._db.executemany(
                "UPDATE articles SET input_hash=? WHERE id=?", [(h, i) for i, h in rows]
            )

    def invalidate(self, ids: Iterable[str] | None = None) -> None:
        """Mark articles (all when None) as not written to the store, keeping their text and
        chunk counts: the next ingest writes them again, `rag check` counts them missing."""
        with self._mutex, self._db:
            if ids is None:  # the store was lost: its chunks with it
                self._chunks_cleared()
                self._db.execute("UPDATE articles SET hash='', input_hash=''")
            else:
                self._db.executemany(
                    "UPDATE articles SET hash='', input_hash='' WHERE id=?", [(i,) for i in ids]
                )
            self._bump()

    def remove(self, ids: Iterable[str]) -> None:
        rows = [(i,) for i in ids]
        with self._mutex:
            self._records_written([i for (i,) in rows], [])
        with self._mutex, self._db:
            self._chunks_written([i for (i,) in rows], ())
            self._db.executemany("DELETE FROM articles WHERE id=?", rows)
            self._db.executemany("DELETE FROM paragraphs WHERE owner=?", rows)
            self._db.executemany("DELETE FROM copies WHERE article=?", rows)
            self._db.executemany("DELETE FROM urls WHERE article=?", rows)
            self._bump()

    def arrivals(self, limit: int = 20) -> list[tuple[str, float]]:
        """The articles indexed (or indexed anew) most recently: (id, Unix time), newest first."""
        with self._mutex:
            rows = self._db.execute(
                "SELECT id, indexed_at FROM articles WHERE indexed_at IS NOT NULL "
                "ORDER BY indexed_at DESC LIMIT ?",
                (limit,),
            )
            return [(i, float(t)) for i, t in rows]

    def urls(self, urls: Iterable[str]) -> dict[str, str]:
        """Which of these URLs an indexed article was fetched from (URL -> article id)."""
        sql = (
            "SELECT u.url, u.article FROM urls u JOIN articles a ON a.id = u.article "
            "WHERE u.url IN ({marks})"
        )
        return dict(self._where_in(sql, urls))

    def url_rows(self) -> list[tuple[str, str]]:
        """Every (URL, article id) remembered, for a copy of the collection."""
        with self._mutex:
            return [(u, a) for u, a in self._db.execute("SELECT url, article FROM urls")]

    def failed_urls(self, urls: Iterable[str], since: float) -> dict[str, str]:
        """Which of these URLs failed to give an article after `since` (URL -> why)."""
        sql = "SELECT url, message, at FROM failed_urls WHERE url IN ({marks})"
        return {u: m for u, m, at in self._where_in(sql, urls) if at >= since}

    def note_failed_urls(self, rows: Iterable[tuple[str, str]]) -> None:
        """(URL, why): its fetch failed now."""
        now = time.time()
        with self._mutex, self._db:
            self._db.executemany(
                "INSERT INTO failed_urls (url, message, at) VALUES (?, ?, ?) ON CONFLICT (url) "
                "DO UPDATE SET message=excluded.message, at=excluded.at",
                [(u, m, now) for u, m in rows],
            )

    def note_urls(self, rows: Iterable[tuple[str, str]]) -> None:
        """(URL, article id): the page fetched at this URL (asked for, or redirected to) is that
        article."""
        rows = list(rows)
        with self._mutex, self._db:
            self._db.executemany(
                "INSERT INTO urls (url, article) VALUES (?, ?) "
                "ON CONFLICT (url) DO UPDATE SET article=excluded.article",
                rows,
            )
            self._db.executemany("DELETE FROM failed_urls WHERE url=?", [(u,) for u, _ in rows])

    def clear(self) -> None:
        with self._mutex, self._db:
            self._chunks_cleared()
            for table in ("articles", "paragraphs", "copies", "urls", "failed_urls"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute(PARAGRAPHS_KEPT)
            self._bump()

    # --- the keyword half, where the ledger keeps it (`PgLedger`) ---------------------------
    def _chunks_written(
        self, articles: list[str], chunks: Iterable[tuple[str, dict[str, Any]]]
    ) -> None:
        """Within the transaction: the chunks of `articles` are now `chunks`."""

    def _chunks_cleared(self) -> None:
        """Within the transaction: no chunk is left."""
        if self._rdb is not None:
            with self._rdb:
                self._rdb.execute("DELETE FROM chunks")
                self._rdb.execute("DELETE FROM shared")

    def keywords_complete(self) -> bool:
        """False where the keyword half has to be filled from the store first."""
        return True

    def fill_keywords(self, chunks: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """The keyword half made from every chunk of the store (once)."""

    def keyword_counts(self) -> dict[str, int] | None:
        """Each article's chunks in the keyword half (None where the ledger keeps none)."""
        return None

    def _bump(self) -> None:
        self._db.execute(
            "UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key='version'"
        )

    def import_docstore(self, path: Path) -> int:
        """Take the article hashes of an older llama-index docstore JSON (once), then rename it."""
        hashes = docstore_hashes(path)
        if hashes is None:
            return 0
        # chunk counts are unknown here; 0 means "not counted", never "empty"; the paragraph
        # books are filled from the store by the next ingest
        with self._mutex, self._db:
            self._db.execute("DELETE FROM state WHERE key='paragraphs'")
        self.record(Recorded(doc_id, h, 0, "", "") for doc_id, h in hashes.items())
        path.rename(path.with_name(path.name + ".imported"))
        return len(hashes)


class PgLedger(Ledger):
    """The ingestion ledger of one collection on a PostgreSQL server (`RAG_STORE__URL`), in a
    schema of its own, the writers taking turns under an advisory lock (`rag.store.postgres`)."""

    def __init__(self, url: str, collection: str, *, keyword_index: bool = False) -> None:
        """`keyword_index`: the keyword half's HNSW index made if it is not there yet (for a
        search through it: RAG_STORE__KEYWORD_EF_SEARCH above 0)."""
        self.url, self.collection = url, collection
        self.path = Path(f"{postgres.shown(url)}#{collection}")  # what messages name
        self._mutex = threading.Lock()
        conn = postgres.connect(url)
        try:
            postgres.prepare(
                conn, collection, keywords.TABLES + (keywords.HNSW if keyword_index else "")
            )
        except Exception:
            conn.close()
            raise
        self._db = postgres.Db(conn)  # type: ignore[assignment]

    @contextmanager
    def writing(self, timeout: float = -1) -> Iterator[Ledger]:
        lock = postgres.AdvisoryLock(self.url, self.collection)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise LedgerBusyError(
                f"another ingest is writing to the collection {self.collection!r} on "
                f"{postgres.shown(self.url)}; try again when it ends"
            ) from None
        try:
            yield self
        finally:
            lock.release()

    keeps_keywords = True

    def import_docstore(self, path: Path) -> int:
        return 0  # an embedded store's past, never a server's

    def _chunks_written(
        self, articles: list[str], chunks: Iterable[tuple[str, dict[str, Any]]]
    ) -> None:
        keywords.write(self._db.conn, articles, chunks)  # type: ignore[attr-defined]

    def _chunks_cleared(self) -> None:
        keywords.clear(self._db.conn)  # type: ignore[attr-defined]

    # the chunks' records are the keyword half's (`rag.store.keywords`), not the articles' rows
    def _records_written(
        self, articles: list[str], chunks: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Written with the keyword half (`_chunks_written`)."""

    def records_complete(self) -> bool:
        return self.keywords_complete()

    def fill_records(
        self, chunks: Iterable[tuple[str, dict[str, Any]]], *, replace: bool = True
    ) -> None:
        if replace or not self.keywords_complete():
            self.fill_keywords(chunks)

    def chunk_records(self, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        for at in range(0, len(ids), 5000):
            part = list(ids[at : at + 5000])
            with self._mutex:
                rows = self._db.execute(
                    "SELECT id, meta, content FROM chunk_texts WHERE id = ANY(%s)", (part,)
                ).fetchall()
            found = {i: keywords.record_of(i, m, c) for i, m, c in rows}
            yield from (
                (cid, slim(found[cid]) | {TEXT: record_text(found[cid])})
                for cid in part
                if cid in found
            )

    def keywords_complete(self) -> bool:
        with self._mutex:
            return keywords.complete(self._db.conn)  # type: ignore[attr-defined]

    def keyword_counts(self) -> dict[str, int] | None:
        with self._mutex:
            if not keywords.complete(self._db.conn):  # type: ignore[attr-defined]
                return {}
            rows = self._db.execute("SELECT article, count(*) FROM chunks GROUP BY article")
            return {a: int(n) for a, n in rows}

    def fill_keywords(self, chunks: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Every chunk's keyword row, read from the store a page at a time, in one transaction."""
        stream = iter(chunks)
        with self._mutex, self._db:
            conn = self._db.conn  # type: ignore[attr-defined]
            keywords.clear(conn)
            while page := list(itertools.islice(stream, 5000)):
                keywords.write(conn, (), page)
            keywords.mark_complete(conn)
            self._bump()


def ledger_path(cfg: Settings | StoreSettings) -> Path:
    """The ingestion ledger of the configured collection (beside the store)."""
    return Layout.of(cfg).ledger


def lock_path(ledger_file: Path) -> str:
    """The writers' lock beside a ledger file (`Layout.writers_lock`)."""
    return f"{ledger_file}.lock"


def writer_active(cfg: Settings | StoreSettings) -> bool:
    """True while a writer (this process or another) holds the collection's writers' lock."""
    url = server_url(cfg)
    if url is not None:
        store = cfg.store if isinstance(cfg, Settings) else cfg
        held = postgres.AdvisoryLock(url, store.collection)
        try:
            held.acquire(timeout=0)
        except Timeout:
            return True
        held.release()
        return False
    lock = FileLock(lock_path(ledger_path(cfg)))
    if not Path(lock.lock_file).parent.exists():
        return False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:  # a read-only folder: nobody writes there
        return False
    lock.release()
    return False


def open_ledger(cfg: Settings) -> Ledger:
    url = server_url(cfg)
    if url is not None:
        return PgLedger(url, cfg.store.collection, keyword_index=cfg.store.keyword_ef_search > 0)
    path = ledger_path(cfg)
    try:
        return Ledger(path)
    except (sqlite3.Error, OSError) as exc:  # (a damaged file: LedgerDamagedError, no OSError)
        return _unavailable(path, exc)


def _unavailable(path: Path, exc: BaseException) -> Ledger:
    if path.parent.exists() and not os.access(path.parent, os.W_OK):
        raise StoreReadOnlyError(
            f"the index at {path.parent} is read-only: nothing can be added to it; make the "
            "folder writable, or point RAG_STORE__PATH at a writable copy"
        ) from None
    raise StoreUnavailableError(
        f"the ingestion ledger {path} cannot be opened ({exc}); check the folder and the "
        "disk, then `rag check`"
    ) from None


def set_aside(cfg: Settings) -> Path:
    """Move a damaged ledger (and its journal files) out of the way, keeping it beside the
    store under a name that says so; returns where it went. The caller holds the writers'
    lock (`writers_lock`)."""
    path = ledger_path(cfg)
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm", "-journal"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.replace(Path(f"{aside}{suffix}"))
    return aside


def writers_lock(cfg: Settings) -> FileLock | postgres.AdvisoryLock:
    """The writers' lock of the configured collection, taken without opening its ledger."""
    url = server_url(cfg)
    if url is not None:
        return postgres.AdvisoryLock(url, cfg.store.collection)
    return FileLock(lock_path(ledger_path(cfg)))


def read_ledger(cfg: Settings) -> Ledger | None:
    """The collection's ledger to read (read-only where it is a file), None when it has none."""
    url = server_url(cfg)
    if url is not None:
        if not postgres.collection_exists(url, cfg.store.collection):
            return None
        return PgLedger(url, cfg.store.collection)
    path = ledger_path(cfg)
    if not path.exists():
        return None
    return Ledger(path, read_only=True)


def arrivals(cfg: Settings, limit: int = 1000) -> dict[str, float]:
    """Article id -> when it was last indexed (Unix time), the latest `limit`; empty when there
    is no ledger yet (a Chroma server's store written from another machine)."""
    path = ledger_path(cfg)
    if server_url(cfg) is not None:
        ledger = read_ledger(cfg)
    else:
        ledger = Ledger(path) if path.exists() else None
    if ledger is None:
        return {}
    try:
        return dict(ledger.arrivals(limit))
    finally:
        ledger.close()
