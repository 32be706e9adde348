"""The named entities of the archive's sentences, tagged once and kept on disk beside the store.

A short answer needs spaCy's entities in the best sentences of the retrieved passages; tagging
them while a question waits is most of an extractive answer's time (~50 ms for 20 sentences on
this machine's cores). `EntityTable` keeps them in SQLite (`<store>/entities.sqlite`), keyed by a
hash of the sentence's text, with spaCy's own labels and the name and version of the model that
tagged them (a table from another model is not read). It also records which chunks have all
their sentences in. `fill` tags the sentences of the chunks not yet recorded, in one streamed
spaCy pipe: `rag entities` runs it with a progress bar, and `rag ingest` starts it aside in a
process of its own (`python -m rag.entities`, one per store at a time) once new chunks are in.
`rag.spans.EntityTagger` reads the table first and tags only what it lacks, so an answer is the
same with or without it; only its time differs.

Nothing here decides what answers a question (`rag.spans` does) or reads the articles' files.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from rag.aside import run_aside
from rag.errors import RagError
from rag.ledger import Ledger, open_ledger, where_in
from rag.settings import Settings, StoreSettings
from rag.spans import SPACY_MODEL, tag
from rag.text import quotable, split_sentences

log = logging.getLogger(__name__)

FILE = "entities.sqlite"
PAGE = 500  # chunks read from the store, and recorded as done, at a time
Entities = list[tuple[str, str]]  # spaCy's (text, label) pairs of one sentence


def table_path(cfg: StoreSettings) -> Path:
    return Path(cfg.path) / FILE


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


@dataclass
class FillReport:
    chunks: int  # chunks whose sentences were tagged now
    sentences: int  # sentences tagged now (the others were in the table already)
    seconds: float
    total_sentences: int
    total_chunks: int

    def summary(self) -> str:
        rate = f", {self.sentences / self.seconds:,.0f} sentences/s" if self.sentences else ""
        return (
            f"named entities: {self.sentences:,} sentences of {self.chunks:,} new chunks tagged "
            f"in {self.seconds:.1f} s{rate}; the table holds {self.total_sentences:,} sentences "
            f"of {self.total_chunks:,} chunks"
        )


def fill(settings: Settings, *, processes: int = 1, progress: bool = False) -> FillReport:
    """Tag the sentences of every chunk of the store the table has not recorded (and forget the
    chunks the store no longer has). Safe to stop: each page of chunks is recorded as it is done,
    and a second run goes on from there. `processes`: pages tagged at once, each process with
    its own spaCy and its own reader of the store."""
    from rag.bm25 import chunk_ids
    from rag.store import Store

    started = time.perf_counter()
    try:
        ledger: Ledger | None = open_ledger(settings)
    except RagError:
        ledger = None
    store = Store(settings.store)
    try:
        ids = chunk_ids(store, ledger)
    finally:
        store.release()
        if ledger is not None:
            ledger.close()
    table = EntityTable(table_path(settings.store), write=True)
    try:
        done = table.done_chunks()
        table.forget_chunks(done - set(ids))
        todo = [i for i in ids if i not in done]
        pages = [todo[at : at + PAGE] for at in range(0, len(todo), PAGE)]
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="chunk", desc="tagging entities", file=sys.stderr)
        tagged = 0
        for n_chunks, n_sentences in _pages(settings, pages, processes):
            tagged += n_sentences
            if bar is not None:
                bar.update(n_chunks)
        if bar is not None:
            bar.close()
        total_sentences, total_chunks = table.counts()
    finally:
        table.close()
    return FillReport(
        len(todo), tagged, time.perf_counter() - started, total_sentences, total_chunks
    )


def _pages(settings: Settings, pages: list[list[str]], processes: int) -> Iterator[tuple[int, int]]:
    """(chunks, sentences tagged) of each page as it is done: here, or by `processes` worker
    processes (started afresh: a forked copy of an open Chroma client is not safe)."""
    if processes <= 1 or len(pages) <= 1:
        _start_worker(settings)
        try:
            yield from map(_do_page, pages)
        finally:
            _stop_worker()
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings,),
    ) as pool:
        for future in as_completed([pool.submit(_do_page, page) for page in pages]):
            yield future.result()


_worker: tuple[Any, EntityTable] | None = None  # this process's store reader and table writer


def _start_worker(settings: Settings) -> None:
    from rag.store import Store

    global _worker
    _worker = (
        Store(settings.store, fresh=True),
        EntityTable(table_path(settings.store), write=True),
    )


def _stop_worker() -> None:
    global _worker
    if _worker is not None:
        _worker[1].close()
        _worker[0].release()
        _worker = None


def _do_page(ids: list[str]) -> tuple[int, int]:
    """Tag the sentences of these chunks the table lacks, and record the chunks as done."""
    assert _worker is not None
    store, table = _worker
    seen: dict[str, None] = {}
    for rec in store.records_of(ids):
        seen.update(dict.fromkeys(s for s in split_sentences(rec.text) if quotable(s)))
    new = table.missing(list(seen))
    table.add(dict(zip(new, tag(new), strict=True)), ids)
    return len(ids), len(new)


def tag_aside(settings: Settings) -> Path | None:
    """Start tagging the store's new sentences in a separate process; its log's path."""
    return run_aside(settings, "rag.entities", "entities")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rag.entities`: fill the table of the store the environment names, unless
    another process is filling it."""
    from rag.settings import load

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load(None)
    path = table_path(settings.store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is tagging this store")
            return 0
        os.nice(5)  # behind the servers answering questions
        log.info(fill(settings, processes=args.processes).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
