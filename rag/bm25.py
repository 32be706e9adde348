"""BM25 over every chunk in the store, as a llama-index retriever, cached on disk beside the store.

llama-index's `BM25Retriever` (bm25s with an English stemmer) does the scoring. `BM25Index` builds
it from a `Catalogue`'s nodes once per store fingerprint and keeps it in `cache_dir` (rebuilt when
the chunks change). `FilteredBM25` is the per-query `BaseRetriever` that `QueryFusionRetriever`
fuses: it applies the date/source filters and drops the zero-score padding bm25s adds when fewer
chunks match than were asked for. Nothing here embeds, fuses or folds duplicates.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.catalogue import Catalogue

if TYPE_CHECKING:
    from rag.retrieval import Filters

log = logging.getLogger(__name__)


class BM25Index:
    """The bm25s index of one catalogue (None inside when the catalogue is empty)."""

    def __init__(self, catalogue: Catalogue, cache_dir: Path | None) -> None:
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG on import
        self.size = catalogue.size
        self.retriever: Any = None
        if not catalogue.nodes:
            return
        cached = cache_dir / catalogue.fingerprint if cache_dir else None
        if cached is not None and (cached / "retriever.json").exists():
            try:
                self.retriever = BM25Retriever.from_persist_dir(str(cached))
                return
            except Exception:
                log.warning("BM25 cache %s unreadable; rebuilding", cached)
        self.retriever = BM25Retriever.from_defaults(
            nodes=list(catalogue.nodes.values()), similarity_top_k=10, language="en"
        )
        self.retriever.bm25.corpus = self.retriever.corpus
        if cache_dir is not None and cached is not None:
            try:
                if cache_dir.exists():
                    shutil.rmtree(cache_dir)  # older fingerprints
                self.retriever.persist(str(cached), show_progress=False)
            except OSError as exc:
                log.warning("could not cache BM25 index: %s", exc)

    def retriever_for(self, k: int, filters: Filters) -> FilteredBM25:
        return FilteredBM25(self, k, filters)


class FilteredBM25(BaseRetriever):
    """The top `k` BM25 hits that pass `filters`."""

    def __init__(self, index: BM25Index, k: int, filters: Filters) -> None:
        super().__init__()
        self._index = index
        self._k = k
        self._filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from llama_index.retrievers.bm25 import BM25Retriever

        if self._index.retriever is None:
            return []
        k = min(self._k, self._index.size)
        try:
            r = BM25Retriever(
                existing_bm25=self._index.retriever.bm25,
                similarity_top_k=k,
                filters=self._filters.to_metadata_filters(),
            )
        except ValueError:  # every chunk filtered out
            return []
        return [
            hit
            for hit in r.retrieve(query_bundle)
            if (hit.score or 0) > 0 and self._filters.accepts(hit.node.metadata)
        ]
