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


OVERFETCH = 4  # a filtered dense search first asks this many times k, unfiltered, then 4x more
WIDEST = 2048  # the widest unfiltered search before Chroma's filtered one


class FilteredDense(BaseRetriever):
    """The top `k` dense hits that pass `filters`, in the order and with the similarity
    (exp(-distance)) of llama-index's Chroma retriever, but read differently:

    - Chroma is asked for ids and distances only, and each hit's record comes from the
      catalogue (the records BM25 returns hits from): reading the hits' metadata and text from
      Chroma's SQLite took several times as long as the search itself. A chunk written since the
      catalogue was loaded is read from the store.
    - Chroma's filtered search (a `where` on the date) reads the metadata of every chunk that
      passes: 0.5 s a query over 120k chunks, growing with the archive. So the plain search is
      asked for `OVERFETCH * k` hits, which are filtered here on the catalogue's dates and
      sources (no record read); while fewer than `k` pass, a plain search 4x as wide, up to
      `WIDEST` hits; only past that does the filtered search run (never, with
      `exhaustive=False`): a filter that passes so few chunks that Chroma reads few."""

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
        """`exhaustive=False`: what passes among the first wide search's hits, never a wider or
        a filtered search (for a ranking that only adds weight, where fewer than `k` hits will
        do)."""
        super().__init__()
        self._store, self._embed, self._catalogue = store, embed_model, catalogue
        self._k, self._filters, self._exhaustive = k, filters, exhaustive
        self.searches: list[int] = []  # the hits each search asked for (negative: filtered)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = query_bundle.embedding or self._embed.get_query_embedding(query_bundle.query_str)
        if self._filters.empty():
            return self._nodes(self._read(self._nearest(vector, self._k, None)))
        wide = self._k * OVERFETCH
        while True:
            hits = self._nearest(vector, wide, None)
            kept = self._passing(hits)
            if len(kept) >= self._k or len(hits) < wide or not self._exhaustive:
                return self._nodes(self._read(kept[: self._k]))  # (the store has no more)
            if wide >= WIDEST:
                break
            wide = min(wide * OVERFETCH, WIDEST)
        narrow = self._read(self._nearest(vector, self._k, self._filters.to_where()))
        return self._nodes([h for h in narrow if self._filters.accepts(h[1])][: self._k])

    def _nearest(
        self, vector: list[float], n: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        """(chunk id, distance) of the `n` nearest chunks that pass `where`."""
        self.searches.append(n if where is None else -n)
        found = self._store.collection.query(
            query_embeddings=[vector], n_results=n, where=where, include=["distances"]
        )
        return list(zip(found["ids"][0], found["distances"][0], strict=True))

    def _passing(self, hits: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Those of the hits that pass the filters, by the catalogue's dates and sources (the
        record of a chunk it does not list read from the store)."""
        fields = self._catalogue.filter_fields([cid for cid, _ in hits])
        unknown = [cid for cid, _ in hits if cid not in fields]
        if unknown:
            fields |= dict(self._fresh(unknown))
        return [(cid, d) for cid, d in hits if cid in fields and self._filters.accepts(fields[cid])]

    def _fresh(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Records of chunks written since the catalogue was loaded (if recorded: not
        half-written)."""
        return self._catalogue.recorded(
            dict(chunk_records(self._store, ids, self._catalogue.ledger))
        )

    def _read(self, hits: list[tuple[str, float]]) -> list[tuple[str, dict[str, Any], float]]:
        """(chunk id, record, distance) of these hits, their records from the catalogue."""
        ids = [cid for cid, _ in hits]
        records = self._catalogue.records_of(ids)
        unknown = [cid for cid in ids if cid not in records]
        if unknown:
            records |= self._fresh(unknown)
        return [(cid, records[cid], d) for cid, d in hits if cid in records]

    @staticmethod
    def _nodes(hits: list[tuple[str, dict[str, Any], float]]) -> list[NodeWithScore]:
        return [NodeWithScore(node=record_node(r, cid), score=math.exp(-d)) for cid, r, d in hits]
