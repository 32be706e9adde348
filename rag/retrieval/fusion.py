"""Reciprocal rank fusion that weighs each ranking: llama-index's `QueryFusionRetriever` counts
every ranking alike and ignores `retriever_weights`; `WeightedRankFusion` applies them."""

from __future__ import annotations

import logging

from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import NodeWithScore

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
