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
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from filelock import FileLock, Timeout

from rag.errors import BusyError
from rag.settings import Settings

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    text_hash TEXT NOT NULL DEFAULT '',
    input_hash TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO state (key, value) VALUES ('version', '0');
"""


class Entry(NamedTuple):
    """What the ledger knows of one article ('' where unknown: records imported from a docstore)."""

    hash: str  # of the document as indexed (after duplicate paragraphs were dropped)
    text_hash: str  # of its title and text, wherever it came from: what a 409 compares
    input_hash: str  # of everything read for it: unchanged means no work at all


class LedgerBusyError(BusyError):
    """Another process is writing to the same index."""


class Ledger:
    """Article id -> content hash and chunk count, with a version that grows on every write."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._mutex = threading.Lock()
        with self._mutex:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(articles)")}
            if "input_hash" not in columns:  # a ledger from before input hashes
                self._db.execute(
                    "ALTER TABLE articles ADD COLUMN input_hash TEXT NOT NULL DEFAULT ''"
                )
            self._db.commit()

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    @contextmanager
    def writing(self, timeout: float = -1) -> Iterator[Ledger]:
        """Hold the writers' lock (another process's ingest waits, or fails after `timeout` s)."""
        lock = FileLock(str(self.path) + ".lock")
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

    def record(self, rows: Iterable[tuple[str, str, int, str, str]]) -> None:
        """(article id, document hash, chunks, text hash, input hash) for articles now fully in
        the vector store."""
        with self._mutex, self._db:
            self._db.executemany(
                "INSERT INTO articles (id, hash, chunks, text_hash, input_hash) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, chunks=excluded.chunks, "
                "text_hash=excluded.text_hash, input_hash=excluded.input_hash",
                list(rows),
            )
            self._bump()

    def note_inputs(self, rows: Iterable[tuple[str, str]]) -> None:
        """(article id, input hash) for recorded articles found unchanged by their document hash
        (so the next run can skip them without reading the store)."""
        with self._mutex, self._db:
            self._db.executemany(
                "UPDATE articles SET input_hash=? WHERE id=?", [(h, i) for i, h in rows]
            )

    def remove(self, ids: Iterable[str]) -> None:
        with self._mutex, self._db:
            self._db.executemany("DELETE FROM articles WHERE id=?", [(i,) for i in ids])
            self._bump()

    def clear(self) -> None:
        with self._mutex, self._db:
            self._db.execute("DELETE FROM articles")
            self._bump()

    def _bump(self) -> None:
        self._db.execute("UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key='version'")

    def import_docstore(self, path: Path) -> int:
        """Take the article hashes of an older llama-index docstore JSON (once), then rename it."""
        from llama_index.core.storage.docstore import SimpleDocumentStore

        try:
            old = SimpleDocumentStore.from_persist_path(str(path))
            hashes = old.get_all_document_hashes()  # hash -> doc id
        except Exception:  # torn or foreign: the next ingest rewrites what it cannot vouch for
            log.warning("could not read the old ingestion state %s; not imported", path)
            return 0
        # chunk counts are unknown here; 0 means "not counted", never "empty"
        self.record((doc_id, h, 0, "", "") for h, doc_id in hashes.items())
        path.rename(path.with_name(path.name + ".imported"))
        return len(hashes)


def _state_name(cfg: Settings) -> str:
    where = f"{cfg.store.host}_{cfg.store.port}-" if cfg.store.host else ""
    return f"{where}{cfg.store.collection}"


def ledger_path(cfg: Settings) -> Path:
    """The ingestion ledger of the configured collection (beside the store)."""
    return Path(cfg.store.path) / f"ledger-{_state_name(cfg)}.sqlite3"


def docstore_path(cfg: Settings) -> Path:
    """Where versions before the ledger kept their state (imported once, then renamed)."""
    return Path(cfg.store.path) / f"docstore-{_state_name(cfg)}.json"


def open_ledger(cfg: Settings) -> Ledger:
    return Ledger(ledger_path(cfg))
