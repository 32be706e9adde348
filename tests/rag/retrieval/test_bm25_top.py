"""BM25's best hits are taken from the positive scores alone (`rag.bm25.top_hits`): the same
chunks, scores and order as bm25s's own selection over every chunk, filtered or not."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from rag.retrieval.bm25 import top_hits
from rag.schema import Filters

QUERIES = ["Rutte Starmer talks", "defence spending 5%", "What did Hegseth say?", "zzzz qqqq"]
FILTERS = [Filters(), Filters(as_of=date(2025, 6, 5)), Filters(sources=["AA"])]


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_the_same_hits_as_bm25s_selects(pipeline, filters: Filters) -> None:  # type: ignore[no-untyped-def]
    import bm25s
    from llama_index.core.schema import QueryBundle

    index = pipeline.retriever._bm25
    lib = index.retriever
    for query in QUERIES:
        for k in (1, 3, 10):
            ours = index.retriever_for(k, filters)._retrieve(QueryBundle(query))
            tokens = bm25s.tokenize(
                query, stemmer=lib.stemmer, token_pattern=lib.token_pattern, show_progress=False
            )
            mask = filters.mask(*index.columns()).astype(np.int64) if not filters.empty() else None
            docs, scores = lib.bm25.retrieve(
                tokens, k=min(k, index.size), show_progress=False, weight_mask=mask
            )
            theirs = [
                (d["node_id"] if isinstance(d, dict) else lib.corpus[int(d)]["node_id"], float(s))
                for d, s in zip(docs[0], scores[0], strict=True)
                if s > 0
            ]
            if filters.empty():  # words the index has: hits
                assert bool(ours) == (query != "zzzz qqqq")
            assert [round(h.score, 5) for h in ours] == [round(s, 5) for _, s in theirs]
            if len({s for _, s in theirs}) == len(theirs):  # no ties: the same chunks in order
                assert [h.node.node_id for h in ours] == [i for i, _ in theirs]


def test_top_hits_orders_positive_scores_and_breaks_ties_by_index() -> None:
    scores = np.zeros(1000, dtype=np.float32)
    scores[[5, 17, 400, 999, 3]] = [2.0, 5.0, 2.0, 0.5, 7.0]
    assert top_hits(scores, 3).tolist() == [3, 17, 5]
    assert top_hits(scores, 10).tolist() == [3, 17, 5, 400, 999]  # only the positive ones
    assert top_hits(np.zeros(10, dtype=np.float32), 3).tolist() == []


def test_top_hits_keeps_only_the_chunks_that_pass() -> None:
    scores = np.zeros(1000, dtype=np.float32)
    scores[[3, 5, 17, 400, 999]] = [9.0, 4.0, 9.0, 1.0, 0.5]
    even = top_hits(scores, 3, lambda at: at % 2 == 0)
    assert even.tolist() == [400]
    seen: list[list[int]] = []

    def record(at: np.ndarray) -> np.ndarray:
        seen.append(at.tolist())
        return np.ones(len(at), dtype=bool)

    assert top_hits(scores, 2, record).tolist() == [3, 17]
    assert seen == [[3, 5, 17, 400, 999]]  # asked about the chunks that scored, not all 1,000
