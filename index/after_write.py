"""What follows every write to a store, whoever wrote: `rag ingest`, `rag remove`, uploads and
deletes through the API, the watched folder and the polled feeds.

`after_write` brings the saved BM25 index up to date for the next start (built now for a large
store that has none, else rebuilt aside: `rag.jobs.bm25`) and, when RAG_INGEST__TAG_ENTITIES is
`ingest` and the write did not tag them itself (as `rag ingest` does), starts the tagging of the
new sentences' named entities aside (`rag.jobs.entities`). A
running server's own view is refreshed by its pipeline; this only starts the work beside it.
"""

from __future__ import annotations

import logging

from rag.errors import RagError
from rag.jobs.bm25 import after_ingest
from rag.jobs.entities import tag_aside
from rag.settings import Settings
from rag.store.ledger import open_ledger

log = logging.getLogger(__name__)


def after_write(settings: Settings, *, tagged: bool = False) -> list[str]:
    """Start what follows a write to the store `settings` name; what was done, to show.
    `tagged`: the write's named entities were tagged with it (`rag ingest`): none to start."""
    notes: list[str] = []
    try:
        ledger = open_ledger(settings)
    except RagError as exc:  # a read-only or unreachable store: nothing to start beside it
        log.warning("nothing started after the write: %s", exc)
        return notes
    try:
        chunks = sum(ledger.chunk_counts().values())
        # the server store's keyword half is written with the ledger: nothing to build here
        local_bm25 = not (ledger.keeps_keywords and ledger.keywords_complete())
    finally:
        ledger.close()
    note = after_ingest(settings, chunks) if local_bm25 else None
    if note:
        notes.append(note)
    if settings.ingest.tag_entities == "ingest" and not tagged:
        log_file = tag_aside(settings)
        if log_file:
            notes.append(f"named entities of new sentences being tagged aside (log: {log_file})")
    return notes
