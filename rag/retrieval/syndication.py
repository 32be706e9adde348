"""Syndicated copies folded: a node postprocessor that keeps one hit for a passage several
articles carry and says which other articles carry it (`also_in`)."""

from __future__ import annotations

import logging
from typing import Any

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.schema import ChunkMeta
from rag.text.rules import normalize, split_sentences

log = logging.getLogger(__name__)


ALSO_IN = "also_in"  # set on a folded hit's copy of the node, never stored


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
