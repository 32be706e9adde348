"""The named entities of new sentences tagged into the store's entity table
(`python -m rag.jobs.entities`, or `rag entities` with a progress bar): the chunks not yet
recorded, in pages, in one or more processes; one filler per store at a time."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError
from rag.settings import Settings
from rag.spans.entities import PAGE, EntityTable, open_table
from rag.spans.tagging import tag
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


def _start_worker(settings: Settings) -> None:
    from rag.store.chroma import Store
    from rag.store.ledger import open_ledger

    global _worker
    _worker = (
        Store(settings.store, fresh=True),
        open_table(settings.store, write=True),
        open_ledger(settings),
    )


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
    seen: dict[str, None] = {}
    for _, record in chunk_records(store, ids, ledger):
        text = record_text(record)
        seen.update(dict.fromkeys(s for s in split_sentences(text) if quotable(s)))
    new = table.missing(list(seen))
    table.add(dict(zip(new, tag(new), strict=True)), ids)
    return len(ids), len(new)


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


if __name__ == "__main__":
    sys.exit(main())
