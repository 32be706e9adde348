"""Hybrid retrieval: dense (Chroma) plus BM25, fused by reciprocal rank (or by their relative
scores), with filters and syndicated copies folded.

llama-index supplies the parts: `FilteredDense` (Chroma's search, hits read from the catalogue)
and `rag.bm25`'s `FilteredBM25` (both `BaseRetriever`s, each giving the nodes llama-index's own
Chroma and BM25 retrievers give) go straight into `QueryFusionRetriever`, in reciprocal-rank
mode by default (each ranking's votes weighted: a dense rank counts 0.8 of a BM25 rank,
RAG_RETRIEVAL__RRF_DENSE_WEIGHT; `WeightedRankFusion` adds the weights llama-index's own
reciprocal rank fusion leaves out) or in relative-score mode (each side's scores scaled to 0-1
and weighted: RAG_RETRIEVAL__FUSION, RAG_RETRIEVAL__DENSE_WEIGHT);
`SyndicationFolder` is a node postprocessor that folds repeated passages (one syndicated
paragraph, several articles) into one hit that says which other articles carry it. Our additions
are small: `Filters` (date range and sources, applied to both sides) and turning nodes into
`Passage`s through the chunk metadata contract (`rag.passages`). The article list lives in
`rag.catalogue`. This module does not write the index or answer.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from chromadb.errors import ChromaError
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from rag.bm25 import (
    BM25Index,
    chunk_ids,
    chunk_records,
    rebuild_in_background,
    store_fingerprint,
)
from rag.catalogue import TEXT, Catalogue
from rag.embeddings import STATIC_MODEL_NAME
from rag.errors import (
    BadQuestionError,
    IndexMissingError,
    StoreReadOnlyError,
    StoreUnavailableError,
)
from rag.ledger import Ledger, ledger_path, open_ledger
from rag.passages import DATE_NUM, SOURCE, ChunkMeta, Passage, date_num
from rag.settings import Settings
from rag.store import Store
from rag.text import normalize, split_sentences

log = logging.getLogger(__name__)

# reciprocal rank fusion with the static embedding: a dense rank's vote counts 0.8 of a BM25
# rank's (RealTimeQA, both years: weights 0.6-0.9 all found more answer passages than 1, 0.8 held
# the answers best on 2023; MiniLM's stronger dense ranking keeps 1)
STATIC_RRF_DENSE_WEIGHT = 0.8

MODES = ("hybrid", "dense", "bm25")
# how the hybrid mode fuses its rankings (RAG_RETRIEVAL__FUSION)
FUSIONS = {"rrf": FUSION_MODES.RECIPROCAL_RANK, "relative": FUSION_MODES.RELATIVE_SCORE}
ALSO_IN = "also_in"  # set on a folded hit's copy of the node, never stored


@dataclass
class Filters:
    """Which articles may answer: published in [date_from, date_to], from these sources, and not
    after `as_of` (the date the question is asked as of; undated articles are kept)."""

    date_from: date | None = None
    date_to: date | None = None
    sources: list[str] | None = None
    as_of: date | None = None

    def empty(self) -> bool:
        return not (self.date_from or self.date_to or self.sources or self.as_of)

    def to_where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma `where` clause."""
        clauses: list[dict[str, Any]] = []
        if self.date_from:
            clauses.append({DATE_NUM: {"$gte": date_num(self.date_from)}})
        if self.date_to:  # a range ends: undated articles (date_num 0) are outside it
            clauses += [{DATE_NUM: {"$lte": date_num(self.date_to)}}, {DATE_NUM: {"$gte": 1}}]
        if self.sources:
            clauses.append({SOURCE: {"$in": list(self.sources)}})
        if self.as_of:  # undated articles have date_num 0, so they pass
            clauses.append({DATE_NUM: {"$lte": date_num(self.as_of)}})
        if len(clauses) > 1:
            return {"$and": clauses}
        return clauses[0] if clauses else None

    def mask(self, dates: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """`accepts` over whole columns at once: chunk i passes when its article's date_num
        `dates[i]` and source `sources[i]` do (a boolean array)."""
        ok = np.ones(len(dates), dtype=bool)
        if self.date_from:
            ok &= dates >= date_num(self.date_from)
        if self.date_to:
            ok &= (dates != 0) & (dates <= date_num(self.date_to))
        if self.as_of:
            ok &= dates <= date_num(self.as_of)
        if self.sources:
            ok &= np.isin(sources, list(self.sources))
        return ok

    def accepts(self, meta: dict[str, Any]) -> bool:
        num = int(meta.get(DATE_NUM) or 0)
        if self.date_from and num < date_num(self.date_from):
            return False
        if self.date_to and (num == 0 or num > date_num(self.date_to)):
            return False
        if self.as_of and num > date_num(self.as_of):
            return False
        return not (self.sources and meta.get(SOURCE) not in self.sources)


def _sentence_keys(text: str) -> set[str]:
    """The normalised sentences of a passage (long enough to mean a copy when they repeat)."""
    return {n for n in (normalize(s) for s in split_sentences(text)) if len(n) > 30}


class SyndicationFolder(BaseNodePostprocessor):
    """Folds a hit that repeats one already kept (a syndicated copy: at least half of its
    sentences the same after `normalize`) into that hit, which then lists the copy's article in
    `also_in`; keeps the first `top_k` distinct hits. Copies whose repeated paragraphs were never
    indexed (ingestion drops them) are named too, from the catalogue's duplicate map."""

    top_k: int
    catalogue: Any = None

    @classmethod
    def class_name(cls) -> str:
        return "SyndicationFolder"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        kept: list[tuple[NodeWithScore, ChunkMeta, set[str], list[str]]] = []
        for hit in nodes:
            if not hit.node.get_content().strip():
                continue  # an article whose every paragraph another carries: metadata, no text
            meta = ChunkMeta.from_metadata(hit.node.metadata)
            keys = _sentence_keys(hit.node.get_content())
            twin = next(
                (
                    also
                    for _, m, k, also in kept
                    if m.article_id != meta.article_id and keys and len(keys & k) >= 0.5 * len(keys)
                ),
                None,
            )
            if twin is not None:
                if meta.article_id not in twin:
                    twin.append(meta.article_id)
                continue
            also = self.catalogue.also_in(meta) if self.catalogue is not None else []
            kept.append((hit, meta, keys, also))
            if len(kept) >= self.top_k:
                break
        out = []
        for hit, _, _, also in kept:
            node = hit.node.model_copy(update={"metadata": {**hit.node.metadata, ALSO_IN: also}})
            out.append(NodeWithScore(node=node, score=hit.score))
        return out


class WeightedRankFusion(QueryFusionRetriever):
    """llama-index's fusion retriever, with its reciprocal rank fusion weighing each ranking's
    votes by the retriever's weight (llama-index's own counts every ranking alike and ignores
    `retriever_weights`): a passage at rank r of a ranking gets weight / (60 + r). Ties keep
    llama-index's order."""

    def _reciprocal_rerank_fusion(
        self, results: dict[tuple[str, int], list[NodeWithScore]]
    ) -> list[NodeWithScore]:
        fused: dict[str, float] = {}
        nodes: dict[str, NodeWithScore] = {}
        for (_, i), hits in results.items():
            weight = self._retriever_weights[i]
            ranked = sorted(hits, key=lambda h: h.score or 0.0, reverse=True)
            for rank, hit in enumerate(ranked):
                key = hit.node.hash
                nodes[key] = hit
                fused[key] = fused.get(key, 0.0) + weight / (rank + 60.0)
        out = []
        for key, score in sorted(fused.items(), key=lambda kv: kv[1], reverse=True):
            nodes[key].score = score
            out.append(nodes[key])
        return out


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


OVERFETCH = 4  # a filtered dense search first asks this many times k, unfiltered


def record_node(record: dict[str, Any]) -> BaseNode:
    """The node of a chunk record, as llama-index's Chroma and BM25 retrievers make it (so that
    fusion, which tells nodes apart by hash, sees one node per chunk)."""
    if TEXT in record:
        return metadata_dict_to_node({k: v for k, v in record.items() if k != TEXT}, record[TEXT])
    return metadata_dict_to_node(record)


class FilteredDense(BaseRetriever):
    """The top `k` dense hits that pass `filters`, in the order and with the similarity
    (exp(-distance)) of llama-index's Chroma retriever, but read differently:

    - Chroma is asked for ids and distances only, and each hit's record comes from the
      catalogue (the memory-mapped records BM25 returns hits from). Reading the metadata and
      text of 120 hits from Chroma's SQLite took 17-27 ms a query over the 120k-chunk 2023
      archive, the search itself 3 ms. A chunk written since the catalogue was loaded is read
      from Chroma.
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
        records = {cid: r for cid in ids if (r := self._catalogue.record(cid)) is not None}
        unknown = [cid for cid in ids if cid not in records]
        if unknown:  # written since the catalogue was loaded
            records |= {r.id: r.metadata | {TEXT: r.text} for r in self._store.records_of(unknown)}
        return [
            (cid, records[cid], d) for cid, d in zip(ids, distances, strict=True) if cid in records
        ]

    @staticmethod
    def _nodes(hits: list[tuple[str, dict[str, Any], float]]) -> list[NodeWithScore]:
        return [NodeWithScore(node=record_node(r), score=math.exp(-d)) for _, r, d in hits]


class HybridRetriever:
    """Dense + BM25 + fusion (relative scores or reciprocal rank) over one store, then syndicated copies folded.
    Thread-safe for queries; `refresh()` swaps in a new catalogue after an ingest."""

    def __init__(self, store: Store, embed_model: Any, settings: Settings) -> None:
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
        self.catalogue, self._bm25 = self._load(store)

    def _load(self, store: Store) -> tuple[Catalogue, BM25Index]:
        s = self.settings.store
        # saved beside the store folder, which holds the ledger also when a Chroma server holds
        # the vectors: each machine that serves keeps its own copy, keyed by the chunks it indexes
        cache = Path(s.path) / "bm25" / s.collection
        fingerprint = store_fingerprint(store, self._ledger)
        self._pending = None
        bm25 = BM25Index.cached(cache, fingerprint)
        if bm25 is None:
            ids = chunk_ids(store, self._ledger)
            base = (
                BM25Index.saved(cache)
                if len(ids) > self.settings.retrieval.rebuild_inline_max
                else None
            )
            if base is not None:  # a big store after an ingest: answer now, rebuild BM25 aside
                catalogue, bm25 = base.patch(store, ids, fingerprint, self._ledger)
                log.info("BM25 index of %d chunks is being rebuilt in the background", len(ids))
                rebuild_in_background(self.settings)
                self._pending = (cache, fingerprint)
                return catalogue, bm25
            if len(ids) > self.settings.retrieval.rebuild_inline_max:
                log.info("building the BM25 index of %d chunks (once: it is saved)", len(ids))
            bm25 = BM25Index.build(chunk_records(store, ids), fingerprint, cache)
        # the saved index holds every chunk: the store is not read
        return Catalogue(fingerprint, bm25.summary, bm25.records, self._ledger), bm25

    def refresh(self) -> None:
        """Pick up chunks added since start-up (after `POST /v1/articles` or `rag ingest`): the
        store is opened afresh, since an embedded client's vector index in memory does not see
        what another process (or another client in this one) wrote."""
        version = self._ledger.version() if self._ledger else 0
        store = Store(self.settings.store, fresh=not self.settings.store.host)
        catalogue, bm25 = self._load(store)
        with self._lock:
            self.store = store
            self.catalogue, self._bm25 = catalogue, bm25
            self._seen = version

    def sync(self) -> bool:
        """Refresh if a writer (this process or another) recorded articles since, or the BM25
        index being rebuilt aside is saved; True if so."""
        pending = self._pending
        if pending is not None and BM25Index.is_saved(*pending):
            with self._refreshing:
                if self._pending is pending:
                    self.refresh()
            return True
        if self._ledger is None:
            return False
        with self._lock:
            seen = self._seen
        if self._ledger.version() == seen:
            return False
        with self._refreshing:  # one refresh at a time; the others then find it done
            if self._ledger.version() != self._seen:
                self.refresh()
        return True

    def rrf_dense_weight(self) -> float:
        """What a dense rank's vote counts in rank fusion (a BM25 rank's: 1): the setting, else
        0.8 with the static embedding (its dense ranking is the weaker one), 1 with others."""
        weight = self.settings.retrieval.rrf_dense_weight
        if weight is not None:
            return weight
        name = getattr(self.embed_model, "model_name", None)
        return STATIC_RRF_DENSE_WEIGHT if name == STATIC_MODEL_NAME else 1.0

    def retrieve(
        self,
        query: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
        boost: Filters | None = None,
    ) -> list[Passage]:
        """The `top_k` best passages that pass `filters`; with `boost` (hybrid mode), those that
        also pass it rank higher: both searches are run again within it and fused as two more
        rankings, so a passage of the period a question names gets up to twice the votes."""
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
        self.sync()
        k = max(self.settings.retrieval.candidates, top_k)
        with self._lock:
            catalogue, bm25, store = self.catalogue, self._bm25, self.store
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
                pair = [self.rrf_dense_weight(), 1.0]
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
                f"the index {self.store.where} cannot be searched ({type(exc).__name__}: {exc}); "
                "check that the store is reachable (a Chroma server: `chroma run`)"
            ) from exc
        folded = SyndicationFolder(top_k=top_k, catalogue=catalogue).postprocess_nodes(hits)
        return to_passages(folded)


def passages_json(passages: Sequence[Passage]) -> str:
    return json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2)
