"""The chunks a store holds as the product reads them: ids and filter fields from Chroma, each
chunk's record (metadata and text) from the records file beside the ledger."""

from __future__ import annotations

from rag.settings import Settings
from rag.store.chroma import ChunkRecord, Store
from rag.store.ledger import open_ledger
from rag.store.records import stored_chunks


def kept_chunks(settings: Settings) -> list[ChunkRecord]:
    ledger = open_ledger(settings)
    try:
        return list(stored_chunks(Store(settings.store), ledger))
    finally:
        ledger.close()
