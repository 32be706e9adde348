"""Dense search as a llama-index retriever: `FilteredDense` asks Chroma for the nearest chunks
that pass the filters and reads their records from the catalogue, giving the nodes llama-index's
own Chroma retriever gives. It neither fuses nor folds copies."""

from __future__ import annotations

import logging
import math
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.schema import Filters
from rag.store.catalogue import Catalogue
from rag.store.chroma import Store
from rag.store.record import record_node
from rag.store.records import chunk_records

log = logging.getLogger(__name__)


OVERFETCH = 4  # a filtered dense search first asks this many times k, unfiltered


class FilteredDense(BaseRetriever):
    """The top `k` dense hits that pass `filters`, in the order and with the similarity
    (exp(-distance)) of llama-index's Chroma retriever, but read differently:

    - Chroma is asked for ids and distances only, and each hit's record comes from the
      catalogue (the memory-mapped records BM25 returns hits from): reading the hits' metadata
      and text from Chroma's SQLite took several times as long as the search itself. A chunk
      written since the catalogue was loaded is read from Chroma.
    - Chroma's filtered search (a `where` on the date) scans the metadata of every chunk: 0.5 s a
      query over 120k chunks. So the plain search is asked for `OVERFETCH * k` hits and filtered
      here; only when fewer than `k` of them pass does the filtered search run (never, with
      `exhaustive=False`)."""

    def __init__(
        self,
        store: Store,
        embed_model: Any,
        catalogue: Catalogue,
        k: int,
        filters: Filters,
        *,
        exhaustive: bool = True,
    ) -> None:
        """`exhaustive=False`: what passes among the wide search's hits, never Chroma's filtered
        search (for a ranking that only adds weight, where fewer than `k` hits will do)."""
        super().__init__()
        self._store, self._embed, self._catalogue = store, embed_model, catalogue
        self._k, self._filters, self._exhaustive = k, filters, exhaustive

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = query_bundle.embedding or self._embed.get_query_embedding(query_bundle.query_str)
        if self._filters.empty():
            return self._nodes(self._search(vector, self._k, None))
        wide = self._k * OVERFETCH
        hits = self._search(vector, wide, None)
        kept = [h for h in hits if self._filters.accepts(h[1])]
        if self._exhaustive and len(kept) < self._k and len(hits) == wide:  # the store has more
            narrow = self._search(vector, self._k, self._filters.to_where())
            kept = [h for h in narrow if self._filters.accepts(h[1])]
        return self._nodes(kept[: self._k])

    def _search(
        self, vector: list[float], n: int, where: dict[str, Any] | None
    ) -> list[tuple[str, dict[str, Any], float]]:
        """(chunk id, record, distance) of the `n` nearest chunks that pass `where`."""
        found = self._store.collection.query(
            query_embeddings=[vector], n_results=n, where=where, include=["distances"]
        )
        ids, distances = found["ids"][0], found["distances"][0]
        records = self._catalogue.records_of(ids)
        unknown = [cid for cid in ids if cid not in records]
        if unknown:  # written since the catalogue was loaded (if recorded: not half-written)
            fresh = dict(chunk_records(self._store, unknown, self._catalogue.ledger))
            records |= self._catalogue.recorded(fresh)
        return [
            (cid, records[cid], d) for cid, d in zip(ids, distances, strict=True) if cid in records
        ]

    @staticmethod
    def _nodes(hits: list[tuple[str, dict[str, Any], float]]) -> list[NodeWithScore]:
        return [NodeWithScore(node=record_node(r, cid), score=math.exp(-d)) for cid, r, d in hits]
