"""Build the whole pipeline from settings: the one place where parts are chosen and wired.

Everything else receives its collaborators as arguments, so tests can build a pipeline with real
parts in a temp dir. `build()` opens the store, loads the embedding model, checks they match,
prepares retrieval and the question-answering service (answer backends start lazily). It does no
ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rag.answering.backends import Answerers
from rag.answering.extractive import ExtractiveAnswerer
from rag.embeddings import backends
from rag.embeddings.base import STATIC_MODEL_NAME
from rag.jobs.bm25 import rebuild_in_background
from rag.retrieval.hybrid import HybridRetriever
from rag.service import QAService
from rag.settings import Settings
from rag.spans.entities import open_table
from rag.spans.ranker import ShortAnswerModel
from rag.store.catalogue import Catalogue
from rag.store.chroma import Store


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
        """Stop the answer backends' model servers, if any started, and let go of the server
        store's connections."""
        self.qa.close()
        self.retriever.close()


# reciprocal rank fusion with the static embedding: its dense ranking is the weaker one, so a
# dense rank's vote counts less than a BM25 rank's (docs/decisions.md has the measurements)
STATIC_RRF_DENSE_WEIGHT = 0.8


def rrf_dense_weight(settings: Settings, embed_model: Any) -> float:
    """What a dense rank's vote counts in rank fusion (a BM25 rank's: 1): the setting
    (RAG_RETRIEVAL__RRF_DENSE_WEIGHT), else 0.8 with the static embedding, 1 with others."""
    weight = settings.retrieval.rrf_dense_weight
    if weight is not None:
        return weight
    name = getattr(embed_model, "model_name", None)
    return STATIC_RRF_DENSE_WEIGHT if name == STATIC_MODEL_NAME else 1.0


def build(settings: Settings, *, embed_model: Any = None, load_vectors: bool = True) -> Pipeline:
    """The pipeline of the collection `settings` name. `load_vectors=False`: the store's vector
    index is not loaded here (a server loads it on a thread of its own meanwhile, `rag serve`);
    the first search waits for it."""
    embed_model = embed_model or backends.build(settings.embed, settings.store)
    store = Store(settings.store, load=load_vectors)
    retriever = HybridRetriever(
        store,
        embed_model,
        settings,
        rrf_dense_weight=rrf_dense_weight(settings, embed_model),
        rebuild_aside=rebuild_in_background,
    )
    # tagged at ingest, read when there; what questions tag kept unless tagging is off
    entities = open_table(settings.store, keep=settings.ingest.tag_entities != "off")
    extractive = ExtractiveAnswerer(embed_model, entities, ShortAnswerModel.load())
    answerers = Answerers(settings, extractive)
    qa = QAService(settings, retriever, answerers)
    return Pipeline(settings=settings, embed_model=embed_model, retriever=retriever, qa=qa)
