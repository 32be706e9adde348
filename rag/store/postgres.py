"""The books on a PostgreSQL server (`RAG_STORE__URL=postgresql://...`): the ingestion ledger of
each collection in a schema of its own, and the writers' lock as an advisory lock, so that
writers on several machines take turns and every server reads the same books.

`rag.store.ledger.PgLedger` is the ledger (the same SQL, written so that SQLite and PostgreSQL
both take it) on a connection from here (`connect`, `prepare`, `Db`); `AdvisoryLock` is the
writers' lock with
`filelock.FileLock`'s calls (`acquire(timeout)`, `release`, `with`), held by a connection of
its own while it is held (a writer that dies lets it go with its connection). The chunks stay in
Chroma (embedded, or a `chroma run` server: `RAG_STORE__HOST`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from filelock import Timeout

from rag.errors import StoreUnavailableError
from rag.settings import Settings, StoreSettings

SCHEMA_PREFIX = "rag_"

_TABLES = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    text_hash TEXT NOT NULL DEFAULT '',
    input_hash TEXT NOT NULL DEFAULT '',
    body BYTEA,
    indexed_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS articles_chunks ON articles (id, hash, chunks);
CREATE INDEX IF NOT EXISTS articles_arrived ON articles (indexed_at);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO state (key, value) VALUES ('version', '0') ON CONFLICT DO NOTHING;
INSERT INTO state (key, value) VALUES ('paragraphs', '1') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS paragraphs (hash TEXT PRIMARY KEY, owner TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS paragraphs_owner ON paragraphs (owner);
CREATE TABLE IF NOT EXISTS copies (
    article TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (article, hash)
);
CREATE INDEX IF NOT EXISTS copies_hash ON copies (hash);
CREATE TABLE IF NOT EXISTS urls (url TEXT PRIMARY KEY, article TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS urls_article ON urls (article);
CREATE TABLE IF NOT EXISTS failed_urls (
    url TEXT PRIMARY KEY, message TEXT NOT NULL, at DOUBLE PRECISION
);
"""


def server_url(cfg: Settings | StoreSettings) -> str | None:
    """The server store's URL (RAG_STORE__URL), None for the embedded books."""
    store = cfg.store if isinstance(cfg, Settings) else cfg
    return store.url.get_secret_value() if store.url is not None else None


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def schema_of(collection: str) -> str:
    """The schema that holds a collection's books (quoted wherever it is named)."""
    return SCHEMA_PREFIX + collection


def lock_key(collection: str, what: str = "writers") -> int:
    """The advisory lock's 64-bit key for one collection's `what` (the same on every machine)."""
    digest = hashlib.sha256(f"news-rag:{what}:{collection}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def connect(url: str) -> Any:
    """An autocommit psycopg connection to the server store, or StoreUnavailableError saying
    which server could not be reached and what to check."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise unreachable(url, exc) from None


def unreachable(url: str, exc: BaseException) -> StoreUnavailableError:
    """The error that says which server could not be reached, why, and what to check."""
    why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreUnavailableError(
        f"the server store {shown(url)} cannot be reached ({why}): check RAG_STORE__URL "
        "and that the PostgreSQL server runs"
    )


class Db:
    """The calls the ledger makes of an sqlite3 connection, on a psycopg one: `?` parameters
    (the ledger's SQL has no other `?` nor `%`), and `with db:` as one transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._tx: list[Any] = []

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> Any:
        rows = [tuple(r) for r in rows]
        cursor = self.conn.cursor()
        if rows:
            cursor.executemany(sql.replace("?", "%s"), rows)
        return cursor

    def __enter__(self) -> Db:
        tx = self.conn.transaction()
        tx.__enter__()
        self._tx.append(tx)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tx.pop().__exit__(*exc)

    def close(self) -> None:
        self.conn.close()


def prepare(conn: Any, collection: str, more: str = "") -> None:
    """The collection's schema and the ledger's tables, then the `more` tables given (made once,
    one process at a time), and the connection's search path set to them (then `public`, where
    pgvector's types are)."""
    import psycopg
    from psycopg import sql

    schema = sql.Identifier(schema_of(collection))
    path = sql.SQL("SET search_path TO {}, public").format(schema)
    with conn.transaction():
        # two processes making the same tables at once would collide in the catalogue
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s)", (lock_key(schema_of(collection), "schema"),)
        )
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(path)
        conn.execute(_TABLES)
        if more:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            except psycopg.Error as exc:
                raise StoreUnavailableError(
                    f"the server store {shown(conn.info.dsn)} has no pgvector ({exc}): "
                    "install it there (Debian: postgresql-18-pgvector; managed services: "
                    "enable the `vector` extension), then try again"
                ) from None
            conn.execute(more)
    conn.execute(path)


@contextmanager
def transaction(url: str, schema: str, tables: str) -> Iterator[Db]:
    """One transaction in `schema` on the server, its `tables` made first if need be (one
    process at a time), as `rag.store.sqlite.transaction` on a file; the connection closed
    after. For what is read and written now and then: feedback, keys, conversations."""
    from psycopg import sql

    conn = connect(url)
    try:
        name = sql.Identifier(schema)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema, "schema"),))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute(sql.SQL("SET search_path TO {}").format(name))
            conn.execute(tables)
        conn.execute(sql.SQL("SET search_path TO {}").format(name))
        with Db(conn) as db:
            yield db
    finally:
        conn.close()


def collection_exists(url: str, collection: str) -> bool:
    conn = connect(url)
    try:
        row = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
            (schema_of(collection),),
        ).fetchone()
        return row is not None
    finally:
        conn.close()


def drop_collection(url: str, collection: str) -> None:
    """Remove a collection's books (its schema and everything in it)."""
    from psycopg import sql

    conn = connect(url)
    try:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema_of(collection))
            )
        )
    finally:
        conn.close()


class AdvisoryLock:
    """A collection's writers' lock on the server: `pg_advisory_lock` on a connection of its
    own, with FileLock's calls. `acquire(timeout)` waits up to `timeout` s (-1: for as long as
    it takes; 0: once) and raises `filelock.Timeout` when another writer holds it."""

    POLL = 0.05

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection
        self.lock_file = f"{shown(url)} (advisory lock of {collection!r})"
        self._conn: Any = None
        self._mutex = threading.Lock()

    @property
    def is_locked(self) -> bool:
        return self._conn is not None

    def acquire(self, timeout: float = -1) -> AdvisoryLock:
        with self._mutex:
            if self._conn is not None:
                return self
            conn = connect(self.url)
            key = lock_key(self.collection)
            deadline = None if timeout < 0 else time.monotonic() + timeout
            while True:
                if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    self._conn = conn
                    return self
                if deadline is not None and time.monotonic() >= deadline:
                    conn.close()
                    raise Timeout(self.lock_file)
                time.sleep(self.POLL)

    def release(self) -> None:
        with self._mutex:
            if self._conn is None:
                return
            conn, self._conn = self._conn, None
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.collection),))
            finally:
                conn.close()  # (closing alone lets the lock go too)

    def __enter__(self) -> AdvisoryLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
