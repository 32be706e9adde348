"""Filters computed fast give what the slow way gives: the BM25 mask over columns agrees with
`Filters.accepts` chunk by chunk, and the dense search filtered after an unfiltered wide search
(falling back to Chroma's filtered search) returns the k best chunks that pass the filter, as a
search over every chunk, filtered afterwards, ranks them."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pytest

from rag.passages import DATE_NUM, SOURCE, date_num
from rag.retrieval import OVERFETCH, FilteredDense, Filters

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
    index = pipeline.retriever.index
    everything = pipeline.store.count()
    fell_back = kept_wide = 0
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
        ranked = index.as_retriever(similarity_top_k=everything).retrieve(query)
        slow = [h.node.node_id for h in ranked if filters.accepts(h.node.metadata)][:k]
        fast = [h.node.node_id for h in FilteredDense(index, k, filters).retrieve(query)]
        assert fast == slow, (query, filters, k)
        wide = index.as_retriever(similarity_top_k=k * OVERFETCH).retrieve(query)
        if sum(filters.accepts(h.node.metadata) for h in wide) >= k:
            kept_wide += 1
        else:
            fell_back += 1
    assert fell_back and kept_wide  # both paths were taken
