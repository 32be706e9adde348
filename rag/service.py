"""Ask a question end to end: validate it, make a follow-up standalone, retrieve, answer.

`QAService` is what the CLI, the HTTP API, the UI and the eval harness call. Its two steps are
public, so the harness scores exactly the passages an answer was made from: `retrieve()` gives a
`Retrieved` (the question as asked, as answered and as searched, and the passages), and
`stream_from()` answers it with a backend from `rag.answerers`, timing each stage. `ask()` and
`stream()` do both. It does not parse HTTP, print anything, or know which backend is which.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypedDict, Unpack

from rag.answering.answer import Answer, Delta, final_answer
from rag.answering.backends import Answerer, Answerers
from rag.answering.rerank import SentenceRerank
from rag.errors import BadQuestionError
from rag.retrieval.hybrid import HybridRetriever
from rag.schema import Filters, Passage, date_num
from rag.settings import Settings
from rag.text.dates import Period, check_as_of, question_period
from rag.text.followup import rewrite
from rag.text.rules import repair

History = Sequence[dict[str, str]]
REPORTING_LAG = timedelta(days=2)  # what happened on Monday is often published on Tuesday


class Options(TypedDict, total=False):
    """What a question may carry besides its text (the keywords of `QAService.retrieve`)."""

    top_k: int | None
    filters: Filters | None
    history: History | None
    as_of: date | None


@dataclass
class Retrieved:
    """One question's retrieval step: what it searched with and what it found."""

    question: str  # as the user asked it (validated)
    asked: str  # made standalone: what an answerer answers
    query: str  # what retrieval searched with (may carry the earlier question)
    passages: list[Passage]
    started: float  # perf_counter() when the question arrived
    seconds: float  # spent validating, rewriting and retrieving
    as_of: date | None = None  # no article published after it was used
    period: Period | None = None  # "this week" in the question, read against as_of

    def top(self, k: int) -> Retrieved:
        """The same retrieval cut to its first `k` passages (what an answer of k is made from)."""
        return replace(self, passages=self.passages[:k])


class QAService:
    def __init__(
        self,
        settings: Settings,
        retriever: HybridRetriever,
        answerers: Answerers,
        at_once: int | None = None,
    ) -> None:
        """`at_once`: questions searched (and answered, by the extractive backend) at the same
        time in this process, the others waiting their turn (default RAG_SERVER__ANSWERS_AT_ONCE,
        0: the machine's cores). Both are pure Python: more threads at it than cores only
        fight over the interpreter, and a server's event loop with them (a health probe waited
        behind 300 streamed questions). A language model's writing is not counted: it waits on
        the model's server."""
        self.settings = settings
        self.retriever = retriever
        self.answerers = answerers
        self.at_once = at_once or settings.server.answers_at_once or os.cpu_count() or 2
        self._turns = threading.BoundedSemaphore(self.at_once)

    def answerer(self, backend: str | None = None) -> Answerer:
        """The backend a request gets (started if need be); unknown or unavailable ones raise."""
        return self.answerers.get(backend)

    def close(self) -> None:
        self.answerers.close()

    def validate(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise BadQuestionError("the question is empty: ask something about the articles")
        question = " ".join(repair(question).split())
        limit = self.settings.server.max_question_chars
        if len(question) > limit:
            raise BadQuestionError(
                f"the question is {len(question)} characters long; the limit is {limit} "
                "(RAG_SERVER__MAX_QUESTION_CHARS)"
            )
        return question

    def recent(self, history: History | None) -> list[dict[str, str]]:
        """The latest turns of `history` that fit in RAG_SERVER__MAX_HISTORY_CHARS together (a
        follow-up needs the last few; the whole of a long chat would only cost time), repaired."""
        budget = self.settings.server.max_history_chars
        kept: list[dict[str, str]] = []
        for turn in reversed(history or []):
            content = repair(str(turn.get("content") or ""))
            if len(content) > budget:
                break
            budget -= len(content)
            kept.append({"role": str(turn.get("role") or ""), "content": content})
        return kept[::-1]

    def retrieve(
        self,
        question: str,
        *,
        top_k: int | None = None,
        filters: Filters | None = None,
        history: History | None = None,
        as_of: date | None = None,
    ) -> Retrieved:
        """Validate, make standalone, and retrieve `top_k` passages (default: the answer's count,
        RAG_RETRIEVAL__ANSWER_PASSAGES) from articles published up to `as_of` (default today).

        A period the question names ("this week", "in June", "yesterday") is read against
        `as_of` and reported with the answer; with RAG_RETRIEVAL__PERIODS=true, passages from
        articles of that period (or up to two days after) also come first, topped up from the rest
        (off by default: leaving the other articles out lowered retrieval)."""
        started = time.perf_counter()
        question = self.validate(question)
        asked, query = rewrite(question, self.recent(history))
        k = top_k or self.settings.retrieval.answer_passages
        as_of = as_of or date.today()
        try:
            check_as_of(as_of)
        except ValueError as exc:
            raise BadQuestionError(str(exc)) from None
        # an as-of date after the newest article filters nothing: skip the (slower) filtered search
        latest = self.retriever.catalogue.latest
        base = replace(filters or Filters(), as_of=as_of if date_num(as_of) < latest else None)
        period = question_period(asked, as_of)  # always shown; used for ranking only if asked
        window = period if self.settings.retrieval.periods else None
        boost = None
        if period is not None and self.settings.retrieval.period_boost:
            boost = self._window(base, period)
        # with re-ranking, all the fused candidates are read and the best k kept (not where the
        # period's articles are asked to come first)
        rerank = self.settings.retrieval.rerank and window is None
        fetch = max(k, self.settings.retrieval.candidates) if rerank else k
        reranked = [SentenceRerank(answerer=self.answerers.extractive, top_n=k)] if rerank else []
        passages = self.retriever.retrieve(
            query,
            top_k=fetch,
            filters=self._window(base, window),
            boost=boost,
            postprocessors=reranked,
        )
        if window is not None and len(passages) < fetch:
            seen = {p.chunk_id for p in passages}
            rest = self.retriever.retrieve(query, top_k=fetch, filters=base)
            passages += [p for p in rest if p.chunk_id not in seen][: fetch - len(passages)]
        seconds = time.perf_counter() - started
        return Retrieved(question, asked, query, passages, started, seconds, as_of, period)

    @staticmethod
    def _window(base: Filters, period: Period | None) -> Filters:
        if period is None:
            return base
        start = max(period.start, base.date_from) if base.date_from else period.start
        end = period.end + REPORTING_LAG
        if base.date_to:
            end = min(end, base.date_to)
        return replace(base, date_from=start, date_to=end)

    def stream_from(
        self, retrieved: Retrieved, *, backend: str | None = None
    ) -> Iterator[Delta | Answer]:
        """Answer a retrieval: `Delta`s as the answer is written, then the `Answer`."""
        answerer = self.answerer(backend)
        asked = retrieved.query if answerer.reads_followup_context else retrieved.asked
        for event in self.events(answerer, asked, retrieved.passages):
            if isinstance(event, Answer):
                event.question = retrieved.question
                if asked != retrieved.question:
                    event.standalone_question = asked
                event.as_of = retrieved.as_of.isoformat() if retrieved.as_of else None
                event.period = retrieved.period.describe() if retrieved.period else None
                event.timings = {
                    "retrieve": retrieved.seconds,
                    **event.timings,
                    "total": time.perf_counter() - retrieved.started,
                }
            yield event

    def events(
        self, answerer: Answerer, asked: str, passages: Sequence[Passage]
    ) -> Iterator[Delta | Answer]:
        """What `answerer` makes of the passages (made here; `ui.answer_pool` makes extractive
        answers in other processes)."""
        return answerer.stream(asked, passages)

    def stream(
        self, question: str, *, backend: str | None = None, **options: Unpack[Options]
    ) -> Iterator[Delta | Answer]:
        """Retrieve (see `retrieve` for the options) and answer, streaming."""
        self.validate(question)  # a bad question, then a bad backend, fail before retrieval
        answerer = self.answerer(backend)
        extractive = answerer.name == "extractive"
        with self._turns:  # an extractive answer is made at once: made in its turn
            retrieved = self.retrieve(question, **options)
            made = list(self.stream_from(retrieved, backend=backend)) if extractive else None
        yield from made if made is not None else self.stream_from(retrieved, backend=backend)

    def ask(
        self, question: str, *, backend: str | None = None, **options: Unpack[Options]
    ) -> Answer:
        """Retrieve and answer at once."""
        return final_answer(self.stream(question, backend=backend, **options))
