"""How hybrid retrieval fuses its two rankings (RAG_RETRIEVAL__FUSION, RAG_RETRIEVAL__DENSE_WEIGHT,
RAG_RETRIEVAL__RRF_DENSE_WEIGHT): relative-score fusion weighs each side, so a side weighted 1
decides the order alone; reciprocal rank fusion weighs each side's votes by rank."""

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
    _with(monkeypatch, retriever, fusion="rrf", dense_weight=1.0)  # relative fusion's weight
    rrf = {q: _ids(retriever, q) for q in QUERIES}
    _with(monkeypatch, retriever, fusion="rrf", dense_weight=0.0)
    assert {q: _ids(retriever, q) for q in QUERIES} == rrf


def _fused(weights: list[float], rankings: list[list[str]]) -> list[str]:
    """`WeightedRankFusion` on fixed rankings (texts stand for passages)."""
    from llama_index.core.llms import MockLLM
    from llama_index.core.schema import NodeWithScore, TextNode

    from rag.retrieval.fusion import WeightedRankFusion

    fusion = WeightedRankFusion([], llm=MockLLM(), retriever_weights=weights)
    results = {
        ("q", i): [
            NodeWithScore(node=TextNode(text=t), score=float(len(r) - n)) for n, t in enumerate(r)
        ]
        for i, r in enumerate(rankings)
    }
    return [h.node.get_content() for h in fusion._reciprocal_rerank_fusion(results)]


def test_rank_fusion_weighs_each_rankings_votes() -> None:
    dense, bm25 = ["a", "b", "c", "d"], ["d", "c", "e", "a"]
    # equal weights: llama-index's reciprocal rank fusion (ties in the order first seen)
    assert _fused([1.0, 1.0], [dense, bm25]) == ["a", "d", "c", "b", "e"]
    # the dense side's votes worth 0.8 of BM25's: BM25's first two now beat dense's first
    assert _fused([0.8, 1.0], [dense, bm25]) == ["d", "c", "a", "e", "b"]
    # one side weighted 0 orders by the other alone
    assert _fused([0.0, 1.0], [dense, bm25])[:4] == bm25


def test_hybrid_retrieval_uses_the_rrf_weight(pipeline, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    retriever = pipeline.retriever
    bm25 = {q: _ids(retriever, q, "bm25") for q in QUERIES}
    _with(monkeypatch, retriever, fusion="rrf")
    monkeypatch.setattr(retriever, "rrf_dense_weight", 0.0)
    assert {q: _ids(retriever, q) for q in QUERIES} == bm25
    monkeypatch.setattr(retriever, "rrf_dense_weight", 1.0)
    assert {q: _ids(retriever, q) for q in QUERIES} != bm25


def test_an_unknown_fusion_is_refused_at_start_up() -> None:
    from rag.errors import ConfigError
    from rag.settings import load

    with pytest.raises(ConfigError, match="RAG_RETRIEVAL__FUSION"):
        load(env_file=None, retrieval={"fusion": "borda"})
    with pytest.raises(ConfigError, match="RAG_RETRIEVAL__DENSE_WEIGHT"):
        load(env_file=None, retrieval={"dense_weight": 1.5})
    with pytest.raises(ConfigError, match="RAG_RETRIEVAL__RRF_DENSE_WEIGHT"):
        load(env_file=None, retrieval={"rrf_dense_weight": -1})


def test_the_static_embedding_gets_the_lower_dense_weight(pipeline, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Unset, the dense side's rank-fusion weight follows the embedding: 0.8 for the static one
    (its dense ranking is the weaker), 1 for MiniLM or OpenAI; set, the setting decides."""
    from types import SimpleNamespace

    from rag.embeddings.base import LOCAL_MODEL_NAME, STATIC_MODEL_NAME
    from rag.pipeline import rrf_dense_weight

    settings, model = pipeline.settings, pipeline.embed_model
    assert model.model_name == STATIC_MODEL_NAME
    assert settings.retrieval.rrf_dense_weight is None
    assert rrf_dense_weight(settings, model) == 0.8
    assert pipeline.retriever.rrf_dense_weight == 0.8  # what the built pipeline fuses with
    minilm = SimpleNamespace(model_name=LOCAL_MODEL_NAME)
    assert rrf_dense_weight(settings, minilm) == 1.0
    chosen = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"rrf_dense_weight": 0.5})}
    )
    assert rrf_dense_weight(chosen, model) == 0.5
    assert rrf_dense_weight(chosen, minilm) == 0.5


def _named(question: str, texts: list[str], weight: float = 1.0) -> list[str]:
    """`NamedPassages` over fused passages (texts, scored in the order given)."""
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    from rag.retrieval.fusion import NamedPassages

    hits = [NodeWithScore(node=TextNode(text=t), score=1 / (60 + n)) for n, t in enumerate(texts)]
    out = NamedPassages(weight=weight).postprocess_nodes(hits, QueryBundle(question))
    return [h.node.get_content() for h in out]


def test_passages_that_speak_of_the_names_asked_about_gain_a_ranking() -> None:
    fused = [
        "Nato members are expected to spend 2% and the US 3.4 percent.",
        "Spending of 5 percent, 3.5 percent and 1.5 percent was proposed.",
        "Pete Hegseth said there would be near consensus on 5%.",
    ]
    assert _named("What did Hegseth say about 5%?", fused)[0] == fused[2]
    assert _named("What did Hegseth say about 5%?", fused, weight=0.0) == fused  # off
    assert _named("What was said about spending?", fused) == fused  # no name asked about


def test_the_design_cards_question_finds_hegseths_words_in_the_top_three(pipeline) -> None:  # type: ignore[no-untyped-def]
    """`rag search "What did Hegseth say about 5%?" -k 3` on the seeds: his own words."""
    question = "What did Hegseth say about 5%?"
    top = pipeline.retriever.retrieve(question, top_k=3, named=True)  # as `rag search` asks
    assert any("almost near consensus" in p.text for p in top), [p.text[:80] for p in top]
