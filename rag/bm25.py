"""BM25 over every chunk in the store, as a llama-index retriever, cached on disk beside the store.

llama-index's `BM25Retriever` (bm25s with an English stemmer) does the scoring. `BM25Index` builds
it from a `Catalogue`'s records once per store fingerprint and keeps it in `cache_dir` (rebuilt when
the chunks change), with the catalogue's summary beside it; a saved index is opened memory-mapped
and gives back the chunk records it holds, so a restart reads nothing from the store but its
fingerprint. `FilteredBM25` is the per-query `BaseRetriever` that `QueryFusionRetriever`
fuses: it applies the date/source filters and drops the zero-score padding bm25s adds when fewer
chunks match than were asked for. Nothing here embeds, fuses or folds duplicates.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.catalogue import Catalogue, JsonLines, Summary

if TYPE_CHECKING:
    from rag.retrieval import Filters

log = logging.getLogger(__name__)
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # llama-index's BM25Retriever's default


SUMMARY = "catalogue.json"  # the catalogue's summary, saved beside the index it was built with


class BM25Index:
    """The bm25s index of one store's chunks (None inside when there are none), with the summary
    of the catalogue it was built from and its chunk records (in memory after a build; on disk,
    memory-mapped, when loaded from the cache)."""

    def __init__(self, retriever: Any, summary: Summary) -> None:
        self.retriever = retriever
        self.summary = summary
        self.size = len(summary.ids)
        self._columns: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def records(self) -> Sequence[dict[str, Any]]:
        return self.retriever.corpus if self.retriever is not None else []

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """Each chunk's article date (date_num, 0 if undated) and source, in corpus order, as
        arrays: what a filter is computed over (made on the first filtered query)."""
        if self._columns is None:
            self._columns = (
                np.array(self.summary.dates, dtype=np.int64),
                np.array(self.summary.sources, dtype=object),
            )
        return self._columns

    @classmethod
    def cached(cls, cache_dir: Path | None, fingerprint: str) -> BM25Index | None:
        """The index saved for exactly these chunks, if there is one: its arrays and its corpus
        memory-mapped (a chunk's record is parsed when a hit or a citation needs it), so it opens
        in a second or two whatever the store's size, and processes share the pages."""
        import bm25s
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG on import
        cached = cache_dir / fingerprint if cache_dir else None
        if cached is None or not (cached / "retriever.json").exists():
            return None
        summary = Summary.load(cached / SUMMARY)
        if summary is None:
            return None  # saved by an older version: rebuilt once
        try:
            bm25 = bm25s.BM25.load(str(cached), load_corpus=False, mmap=True, show_progress=False)
            bm25.corpus = JsonLines(cached / "corpus.jsonl")
            args = json.loads((cached / "retriever.json").read_text(encoding="utf-8"))
            retriever = BM25Retriever(existing_bm25=bm25, token_pattern=TOKEN_PATTERN, **args)
        except Exception:
            log.warning("BM25 cache %s unreadable; rebuilding", cached)
            return None
        if len(bm25.corpus) != len(summary.ids):
            return None
        return cls(retriever, summary)

    @classmethod
    def build(cls, catalogue: Catalogue, cache_dir: Path | None) -> BM25Index:
        """Index the catalogue's chunks and save the index for the next start. Tokenised as
        llama-index's `BM25Retriever` does (English stop words and Snowball stemmer, the title
        with the text), but from the records themselves: a llama-index node per chunk cost
        gigabytes on a store of a quarter million chunks."""
        import bm25s
        import Stemmer
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        if not catalogue.size:
            return cls(None, catalogue.summary)
        corpus, texts = catalogue.bm25_corpus()
        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(
            texts, stopwords="en", stemmer=stemmer, token_pattern=TOKEN_PATTERN, show_progress=False
        )
        del texts
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        bm25.corpus = corpus
        retriever = BM25Retriever(
            existing_bm25=bm25,
            stemmer=stemmer,
            similarity_top_k=min(10, len(corpus)),
            token_pattern=TOKEN_PATTERN,
        )
        cached = cache_dir / catalogue.fingerprint if cache_dir else None
        if cache_dir is not None and cached is not None:
            try:
                if cache_dir.exists():
                    shutil.rmtree(cache_dir)  # older fingerprints
                retriever.persist(str(cached), show_progress=False)
                catalogue.summary.save(cached / SUMMARY)
            except OSError as exc:
                log.warning("could not cache BM25 index: %s", exc)
        return cls(retriever, catalogue.summary)

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
        mask = None
        if not self._filters.empty():  # computed over arrays: a filter's own pass over every
            ok = self._filters.mask(*self._index.columns())  # chunk cost 0.5 s at 120k chunks
            if not ok.any():
                return []
            mask = ok.astype(np.int8).tolist()
        r = BM25Retriever(
            existing_bm25=self._index.retriever.bm25, similarity_top_k=k, corpus_weight_mask=mask
        )
        return [
            hit
            for hit in r.retrieve(query_bundle)
            if (hit.score or 0) > 0 and self._filters.accepts(hit.node.metadata)
        ]
