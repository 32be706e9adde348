"""The named entities of new sentences tagged into the store's entity table
(`python -m rag.jobs.entities`, or `rag entities` with a progress bar): the chunks not yet
recorded, in pages, in one or more processes; one filler per store at a time."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.settings import Settings
from rag.spans.entities import PAGE, EntityTable, open_table
from rag.spans.tagging import load_recogniser, tag
from rag.store.aside import run_aside, run_locked
from rag.store.layout import Layout
from rag.store.ledger import Ledger, open_ledger
from rag.text.rules import quotable, split_sentences

log = logging.getLogger(__name__)


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
    from rag.store.chroma import Store
    from rag.store.records import chunk_ids

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
    table = open_table(settings.store, write=True)
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
    with _pool(processes, _start_worker, settings) as pool:
        for future in as_completed([pool.submit(_do_page, page) for page in pages]):
            yield future.result()


def _pool(processes: int, start: Callable[[Settings], None], settings: Settings) -> Any:
    """`processes` worker processes, each started by `start(settings)` (spawned, not forked:
    a forked copy of an open Chroma client or SQLite connection is not safe), each letting go
    of what it opened when it ends."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start,
        initargs=(settings,),
    )


def _start_worker(settings: Settings) -> None:
    """This process reads chunks from the store and writes the table."""
    from multiprocessing.util import Finalize

    from rag.store.chroma import Store
    from rag.store.ledger import open_ledger

    global _worker
    _worker = (
        Store(settings.store, fresh=True),
        open_table(settings.store, write=True),
        open_ledger(settings),
    )
    Finalize(None, _stop_worker, exitpriority=10)  # a pool's worker, when the pool shuts down


def _stop_worker() -> None:
    global _worker
    if _worker is not None:
        _worker[2].close()
        _worker[1].close()
        _worker[0].release()
        _worker = None


def _do_page(ids: list[str]) -> tuple[int, int]:
    """Tag the sentences of these chunks the table lacks, and record the chunks as done."""
    from rag.store.record import record_text
    from rag.store.records import chunk_records

    assert _worker is not None
    store, table, ledger = _worker
    texts = [(cid, record_text(record)) for cid, record in chunk_records(store, ids, ledger)]
    return len(ids), _tag_into(table, texts, ids)


def _tag_into(table: EntityTable, texts: Sequence[tuple[str, str]], ids: Sequence[str]) -> int:
    """Tag the quotable sentences of these (chunk id, text) the table lacks, keep them and record
    the chunks `ids` as done; the sentences tagged."""
    seen: dict[str, None] = {}
    for _, text in texts:
        seen.update(dict.fromkeys(s for s in split_sentences(text) if quotable(s)))
    new = table.missing(list(seen))
    table.add(dict(zip(new, tag(new), strict=True)), ids)
    return len(new)


class Tagging:
    """The named entities of the chunks an ingest writes, tagged while it writes them, as part of
    the ingest job: each batch's chunks are handed to worker processes (the cores the writing
    leaves free, and all of them once it is done), at most a few pages ahead of them (the texts
    waiting are held in memory: past that, `feed` waits), and `finish` waits for the last, so
    that the store an ingest leaves answers at its full speed. Holds the store's tagging lock
    from `start` to `finish`: one filler at a time."""

    AHEAD = 2  # pages waiting for each worker

    def __init__(self, settings: Settings, lock: Any, processes: int) -> None:
        self.started = time.perf_counter()
        self._settings = settings
        self._lock = lock
        self._processes = processes
        self._pool = _pool(processes, _start_tagger, settings)
        # the workers started now, loading spaCy while the first batch is chunked and embedded
        self._warming = [self._pool.submit(_tag_page, []) for _ in range(processes)]
        self._waiting: set[Future[int]] = set()  # pages handed over, not yet tagged
        self.failed: Exception | None = None  # why the tagging stopped
        self.chunks = 0  # handed over
        self.sentences = 0  # tagged (the others were in the table)

    @classmethod
    def start(cls, settings: Settings, processes: int) -> Tagging | None:
        """Tagging for an ingest into the store `settings` name; None when another process is
        tagging that store (it is asked to go on: `tag_aside`) or its folder cannot be locked."""
        path = Layout.of(settings).entities_lock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = path.open("a")
        except OSError as exc:
            log.warning("named entities not tagged with this ingest: %s", exc)
            return None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        return cls(settings, lock, processes)

    def feed(self, texts: Sequence[tuple[str, str]]) -> None:
        """Tag these (chunk id, text) of chunks just written, in pages; wait while the workers
        are `AHEAD` pages behind."""
        if self.failed is not None:
            return
        try:
            for at in range(0, len(texts), PAGE):
                page = list(texts[at : at + PAGE])
                while len(self._waiting) >= self._processes * self.AHEAD:
                    self._collect(FIRST_COMPLETED)
                self._waiting.add(self._pool.submit(_tag_page, page))
                self.chunks += len(page)
        except Exception as exc:  # the tagging failed: the writing goes on without it
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        """Tagging stops (what the ingest writes is not lost: the filler started after it tags
        the rest, and says in its log what went wrong)."""
        log.warning("named entities not tagged with this ingest: %s", exc)
        self.failed = exc
        for future in [*self._waiting, *self._warming]:
            future.cancel()
        self._waiting = set()

    def _collect(self, return_when: str, bar: Any = None) -> None:
        done, self._waiting = wait(self._waiting, return_when=return_when)
        for future in done:
            self.sentences += future.result()
            if bar is not None:
                bar.update(1)

    def finish(self, *, progress: bool = False) -> FillReport | None:
        """Wait for every page fed, let go of the workers and the lock; what was tagged (None:
        the tagging failed, and the rest is left to the filler)."""
        if self.failed is not None:
            self.close()
            return None
        bar = None
        try:
            if progress and self._waiting:
                from tqdm import tqdm

                bar = tqdm(
                    total=len(self._waiting), unit="page", desc="tagging entities", file=sys.stderr
                )
            while self._waiting:
                self._collect(FIRST_COMPLETED, bar)
            for started in self._warming:  # (a worker that failed to start says so here)
                started.result()
        except Exception as exc:
            self._fail(exc)
            return None
        finally:
            if bar is not None:
                bar.close()
            self.close()
        table = open_table(self._settings.store)
        try:
            total_sentences, total_chunks = table.counts()
        finally:
            table.close()
        return FillReport(
            self.chunks,
            self.sentences,
            time.perf_counter() - self.started,
            total_sentences,
            total_chunks,
        )

    def close(self) -> None:
        """Stop: the pages not yet tagged are left (the next `rag entities`, or the job a write
        starts aside, tags them)."""
        for future in [*self._waiting, *self._warming]:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._waiting = set()
        self._lock.close()


def _start_tagger(settings: Settings) -> None:
    """This process writes the table (it is handed the texts)."""
    from multiprocessing.util import Finalize

    global _table
    os.nice(5)  # behind a server answering questions on the same cores (as the job aside)
    _table = open_table(settings.store, write=True)
    Finalize(None, _stop_tagger, exitpriority=10)
    load_recogniser()


def _stop_tagger() -> None:
    global _table
    if _table is not None:
        _table.close()
        _table = None


def _tag_page(texts: list[tuple[str, str]]) -> int:
    assert _table is not None
    return _tag_into(_table, texts, [cid for cid, _ in texts])


def tag_aside(settings: Settings) -> Path | None:
    """Start tagging the store's new sentences in a separate process; its log's path."""
    return run_aside(settings, main, "entities", Layout.of(settings).entities_lock)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rag.jobs.entities`: fill the table of the store the environment names, unless
    another process is filling it."""
    from rag.settings import load

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load(None)
    os.nice(5)  # behind the servers answering questions
    run_locked(
        Layout.of(settings).entities_lock,
        lambda: log.info(fill(settings, processes=args.processes).summary()),
    )
    return 0


_worker: tuple[Any, EntityTable, Any] | None = None  # this process: store, table writer, ledger
_table: EntityTable | None = None  # this process: the table written by an ingest's tagging


if __name__ == "__main__":
    sys.exit(main())
