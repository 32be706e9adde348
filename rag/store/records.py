"""The chunks of a store by id: which ids it holds (from the ledger's rows when it can name
them, else from Chroma), the fingerprint a BM25 index is saved under, and the chunk records read
back by id (from the ledger, which keeps them; from Chroma for a store from before it did).
Nothing here ranks or writes."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag.store.chroma import PAGE, ChunkRecord, Store, fingerprint_of
from rag.store.ledger import Ledger
from rag.store.record import TEXT, record_text, slim

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def chunk_ids(store: Store, ledger: Ledger | None) -> list[str]:
    """The ids of every chunk in the store: named by the ledger's rows when there is a ledger
    (a second at a million chunks), else read from the store (a minute at a million)."""
    named = ledger.chunk_ids() if ledger is not None else None
    return named if named is not None else store.ids()


def store_fingerprint(store: Store, ledger: Ledger | None) -> str:
    """The name of the store's set of chunks, under which its BM25 index is saved: from the
    ledger's rows when it can name them, else from the chunk ids read from the store."""
    named = ledger.fingerprint() if ledger is not None else None
    return named if named is not None else fingerprint_of(store.ids())


def chunk_records(
    store: Store, ids: Sequence[str], ledger: Ledger | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(chunk id, metadata with the text) of these chunks, in pages: from the ledger, which keeps
    them (`Ledger.records_complete`), else (an older store's, until its next ingest) from the
    store."""
    if ledger is not None and ledger.records_complete():
        return ledger.chunk_records(ids)
    return stored_records(store, ids)


def stored_records(store: Store, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(chunk id, metadata with the text) of these chunks as the vector store holds them (an
    older store's records; only what filters need in a newer one's)."""
    return ((r.id, r.metadata | {TEXT: r.text}) for r in store.records_of(ids))


def every_chunk_record(
    store: Store, ledger: Ledger | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(chunk id, metadata with the text) of every chunk in the store, read in pages (from the
    ledger where it keeps them, as `chunk_records`)."""
    if ledger is not None and ledger.records_complete():
        return ledger.chunk_records(chunk_ids(store, ledger))
    return ((r.id, r.metadata | {TEXT: r.text}) for r in store.records())


def stored_chunks(store: Store, ledger: Ledger | None) -> Iterator[ChunkRecord]:
    """Every chunk the vector store holds, in pages, with its record and text from the ledger
    where it keeps them, else (a chunk it has no record of, or an older store's) as the store
    holds it (a newer store holds no text: an empty one)."""
    if ledger is None or not ledger.records_complete():
        yield from store.records()
        return
    held = store.records()
    while page := list(itertools.islice(held, PAGE)):
        kept = dict(ledger.chunk_records([rec.id for rec in page]))
        for rec in page:
            record = kept.get(rec.id)
            if record is None:
                yield rec
            else:
                yield ChunkRecord(rec.id, record_text(record), slim(record))
