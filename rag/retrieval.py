"""Hybrid retrieval: dense (Chroma) plus BM25, fused by reciprocal rank, with filters and
duplicate collapsing.

llama-index supplies the parts: the vector index's retriever over Chroma, `BM25Retriever` (bm25s
with an English stemmer) over the same chunks, `QueryFusionRetriever` in reciprocal-rank mode. Our
additions are small: metadata filters for date range and source applied to both sides, and a
final pass that folds repeated passages (one syndicated paragraph, several articles) into one hit
that says which other articles carry it. The BM25 index is rebuilt from the store's chunks when
they change and cached on disk beside the store. This module does not write the index or answer.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from rag.errors import BadQuestionError, IndexMissingError
from rag.settings import Settings
from rag.store import Store

log = logging.getLogger(__name__)
MODES = ("hybrid", "dense", "bm25")


@dataclass
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    sources: list[str] | None = None

    def empty(self) -> bool:
        return not (self.date_from or self.date_to or self.sources)

    def to_metadata_filters(self) -> MetadataFilters | None:
        items: list[MetadataFilter | MetadataFilters] = []
        if self.date_from:
            items.append(
                MetadataFilter(
                    key="date_num", value=_num(self.date_from), operator=FilterOperator.GTE
                )
            )
        if self.date_to:
            items.append(
                MetadataFilter(
                    key="date_num", value=_num(self.date_to), operator=FilterOperator.LTE
                )
            )
        if self.sources:
            items.append(
                MetadataFilter(key="source", value=list(self.sources), operator=FilterOperator.IN)
            )
        return MetadataFilters(filters=items) if items else None

    def accepts(self, meta: dict[str, Any]) -> bool:
        num = int(meta.get("date_num") or 0)
        if self.date_from and num < _num(self.date_from):
            return False
        if self.date_to and (num == 0 or num > _num(self.date_to)):
            return False
        return not (self.sources and meta.get("source") not in self.sources)


def _num(d: date) -> int:
    return int(d.strftime("%Y%m%d"))


@dataclass
class Passage:
    chunk_id: str
    article_id: str
    title: str
    date: str
    source: str
    author: str
    location: str
    text: str
    score: float
    also_in: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SENT = re.compile(r"(?<=[.!?”\"])\s+(?=[“\"A-Z0-9])")


def _sentence_keys(text: str) -> set[str]:
    from index.clean import normalize  # lazy: rag does not depend on index at import time

    keys = set()
    for s in _SENT.split(text):
        n = normalize(s)
        if len(n) > 30:
            keys.add(n)
    return keys


class _CorpusBM25:
    """BM25 over every chunk in the store, cached on disk and keyed by the store's fingerprint."""

    def __init__(self, store: Store, cache_dir: Path | None) -> None:
        from llama_index.retrievers.bm25 import BM25Retriever

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets itself to DEBUG on import
        self.fingerprint = store.fingerprint()
        nodes: list[BaseNode] = []
        self.dup_map: dict[str, set[str]] = defaultdict(set)
        for rec in store.records():
            node = metadata_dict_to_node(rec.metadata, text=rec.text)
            nodes.append(node)
            for h in str(rec.metadata.get("dup_hashes", "")).split():
                self.dup_map[h].add(str(rec.metadata.get("article_id")))
        self.nodes = {n.node_id: n for n in nodes}
        self.retriever: Any = None
        if not nodes:
            return
        cached = cache_dir / self.fingerprint if cache_dir else None
        if cached is not None and (cached / "retriever.json").exists():
            try:
                self.retriever = BM25Retriever.from_persist_dir(str(cached))
                return
            except Exception:
                log.warning("BM25 cache %s unreadable; rebuilding", cached)
        self.retriever = BM25Retriever.from_defaults(
            nodes=nodes, similarity_top_k=10, language="en"
        )
        self.retriever.bm25.corpus = self.retriever.corpus
        if cache_dir is not None and cached is not None:
            try:
                if cache_dir.exists():
                    shutil.rmtree(cache_dir)  # older fingerprints
                self.retriever.persist(str(cached), show_progress=False)
            except OSError as exc:
                log.warning("could not cache BM25 index: %s", exc)

    def retrieve(self, query: str, k: int, filters: Filters) -> list[NodeWithScore]:
        from llama_index.retrievers.bm25 import BM25Retriever

        if self.retriever is None:
            return []
        k = min(k, len(self.nodes))
        if filters.empty():
            r = BM25Retriever(existing_bm25=self.retriever.bm25, similarity_top_k=k)
        else:
            try:
                r = BM25Retriever(
                    existing_bm25=self.retriever.bm25,
                    similarity_top_k=k,
                    filters=filters.to_metadata_filters(),
                )
            except ValueError:  # every chunk filtered out
                return []
        # bm25s pads with zero-score hits when fewer match: drop those, and re-check filters
        return [
            h for h in r.retrieve(query) if (h.score or 0) > 0 and filters.accepts(h.node.metadata)
        ]


class _FixedRetriever(BaseRetriever):
    """Wraps a callable so QueryFusionRetriever can fuse it."""

    def __init__(self, fn: Any) -> None:
        super().__init__()
        self._fn = fn

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return list(self._fn(query_bundle.query_str))


class HybridRetriever:
    """Dense + BM25 + reciprocal-rank fusion over one store. Thread-safe for queries."""

    def __init__(self, store: Store, embed_model: Any, settings: Settings) -> None:
        if store.count() == 0:
            raise IndexMissingError(
                f"the index {store.where} is empty: run `rag ingest seeds/` first"
            )
        store.check_model(embed_model.model_name)
        self.store = store
        self.settings = settings
        self.embed_model = embed_model
        self.index = VectorStoreIndex.from_vector_store(
            store.vector_store(), embed_model=embed_model
        )
        cache = (
            None
            if settings.store.host
            else Path(settings.store.path) / "bm25" / settings.store.collection
        )
        self._lock = threading.Lock()
        self._bm25 = _CorpusBM25(store, cache)

    def refresh(self) -> None:
        """Pick up chunks added since start-up (after `POST /v1/articles`)."""
        fresh = _CorpusBM25(self.store, self._bm25_cache_dir())
        with self._lock:
            self._bm25 = fresh

    def _bm25_cache_dir(self) -> Path | None:
        s = self.settings.store
        return None if s.host else Path(s.path) / "bm25" / s.collection

    @property
    def size(self) -> int:
        return len(self._bm25.nodes)

    def chunk_text(self, chunk_id: str) -> str | None:
        """The full text of one indexed chunk (what a citation's chunk id names), if still there."""
        node = self._bm25.nodes.get(chunk_id)
        return node.get_content() if node is not None else None

    def _dense(self, query: str, k: int, filters: Filters) -> list[NodeWithScore]:
        r = self.index.as_retriever(similarity_top_k=k, filters=filters.to_metadata_filters())
        return list(r.retrieve(query))

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
    ) -> list[Passage]:
        query = query.strip()
        if not query:
            raise BadQuestionError("the question is empty")
        mode = mode or self.settings.retrieval.mode
        if mode not in MODES:
            raise BadQuestionError(
                f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}"
            )
        top_k = top_k or self.settings.retrieval.top_k
        filters = filters or Filters()
        k = max(self.settings.retrieval.candidates, top_k * 3)
        with self._lock:
            bm25 = self._bm25
        if mode == "dense":
            hits = self._dense(query, k, filters)
        elif mode == "bm25":
            hits = bm25.retrieve(query, k, filters)
        else:
            fusion = QueryFusionRetriever(
                [
                    _FixedRetriever(lambda q: self._dense(q, k, filters)),
                    _FixedRetriever(lambda q: bm25.retrieve(q, k, filters)),
                ],
                llm=MockLLM(),
                mode="reciprocal_rerank",  # type: ignore[arg-type]
                similarity_top_k=k,
                num_queries=1,
                use_async=False,
            )
            hits = fusion.retrieve(query)
        return self._collapse(hits, bm25.dup_map, top_k)

    @staticmethod
    def _collapse(
        hits: Sequence[NodeWithScore], dup_map: dict[str, set[str]], top_k: int
    ) -> list[Passage]:
        kept: list[tuple[Passage, set[str]]] = []
        for hit in hits:
            meta = hit.node.metadata
            text = hit.node.get_content()
            aid = str(meta.get("article_id", ""))
            keys = _sentence_keys(text)
            twin = None
            for p, pkeys in kept:
                if p.article_id != aid and keys and len(keys & pkeys) >= 0.5 * len(keys):
                    twin = p
                    break
            if twin is not None:  # a syndicated copy of a passage we already return
                if aid not in twin.also_in:
                    twin.also_in.append(aid)
                continue
            also = set()
            for h in str(meta.get("para_hashes", "")).split():
                also |= dup_map.get(h, set())
            also.discard(aid)
            kept.append(
                (
                    Passage(
                        chunk_id=hit.node.node_id,
                        article_id=aid,
                        title=str(meta.get("title", "")),
                        date=str(meta.get("date", "")),
                        source=str(meta.get("source", "")),
                        author=str(meta.get("author", "")),
                        location=str(meta.get("location", "")),
                        text=text,
                        score=float(hit.score or 0.0),
                        also_in=sorted(also),
                    ),
                    keys,
                )
            )
            if len(kept) >= top_k:
                break
        return [p for p, _ in kept]

    def articles(self) -> list[dict[str, Any]]:
        """What is indexed: one entry per article with its metadata and chunk count."""
        with self._lock:
            nodes = list(self._bm25.nodes.values())
        out: dict[str, dict[str, Any]] = {}
        for n in nodes:
            m = n.metadata
            aid = str(m.get("article_id", ""))
            entry = out.setdefault(
                aid,
                {
                    k: m.get(k, "")
                    for k in ("article_id", "title", "date", "source", "author", "location")
                }
                | {"chunks": 0},
            )
            entry["chunks"] += 1
        return sorted(out.values(), key=lambda e: (e["date"], e["article_id"]))


def passages_json(passages: Sequence[Passage]) -> str:
    return json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2)
