"""What the index holds, read once from the store: every chunk as a llama-index node, the list of
articles, and which articles carry each paragraph that was indexed only once (from the chunks'
metadata and, where it can be read, the ingestion ledger, which also names the articles that had
nothing of their own to index).

A `Catalogue` is a snapshot: the retriever builds BM25 from its nodes and folds syndicated copies
with its `dup_map`; the API and the UI list articles and show a cited chunk's full text from it.
A new snapshot is taken after an ingest (`HybridRetriever.refresh`). This module does not rank,
and never writes to the store.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from rag.ledger import Ledger
from rag.passages import ChunkMeta
from rag.store import Store


class Catalogue:
    """Every chunk of one store, with the articles they belong to."""

    def __init__(self, store: Store, ledger: Ledger | None = None) -> None:
        self.fingerprint = store.fingerprint()
        self.nodes: dict[str, BaseNode] = {}
        # paragraph hash -> articles whose copy of that paragraph was indexed under another one
        self.dup_map: dict[str, set[str]] = defaultdict(set)
        self.latest = 0  # the newest article's date as YYYYMMDD (0: none is dated)
        for rec in store.records():
            node = metadata_dict_to_node(rec.metadata, text=rec.text)
            self.nodes[node.node_id] = node
            meta = ChunkMeta.from_metadata(rec.metadata)
            self.latest = max(self.latest, meta.date_num)
            for h in meta.dup_hashes:
                self.dup_map[h].add(meta.article_id)
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

    @property
    def size(self) -> int:
        """Chunks indexed."""
        return len(self.nodes)

    def chunk_text(self, chunk_id: str) -> str | None:
        """The full text of one indexed chunk (what a citation's chunk id names), if still there."""
        node = self.nodes.get(chunk_id)
        return node.get_content() if node is not None else None

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
        for node in self.nodes.values():
            meta = ChunkMeta.from_metadata(node.metadata)
            entry = out.setdefault(meta.article_id, meta.catalogue_entry() | {"chunks": 0})
            entry["chunks"] += 1
        return sorted(out.values(), key=lambda e: (e["date"], e["article_id"]))
