"""The named entities of the archive's sentences, tagged once and kept on disk beside the store.

A short answer needs spaCy's entities in the best sentences of the retrieved passages; tagging
them while a question waits is most of an extractive answer's time (~50 ms for 20 sentences on
this machine's cores). `EntityTable` keeps them in SQLite (`entities-COLLECTION.sqlite` in the store folder), keyed by a
hash of the sentence's text, with spaCy's own labels and the name and version of the model that
tagged them (a table from another model is not read). It also records which chunks have all
their sentences in. `rag.jobs.entities` fills it (`rag entities` with a progress bar, or aside
after a write). `rag.spans.tagging.EntityTagger` reads the table first and tags only what it
lacks, so an answer is the same with or without it; only its time differs.

Nothing here tags, decides what answers a question (`rag.spans.candidates` does) or reads the
articles' files.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import orjson

from rag.settings import StoreSettings
from rag.spans.tagging import SPACY_MODEL
from rag.store.layout import Layout
from rag.store.ledger import where_in
from rag.store.migrations import entity_table

log = logging.getLogger(__name__)

PAGE = 500  # chunks read from the store, and recorded as done, at a time
Entities = list[tuple[str, str]]  # spaCy's (text, label) pairs of one sentence


def table_path(cfg: StoreSettings, *, write: bool = False) -> Path:
    """The collection's entity table (a reader of a store from before may get the folder's)."""
    return entity_table(Layout.of(cfg), write=write)


def tagger_name() -> str:
    """The model whose tags a table holds: a table made by another is not read."""
    try:
        version = metadata.version(SPACY_MODEL)
    except metadata.PackageNotFoundError:
        version = "?"
    return f"{SPACY_MODEL} {version}"


def _key(sentence: str) -> bytes:
    return hashlib.blake2b(sentence.encode(), digest_size=12).digest()


class EntityTable:
    """Sentences' entities in SQLite. Opened for reading it is what `EntityTagger` consults:
    thread-safe, opened when first needed (the file may appear after a server starts, when a
    tagging run writes it) and empty while there is no file or it is another model's. Opened
    for writing (`write=True`) it is `fill`'s."""

    def __init__(self, path: Path, *, write: bool = False) -> None:
        self.path = path
        self._write = write
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._usable: bool | None = None
        if write:
            self._open_for_writing()

    def _open_for_writing(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS sentences (key BLOB PRIMARY KEY, ents BLOB NOT NULL)
                WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS chunks (id TEXT PRIMARY KEY) WITHOUT ROWID;
            """
        )
        model = conn.execute("SELECT v FROM meta WHERE k = 'model'").fetchone()
        if model is None or model[0] != tagger_name():
            with conn:  # made by another model (or new): start again
                conn.execute("DELETE FROM sentences")
                conn.execute("DELETE FROM chunks")
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (tagger_name(),))
        self._conn = conn
        self._usable = True

    def _reader(self) -> sqlite3.Connection | None:
        if self._conn is None and self._usable is not False and self.path.is_file():
            try:
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=5
                )
                model = conn.execute("SELECT v FROM meta WHERE k = 'model'").fetchone()
            except sqlite3.Error as exc:
                log.warning("entity table %s not read: %s", self.path, exc)
                return None
            if model is None or model[0] != tagger_name():
                log.warning(
                    "entity table %s was made by %s, not %s: not read (run `rag entities`)",
                    self.path,
                    model[0] if model else "another version",
                    tagger_name(),
                )
                conn.close()
                self._usable = False
                return None
            self._conn = conn
        return self._conn

    def lookup(self, sentences: Sequence[str]) -> dict[str, Entities]:
        """The entities of those of the sentences the table has."""
        keys = {_key(s): s for s in sentences}
        found: dict[str, Entities] = {}
        with self._lock:
            conn = self._reader()
            if conn is None or not keys:
                return found
            sql = "SELECT key, ents FROM sentences WHERE key IN ({marks})"
            try:
                for key, ents in where_in(conn, sql, keys):
                    found[keys[key]] = [(t, label) for t, label in orjson.loads(ents)]
            except sqlite3.Error as exc:  # being replaced, or damaged: tag them instead
                log.warning("entity table %s not read: %s", self.path, exc)
                return {}
        return found

    def missing(self, sentences: Sequence[str]) -> list[str]:
        """Those of the sentences the table lacks (looked up once for all of them)."""
        known = self.lookup(sentences)
        return [s for s in sentences if s not in known]

    def done_chunks(self) -> set[str]:
        assert self._conn is not None
        return {row[0] for row in self._conn.execute("SELECT id FROM chunks")}

    def add(self, tagged: dict[str, Entities], chunk_ids: Sequence[str]) -> None:
        """Keep these sentences' entities and record these chunks as done, in one transaction."""
        assert self._conn is not None and self._write
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO sentences VALUES (?, ?)",
                [(_key(s), orjson.dumps(ents)) for s, ents in tagged.items()],
            )
            self._conn.executemany(
                "INSERT OR IGNORE INTO chunks VALUES (?)", [(i,) for i in chunk_ids]
            )

    def forget_chunks(self, ids: set[str]) -> None:
        assert self._conn is not None and self._write
        with self._lock, self._conn:
            self._conn.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in ids])

    def counts(self) -> tuple[int, int]:
        """(sentences, chunks) the table holds."""
        with self._lock:
            conn = self._conn if self._write else self._reader()
            if conn is None:
                return 0, 0
            sentences = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(sentences), int(chunks)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
