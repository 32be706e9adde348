"""Every upgrade of a store made by an older version, numbered in the order they came.

Each runs where the thing it upgrades is opened, is safe to run again, and loses nothing:

1-3. The ledger's columns `input_hash`, `body` and `indexed_at` (`ledger_columns`, run by
     `rag.store.ledger` whenever a ledger is opened, under its write lock).
4.   llama-index's docstore JSON, the ingestion state before the ledger: its article hashes
     (`docstore_hashes`, read by `Ledger.import_docstore` at the first ingest, then renamed).
5.   The paragraph books (which article indexes each paragraph) of a ledger from before they
     were kept, taken from the chunks' metadata (`paragraph_books`, at the next ingest).
6.   One entity table for the whole folder, whose filling for one collection erased another's
     records: each collection now has its own, started as a copy of the old one (`entity_table`;
     its sentences' entities hold for any collection, and the copy forgets the other
     collections' chunks when it is next filled).
7.   The chunks' records (metadata and text) kept in a file beside the ledger, no longer in
     Chroma's documents and metadata: filled from the store's chunks at the next ingest
     (`Ledger.fill_records`). Chroma keeps the old chunks' copies until they are written again.

Nothing here decides when a store is written; it only knows what an old one looks like.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rag.schema import ChunkMeta
from rag.store.layout import Layout

log = logging.getLogger(__name__)

# 1-3: (column, its declaration) added to a ledger's articles table that lacks it
LEDGER_COLUMNS = (
    ("input_hash", "TEXT NOT NULL DEFAULT ''"),  # 1: a ledger from before input hashes
    ("body", "BLOB"),  # 2: ... before it kept the articles themselves
    ("indexed_at", "REAL"),  # 3: ... before it noted when each article was indexed
)


def ledger_columns(db: sqlite3.Connection) -> None:
    """Add the columns an older ledger lacks (the caller holds the write lock)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
    for column, declaration in LEDGER_COLUMNS:
        if column not in have:
            db.execute(f"ALTER TABLE articles ADD COLUMN {column} {declaration}")


def docstore_hashes(path: Path) -> dict[str, str] | None:
    """4: article id -> content hash from an older llama-index docstore JSON; None when it cannot
    be read (torn or foreign: the next ingest rewrites what it cannot vouch for)."""
    from llama_index.core.storage.docstore import SimpleDocumentStore

    try:
        old = SimpleDocumentStore.from_persist_path(str(path))
        hashes = old.get_all_document_hashes()  # hash -> doc id
    except Exception:
        log.warning("could not read the old ingestion state %s; not imported", path)
        return None
    return {doc_id: h for h, doc_id in hashes.items()}


def paragraph_books(
    metadata: Iterable[Mapping[str, Any]],
) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """5: (paragraph hash -> the article that indexes it, (article, paragraph) it carries but
    leaves to another) from the chunks' metadata, for a ledger from before it kept them."""
    owner: dict[str, str] = {}
    copies: set[tuple[str, str]] = set()
    for meta in metadata:
        chunk = ChunkMeta.from_metadata(meta)
        for h in chunk.para_hashes:
            owner.setdefault(h, chunk.article_id)
        copies.update((chunk.article_id, h) for h in chunk.dup_hashes)
    return owner, copies


def entity_table(layout: Layout, *, write: bool) -> Path:
    """6: the collection's entity table; where only the folder's shared one exists, a writer
    starts the collection's own from a copy of it, and a reader reads the old one."""
    new, old = layout.entities, layout.old_entities
    if new.exists() or not old.exists():
        return new
    if not write:
        return old
    log.info("the entity table %s is copied to %s (one per collection now)", old, new)
    part = new.with_name(new.name + ".part")
    src = sqlite3.connect(f"{old.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(part)
        try:
            src.backup(dst)  # a consistent copy even while an older process writes the old one
        finally:
            dst.close()
    finally:
        src.close()
    part.replace(new)
    return new
