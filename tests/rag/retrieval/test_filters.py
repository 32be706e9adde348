"""Filters computed fast give what the slow way gives: the BM25 mask over columns agrees with
`Filters.accepts` chunk by chunk, and the dense search filtered after an unfiltered wide search
(falling back to Chroma's filtered search) returns the k best chunks that pass the filter, as a
search over every chunk, filtered afterwards, ranks them."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore

from rag.retrieval.dense import OVERFETCH, FilteredDense
from rag.schema import DATE_NUM, SOURCE, Filters, date_num
from rag.store.record import record_node

DATES = [0, date_num(date(2025, 1, 1)), date_num(date(2025, 6, 5)), date_num(date(2025, 9, 30))]
SOURCES = ["AA", "BBC", ""]
FILTERS = [
    Filters(),
    Filters(as_of=date(2025, 6, 5)),
    Filters(date_from=date(2025, 6, 1)),
    Filters(date_to=date(2025, 6, 30)),
    Filters(sources=["AA"]),
    Filters(date_from=date(2025, 1, 1), date_to=date(2025, 6, 5), sources=["AA", "BBC"]),
    Filters(as_of=date(2024, 12, 31), sources=["BBC"]),
]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_the_bm25_mask_agrees_with_accepts(filters: Filters) -> None:
    metas = [{DATE_NUM: d, SOURCE: s} for d, s in itertools.product(DATES, SOURCES)]
    dates = np.array([m[DATE_NUM] for m in metas], dtype=np.int64)
    sources = np.array([m[SOURCE] for m in metas], dtype=object)
    assert filters.mask(dates, sources).tolist() == [filters.accepts(m) for m in metas]


def test_filtered_dense_returns_the_best_chunks_that_pass(pipeline) -> None:  # type: ignore[no-untyped-def]
    """The same chunks, in the same order, with the same nodes (text, metadata, hash: fusion
    tells nodes apart by hash) as a search of the whole Chroma collection, its hits' records
    read from the records file beside the ledger."""
    retriever = pipeline.retriever
    collection = retriever.store.collection
    ledger = retriever.catalogue.ledger

    def search(query: str, n: int) -> list[NodeWithScore]:
        found = collection.query(
            query_embeddings=[retriever.embed_model.get_query_embedding(query)],
            n_results=n,
            include=["distances"],
        )
        ids, distances = found["ids"][0], found["distances"][0]
        records = dict(ledger.chunk_records(ids))
        return [
            NodeWithScore(node=record_node(records[cid], cid), score=float(np.exp(-d)))
            for cid, d in zip(ids, distances, strict=True)
        ]

    everything = pipeline.store.count()
    fell_back = kept_wide = 0
    paths: set[str] = set()
    for query, filters, k in itertools.product(
        ["Rutte Starmer talks", "defence spending 5%", "Hegseth"],
        [
            Filters(date_from=date(2025, 9, 1)),
            Filters(as_of=date(2025, 6, 5)),
            Filters(sources=["AA"]),
            Filters(date_to=date(2025, 6, 30)),
        ],
        [1, 2, 3],
    ):
        ranked = search(query, everything)
        slow = [h for h in ranked if filters.accepts(h.node.metadata)][:k]
        dense = FilteredDense(
            retriever.store, retriever.embed_model, retriever.catalogue, k, filters
        )
        fast = dense.retrieve(query)
        paths.add(
            "filtered" if dense.searches[-1] < 0 else "wider" if len(dense.searches) > 1 else "wide"
        )
        assert [h.node.node_id for h in fast] == [h.node.node_id for h in slow], (query, filters)
        assert [h.node.metadata for h in fast] == [h.node.metadata for h in slow]
        assert [h.node.hash for h in fast] == [h.node.hash for h in slow]
        assert [h.score for h in fast] == pytest.approx([h.score for h in slow])
        wide = search(query, k * OVERFETCH)
        if sum(filters.accepts(h.node.metadata) for h in wide) >= k:
            kept_wide += 1
        else:
            fell_back += 1
        # a ranking that only adds weight (the period boost) takes what the wide search has
        only_wide = FilteredDense(
            retriever.store, retriever.embed_model, retriever.catalogue, k, filters,
            exhaustive=False,
        ).retrieve(query)  # fmt: skip
        passing = [h.node.node_id for h in wide if filters.accepts(h.node.metadata)][:k]
        assert [h.node.node_id for h in only_wide] == passing
    assert fell_back and kept_wide  # both paths were taken
    assert paths == {"wide", "wider"}  # a wider plain search, not Chroma's filtered one


def test_a_filter_that_passes_almost_nothing_goes_to_chromas_filtered_search(
    pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """When even the widest plain search has fewer than k chunks that pass, Chroma's filtered
    search finds them (the same chunks as a search over every chunk, filtered afterwards)."""
    import rag.retrieval.dense as dense_module

    monkeypatch.setattr(dense_module, "WIDEST", 8)  # the seeds are too few to need 2048
    retriever = pipeline.retriever
    filters = Filters(sources=["AA"])
    dense = FilteredDense(retriever.store, retriever.embed_model, retriever.catalogue, 3, filters)
    fast = dense.retrieve("defence spending 5%")
    assert dense.searches[-1] == -3 and len(fast) == 3
    everything = FilteredDense(
        retriever.store, retriever.embed_model, retriever.catalogue, 3, filters
    )
    monkeypatch.setattr(dense_module, "WIDEST", 4096)
    slow = everything.retrieve("defence spending 5%")
    assert [h.node.node_id for h in fast] == [h.node.node_id for h in slow]


def test_a_chunk_the_catalogue_does_not_list_yet_is_read_from_the_store(pipeline) -> None:  # type: ignore[no-untyped-def]
    """A chunk written since the catalogue was loaded: the dense side reads it from Chroma,
    the same node as the catalogue's."""

    retriever = pipeline.retriever

    class Stale:  # a catalogue loaded before every chunk was written (and recorded)
        def records_of(self, ids: list[str]) -> dict[str, dict[str, Any]]:
            return {}

        def filter_fields(self, ids: list[str]) -> dict[str, dict[str, Any]]:
            return {}

        def recorded(self, records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
            return retriever.catalogue.recorded(records)

        ledger = retriever.catalogue.ledger

    for filters in (Filters(), Filters(as_of=date(2025, 6, 5))):
        args = (retriever.store, retriever.embed_model)
        known = FilteredDense(*args, retriever.catalogue, 5, filters).retrieve("Hegseth 5%")
        unknown = FilteredDense(*args, Stale(), 5, filters).retrieve("Hegseth 5%")  # type: ignore[arg-type]
        assert len(known) == 5
        assert [(h.node.node_id, h.node.get_content()) for h in unknown] == [
            (h.node.node_id, h.node.get_content()) for h in known
        ]
        assert [h.node.metadata for h in unknown] == [h.node.metadata for h in known]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_filtered_bm25_gives_what_llama_index_gives(
    pipeline, filters: Filters, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The BM25 side passes its mask to bm25s as an array; llama-index's own retriever, given
    the mask as a list, returns the same nodes with the same scores (its nodes made from the
    corpus's records as ours are: they are the store's records, not llama-index's JSON)."""
    from llama_index.retrievers.bm25 import BM25Retriever

    monkeypatch.setattr("llama_index.retrievers.bm25.base.metadata_dict_to_node", record_node)

    bm25 = pipeline.retriever._bm25
    mask = filters.mask(*bm25.columns()).astype(np.int8).tolist()
    for query in ("Rutte Starmer talks", "defence spending 5%", "Hegseth"):
        ours = bm25.retriever_for(8, filters).retrieve(query)
        theirs = BM25Retriever(
            existing_bm25=bm25.retriever.bm25, similarity_top_k=8, corpus_weight_mask=mask
        ).retrieve(query)
        theirs = [h for h in theirs if (h.score or 0) > 0 and filters.accepts(h.node.metadata)]
        assert [(h.node.hash, h.score) for h in ours] == [(h.node.hash, h.score) for h in theirs]
