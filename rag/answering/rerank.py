"""The extractive answerer's reranking in llama-index's node-postprocessor slot: the fused
candidates reordered by their place in the fusion and the score of their best sentence against
the question (`ExtractiveAnswerer.rerank`), the best `top_n` kept. Off by default
(RAG_RETRIEVAL__RERANK); the service hands it to retrieval when it is on. It scores nothing
itself."""

from __future__ import annotations

from typing import Any

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.retrieval.hybrid import to_passages


class SentenceRerank(BaseNodePostprocessor):
    answerer: Any  # an ExtractiveAnswerer
    top_n: int

    @classmethod
    def class_name(cls) -> str:
        return "SentenceRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("reranking needs the question")
        by_id = {hit.node.node_id: hit for hit in nodes}
        ranked = self.answerer.rerank(query_bundle.query_str, to_passages(nodes))
        return [by_id[p.chunk_id] for p in ranked][: self.top_n]
