"""Reciprocal rank fusion that weighs each ranking: llama-index's `QueryFusionRetriever` counts
every ranking alike and ignores `retriever_weights`; `WeightedRankFusion` applies them. And one
more ranking over the fused passages, `NamedPassages`: those that speak of what the question
names, in their fused order."""

from __future__ import annotations

import logging

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.text.rules import about_names, names

log = logging.getLogger(__name__)


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


class NamedPassages(BaseNodePostprocessor):
    """The fused passages that speak of the names in the question ("Hegseth", "Damar Hamlin")
    make one more ranking, in their fused order, whose votes (`weight` / (60 + rank)) are added
    to the fused scores: a passage about four "percent"s that never names Hegseth no longer
    comes before his own words. A question that names nothing leaves the order as it is."""

    weight: float = 1.0

    @classmethod
    def class_name(cls) -> str:
        return "NamedPassages"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        named = names(query_bundle.query_str) if query_bundle is not None else []
        if not named or self.weight <= 0:
            return nodes
        rank = 0
        for hit in nodes:
            title = hit.node.metadata.get("title", "")
            if about_names(f"{title} {hit.node.get_content()}", named):
                hit.score = (hit.score or 0.0) + self.weight / (rank + 60.0)
                rank += 1
        return sorted(nodes, key=lambda h: h.score or 0.0, reverse=True)
