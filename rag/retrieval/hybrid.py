"""Hybrid retrieval wired from its parts: dense search (`rag.retrieval.dense`) and BM25
(`rag.retrieval.bm25`) fused by weighted reciprocal rank (`rag.retrieval.fusion`; or by their
relative scores, RAG_RETRIEVAL__FUSION), within the date and source `Filters` on both sides, then
syndicated copies folded (`rag.retrieval.syndication`) and the nodes turned into `Passage`s. It
keeps the snapshot of what is indexed (catalogue and BM25 index) and takes a new one when a
writer has recorded articles. What a dense rank's vote counts and how a large store's BM25 index
is rebuilt aside are given to it (`rag.pipeline` chooses them). It does not write the index or
answer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from chromadb.errors import ChromaError
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.errors import (
    BadQuestionError,
    IndexMissingError,
    StoreReadOnlyError,
    StoreUnavailableError,
)
from rag.retrieval.bm25 import BM25Index
from rag.retrieval.dense import FilteredDense
from rag.retrieval.fusion import NamedPassages, WeightedRankFusion
from rag.retrieval.keywords import ServerKeywords
from rag.retrieval.syndication import ALSO_IN, SyndicationFolder
from rag.schema import ChunkMeta, Filters, Passage
from rag.settings import RETRIEVAL_MODES, Settings
from rag.store.catalogue import Catalogue
from rag.store.chroma import Store
from rag.store.keywords import KeywordReader
from rag.store.layout import Layout
from rag.store.ledger import Ledger, ledger_path, open_ledger
from rag.store.postgres import server_url
from rag.store.records import chunk_ids, chunk_records, store_fingerprint

log = logging.getLogger(__name__)

# how the hybrid mode fuses its rankings (RAG_RETRIEVAL__FUSION)
FUSIONS = {"rrf": FUSION_MODES.RECIPROCAL_RANK, "relative": FUSION_MODES.RELATIVE_SCORE}


def to_passages(hits: Sequence[NodeWithScore]) -> list[Passage]:
    return [
        ChunkMeta.from_metadata(h.node.metadata).passage(
            h.node.node_id,
            h.node.get_content(),
            float(h.score or 0.0),
            h.node.metadata.get(ALSO_IN, []),
        )
        for h in hits
    ]


def _reader(settings: Settings) -> Ledger | None:
    """The ledger, to watch for writes (read as it is where the store is read-only); None where
    there is none or it cannot be opened."""
    path = ledger_path(settings)
    try:
        return open_ledger(settings)
    except StoreReadOnlyError:
        try:
            return Ledger(path, read_only=True)
        except sqlite3.Error as exc:
            log.warning("the ledger %s cannot be read (%s)", path, exc)
            return None
    except StoreUnavailableError as exc:
        log.warning("not watching for new articles: %s", exc)
        return None


Keywords = BM25Index | ServerKeywords  # the keyword half: bm25s here, or on the server store


def _server_keywords(settings: Settings, ledger: Ledger | None) -> KeywordReader | None:
    """The reader of the keyword half kept on the server store, where there is one and it is
    complete (one written before it kept it is searched by bm25s here until an ingest fills
    it)."""
    url = server_url(settings)
    if url is None or ledger is None or not ledger.keeps_keywords:
        return None
    if not ledger.keywords_complete():
        log.warning(
            "the server store's keyword half is not filled yet: searched here with bm25s until "
            "the next `rag ingest` fills it"
        )
        return None
    return KeywordReader(url, settings.store.collection, ef_search=settings.store.keyword_ef_search)


class HybridRetriever:
    """Dense + BM25 + fusion (relative scores or reciprocal rank) over one store, then syndicated copies folded.
    Thread-safe for queries; `refresh()` swaps in a new catalogue after an ingest."""

    def __init__(
        self,
        store: Store,
        embed_model: Any,
        settings: Settings,
        *,
        rrf_dense_weight: float = 1.0,
        rebuild_aside: Callable[[Settings], object] | None = None,
    ) -> None:
        """`rrf_dense_weight`: what a dense rank's vote counts in rank fusion (a BM25 rank's: 1).
        `rebuild_aside(settings)`: starts the BM25 index's rebuild beside this process, for a
        large store after an ingest (without it, the index is rebuilt here)."""
        self.rrf_dense_weight = rrf_dense_weight
        self._rebuild_aside = rebuild_aside
        # Chroma loads a collection's vector index on the first read (5 s at 1.5M chunks): the
        # saved BM25 index and catalogue are opened meanwhile
        with ThreadPoolExecutor(1, thread_name_prefix="chroma-open") as pool:
            empty = pool.submit(store.is_empty)
            self._open(store, embed_model, settings)
            if empty.result():
                raise IndexMissingError(
                    f"the index {store.where} is empty: run `rag ingest seeds/` first"
                )

    def _open(self, store: Store, embed_model: Any, settings: Settings) -> None:
        store.check_model(embed_model.model_name)
        self.store = store
        self.settings = settings
        self.embed_model = embed_model
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        # the ledger every writer keeps: a new version means another process added articles
        self._ledger = _reader(settings)
        self._seen = self._ledger.version() if self._ledger else 0
        self._pending: tuple[Path, str] | None = None  # (cache, fingerprint) of a BM25 rebuild
        self._users: dict[int, int] = {}  # id of a store -> searches on it now
        self._server = _server_keywords(settings, self._ledger)
        self.catalogue, self._bm25 = self._load(store)

    def _load(self, store: Store) -> tuple[Catalogue, Keywords]:
        if self._server is not None and self._ledger is not None:  # on the server store
            self._pending = None
            previous = getattr(self, "_bm25", None)
            return ServerKeywords.open(
                self._server,
                store_fingerprint(store, self._ledger),
                self._ledger,
                previous if isinstance(previous, ServerKeywords) else None,
            )
        # saved in the store folder also when a Chroma server holds the vectors: each machine
        # that serves keeps its own copy, keyed by the chunks it indexes
        cache = Layout.of(self.settings).bm25
        fingerprint = store_fingerprint(store, self._ledger)
        self._pending = None
        bm25 = BM25Index.cached(cache, fingerprint, self._ledger)
        if bm25 is None:
            ids = chunk_ids(store, self._ledger)
            base = (
                BM25Index.saved(cache, self._ledger)
                if len(ids) > self.settings.retrieval.rebuild_inline_max
                else None
            )
            if base is not None and self._rebuild_aside is not None:
                # a big store after an ingest: answer now, rebuild BM25 aside
                catalogue, bm25 = base.patch(store, ids, fingerprint, self._ledger)
                log.info("BM25 index of %d chunks is being rebuilt in the background", len(ids))
                self._rebuild_aside(self.settings)
                self._pending = (cache, fingerprint)
                return catalogue, bm25
            if len(ids) > self.settings.retrieval.rebuild_inline_max:
                log.info("building the BM25 index of %d chunks (once: it is saved)", len(ids))
            bm25 = BM25Index.build(
                chunk_records(store, ids, self._ledger), fingerprint, cache, ledger=self._ledger
            )
        # the saved index holds every chunk: the store is not read
        return Catalogue(fingerprint, bm25.summary, bm25.records, self._ledger), bm25

    def close(self) -> None:
        """Let go of the connections to the server store's keyword half, if any."""
        if self._server is not None:
            self._server.close()

    def refresh(self) -> None:
        """Pick up chunks added since start-up (after `POST /v1/articles` or `rag ingest`): the
        store is opened afresh, since an embedded client's vector index in memory does not see
        what another process (or another client in this one) wrote. One refresh at a time: a
        writer's thread and a question's may both ask for one (two embedded Chroma clients opened
        afresh on one folder at once break each other)."""
        with self._refreshing:
            self._refresh()

    def _refresh(self) -> None:
        version = self._ledger.version() if self._ledger else 0
        store = Store(self.settings.store, fresh=not self.settings.store.host)
        catalogue, bm25 = self._load(store)
        with self._lock:
            old, self.store = self.store, store
            self.catalogue, self._bm25 = catalogue, bm25
            self._seen = version
        self._retire(old)

    @contextmanager
    def store_in_use(self) -> Iterator[Store]:
        """The store being searched, kept open while it is used: one a refresh replaces is let
        go once the last search on it ends."""
        with self._lock:
            store = self.store
            self._users[id(store)] = self._users.get(id(store), 0) + 1
        try:
            yield store
        finally:
            with self._lock:
                left = self._users[id(store)] - 1
                self._users[id(store)] = left
                done = not left and store is not self.store
                if done:
                    del self._users[id(store)]
            if done:
                store.release(forget=False)

    def _retire(self, old: Store) -> None:
        """Let go of a store a refresh replaced, now or when the searches on it end. (Each kept
        its own Chroma client, threads and open files until a collection of cycles came round:
        a server taking uploads grew to 79 threads and 168 open files.)"""
        with self._lock:
            idle = not self._users.get(id(old))
        if idle and old is not self.store:
            old.release(forget=False)

    def sync(self) -> bool:
        """Refresh if a writer (this process or another) recorded articles since, or the BM25
        index being rebuilt aside is saved; True if so."""
        pending = self._pending
        if pending is not None and BM25Index.is_saved(*pending):
            with self._refreshing:
                if self._pending is pending:
                    self._refresh()
            return True
        if self._ledger is None:
            return False
        with self._lock:
            seen = self._seen
        if self._ledger.version() == seen:
            return False
        with self._refreshing:  # one refresh at a time; the others then find it done
            if self._ledger.version() != self._seen:
                self._refresh()
        return True

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
        boost: Filters | None = None,
        postprocessors: Sequence[BaseNodePostprocessor] = (),
        named: bool = False,
    ) -> list[Passage]:
        """The `top_k` best passages that pass `filters`; with `boost` (hybrid mode), those that
        also pass it rank higher: both searches are run again within it and fused as two more
        rankings, so a passage of the period a question names gets up to twice the votes.
        `named` (hybrid mode, what `rag search` shows): the passages that speak of the names in
        the question count as one more ranking (`NamedPassages`,
        RAG_RETRIEVAL__SEARCH_NAMED_WEIGHT). `postprocessors` (llama-index's) run last, on the
        folded hits."""
        query = query.strip()
        if not query:
            raise BadQuestionError("the question is empty")
        mode = mode or self.settings.retrieval.mode
        if mode not in RETRIEVAL_MODES:
            raise BadQuestionError(
                f"unknown retrieval mode {mode!r}; choose one of {', '.join(RETRIEVAL_MODES)}"
            )
        top_k = top_k or self.settings.retrieval.top_k
        filters = filters or Filters()
        self.sync()
        k = max(self.settings.retrieval.candidates, top_k)
        with self._lock:
            catalogue, bm25 = self.catalogue, self._bm25
        with self.store_in_use() as store:
            return self._search(
                query, store, catalogue, bm25, k, top_k, mode, filters, boost, postprocessors, named
            )

    def _search(
        self,
        query: str,
        store: Store,
        catalogue: Catalogue,
        bm25: Keywords,
        k: int,
        top_k: int,
        mode: str,
        filters: Filters,
        boost: Filters | None,
        postprocessors: Sequence[BaseNodePostprocessor],
        named: bool,
    ) -> list[Passage]:
        dense = FilteredDense(store, self.embed_model, catalogue, k, filters)
        retriever: BaseRetriever
        if mode == "dense":
            retriever = dense
        elif mode == "bm25":
            retriever = bm25.retriever_for(k, filters)
        else:
            within: list[BaseRetriever] = []
            if boost is not None:
                within = [  # Chroma's filtered search would scan every chunk (0.5-1 s)
                    FilteredDense(store, self.embed_model, catalogue, k, boost, exhaustive=False),
                    bm25.retriever_for(k, boost),
                ]
            r = self.settings.retrieval
            # the weights of a dense, then a BM25 ranking (twice with the period's two rankings)
            if r.fusion == "relative":
                pair = [r.dense_weight, 1 - r.dense_weight]
            else:
                pair = [self.rrf_dense_weight, 1.0]
            retriever = WeightedRankFusion(
                [dense, bm25.retriever_for(k, filters), *within],
                llm=MockLLM(),
                mode=FUSIONS[r.fusion],
                retriever_weights=pair * (1 + len(within) // 2),
                similarity_top_k=k,
                num_queries=1,
                use_async=False,
            )
        try:
            hits = retriever.retrieve(query)
        except (httpx.TransportError, ChromaError) as exc:
            raise StoreUnavailableError(
                f"the index {store.where} cannot be searched ({type(exc).__name__}: {exc}); "
                "check that the store is reachable (a Chroma server: `chroma run`)"
            ) from exc
        bundle = QueryBundle(query)
        if named and mode == "hybrid":
            weight = self.settings.retrieval.search_named_weight
            hits = NamedPassages(weight=weight).postprocess_nodes(hits, bundle)
        folded = SyndicationFolder(top_k=top_k, catalogue=catalogue).postprocess_nodes(hits)
        for postprocessor in postprocessors:
            folded = postprocessor.postprocess_nodes(folded, bundle)
        return to_passages(folded)


def passages_json(passages: Sequence[Passage]) -> str:
    return json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2)
