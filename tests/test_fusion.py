"""How hybrid retrieval fuses its two rankings (RAG_RETRIEVAL__FUSION, RAG_RETRIEVAL__DENSE_WEIGHT):
relative-score fusion weighs each side, so a side weighted 1 decides the order alone; reciprocal
rank fusion ignores weights."""

from __future__ import annotations

from typing import Any

import pytest

QUERIES = ["Rutte Starmer talks", "defence spending 5%", "What did Hegseth say?", "NATO summit"]


def _with(monkeypatch: pytest.MonkeyPatch, retriever: Any, **retrieval: Any) -> None:
    s = retriever.settings
    r = s.retrieval.model_copy(update=retrieval)
    monkeypatch.setattr(retriever, "settings", s.model_copy(update={"retrieval": r}))


def _ids(retriever: Any, query: str, mode: str | None = None) -> list[str]:
    return [p.chunk_id for p in retriever.retrieve(query, top_k=5, mode=mode)]


def test_a_side_weighted_one_decides_the_order_alone(pipeline, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    retriever = pipeline.retriever
    dense = {q: _ids(retriever, q, "dense") for q in QUERIES}
    bm25 = {q: _ids(retriever, q, "bm25") for q in QUERIES}
    assert any(dense[q] != bm25[q] for q in QUERIES)  # the two sides disagree somewhere
    _with(monkeypatch, retriever, fusion="relative", dense_weight=1.0)
    assert {q: _ids(retriever, q) for q in QUERIES} == dense
    _with(monkeypatch, retriever, fusion="relative", dense_weight=0.0)
    assert {q: _ids(retriever, q) for q in QUERIES} == bm25


def test_relative_fusion_blends_both_and_rrf_takes_no_weight(pipeline, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    retriever = pipeline.retriever
    _with(monkeypatch, retriever, fusion="relative", dense_weight=0.35)
    for q in QUERIES:
        hybrid = _ids(retriever, q)
        assert set(hybrid) <= set(
            p.chunk_id for p in retriever.retrieve(q, top_k=30, mode="dense")
        ) | set(p.chunk_id for p in retriever.retrieve(q, top_k=30, mode="bm25"))
    _with(monkeypatch, retriever, fusion="rrf", dense_weight=1.0)  # the weight is not used
    rrf = {q: _ids(retriever, q) for q in QUERIES}
    _with(monkeypatch, retriever, fusion="rrf", dense_weight=0.0)
    assert {q: _ids(retriever, q) for q in QUERIES} == rrf


def test_an_unknown_fusion_is_refused_at_start_up() -> None:
    from rag.errors import ConfigError
    from rag.settings import load

    with pytest.raises(ConfigError, match="RAG_RETRIEVAL__FUSION"):
        load(env_file=None, retrieval={"fusion": "borda"})
    with pytest.raises(ConfigError, match="RAG_RETRIEVAL__DENSE_WEIGHT"):
        load(env_file=None, retrieval={"dense_weight": 1.5})
