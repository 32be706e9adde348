"""Build the whole pipeline from settings: the one place where parts are chosen and wired.

Everything else receives its collaborators as arguments, so tests can build a pipeline with real
parts in a temp dir. `build()` opens the store, loads the embedding model, checks they match,
prepares retrieval and the question-answering service (answer backends start lazily). It does no
ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag import embeddings
from rag.answerers import Answerers
from rag.catalogue import Catalogue
from rag.entities import EntityTable, table_path
from rag.extractive import ExtractiveAnswerer
from rag.retrieval import HybridRetriever
from rag.service import QAService
from rag.settings import Settings
from rag.store import Store


@dataclass
class Pipeline:
    settings: Settings
    embed_model: Any
    retriever: HybridRetriever
    qa: QAService

    @property
    def store(self) -> Store:
        """The store being searched (reopened by `refresh()` after a write)."""
        return self.retriever.store

    @property
    def catalogue(self) -> Catalogue:
        """What is indexed now (articles, chunk texts); replaced by `refresh()`."""
        return self.retriever.catalogue

    def refresh(self) -> None:
        """See chunks written since the pipeline was built (after an ingest)."""
        self.retriever.refresh()

    def close(self) -> None:
        """Stop the answer backends' model servers, if any started."""
        self.qa.close()


def build(settings: Settings, *, embed_model: Any = None) -> Pipeline:
    embed_model = embed_model or embeddings.build(settings.embed, settings.store)
    store = Store(settings.store)
    retriever = HybridRetriever(store, embed_model, settings)
    entities = EntityTable(table_path(settings.store))  # tagged at ingest; read when there
    answerers = Answerers(settings, ExtractiveAnswerer(embed_model, entities))
    qa = QAService(settings, retriever, answerers)
    return Pipeline(settings=settings, embed_model=embed_model, retriever=retriever, qa=qa)
