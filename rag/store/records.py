"""The chunks of a store by id: which ids it holds (from the ledger's rows when it can name
them, else from Chroma), the fingerprint a BM25 index is saved under, and the chunk records read
back by id. Nothing here ranks or writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag.store.chroma import Store, fingerprint_of
from rag.store.ledger import Ledger
from rag.store.record import TEXT

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


def chunk_records(store: Store, ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(chunk id, metadata with the text) of these chunks, read from the store by id, in pages."""
    return ((r.id, r.metadata | {TEXT: r.text}) for r in store.records_of(ids))


def every_chunk_record(store: Store) -> Iterator[tuple[str, dict[str, Any]]]:
    """(chunk id, metadata with the text) of every chunk in the store, read in pages."""
    return ((r.id, r.metadata | {TEXT: r.text}) for r in store.records())
