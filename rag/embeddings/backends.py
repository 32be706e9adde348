"""The embedding model a store is built and searched with, chosen by settings: the static model
(default) or MiniLM, both local (`RAG_EMBED__BACKEND=local`), or an OpenAI-compatible
`/v1/embeddings`. An existing collection keeps the local model that built it. `build()` is the
only entry point; the models themselves live in their own modules.
"""

from __future__ import annotations

from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.embeddings.base import LOCAL_MODEL_NAME, LOCAL_MODELS, STATIC_MODEL_NAME
from rag.embeddings.minilm import MiniLMEmbedding
from rag.errors import ConfigError, RagError
from rag.settings import EmbedSettings, StoreSettings


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
    from rag.embeddings.static import StaticEmbedding

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
    from rag.store.chroma import Store

    try:  # the collection's metadata alone: its vector index is not loaded for it
        return Store(store, verify=False).model_name()
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
