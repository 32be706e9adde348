"""Extractive answers made in other processes, so that a server answers on every core.

An extractive answer is pure Python (sentence scoring, span mining, spaCy where the entity table
has no tags yet: 15-75 ms a question over the 2023 archive), so one server process answers on one
core however many requests wait. With RAG_SERVER__ANSWER_PROCESSES=N (`rag serve
--answer-processes N`; by default one per core beyond the first), the server's `QAService` is
wrapped in a `PooledQA`: the server still searches (one copy of the index, refreshed after
writes in one place), and hands the passages it found to N worker processes, each with its own
extractive answerer (the embedding model, the entity table, the short-answer model) and no
index: nothing in them is made stale by a write, and no process but the server reads the vector
index. Streaming, the UI and the LLM backends stay in the server process. Errors come back as
raised in the worker; a worker that dies is replaced, and the answer it was making is made in
the server process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from rag.answering.answer import Answer, Delta
from rag.answering.backends import Answerer
from rag.answering.extractive import ExtractiveAnswerer
from rag.schema import Passage
from rag.service import QAService
from rag.settings import Settings

log = logging.getLogger(__name__)

_settings: Settings | None = None  # a worker's own, set when it starts
_parts: tuple[Any, Any] | None = None  # its embedding model and short-answer model
# one per collection (its entity table), the least recently asked let go beyond the server's
# RAG_SERVER__MAX_OPEN_COLLECTIONS + 1 (the default collection)
_answerers: OrderedDict[str, tuple[ExtractiveAnswerer, Any]] = OrderedDict()


def _start(settings: Settings) -> None:
    global _settings, _parts
    from rag.embeddings import backends
    from rag.spans.ranker import ShortAnswerModel
    from rag.spans.tagging import warm

    _settings = settings
    # the model named: the store is not opened
    _parts = (backends.build(settings.embed), ShortAnswerModel.load())
    _answerer_of(settings.store.collection)
    warm()  # spaCy's pipelines loaded now, not for the first question that needs them


def _answerer_of(collection: str) -> ExtractiveAnswerer:
    """The worker's answerer for `collection` (made on its first question)."""
    from rag.settings import on_collection
    from rag.spans.entities import open_table

    assert _settings is not None and _parts is not None, "the worker was not started"
    if collection in _answerers:
        _answerers.move_to_end(collection)
        return _answerers[collection][0]
    entities = open_table(
        on_collection(_settings, collection).store,
        keep=_settings.ingest.tag_entities != "off",
    )
    _answerers[collection] = (ExtractiveAnswerer(_parts[0], entities, _parts[1]), entities)
    while len(_answerers) > _settings.server.max_open_collections + 1:
        _, (_, table) = _answerers.popitem(last=False)
        table.close()
    return _answerers[collection][0]


def _answer(collection: str, asked: str, passages: list[Passage]) -> list[Delta | Answer]:
    return list(_answerer_of(collection).stream(asked, passages))


def worker_settings(settings: Settings, embed_model: Any) -> Settings:
    """`settings` with the embedding model the server resolved (a store built with MiniLM keeps
    it when RAG_EMBED__MODEL is unset), so that a worker never opens the store to find out."""
    name = getattr(embed_model, "model_name", None)
    if settings.embed.backend != "local" or settings.embed.model or not name:
        return settings
    return settings.model_copy(update={"embed": settings.embed.model_copy(update={"model": name})})


def default_processes() -> int:
    """One answer process per core beyond the first (the server's own searches and requests
    keep that one busy): none on one core, one on two."""
    return max((os.cpu_count() or 1) - 1, 0)


def _ready() -> int:
    time.sleep(0.05)  # long enough for the other workers to take the other calls
    return os.getpid()


class AnswerPool:
    """N processes that make extractive answers from the passages they are given (with the
    entity table of the store `settings` name)."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings, self.processes = settings, processes
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = self._started()

    def _started(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),  # never fork a process with threads
            initializer=_start,
            initargs=(self.settings,),
        )
        # each worker makes its answerer now, not when the first questions wait
        seen: set[int] = set()
        for _ in range(4):
            seen |= {f.result() for f in [executor.submit(_ready) for _ in range(self.processes)]}
            if len(seen) >= self.processes:
                break
        return executor

    def _restart(self) -> None:
        try:
            executor = self._started()
        except Exception:
            log.exception("the answer processes could not be started again; answering here")
            return
        with self._lock:
            self._executor = executor

    def answer(
        self, asked: str, passages: list[Passage], collection: str | None = None
    ) -> list[Delta | Answer] | None:
        """What a worker's extractive answerer makes of the passages (with the entity table of
        `collection`; None: the settings' own); None while the workers are gone (the caller
        answers itself; they are started again aside)."""
        executor = self._executor
        if executor is None:
            return None
        collection = collection or self.settings.store.collection
        try:
            return executor.submit(_answer, collection, asked, passages).result()
        except BrokenProcessPool:
            with self._lock:
                if self._executor is not executor:
                    return None  # another request saw it first
                self._executor = None
            log.error("an answer process died; starting the answer processes again")
            executor.shutdown(wait=False, cancel_futures=True)
            threading.Thread(target=self._restart, name="answer-pool", daemon=True).start()
            return None

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class PooledQA(QAService):
    """The server's question-answering service with its extractive answers made by an
    `AnswerPool` from the passages it found (everything else as the service it wraps does it).
    `owns_pool`: closing it closes the pool (False for a collection's that shares the server's)."""

    def __init__(self, qa: QAService, pool: AnswerPool, *, owns_pool: bool = True) -> None:
        super().__init__(qa.settings, qa.retriever, qa.answerers, qa.at_once)
        self.pool, self.owns_pool = pool, owns_pool

    def events(
        self, answerer: Answerer, asked: str, passages: Sequence[Passage]
    ) -> Iterator[Delta | Answer]:
        """Made in an answer process when the backend is extractive; here when the processes
        are gone (they are started again aside) or for the other backends."""
        if answerer.name == "extractive":
            made = self.pool.answer(asked, list(passages), self.settings.store.collection)
            if made is not None:
                return iter(made)
        return super().events(answerer, asked, passages)

    def close(self) -> None:
        if self.owns_pool:
            self.pool.close()
        super().close()
