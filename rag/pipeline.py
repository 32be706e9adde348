"""Build the whole pipeline from settings: the one place where parts are chosen and wired.

Everything else receives its collaborators as arguments, so tests can build a pipeline with real
parts in a temp dir. `build()` opens the store, loads the embedding model, checks they match,
prepares retrieval and the question-answering service (answer backends start lazily). It does no ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag import embeddings
from rag.retrieval import HybridRetriever
from rag.service import QAService
from rag.settings import Settings
from rag.store import Store


@dataclass
class Pipeline:
    settings: Settings
    store: Store
    embed_model: Any
    retriever: HybridRetriever
    qa: QAService


def build(settings: Settings, *, embed_model: Any = None) -> Pipeline:
    embed_model = embed_model or embeddings.build(settings.embed)
    store = Store(settings.store)
    retriever = HybridRetriever(store, embed_model, settings)
    qa = QAService(settings, retriever, embed_model)
    return Pipeline(
        settings=settings, store=store, embed_model=embed_model, retriever=retriever, qa=qa
    )
