"""The named entities of the archive's sentences, tagged once and kept on disk beside the store.

A short answer needs spaCy's entities in the best sentences of the retrieved passages; tagging
them while a question waits is most of an extractive answer's time (~50 ms for 20 sentences on
this machine's cores). `EntityTable` keeps them in SQLite (`entities-COLLECTION.sqlite` in the store folder), keyed by a
hash of the sentence's text, with spaCy's own labels and the name and version of the model that
tagged them (a table from another model is not read). It also records which chunks have all
their sentences in. `rag.jobs.entities` fills it (`rag entities` with a progress bar, or aside
after a write). `rag.spans.tagging.EntityTagger` reads the table first and tags only what it
lacks, so an answer is the same with or without it; only its time differs. The part-of-speech
tags a question makes (of the sentences it reads noun phrases in) are kept beside them
(`keep_tags`, `lookup_tags`) and read back the same way.

Nothing here tags, decides what answers a question (`rag.spans.candidates` does) or reads the
articles' files.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from rag.settings import StoreSettings
from rag.spans.tagging import SPACY_MODEL, Tags
from rag.store.layout import Layout
from rag.store.ledger import where_in
from rag.store.migrations import entity_table

log = logging.getLogger(__name__)

PAGE = 500  # chunks read from the store, and recorded as done, at a time
Entities = list[tuple[str, str]]  # spaCy's (text, label) pairs of one sentence


def table_path(cfg: StoreSettings, *, write: bool = False) -> Path:
    """The collection's entity table (a reader of a store from before may get the folder's)."""
    return entity_table(Layout.of(cfg), write=write)


def open_table(cfg: StoreSettings, *, write: bool = False, keep: bool = False) -> EntityTable:
    """The collection's entity table: on the PostgreSQL server where the books are
    (`RAG_STORE__URL`, shared by every machine), else the file beside the store. `keep`: a
    reader that keeps what questions tag (`EntityTable.keep`)."""
    if cfg.url is not None:
        return PgEntityTable(cfg.url.get_secret_value(), cfg.collection, write=write, keep=keep)
    return EntityTable(table_path(cfg, write=write), write=write, keep=keep)


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

    ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
    META, SENTENCES, CHUNKS, POS = "meta", "sentences", "chunks", "pos"  # its tables

    def __init__(self, path: Path, *, write: bool = False, keep: bool = False) -> None:
        self.path = path
        self._write = write
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._usable: bool | None = None
        # `keep`: what questions tag is written here too (`keep`), by a thread of its own
        self._keeping = keep and not write
        self._to_keep: dict[str, Entities] = {}
        self._tags_to_keep: dict[str, Tags] = {}
        self._keeper: threading.Thread | None = None
        self._kept = threading.Condition(self._lock)
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
            CREATE TABLE IF NOT EXISTS pos (key BLOB PRIMARY KEY, tags BLOB NOT NULL)
                WITHOUT ROWID;
            """
        )
        self._start_again_unless_tagged_by_this_model(conn)
        self._conn = conn
        self._usable = True

    def _start_again_unless_tagged_by_this_model(self, conn: Any) -> None:
        """A table made by another model (or new) is emptied and marked as this model's."""
        model = conn.execute(f"SELECT v FROM {self.META} WHERE k = 'model'").fetchone()
        if model is None or model[0] != tagger_name():
            with conn:
                conn.execute(f"DELETE FROM {self.SENTENCES}")
                conn.execute(f"DELETE FROM {self.CHUNKS}")
                conn.execute(f"DELETE FROM {self.POS}")
                conn.execute(
                    f"INSERT INTO {self.META} VALUES ('model', ?) "
                    "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    (tagger_name(),),
                )

    def _reader(self) -> sqlite3.Connection | None:
        if self._conn is None and self._usable is not False and self.path.is_file():
            try:
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=5
                )
                model = conn.execute(f"SELECT v FROM {self.META} WHERE k = 'model'").fetchone()
            except self.ERRORS as exc:
                log.warning("entity table %s not read: %s", self.path, exc)
                return None
            if model is None:  # being made by a writer this moment: looked for again
                conn.close()
                return None
            if model[0] != tagger_name():
                log.warning(
                    "entity table %s was made by %s, not %s: not read (run `rag entities`)",
                    self.path,
                    model[0],
                    tagger_name(),
                )
                conn.close()
                self._usable = False
                return None
            self._conn = conn
        return self._conn

    def lookup(self, sentences: Sequence[str]) -> dict[str, Entities]:
        """The entities of those of the sentences the table has."""
        rows = self._rows(self.SENTENCES, sentences, quiet=False)
        return {s: [(t, label) for t, label in orjson.loads(ents)] for s, ents in rows.items()}

    def lookup_tags(self, sentences: Sequence[str]) -> dict[str, Tags]:
        """The part-of-speech tags of those of the sentences the table has (kept when a question
        first needed them: `keep_tags`); none from a table made before it kept any."""
        rows = self._rows(self.POS, sentences, quiet=True)
        return {
            s: tuple((int(a), int(b), str(w), str(t)) for a, b, w, t in orjson.loads(tags))
            for s, tags in rows.items()
        }

    def _rows(self, table: str, sentences: Sequence[str], *, quiet: bool) -> dict[str, Any]:
        """Sentence -> the value `table` keeps of it, for those it has; none when it cannot be
        read (being replaced, or damaged: they are tagged instead), with a warning unless
        `quiet` (a table from before the tags were kept has no table of them)."""
        keys = {_key(s): s for s in sentences}
        found: dict[str, Any] = {}
        with self._lock:
            conn = self._reader()
            if conn is None or not keys:
                return found
            try:
                for key, value in where_in(
                    conn, f"SELECT * FROM {table} WHERE key IN ({{marks}})", keys
                ):
                    found[keys[key]] = value
            except self.ERRORS as exc:
                if not quiet:
                    log.warning("entity table %s not read: %s", self.path, exc)
                return {}
        return found

    def missing(self, sentences: Sequence[str]) -> list[str]:
        """Those of the sentences the table lacks (looked up once for all of them)."""
        known = self.lookup(sentences)
        return [s for s in sentences if s not in known]

    def done_chunks(self) -> set[str]:
        assert self._conn is not None
        return {row[0] for row in self._conn.execute(f"SELECT id FROM {self.CHUNKS}")}

    def add(
        self,
        tagged: dict[str, Entities],
        chunk_ids: Sequence[str],
        tags: dict[str, Tags] | None = None,
    ) -> None:
        """Keep these sentences' entities (and `tags`, part-of-speech tags) and record these
        chunks as done, in one transaction."""
        assert self._conn is not None and self._write
        with self._lock, self._conn:
            if tags:
                self._conn.executemany(
                    f"INSERT INTO {self.POS} VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                    "tags = excluded.tags",
                    [(_key(s), orjson.dumps(t)) for s, t in tags.items()],
                )
            self._conn.executemany(
                f"INSERT INTO {self.SENTENCES} VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                "ents = excluded.ents",
                [(_key(s), orjson.dumps(ents)) for s, ents in tagged.items()],
            )
            self._conn.executemany(
                f"INSERT INTO {self.CHUNKS} VALUES (?) ON CONFLICT DO NOTHING",
                [(i,) for i in chunk_ids],
            )

    def keep(self, tagged: dict[str, Entities]) -> None:
        """Keep sentences a question had tagged, so that no later question, in this process or
        another, tags them again (no chunk is recorded as done: a filler still tags the rest of
        theirs). Written by a thread of the table's, the answer not kept waiting; nothing more is
        kept once a write failed (a read-only store folder)."""
        self._hand_over(tagged, {})

    def keep_tags(self, tags: dict[str, Tags]) -> None:
        """Keep the part-of-speech tags a question made (of the sentences it reads noun phrases
        in), as `keep` keeps entities."""
        self._hand_over({}, tags)

    def _hand_over(self, tagged: dict[str, Entities], tags: dict[str, Tags]) -> None:
        if not (tagged or tags) or not self._keeping:
            return
        with self._lock:
            self._to_keep.update(tagged)
            self._tags_to_keep.update(tags)
            if self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._keep_waiting, name="entity-keeper", daemon=True
                )
                self._keeper.start()

    def _keep_waiting(self) -> None:
        writer: EntityTable | None = None
        try:
            while True:
                with self._lock:
                    batch, self._to_keep = self._to_keep, {}
                    tags, self._tags_to_keep = self._tags_to_keep, {}
                    if not (batch or tags):
                        self._keeper = None
                        self._kept.notify_all()
                        return
                if writer is None:
                    writer = self._writer()
                writer.add(batch, [], tags)
        except Exception as exc:  # a cache's writer: the answers go on without it
            log.warning("entities tagged while asked are not kept in %s: %s", self.path, exc)
            with self._lock:
                self._keeping = False
                self._to_keep, self._tags_to_keep = {}, {}
                self._keeper = None
                self._kept.notify_all()
        finally:
            if writer is not None:
                writer.close()

    def _writer(self) -> EntityTable:
        """A connection of this table's that writes."""
        return EntityTable(self.path, write=True)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until what `keep` was handed is written (or given up)."""
        with self._lock:
            self._kept.wait_for(lambda: self._keeper is None, timeout)

    def forget_chunks(self, ids: set[str]) -> None:
        assert self._conn is not None and self._write
        with self._lock, self._conn:
            self._conn.executemany(f"DELETE FROM {self.CHUNKS} WHERE id = ?", [(i,) for i in ids])

    def counts(self) -> tuple[int, int]:
        """(sentences, chunks) the table holds."""
        with self._lock:
            conn = self._conn if self._write else self._reader()
            if conn is None:
                return 0, 0
            sentences = conn.execute(f"SELECT count(*) FROM {self.SENTENCES}").fetchone()[0]
            chunks = conn.execute(f"SELECT count(*) FROM {self.CHUNKS}").fetchone()[0]
        return int(sentences), int(chunks)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PgEntityTable(EntityTable):
    """The entity table on the PostgreSQL server of the books (tables `entity_meta`,
    `entity_sentences`, `entity_chunks` in the collection's schema): what one machine's tagging
    fills, every machine's answers read."""

    ERRORS = (Exception,)  # psycopg's errors, and the server gone: tag them instead
    META, SENTENCES, CHUNKS = "entity_meta", "entity_sentences", "entity_chunks"
    POS = "entity_pos"

    AGAIN = 30.0

    def __init__(
        self, url: str, collection: str, *, write: bool = False, keep: bool = False
    ) -> None:
        from rag.store import postgres

        self.url, self.collection = url, collection
        self._again_at = 0.0
        super().__init__(Path(f"{postgres.shown(url)}#{collection}"), write=write, keep=keep)

    def _writer(self) -> EntityTable:
        return PgEntityTable(self.url, self.collection, write=True)

    def _connect(self) -> Any:
        from rag.store import postgres

        conn = postgres.connect(self.url)
        try:
            postgres.prepare(conn, self.collection)
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s)", (postgres.lock_key(self.collection, "ent"),)
                )
                conn.execute(_PG_TABLES)
        except Exception:
            conn.close()
            raise
        return postgres.Db(conn)

    def _open_for_writing(self) -> None:
        conn = self._connect()
        self._start_again_unless_tagged_by_this_model(conn)
        self._conn = conn
        self._usable = True

    def _reader(self) -> Any:
        """The server's table, once it has this model's tags; until then (or while the server
        cannot be reached) looked for again at most every `AGAIN` seconds, the answers tagging
        their sentences themselves meanwhile."""
        if self._conn is None and time.monotonic() >= self._again_at:
            self._again_at = time.monotonic() + self.AGAIN
            try:
                conn = self._connect()
                model = conn.execute(f"SELECT v FROM {self.META} WHERE k = 'model'").fetchone()
            except Exception as exc:
                log.warning("entity table %s not read: %s", self.path, exc)
                return None
            if model is None or model[0] != tagger_name():
                conn.close()
                return None
            self._conn = conn
        return self._conn


_PG_TABLES = """
CREATE TABLE IF NOT EXISTS entity_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entity_sentences (key BYTEA PRIMARY KEY, ents BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS entity_chunks (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS entity_pos (key BYTEA PRIMARY KEY, tags BYTEA NOT NULL);
"""  # (beside the ledger's tables in the collection's schema: named apart from them)
