"""Ask a question end to end: validate it, make a follow-up standalone, retrieve, answer.

`QAService` is what the CLI, the HTTP API, the UI and the eval harness call. Its two steps are
public, so the harness scores exactly the passages an answer was made from: `retrieve()` gives a
`Retrieved` (the question as asked, as answered and as searched, and the passages), and
`stream_from()` answers it with a backend from `rag.answerers`, timing each stage. `ask()` and
`stream()` do both. It does not parse HTTP, print anything, or know which backend is which.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from rag.answer import Answer, Delta, final_answer
from rag.answerers import Answerer, Answerers
from rag.errors import BadQuestionError
from rag.followup import rewrite
from rag.passages import Passage
from rag.retrieval import Filters, HybridRetriever
from rag.settings import Settings

History = Sequence[dict[str, str]]


@dataclass
class Retrieved:
    """One question's retrieval step: what it searched with and what it found."""

    question: str  # as the user asked it (validated)
    asked: str  # made standalone: what an answerer answers
    query: str  # what retrieval searched with (may carry the earlier question)
    passages: list[Passage]
    started: float  # perf_counter() when the question arrived
    seconds: float  # spent validating, rewriting and retrieving

    def top(self, k: int) -> Retrieved:
        """The same retrieval cut to its first `k` passages (what an answer of k is made from)."""
        return replace(self, passages=self.passages[:k])


class QAService:
    def __init__(
        self, settings: Settings, retriever: HybridRetriever, answerers: Answerers
    ) -> None:
        self.settings = settings
        self.retriever = retriever
        self.answerers = answerers

    def answerer(self, backend: str | None = None) -> Answerer:
        """The backend a request gets (started if need be); unknown or unavailable ones raise."""
        return self.answerers.get(backend)

    def close(self) -> None:
        self.answerers.close()

    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise BadQuestionError("the question is empty: ask something about the articles")
        question = " ".join(question.split())
        limit = self.settings.server.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"the question is {len(question)} characters long; the limit is {limit} "
                "(RAG_SERVER__MAX_QUESTION_CHARS)"
            )
        return question

    def retrieve(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        history: History | None = None,
    ) -> Retrieved:
        """Validate, make standalone, and retrieve `top_k` passages (default: the answer's count,
        RAG_RETRIEVAL__ANSWER_PASSAGES)."""
        started = time.perf_counter()
        question = self.validate(question)
        asked, query = rewrite(question, history)
        passages = self.retriever.retrieve(
            query, top_k=top_k or self.settings.retrieval.answer_passages, filters=filters
        )
        return Retrieved(question, asked, query, passages, started, time.perf_counter() - started)

    def stream_from(
        self, retrieved: Retrieved, *, backend: str | None = None
    ) -> Iterator[Delta | Answer]:
        """Answer a retrieval: `Delta`s as the answer is written, then the `Answer`."""
        answerer = self.answerer(backend)
        asked = retrieved.query if answerer.reads_followup_context else retrieved.asked
        for event in answerer.stream(asked, retrieved.passages):
            if isinstance(event, Answer):
                event.question = retrieved.question
                if asked != retrieved.question:
                    event.standalone_question = asked
                event.timings = {
                    "retrieve": retrieved.seconds,
                    **event.timings,
                    "total": time.perf_counter() - retrieved.started,
                }
            yield event

    def stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: History | None = None,
    ) -> Iterator[Delta | Answer]:
        self.validate(question)  # a bad question, then a bad backend, fail before retrieval
        self.answerer(backend)
        retrieved = self.retrieve(question, top_k=top_k, filters=filters, history=history)
        yield from self.stream_from(retrieved, backend=backend)

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: History | None = None,
    ) -> Answer:
        return final_answer(
            self.stream(question, top_k=top_k, filters=filters, backend=backend, history=history)
        )
