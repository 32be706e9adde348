"""What every local embedding shares: the models' names, the token limit, and `ArrayEmbedding`,
a llama-index `BaseEmbedding` whose subclasses only turn a list of texts into an array. It loads
no model."""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"


STATIC_MODEL_NAME = "minilm-static-256-v1"  # rag.embeddings.static's, distilled from the one above


LOCAL_MODELS = (STATIC_MODEL_NAME, LOCAL_MODEL_NAME)


MAX_TOKENS = 256


class ArrayEmbedding(BaseEmbedding):
    """A local model that embeds a batch of texts into a NumPy array (`embed`); llama-index's
    query and text methods are built on it."""

    QUERY_CACHE: ClassVar[int] = 256  # a question is embedded by each search and the answer
    _queries: dict[str, list[float]] = PrivateAttr(default_factory=dict)
    _queries_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _get_query_embedding(self, query: str) -> list[float]:
        """The query's vector, remembered for the few more times one question asks for it (the
        dense search, the period's, the answer's sentence ranking)."""
        found = self._queries.get(query)
        if found is None:
            found = self.embed([query])[0].tolist()
            with self._queries_lock:  # (another thread may be adding one)
                if len(self._queries) >= self.QUERY_CACHE:
                    self._queries.pop(next(iter(self._queries)), None)
                self._queries[query] = found
        return list(found)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.embed(texts)]
