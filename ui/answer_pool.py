"""Extractive answers made in other processes, so that a server answers on every core.

An extractive answer is pure Python (retrieval's fusion, sentence scoring, span mining: about
30 ms a question over the 120k-chunk 2023 archive), so one server process answers on one core
however many requests wait. With RAG_SERVER__ANSWER_PROCESSES=N (`rag serve --answer-processes
N`), the server's `QAService` is wrapped in a `PooledQA`, whose `ask` hands extractive questions
to N worker processes, each with its own pipeline
over the same store (its own copy of the vector index in memory: about 1 GB for the 2023
archive); streaming, the UI and the LLM backends stay in the server process, whose model server
the workers would otherwise start again. A worker picks up new articles as the server does (the
ledger's version, read before each search). Errors come back as raised in the worker (a bad
question is still a 400); a worker that dies is replaced, and the question it was answering is
answered in the server process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Unpack

from rag.answering.answer import Answer
from rag.pipeline import Pipeline, build
from rag.service import Options, QAService
from rag.settings import Settings

log = logging.getLogger(__name__)

_pipeline: Pipeline | None = None  # a worker's own, built once when it starts


def _start(settings: Settings) -> None:
    global _pipeline
    _pipeline = build(settings)


def _ask(question: str, backend: str | None, options: dict[str, Any]) -> Answer:
    assert _pipeline is not None, "the worker's pipeline was not built"
    return _pipeline.qa.ask(question, backend=backend, **options)


def _ready() -> int:
    time.sleep(0.05)  # long enough for the other workers to take the other calls
    return os.getpid()


class AnswerPool:
    """N processes that answer extractive questions over the store `settings` name."""

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
        # each worker builds its pipeline now, not when the first questions wait
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

    def ask(self, question: str, backend: str | None, options: dict[str, Any]) -> Answer | None:
        """The answer made in a worker; None while the workers are gone (the caller answers
        itself; they are started again aside)."""
        executor = self._executor
        if executor is None:
            return None
        try:
            return executor.submit(_ask, question, backend, options).result()
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
    `AnswerPool` (everything else, streaming included, as the service it wraps does it)."""

    def __init__(self, qa: QAService, pool: AnswerPool) -> None:
        super().__init__(qa.settings, qa.retriever, qa.answerers, qa.at_once)
        self.pool = pool

    def ask(
        self, question: str, *, backend: str | None = None, **options: Unpack[Options]
    ) -> Answer:
        """The answer made in an answer process when the backend is extractive; here when the
        processes are gone (they are started again aside) or for the other backends."""
        if self.answerer(backend).name == "extractive":
            self.validate(question)  # a bad question fails here, as without the pool
            answer = self.pool.ask(question, backend, dict(options))
            if answer is not None:
                return answer
        return super().ask(question, backend=backend, **options)

    def close(self) -> None:
        self.pool.close()
        super().close()
