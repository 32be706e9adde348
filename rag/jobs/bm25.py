"""The BM25 index rebuilt beside a server or an ingest (`python -m rag.jobs.bm25`): from the
saved index and the chunks added since, one builder per store at a time; and what an ingest
does about the index once it has written."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.retrieval.bm25 import BM25Index
from rag.settings import Settings
from rag.store.aside import run_aside, run_locked
from rag.store.chroma import Store
from rag.store.layout import Layout
from rag.store.ledger import Ledger
from rag.store.records import chunk_ids, chunk_records, store_fingerprint

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def rebuild_in_background(settings: Settings, *, wait: bool = False) -> Path | None:
    """Start a separate process that builds and saves the BM25 index of the store as it is now
    (`python -m rag.jobs.bm25`): a server keeps answering meanwhile and picks it up when saved.
    `wait`: until it is saved. Its log's path (None for a read-only store: answered from the
    saved index as patched)."""
    return run_aside(settings, main, "build", Layout.of(settings).bm25_build_lock, wait=wait)


def after_ingest(settings: Settings, chunks: int) -> str | None:
    """After an ingest into a store of more than RAG_RETRIEVAL__REBUILD_INLINE_MAX chunks, its
    saved BM25 index brought up to date for the next start: built now when none is saved (a
    first `rag serve` would otherwise build it), else rebuilt aside (servers answer from the
    saved one, patched, meanwhile). What was done, to show; None for a smaller store (a start
    builds its index in seconds)."""
    if chunks <= settings.retrieval.rebuild_inline_max:
        return None
    if not BM25Index.any_saved(Layout.of(settings).bm25):
        started = time.perf_counter()
        rebuild_in_background(settings, wait=True)
        took = time.perf_counter() - started
        return f"keyword (BM25) index of {chunks:,} chunks built and saved in {took:.0f} s"
    log_file = rebuild_in_background(settings)
    return f"keyword (BM25) index of {chunks:,} chunks being rebuilt aside (log: {log_file})"


def main() -> int:
    """Build and save the BM25 index of the store the environment names, from the saved one
    and the chunks added since; again while writes ask for it meanwhile (one builder per store
    at a time: a second one exits, leaving the request to the first)."""
    from rag.settings import load

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load(None)
    layout = Layout.of(settings)
    layout.bm25.mkdir(parents=True, exist_ok=True)
    run_locked(layout.bm25_build_lock, lambda: _build(settings))
    return 0


def _build(settings: Settings) -> None:
    """Build and save the BM25 index of the store as it is now (nothing when it is saved)."""
    from rag.store.ledger import open_ledger

    cache_dir = Layout.of(settings).bm25
    store = Store(settings.store, fresh=True)
    try:
        ledger: Ledger | None = open_ledger(settings)
    except RagError:
        ledger = None
    try:
        name = store_fingerprint(store, ledger)
        if BM25Index.cached(cache_dir, name, ledger) is not None:
            return
        ids = chunk_ids(store, ledger)
        base = BM25Index.saved(cache_dir, ledger)
        if base is not None:  # the new chunks are read from the store here, the rest from disk
            records = base.patch(store, ids, name, ledger)[0].records()
            store.release()  # and the vector index Chroma loaded: 2.3 GB at 1.5M chunks
        else:
            records = chunk_records(store, ids, ledger)  # read as indexed, released after
        started = time.perf_counter()
        BM25Index.build(records, name, cache_dir, done_reading=store.release, ledger=ledger)
        log.info("BM25 index of %d chunks saved in %.1f s", len(ids), time.perf_counter() - started)
    finally:
        if ledger is not None:
            ledger.close()


if __name__ == "__main__":
    sys.exit(main())
