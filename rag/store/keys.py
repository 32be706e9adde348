"""Scoped API keys: each opens one collection to read, write or administer.

`rag keys create|list|revoke` and the server's key routes use a `KeyRing`, one SQLite file per
store folder (`Layout.keys`). A key is shown once, when made; the file keeps its SHA-256 digest
(a key is 43 random characters, so a fast digest is as safe as a slow one and is checked on every
request), its id (for `list` and `revoke`), collection, scope and label. `find` compares a given
key's digest with every stored one in constant time, and reads the file again only when it has
changed, so a key made or revoked by the command line takes effect on a running server at once.
RAG_SERVER__API_KEY, the server's own key, is not kept here: it opens everything. With the
server store (`RAG_STORE__URL`), `PgKeyRing` keeps them on PostgreSQL instead, one set for every
machine (`key_ring` picks).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, RagError, StoreUnavailableError
from rag.settings import Settings
from rag.store import postgres
from rag.store.layout import Layout
from rag.store.sqlite import transaction

SCOPES = ("read", "write", "admin")  # each allows what the ones before it do
PREFIX = "nrk_"  # every scoped key starts so: easy to find in a leaked file, never a server key
MAX_LABEL = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    collection TEXT NOT NULL,
    scope TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
)
"""


class KeyNotFoundError(RagError):
    """No such key id (or none in the collection asked about)."""


@dataclass(frozen=True)
class KeyInfo:
    id: str
    collection: str
    scope: str
    label: str
    created: str

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ConfigError(f"{scope!r} is no scope: use one of {', '.join(SCOPES)}")
    return scope


class KeyRing:
    """The scoped keys of one store folder (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: object = None  # the version last read (None: no key was ever made)
        self._digests: dict[str, KeyInfo] = {}

    def _db(self, *, write: bool = False) -> AbstractContextManager[Any]:
        """One transaction; a reader makes no file (a store without keys stays without)."""
        return transaction(self.path, SCHEMA if write else None)

    def _exists(self) -> bool:
        return self.path.exists()

    # --- the command line's and the admin routes' side ---------------------------------------
    def create(self, collection: str, scope: str, label: str = "") -> tuple[KeyInfo, str]:
        """A new key for `collection`: what is kept of it, and the key itself (shown once)."""
        check_scope(scope)
        if len(label) > MAX_LABEL:
            raise ConfigError(f"a key's label is at most {MAX_LABEL} characters")
        key = PREFIX + secrets.token_urlsafe(32)
        info = KeyInfo(
            id="key_" + secrets.token_hex(6),
            collection=collection,
            scope=scope,
            label=label,
            created=datetime.now(UTC).replace(microsecond=0).isoformat(),
        )
        with self._db(write=True) as db:
            db.execute(
                "INSERT INTO keys (id, digest, collection, scope, label, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (info.id, digest(key), collection, scope, label, info.created),
            )
        return info, key

    def list(self, collection: str | None = None) -> list[KeyInfo]:
        """The keys (of `collection`, or every one), oldest first; never the keys themselves."""
        if not self._exists():
            return []
        query = "SELECT id, collection, scope, label, created FROM keys"
        args: tuple[str, ...] = ()
        if collection is not None:
            query, args = query + " WHERE collection = ?", (collection,)
        with self._db() as db:
            try:
                rows = db.execute(query + " ORDER BY created, id", args).fetchall()
            except sqlite3.OperationalError:  # the file exists but no key was ever made
                return []
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: str, collection: str | None = None) -> KeyInfo:
        """Remove key `key_id` (only from `collection` when given): it opens nothing from now."""
        found = [k for k in self.list(collection) if k.id == key_id]
        if not found:
            where = f" of the collection {collection!r}" if collection else ""
            raise KeyNotFoundError(f"no key {key_id!r}{where}: `rag keys list` shows their ids")
        with self._db(write=True) as db:
            db.execute("DELETE FROM keys WHERE id = ?", (key_id,))
        return found[0]

    def revoke_collection(self, collection: str) -> int:
        """Remove every key of `collection` (when it is deleted); how many there were."""
        if not self._exists():
            return 0
        with self._db(write=True) as db:
            return db.execute("DELETE FROM keys WHERE collection = ?", (collection,)).rowcount

    # --- the server's side ----------------------------------------------------------------------
    def _version(self) -> object:
        """The file's inode and SQLite's change counter (header bytes 24-28, raised by every
        commit in the rollback-journal mode used here): None when there is no file."""
        try:
            with open(self.path, "rb") as f:
                header = f.read(28)
                return os.fstat(f.fileno()).st_ino, header[24:28]
        except FileNotFoundError:
            return None

    def _current(self) -> dict[str, KeyInfo]:
        """Digest -> key, read again when the file changed since last read."""
        seen = self._version()
        with self._lock:
            if seen != self._seen:
                self._digests = {} if seen is None else self._read()
                self._seen = seen
            return self._digests

    def _read(self) -> dict[str, KeyInfo]:
        with self._db() as db:
            try:
                rows = db.execute(
                    "SELECT digest, id, collection, scope, label, created FROM keys"
                ).fetchall()
            except sqlite3.OperationalError:
                return {}
        return {row[0]: KeyInfo(*row[1:]) for row in rows}

    def any(self) -> bool:
        """Whether keys were ever made here (then the server asks every caller for a key, even
        once every key is revoked: revoking the last key does not open the server; removing
        the file does)."""
        self._current()
        return self._seen is not None

    def active(self, key_id: str) -> bool:
        """Whether key `key_id` still exists (a web UI session made with it ends when not)."""
        return any(info.id == key_id for info in self._current().values())

    def find(self, key: str) -> KeyInfo | None:
        """The stored key `key` is, or None; every stored digest is compared, in constant time."""
        given = digest(key).encode()
        found = None
        for stored, info in self._current().items():
            if hmac.compare_digest(given, stored.encode()):
                found = info
        return found


KEYS_SCHEMA = "rag__keys"  # (no collection's: their names cannot start with "_")
PG_TABLES = (
    SCHEMA
    + """;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO state VALUES ('version', 0) ON CONFLICT DO NOTHING;
"""
)


class PgKeyRing(KeyRing):
    """The scoped keys on the PostgreSQL server of the server store: one set for every machine.
    Every change raises a version number beside them; a server compares it on each request (one
    small query on a connection it keeps), so a key made or revoked anywhere takes effect on
    every server at once, as with the file."""

    def __init__(self, url: str, schema: str = KEYS_SCHEMA) -> None:
        super().__init__(Path(postgres.shown(url)))  # (the path names it in messages only)
        self.url, self.schema = url, schema
        self._conn: Any = None
        self._conn_lock = threading.Lock()

    @contextmanager
    def _db(self, *, write: bool = False) -> Iterator[Any]:
        with postgres.transaction(self.url, self.schema, PG_TABLES) as db:
            yield db
            if write:
                db.execute("UPDATE state SET value = value + 1 WHERE key = 'version'")

    def _exists(self) -> bool:
        return True

    def _version(self) -> object:
        """The keys' version on the server; None while no key was ever made."""
        import psycopg
        from psycopg import sql

        query = sql.SQL("SELECT value FROM {}.state WHERE key = 'version'").format(
            sql.Identifier(self.schema)
        )
        with self._conn_lock:
            if self._conn is None:
                self._conn = postgres.connect(self.url)
            try:
                row = self._conn.execute(query).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
            except psycopg.OperationalError as exc:
                self._conn = None  # connected again on the next request
                raise StoreUnavailableError(
                    f"the keys on {postgres.shown(self.url)} cannot be read ({exc}): check "
                    "RAG_STORE__URL and that the PostgreSQL server runs"
                ) from None
        return row[0] if row is not None and row[0] else None


def key_ring(settings: Settings) -> KeyRing:
    """The scoped keys: on the PostgreSQL server where the books are (`RAG_STORE__URL`), for
    every machine, else the file in the store folder."""
    url = postgres.server_url(settings)
    return KeyRing(Layout.of(settings).keys) if url is None else PgKeyRing(url)


def folder_keys_left_behind(settings: Settings, ring: KeyRing) -> Path | None:
    """The store folder's key file, when the keys are on the server store (`RAG_STORE__URL`)
    but none was ever made there while the file holds some: a server started so would open to
    anyone the folder's keys kept out. None otherwise."""
    if not isinstance(ring, PgKeyRing):
        return None
    path = Layout.of(settings).keys
    if KeyRing(path).list() and not ring.any():
        return path
    return None
