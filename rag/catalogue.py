"""What the index holds: every chunk's metadata and text, the list of articles, and which
articles carry each paragraph that was indexed only once (from the chunks' metadata and, where it
can be read, the ingestion ledger, which also names the articles that had nothing of their own to
index).

A `Catalogue` is a snapshot, made from the records of the BM25 cache when one matches the store's
fingerprint (its chunk ids: cheap to read), else read back from the store (`from_store`: Chroma
returns ~6k chunks/s, so a 100k-chunk store takes seconds). The retriever builds BM25 from its
records and folds syndicated copies with its `dup_map`; the API and the UI list articles and show a
cited chunk's full text from it. A new snapshot is taken after an ingest
(`HybridRetriever.refresh`). This module does not rank, and never writes to the store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rag.ledger import Ledger
from rag.passages import ChunkMeta
from rag.store import Store

TEXT = "_text"  # where a record read from the store keeps its chunk's text


class Catalogue:
    """Every chunk of one store, with the articles they belong to."""

    def __init__(
        self,
        fingerprint: str,
        records: Iterable[tuple[str, dict[str, Any]]],
        ledger: Ledger | None = None,
    ) -> None:
        """`records`: (chunk id, its flat metadata as llama-index stores it: the chunk's text
        under `_text` or inside `_node_content`)."""
        self.fingerprint = fingerprint
        self._records: dict[str, dict[str, Any]] = {}
        # paragraph hash -> articles whose copy of that paragraph was indexed under another one
        self.dup_map: dict[str, set[str]] = defaultdict(set)
        self.latest = 0  # the newest article's date as YYYYMMDD (0: none is dated)
        for chunk_id, meta in records:
            self._records[chunk_id] = meta
            chunk = ChunkMeta.from_metadata(meta)
            self.latest = max(self.latest, chunk.date_num)
            for h in chunk.dup_hashes:
                self.dup_map[h].add(chunk.article_id)
        # articles with nothing of their own to index have no chunk: the ledger names them
        self.chunkless: list[dict[str, Any]] = []
        if ledger is not None:
            for h, articles in ledger.copies_map().items():
                self.dup_map[h] |= articles
            empty = [i for i, n in ledger.chunk_counts().items() if n == 0]
            for body in ledger.bodies(empty).values():
                entry = ChunkMeta(
                    article_id=str(body["id"]),
                    title=str(body.get("title") or ""),
                    date=str(body.get("date") or ""),
                    source=str(body.get("source") or ""),
                    author=str(body.get("author") or ""),
                    location=str(body.get("location") or ""),
                ).catalogue_entry()
                self.chunkless.append(entry | {"chunks": 0})

    @classmethod
    def from_store(
        cls, store: Store, ledger: Ledger | None = None, fingerprint: str | None = None
    ) -> Catalogue:
        """Read every chunk back from the store (slow on a big one: Chroma returns ~6k/s);
        `fingerprint`: the store's, when the caller has just read it."""
        fingerprint = fingerprint or store.fingerprint()
        return cls(
            fingerprint, ((r.id, r.metadata | {TEXT: r.text}) for r in store.records()), ledger
        )

    def bm25_corpus(self) -> tuple[list[dict[str, Any]], list[str]]:
        """What llama-index's BM25 retriever keeps per chunk (its stored metadata, the text inside
        `_node_content`, `node_id`), and the text it indexes (title and text, as the embedding
        sees them): made from the records directly, without a node object per chunk. Then the
        catalogue keeps those records (one copy of each text, not two)."""
        corpus, texts = [], []
        for chunk_id, meta in self._records.items():
            text = self.chunk_text(chunk_id) or ""
            content = json.loads(meta.get("_node_content") or "{}")
            content["text"] = text
            entry = {k: v for k, v in meta.items() if k != TEXT}
            entry["_node_content"] = json.dumps(content)
            entry["node_id"] = chunk_id
            corpus.append(entry)
            title = str(meta.get("title") or "")
            texts.append(f"title: {title}\n\n{text}" if title else text)
        self._records = {str(e["node_id"]): e for e in corpus}
        return corpus, texts

    @property
    def size(self) -> int:
        """Chunks indexed."""
        return len(self._records)

    def chunk_text(self, chunk_id: str) -> str | None:
        """The full text of one indexed chunk (what a citation's chunk id names), if still there."""
        meta = self._records.get(chunk_id)
        if meta is None:
            return None
        if TEXT in meta:
            return str(meta[TEXT])
        return str(json.loads(meta.get("_node_content") or "{}").get("text", ""))

    def also_in(self, meta: ChunkMeta) -> list[str]:
        """Other articles that carry paragraphs of this chunk (indexed once, under its article)."""
        found: set[str] = set()
        for h in meta.para_hashes:
            found |= self.dup_map.get(h, set())
        found.discard(meta.article_id)
        return sorted(found)

    def articles(self) -> list[dict[str, Any]]:
        """One entry per article with its metadata and chunk count, oldest first."""
        out: dict[str, dict[str, Any]] = {e["article_id"]: e for e in self.chunkless}
        for record in self._records.values():
            meta = ChunkMeta.from_metadata(record)
            entry = out.setdefault(meta.article_id, meta.catalogue_entry() | {"chunks": 0})
            entry["chunks"] += 1
        return sorted(out.values(), key=lambda e: (e["date"], e["article_id"]))
